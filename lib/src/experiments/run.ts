import type { ImageDataset } from '../data/image-dataset';
import { augmentationOf, channelStats, storedAugmentation, type Augmentation } from '../data/pipeline';
import { ConfigError } from '../errors';
import type { Model, ForwardContext } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import { EnergyLedger } from '../cost/ledger';
import type { OptimizerConfig } from '../train/optimizers';
import type { LrSchedule } from '../train/schedules';
import type { Technique } from '../train/technique';
import { train, type ProgressSink } from '../train/trainer';
import type { CurvePoint, EpochRecord } from '../train/loop';
import { evaluate } from '../train/evaluate';
import {
  armKey,
  datasetFingerprint,
  libraryFingerprint,
  ownsArm,
  readCached,
  recordCacheEvent,
  runCacheFromEnv,
  writeCached,
  type RunCacheSettings,
} from './run-cache';

/** One training run of an experiment: everything is built fresh from the seed. */
export interface RunSpec {
  /** Label of the arm (e.g. "SMD r=0.67"). */
  readonly arm: string;
  readonly seed: number;
  readonly model: (seed: number) => Model;
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  readonly batchSize: number;
  /** Trained iterations (the schedule spans them); or set `epochs`. */
  readonly iterations?: number;
  readonly epochs?: number;
  readonly lr: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: LrSchedule;
  readonly techniques?: (model: Model, seed: number) => Technique[];
  readonly precision?: LayerPrecision;
  /** Quantizer settings of the run (plain data, e.g. `sbmQuant()` or `{ scheme: 'dorefa' }`; part of the cache key). */
  readonly quant?: import('../train/config').CommonTrainConfig['quant'];
  /** Augmentation of the training images (`true`, the default: pad-crop-flip; `'flip'`: flips only; `false`: none). */
  readonly augment?: boolean | Augmentation;
  /**
   * How images are scaled before the model: `standardize` (default: per-channel mean and standard deviation of the
   * training set) or `unit-range` (the stored pixel values in [0, 1] as they are: Caffe's `scale: 1/256`-style input of
   * its LeNet, for recipes tuned on it). Part of the cache key when not the default.
   */
  readonly input?: 'standardize' | 'unit-range';
  readonly swa?: { readonly start: number; readonly every: number };
  /**
   * What counts as divergence and what it does (the trainer's guard). With `action: 'stop'` a diverged run is an
   * outcome: evaluated on the weights before the diverging step, with `stopped: 'diverged'` and where it happened
   * (for arms the source reports as unstable, e.g. TernGrad without clipping). Part of the cache key.
   */
  readonly divergence?: import('../train/guard').DivergenceOptions;
  /** Evaluation context built from the techniques (e.g. SLU's gates). */
  readonly evalContext?: (techniques: readonly Technique[]) => Omit<ForwardContext, 'training'> | undefined;
  readonly progress?: ProgressSink;
  /** Evaluate on the test set every this many iterations (accuracy against energy during training). */
  readonly evalEvery?: number;
  /** Called with the trained model and techniques before they are disposed (analysis of gates, weights, ...). An arm with `inspect` always trains (a cached outcome has no model to inspect). */
  readonly inspect?: (
    model: Model,
    techniques: readonly Technique[],
    normalize: import('../data/pipeline').ChannelStats,
  ) => void | Promise<void>;
  /**
   * Measures the trained model and techniques before they are disposed and returns plain data (e.g. a gate report),
   * stored in the outcome as `analysis` and cached with it: unlike `inspect`, an arm with `analyze` is cached. Name
   * the analysis in `cacheKey` (its code is not part of the key).
   */
  readonly analyze?: (
    model: Model,
    techniques: readonly Technique[],
    normalize: import('../data/pipeline').ChannelStats,
  ) => unknown;
  /**
   * Plain data describing what the functions of this spec build (model and its options, techniques and their
   * options), e.g. `{ model: { depth: 8, widths }, techniques: [{ smd: { p: 0.5 } }] }`. With it the arm is
   * cached: its key also covers the datasets' contents, batch, schedule, optimizer, precision, seed and the library
   * source. Without it the arm always trains.
   */
  readonly cacheKey?: unknown;
  /** Run-cache settings (default: from the environment the runner sets; `false`: no cache). */
  readonly cache?: RunCacheSettings | false;
}

/**
 * A model builder that starts from stored weights (e.g. a pre-training arm's `analyze: (m) => m.params.recordsSync()`
 * analysis): builds with `build(seed)` and restores every parameter, for fine-tuning and adaptation arms.
 */
export function modelFromWeights(
  build: (seed: number) => Model,
  weights: Readonly<Record<string, import('../models/records').TensorRecord>>,
): (seed: number) => Model {
  return (seed: number) => {
    const m = build(seed);
    m.params.restore(weights);
    return m;
  };
}

/** The evaluation with the highest top-1 of a run's accuracy curve (the paper's "highest accuracy achieved during retraining" and its cost so far). */
export function bestEvaluation(o: Pick<RunOutcome, 'accuracyCurve'>): CurvePoint | undefined {
  let best: CurvePoint | undefined;
  for (const p of o.accuracyCurve ?? []) if (!best || p.top1 > best.top1) best = p;
  return best;
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

/** The description a cached arm's key is the hash of. */
function armDescription(spec: RunSpec): unknown {
  return {
    library: libraryFingerprint(),
    seed: spec.seed,
    train: datasetFingerprint(spec.train),
    test: datasetFingerprint(spec.test),
    batchSize: spec.batchSize,
    iterations: spec.iterations ?? null,
    epochs: spec.epochs ?? 1,
    lr: spec.lr,
    optimizer: spec.optimizer,
    schedule: spec.schedule,
    precision: spec.precision ?? null,
    quant: spec.quant ?? null,
    augment: storedAugmentation(augmentationOf(spec.augment ?? true)),
    ...(spec.input && spec.input !== 'standardize' ? { input: spec.input } : {}),
    swa: spec.swa ?? null,
    ...(spec.divergence ? { divergence: spec.divergence } : {}),
    evalEvery: spec.evalEvery ?? null,
    key: spec.cacheKey,
  };
}

/** The outcome a shard reports for an arm another shard computes: NaN measurements, never a verdict. */
function otherShardOutcome(spec: RunSpec): RunOutcome {
  return {
    arm: spec.arm,
    seed: spec.seed,
    top1: NaN,
    testLoss: NaN,
    iterations: 0,
    batchesSeen: 0,
    energyJ: NaN,
    effectiveMacs: NaN,
    macs: NaN,
    forwardMacs: NaN,
    overheadMacs: NaN,
    seconds: 0,
    history: [],
    techniqueStats: {},
    energyCurve: [],
    accuracyCurve: [],
    cache: 'other shard',
  };
}

/**
 * Runs one arm of an experiment with an energy ledger: builds the model and techniques from the seed,
 * trains (per-channel normalisation from the training set), evaluates top-1 on the test set and
 * disposes everything it created. An arm with a `cacheKey` goes through the run cache (see `run-cache.ts`):
 * loaded when stored, else trained and stored; under a shard, arms of other shards return NaN placeholders.
 */
export async function runExperiment(spec: RunSpec): Promise<RunOutcome> {
  const cache = spec.cache === false ? undefined : (spec.cache ?? runCacheFromEnv());
  return throughRunCache({
    settings: cache && spec.cacheKey !== undefined && !spec.inspect ? cache : undefined,
    describe: () => armDescription(spec),
    arm: spec.arm,
    seed: spec.seed,
    train: () => trainArm(spec),
    otherShard: () => otherShardOutcome(spec),
    onHit: () => spec.progress?.done({ cached: 'hit' }),
  });
}

/** How an outcome was obtained (see {@link RunOutcome.cache}). */
export type CacheStatus = NonNullable<RunOutcome['cache']>;

/**
 * One arm through the run cache (shared by image and language-model experiments): with `settings`, the outcome stored
 * under the hash of `describe()` is loaded (unless `fresh`), else `train` runs and its outcome is stored atomically;
 * under a shard, an arm another shard owns returns `otherShard()` (without it, every arm trains here). Without
 * `settings`, `train` runs uncached. Every cached decision is recorded for the run report.
 */
export async function throughRunCache<T extends { readonly arm: string }>(o: {
  readonly settings: RunCacheSettings | undefined;
  readonly describe: () => unknown;
  readonly arm: string;
  readonly seed: number;
  readonly train: () => Promise<T>;
  readonly otherShard?: () => T;
  readonly onHit?: () => void;
}): Promise<T & { cache: CacheStatus }> {
  const cache = o.settings;
  if (!cache) return { ...(await o.train()), cache: 'uncached' };
  const description = o.describe();
  const key = armKey(description);
  if (!cache.fresh) {
    const hit = readCached<T>(cache, key);
    if (hit) {
      recordCacheEvent({ arm: o.arm, seed: o.seed, key, event: 'hit' });
      o.onHit?.();
      return { ...hit, arm: o.arm, cache: 'hit' };
    }
  }
  if (cache.shard && o.otherShard && !ownsArm(key, cache.shard)) {
    recordCacheEvent({ arm: o.arm, seed: o.seed, key, event: 'other shard' });
    return { ...o.otherShard(), cache: 'other shard' };
  }
  const outcome = await o.train();
  writeCached(cache, key, description, outcome);
  recordCacheEvent({ arm: o.arm, seed: o.seed, key, event: cache.fresh ? 'fresh' : 'miss' });
  return { ...outcome, cache: cache.fresh ? 'fresh' : 'miss' };
}

/** The per-channel scaling `spec.input` asks for (see {@link RunSpec.input}), checked before any work starts. */
function inputScaling(spec: RunSpec): import('../data/pipeline').ChannelStats {
  const input = spec.input ?? 'standardize';
  if (input === 'standardize') return channelStats(spec.train);
  if (input === 'unit-range') {
    const channels = spec.train.channels;
    return { mean: new Array<number>(channels).fill(0), std: new Array<number>(channels).fill(1) };
  }
  throw new ConfigError('RunSpec.input', input, "'standardize' or 'unit-range'");
}

async function trainArm(spec: RunSpec): Promise<RunOutcome> {
  const normalize = inputScaling(spec);
  const model = spec.model(spec.seed);
  const techniques = spec.techniques?.(model, spec.seed) ?? [];
  const ledger = new EnergyLedger();
  const evalContext = spec.evalContext?.(techniques);
  try {
    const r = await train({
      model,
      train: spec.train,
      batchSize: spec.batchSize,
      epochs: spec.epochs ?? 1,
      iterations: spec.iterations,
      lr: spec.lr,
      optimizer: spec.optimizer,
      schedule: spec.schedule,
      techniques,
      seed: spec.seed,
      augment: spec.augment ?? true,
      normalize,
      precision: spec.precision,
      quant: spec.quant,
      ledger,
      swa: spec.swa,
      divergence: spec.divergence,
      evalContext,
      progress: spec.progress,
      evalEvery: spec.evalEvery,
      validation: spec.evalEvery ? spec.test : undefined,
      logEvery: 1_000_000,
    });
    // With periodic evaluation the trainer already evaluated the final model on the test set (same normalisation and context).
    const ev = r.final ?? (await evaluate(model, spec.test, { normalize, ctx: evalContext }));
    await spec.inspect?.(model, techniques, normalize);
    const analysis = spec.analyze
      ? JSON.parse(JSON.stringify(await spec.analyze(model, techniques, normalize)))
      : undefined;
    const t = ledger.totals();
    return {
      arm: spec.arm,
      seed: spec.seed,
      top1: ev.top1,
      testLoss: ev.loss,
      iterations: r.iterations,
      batchesSeen: r.batchesSeen,
      energyJ: t.energy.total,
      effectiveMacs: t.effectiveMacs,
      macs: t.macs.total,
      forwardMacs: t.macs.forward,
      overheadMacs: t.macs.overhead,
      acceleratorEnergyJ: t.acceleratorEnergy,
      latencySeconds: t.latency,
      seconds: r.seconds,
      history: r.history,
      techniqueStats: Object.fromEntries(techniques.filter((x) => x.stats).map((x) => [x.name, x.stats?.() ?? {}])),
      energyCurve: ledger.series.map((p) => [p.step, p.energy.total] as const),
      accuracyCurve: r.curve,
      ...(analysis === undefined ? {} : { analysis }),
      ...(r.stopped === 'diverged' ? { stopped: 'diverged' as const, divergence: r.divergence } : {}),
    };
  } finally {
    model.params.dispose();
    for (const t of techniques) t.dispose?.();
  }
}
