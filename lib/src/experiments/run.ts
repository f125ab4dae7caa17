import * as fs from 'node:fs';
import * as path from 'node:path';
import { SUMMARIES_FOLDER } from '../config';
import type { CurvePoint, EpochRecord } from '../train/loop';
import { armKey, ownsArm, readCached, recordCacheEvent, type RunCacheSettings, writeCached } from './run-cache';
import { type SummarySource, summaryRunName, writeRunSummaries } from './summaries';

/**
 * A problem with a run outcome read back from the run cache (a missing or ill-typed field), or undefined when it is
 * usable: top-1 in [0, 1] (NaN when the run diverged before any evaluation), the run's numbers present and typed.
 */
export function runOutcomeProblem(o: unknown): string | undefined {
  if (o === null || typeof o !== 'object') return 'not an object';
  const r = o as Record<string, unknown>;
  const num = (k: string) => typeof r[k] === 'number';
  for (const k of ['seed', 'top1', 'testLoss', 'iterations', 'batchesSeen', 'energyJ', 'effectiveMacs', 'seconds'])
    if (!num(k)) return `${k} is ${JSON.stringify(r[k])}, expected a number`;
  const top1 = r.top1 as number;
  if (!(Number.isNaN(top1) || (top1 >= 0 && top1 <= 1))) return `top1 is ${top1}, expected a fraction in [0, 1]`;
  if (!Number.isInteger(r.iterations) || (r.iterations as number) < 0) return `iterations is ${r.iterations}`;
  if (!Array.isArray(r.history)) return 'history is missing';
  if (r.techniqueStats === null || typeof r.techniqueStats !== 'object') return 'techniqueStats is missing';
  return undefined;
}

/** What a run measured; `Analysis` is the type of what its arm's analysis stored. */
export interface RunOutcome<Analysis = unknown> {
  readonly arm: string;
  readonly seed: number;
  readonly top1: number;
  readonly testLoss: number;
  readonly iterations: number;
  readonly batchesSeen: number;
  /** Ledger totals: energy (J), effective MACs, raw MACs. */
  readonly energyJ: number;
  readonly effectiveMacs: number;
  readonly macs: number;
  /** Ledger raw MACs of forward passes only, and of work outside the model's layers (gates, PSG fallbacks). */
  readonly forwardMacs: number;
  readonly overheadMacs: number;
  /** The accelerator model's (BitFusion-style) training energy (J) and latency (s). */
  readonly acceleratorEnergyJ?: number;
  readonly latencySeconds?: number;
  /** Wall time of the training loop (s). */
  readonly seconds: number;
  readonly history: EpochRecord[];
  readonly techniqueStats: Record<string, Record<string, number>>;
  /** Ledger series: (iteration, cumulative energy J) every iteration. */
  readonly energyCurve: ReadonlyArray<readonly [number, number]>;
  /** Test accuracy against energy during training (when `evalEvery` is set). */
  readonly accuracyCurve?: readonly CurvePoint[];
  /** What `RunSpec.analyze` returned (plain data), when set. */
  readonly analysis?: Analysis;
  /** Language-model arms: validation perplexity, and the test stream's when the arm has one. */
  readonly perplexity?: number;
  readonly testPerplexity?: number;
  /** With early stopping: the epoch whose weights the model holds, or null when it trained every epoch. */
  readonly stoppedAt?: number | null;
  /** The name of the analysis an arm stored (see `AnalysisKinds`), so that `analysisOf` can check it. */
  readonly analysisKind?: string;
  /** `diverged` when the run's divergence guard stopped it (`RunSpec.divergence.action: 'stop'`); absent otherwise. */
  readonly stopped?: 'diverged';
  /** Where and why a diverged run stopped. */
  readonly divergence?: { readonly iteration: number; readonly loss: number; readonly reason: string };
  /**
   * How the outcome was obtained: trained and stored (`miss`), loaded (`hit`), retrained on request (`fresh`),
   * left to another shard (`other shard`: a placeholder whose numbers are NaN), or not cached (`uncached`).
   */
  readonly cache?: 'hit' | 'miss' | 'fresh' | 'other shard' | 'uncached';
}

/**
 * Writes the TensorBoard summaries of a stored or loaded run outcome beside the run cache
 * (`<cache folder>/../tensorboard/<arm · seed · key>`). A loaded outcome's folder is written only when it is missing:
 * the key names one outcome, so an existing folder already holds it (and every write holds a TensorFlow writer for the
 * rest of the process). Outcomes of other shapes are left alone; a failure to write is reported as a warning and never
 * fails the run (its outcome is already stored).
 */
function summarize(
  cache: RunCacheSettings,
  key: string,
  o: { readonly arm: string; readonly seed: number; readonly outcome: unknown; readonly loaded: boolean },
): void {
  const { arm, seed, outcome } = o;
  const dir = path.join(path.dirname(path.resolve(cache.dir)), SUMMARIES_FOLDER, summaryRunName(arm, seed, key));
  if ((o.loaded && fs.existsSync(dir)) || runOutcomeProblem(outcome) !== undefined) return;
  try {
    writeRunSummaries(dir, outcome as SummarySource);
  } catch (err) {
    console.warn(
      `run cache: TensorBoard summaries of ${arm} (seed ${seed}) not written to ${dir}: ${(err as Error).message}`,
    );
  }
}

/** How an outcome was obtained (see {@link RunOutcome.cache}). */
export type CacheStatus = NonNullable<RunOutcome['cache']>;

/** Entries (cache folder and key) this process retrained under `fresh`: asked again, they are read, not retrained. */
const retrainedHere = new Set<string>();

/**
 * One arm through the run cache (shared by image and language-model experiments): with `settings`, the outcome stored
 * under the hash of `describe()` is loaded (unless `fresh` and not yet retrained by this process), else `train` runs
 * and its outcome is stored atomically;
 * under a shard, an arm another shard owns returns `otherShard()` (without it, every arm trains here). A run keeps a
 * checkpoint beside its entry, so that an interrupted run resumes where it stopped (bit-identical). Without
 * `settings`, `train` runs uncached. Every cached decision is recorded for the run report.
 */
export async function throughRunCache<T extends { readonly arm: string }>(o: {
  readonly settings: RunCacheSettings | undefined;
  readonly describe: () => unknown;
  readonly arm: string;
  readonly seed: number;
  /** Trains the arm; with the cache, `checkpoint` is where it keeps its resumable state (removed once stored). */
  readonly train: (checkpoint: string | undefined) => Promise<T>;
  readonly otherShard?: () => T;
  readonly onHit?: () => void;
  /** A problem with a cached outcome read back (a missing or ill-typed field), or undefined when it is usable. */
  readonly validate?: (outcome: unknown) => string | undefined;
}): Promise<T & { cache: CacheStatus }> {
  const cache = o.settings;
  if (!cache) return { ...(await o.train(undefined)), cache: 'uncached' };
  const description = o.describe();
  const key = armKey(description);
  const entry = `${path.resolve(cache.dir)}\u0000${key}`;
  const fresh = cache.fresh && !retrainedHere.has(entry);
  if (!fresh) {
    const hit = readCached<T>(cache, key, o.validate ? { validate: o.validate } : {});
    if (hit) {
      recordCacheEvent({ arm: o.arm, seed: o.seed, key, event: 'hit' });
      o.onHit?.();
      summarize(cache, key, { arm: o.arm, seed: o.seed, outcome: hit, loaded: true });
      return { ...hit, arm: o.arm, cache: 'hit' };
    }
  }
  if (cache.shard && o.otherShard && !ownsArm(key, cache.shard)) {
    recordCacheEvent({ arm: o.arm, seed: o.seed, key, event: 'other shard' });
    return { ...o.otherShard(), cache: 'other shard' };
  }
  // An interrupted run resumes from its checkpoint beside the cache entry; the fresh request starts afresh.
  const checkpoint = path.join(cache.dir, `${key}.checkpoint.json`);
  if (fresh) fs.rmSync(checkpoint, { force: true });
  const outcome = await o.train(checkpoint);
  writeCached(cache, key, description, outcome);
  fs.rmSync(checkpoint, { force: true });
  if (fresh) retrainedHere.add(entry);
  recordCacheEvent({ arm: o.arm, seed: o.seed, key, event: fresh ? 'fresh' : 'miss' });
  summarize(cache, key, { arm: o.arm, seed: o.seed, outcome, loaded: false });
  return { ...outcome, cache: fresh ? 'fresh' : 'miss' };
}
