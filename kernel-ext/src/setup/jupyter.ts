import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from 'ecotrain/base';
import { run, tail } from './proc';
import type { SetupPaths } from './paths';

/** Hash-free fingerprint of the requirements, so a changed pin reinstalls. */
function requirementsText(paths: SetupPaths): string {
  return fs.readFileSync(path.join(paths.root, 'kernel-ext', 'python', 'requirements.txt'), 'utf8');
}

/** True when the venv has Jupyter installed from the current requirements. */
export function venvReady(paths: SetupPaths): boolean {
  const marker = path.join(paths.venv, 'ecotrain-requirements.txt');
  return (
    fs.existsSync(paths.python) && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === requirementsText(paths)
  );
}

/**
 * Creates `.venv` with JupyterLab, nbclient, nbconvert and plotly. pip is told not to retry, so
 * an unreachable index fails in seconds instead of minutes.
 */
export function ensureVenv(paths: SetupPaths, log: (l: string) => void): 'present' | 'installed' {
  if (venvReady(paths)) return 'present';
  if (!fs.existsSync(paths.python)) {
    log('jupyter: creating .venv ...');
    const v = run('python3', ['-m', 'venv', paths.venv]);
    if (!v.ok) throw new Error(`python3 -m venv failed (is python3-venv installed?):\n${tail(v.stderr)}`);
  }
  log('jupyter: installing kernel-ext/python/requirements.txt into .venv ...');
  const r = run(
    paths.python,
    [
      '-m',
      'pip',
      'install',
      '--retries',
      '0',
      '--timeout',
      '20',
      '-q',
      '-r',
      path.join(paths.root, 'kernel-ext', 'python', 'requirements.txt'),
    ],
    {
      env: { ...process.env, PIP_RETRIES: '0', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
      timeoutMs: 20 * 60_000,
    },
  );
  if (!r.ok) throw new Error(`pip install into .venv failed:\n${tail(r.stderr)}`);
  writeFileAtomic(path.join(paths.venv, 'ecotrain-requirements.txt'), requirementsText(paths));
  return 'installed';
}

/** The kernel spec ecotrain registers: its own launcher around tslab, with absolute paths. */
export function kernelSpec(paths: SetupPaths): object {
  return {
    argv: [
      process.execPath,
      path.join(paths.root, 'out', 'build', 'kernel-ext', 'src', 'kernel', 'launch.js'),
      '{connection_file}',
    ],
    display_name: 'TypeScript (ecotrain)',
    language: 'typescript',
    interrupt_mode: 'signal',
    env: { ECOTRAIN_ROOT: paths.root, TF_CPP_MIN_LOG_LEVEL: '2' },
    metadata: { ecotrain: { tslab: tslabVersion(paths) } },
  };
}

function tslabVersion(paths: SetupPaths): string {
  const pkg = JSON.parse(fs.readFileSync(require.resolve('tslab/package.json', { paths: [paths.root] }), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Registers (or refreshes) the `ecotrain` kernel inside the venv; no-op when the spec is unchanged. */
export function ensureKernel(paths: SetupPaths): 'present' | 'registered' {
  const file = path.join(paths.kernelDir, 'kernel.json');
  const spec = `${JSON.stringify(kernelSpec(paths), null, 2)}\n`;
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === spec) return 'present';
  fs.mkdirSync(paths.kernelDir, { recursive: true });
  writeFileAtomic(file, spec);
  return 'registered';
}

/** Path of Debian's chromium (for static figure export), if installed. */
export function findChromium(): string | undefined {
  const candidates = [
    process.env.ECOTRAIN_CHROMIUM,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}
