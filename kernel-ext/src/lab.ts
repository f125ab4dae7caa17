/**
 * `npm run lab`: JupyterLab on 127.0.0.1 (token authentication on) with the ecotrain kernel and the
 * notebooks folder. Extra arguments are passed to `jupyter lab` (e.g. `-- --port 9999`).
 */
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { setupPaths } from './setup/paths';

const paths = setupPaths();
const jupyter = path.join(paths.venv, 'bin', 'jupyter');
const child = spawn(
  jupyter,
  ['lab', '--ip=127.0.0.1', '--no-browser', `--notebook-dir=${path.join(paths.root, 'notebooks')}`, '--MultiKernelManager.default_kernel_name=ecotrain', ...(process.getuid?.() === 0 ? ['--allow-root'] : []), ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' } },
);
child.on('exit', (code) => process.exit(code ?? 1));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
