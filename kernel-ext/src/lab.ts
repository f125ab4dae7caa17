/**
 * `npm run lab`: JupyterLab on 127.0.0.1 (token authentication on) with the ecotrain kernel and the
 * notebooks folder. Extra arguments are passed to `jupyter lab` (e.g. `-- --port 9999`); ones that would change
 * the address or the authentication are refused. JupyterLab's news and update prompt is turned off. The project's
 * notebooks are marked trusted on this machine first (`jupyter trust`), so their figures are interactive at once.
 */
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from 'ecotrain/base';
import { setupPaths } from './setup/paths';
import { trustNotebooks } from './setup/trust';
import { LAB_SETTINGS_OVERRIDES, labArguments } from './lab-args';

const paths = setupPaths();
const jupyter = path.join(paths.venv, 'bin', 'jupyter');
let args: string[];
try {
  args = labArguments(paths.root, process.argv.slice(2), process.getuid?.() === 0, randomBytes(24).toString('hex'));
} catch (err) {
  console.error(`npm run lab: ${(err as Error).message}`);
  process.exit(2);
}
writeFileAtomic(
  path.join(paths.venv, 'share', 'jupyter', 'lab', 'settings', 'overrides.json'),
  `${JSON.stringify(LAB_SETTINGS_OVERRIDES, null, 2)}\n`,
);
try {
  trustNotebooks(paths);
} catch (err) {
  console.warn(
    `npm run lab: the notebooks stay untrusted (figures static until you trust them): ${(err as Error).message}`,
  );
}
const child = spawn(jupyter, args, {
  stdio: 'inherit',
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
});
child.on('exit', (code) => process.exit(code ?? 1));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
