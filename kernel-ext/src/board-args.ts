import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, SUMMARIES_FOLDER } from 'ecotrain/base';

/**
 * The summary folders TensorBoard shows: `out/<scale>/tensorboard` for every scale that has one, named by the scale.
 * TensorBoard walks every folder below its log directories on each reload, so the runs' folders are given instead of
 * all of `out/` (which holds a Python environment for the benchmarks).
 */
export function summaryFolders(outDir: string): Array<{ name: string; dir: string }> {
  if (!fs.existsSync(outDir)) return [];
  return fs
    .readdirSync(outDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(outDir, e.name, SUMMARIES_FOLDER)))
    .map((e) => ({ name: e.name, dir: path.join(outDir, e.name, SUMMARIES_FOLDER) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Arguments of `tensorboard` for `npm run board`: the user's extra arguments first, then the fixed ones, so that it
 * always listens on 127.0.0.1 and reads the project's summary folders (`--logdir_spec scale:folder,...`). Arguments that
 * change the address or the log directories are refused, naming them; no summary folder is an error naming `out/`.
 */
export function boardArguments(outDir: string, userArgs: readonly string[]): string[] {
  for (const a of userArgs) {
    if (/^--(?:host|bind_all|logdir|logdir_spec)(?:=|$)/.test(a))
      throw new ConfigError(
        'npm run board argument',
        a,
        'no argument that changes the address (127.0.0.1) or the log directories (the runs under out/)',
      );
  }
  const folders = summaryFolders(outDir);
  if (folders.length === 0)
    throw new ConfigError(
      'npm run board summaries',
      path.join(outDir, `<scale>/${SUMMARIES_FOLDER}`),
      'at least one folder of run summaries: run a notebook first (npm run reproduce, or JupyterLab)',
    );
  return [...userArgs, '--host=127.0.0.1', `--logdir_spec=${folders.map((f) => `${f.name}:${f.dir}`).join(',')}`];
}
