import * as path from 'node:path';
import { backendInfo, cacheEvents, datasetsUsed } from 'ecotrain';
import { settingsFromEnv, writeFileAtomic } from 'ecotrain/base';
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
  /** Run-cache events of the session (arms loaded, trained and stored, or left to another shard). */
  readonly cache?: ReadonlyArray<{ arm: string; seed: number; event: string }>;
}

/**
 * Called by the headless runner after the last cell: writes
 * `out/<scale>/results/<notebook>.session.json` and closes the figure exporter.
 */
export async function endOfNotebook(options: { waitSeconds?: number } = {}): Promise<SessionRecord> {
  // The figure exporter's browser is a child process of the kernel's own: closed first, so that what remains is the
  // notebook's. Then wait (bounded) for timers (unref'd ones included) and child processes the notebook left: a
  // failure they raise then fails this check.
  await closeFigureExporter();
  const hooks = (globalThis as Record<symbol, unknown>)[Symbol.for('ecotrain.kernel')] as
    | { settle(boundMs: number): Promise<number> }
    | undefined;
  const wait = options.waitSeconds ?? Number(process.env.ECOTRAIN_END_WAIT_S ?? 30);
  const left = hooks ? await hooks.settle(wait * 1000) : 0;
  if (left > 0)
    throw new Error(
      `the notebook left ${left} timer(s) or child process(es) running ${wait} s after its last cell: clear the timers (clearTimeout/clearInterval), stop the processes, or await the work they do`,
    );
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
    cache: cacheEvents().map((e) => ({ arm: e.arm, seed: e.seed, event: e.event })),
  };
  writeFileAtomic(
    path.join(outputDirs().results, `${notebookName()}.session.json`),
    `${JSON.stringify(record, null, 2)}\n`,
  );
  await closeFigureExporter();
  return record;
}
