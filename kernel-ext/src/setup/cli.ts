import * as fs from 'node:fs';
import { writeFileAtomic } from 'ecotrain/base';
import { ensureNativeBackend, nativeBackendWorks } from './native-backend';
import { ensureKernel, ensureVenv, findChromium, kernelSpec, venvReady } from './jupyter';
import { setupPaths, type SetupPaths } from './paths';

/**
 * `npm run setup`: makes the native backend, the Jupyter venv and the ecotrain kernel available.
 * Idempotent; prints what it did. With `--if-needed` it returns at once when a previous setup
 * is complete and still valid (used by `npm test`, `npm run reproduce` and `npm run lab`).
 */
function isComplete(paths: SetupPaths): boolean {
  if (!fs.existsSync(paths.stamp) || !venvReady(paths)) return false;
  const kernelFile = `${paths.kernelDir}/kernel.json`;
  if (
    !fs.existsSync(kernelFile) ||
    fs.readFileSync(kernelFile, 'utf8') !== `${JSON.stringify(kernelSpec(paths), null, 2)}\n`
  )
    return false;
  return nativeBackendWorks(paths).ok;
}

function main(): void {
  const ifNeeded = process.argv.includes('--if-needed');
  const paths = setupPaths();
  const log = (l: string) => console.log(`[setup] ${l}`);
  if (ifNeeded && isComplete(paths)) return;
  const t0 = Date.now();
  const step = <T>(name: string, f: () => T): T => {
    const s = Date.now();
    const r = f();
    log(`${name}: ${String(r)} (${((Date.now() - s) / 1000).toFixed(1)} s)`);
    return r;
  };
  const native = step('native backend (@tensorflow/tfjs-node)', () => ensureNativeBackend(paths, log));
  const venv = step('jupyter venv (.venv)', () => ensureVenv(paths, log));
  const kernel = step('kernel "ecotrain"', () => ensureKernel(paths));
  const chromium = findChromium();
  log(
    chromium
      ? `chromium: ${chromium} (static PNG/SVG figure export on)`
      : 'chromium: not found; static figure export is off (apt-get install chromium)',
  );
  writeFileAtomic(
    paths.stamp,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        native,
        venv,
        kernel,
        chromium: chromium ?? null,
        seconds: (Date.now() - t0) / 1000,
      },
      null,
      2,
    ),
  );
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

try {
  main();
} catch (err) {
  console.error(`[setup] FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
