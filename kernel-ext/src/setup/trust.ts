import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { SetupPaths } from './paths';

/**
 * Marks the project's notebooks trusted for the current user (`jupyter trust`, which signs each notebook's present
 * content in the user's Jupyter data directory), so JupyterLab shows their figures interactive at once. Returns the
 * notebooks signed; throws with `jupyter trust`'s message when it fails.
 */
export function trustNotebooks(
  paths: Pick<SetupPaths, 'root' | 'venv'>,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const dir = path.join(paths.root, 'notebooks');
  const notebooks = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb'))
    .map((f) => path.join(dir, f));
  if (notebooks.length === 0) return [];
  const r = spawnSync(path.join(paths.venv, 'bin', 'jupyter-trust'), notebooks, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`jupyter trust failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim()}`);
  return notebooks;
}
