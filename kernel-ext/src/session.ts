import * as path from 'node:path';
import { backendInfo } from '../../lib/src/backend';
import { settingsFromEnv } from '../../lib/src/config';
import { datasetsUsed } from '../../lib/src/data/load';
import { writeFileAtomic } from '../../lib/src/data/files';
import { closeFigureExporter } from './display/figure-export';
import { notebookName, outputDirs } from './display/outputs';

/** What a notebook session ran with, written at its end for the run report. */
export interface SessionRecord {
  readonly notebook: string;
  readonly backend: string | null;
  readonly scale: string;
  readonly seed: number;
  readonly datasets: ReadonlyArray<{ name: string; origin: string; count: number }>;
  readonly numTensors: number | null;
}

/**
 * Called by the headless runner after the last cell: writes
 * `out/<scale>/results/<notebook>.session.json` and closes the figure exporter.
 */
export async function endOfNotebook(): Promise<SessionRecord> {
  const s = settingsFromEnv();
  let numTensors: number | null = null;
  if (backendInfo()) {
    const tf = await import('@tensorflow/tfjs-core');
    numTensors = tf.memory().numTensors;
  }
  const record: SessionRecord = {
    notebook: notebookName(),
    backend: backendInfo()?.name ?? null,
    scale: s.scale,
    seed: s.seed,
    datasets: datasetsUsed().map((d) => ({ name: d.name, origin: d.origin, count: d.count })),
    numTensors,
  };
  writeFileAtomic(path.join(outputDirs().results, `${notebookName()}.session.json`), JSON.stringify(record, null, 2) + '\n');
  await closeFigureExporter();
  return record;
}
