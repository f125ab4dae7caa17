import * as path from 'node:path';
import { ConfigError, projectRoot, settingsFromEnv, writeFileAtomic } from 'ecotrain/base';

/** Name of the notebook being run (`ECOTRAIN_NOTEBOOK`, set by the runner), else `interactive`. */
export function notebookName(env: NodeJS.ProcessEnv = process.env): string {
  return env.ECOTRAIN_NOTEBOOK ?? 'interactive';
}

/** Output folders of this run: `<out>/<scale>/{figures,results,tables}`. */
export function outputDirs(): { figures: string; results: string; tables: string } {
  const out = settingsFromEnv().outDir;
  return { figures: path.join(out, 'figures'), results: path.join(out, 'results'), tables: path.join(out, 'tables') };
}

/** Checks that `name` is safe as part of a file name (letters, digits, `-`, `_`, `.`). */
export function checkArtifactName(name: string, field = 'name'): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(name)) {
    throw new ConfigError(
      field,
      name,
      'letters, digits, ".", "-" or "_" (at most 101 characters, not starting with a dot)',
    );
  }
  return name;
}

/**
 * Saves raw results as `<out>/<scale>/results/<notebook>.<name>.json`, atomically; returns the path relative to the
 * project root (it is what a cell echoes, and committed outputs must not carry this machine's paths).
 */
export function saveResults(name: string, data: unknown): string {
  const file = path.join(outputDirs().results, `${notebookName()}.${checkArtifactName(name)}.json`);
  writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`);
  const rel = path.relative(projectRoot(), file);
  return rel.startsWith('..') ? file : rel;
}
