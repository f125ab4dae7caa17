/**
 * `npm run board`: TensorBoard from the project's `.venv` on 127.0.0.1 over the runs' summaries
 * (`out/<scale>/tensorboard`, written by every run). Extra arguments are passed to `tensorboard` (e.g.
 * `-- --port 6007`); ones that would change the address or the log directories are refused.
 */
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { setupPaths } from './setup/paths';
import { boardArguments } from './board-args';

const paths = setupPaths();
let args: string[];
try {
  args = boardArguments(path.join(paths.root, 'out'), process.argv.slice(2));
} catch (err) {
  console.error(`npm run board: ${(err as Error).message}`);
  process.exit(2);
}
const child = spawn(path.join(paths.venv, 'bin', 'tensorboard'), args, { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 1));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
