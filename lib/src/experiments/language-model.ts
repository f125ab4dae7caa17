import * as crypto from 'node:crypto';
import { EnergyLedger } from '../cost/ledger';
import type { LanguageModel } from '../models/lstm';
import type { Model } from '../models/spec';
import type { OptimizerConfig } from '../train/optimizers';
import type { LrSchedule } from '../train/schedules';
import type { Technique } from '../train/technique';
import type { TrainCallback } from '../train/loop';
import type { LayerPrecision } from '../quant/precision';
import type { CommonTrainConfig } from '../train/config';
import { train } from '../train/trainer';
import { libraryFingerprint, runCacheFromEnv, type RunCacheSettings } from './run-cache';
import { throughRunCache, type CacheStatus } from './run';

/** One language-model training run (an LSTM on a token stream), cached like {@link RunSpec} arms. */
export interface LmRunSpec {
  readonly arm: string;
  readonly seed: number;
  readonly model: (seed: number) => LanguageModel;
  readonly train: Int32Array;
  readonly validation: Int32Array;
  readonly batchSize: number;
  readonly bptt: number;
  readonly epochs: number;
  readonly lr: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: LrSchedule;
  readonly clipNorm?: number;
  readonly precision?: LayerPrecision;
  readonly quant?: CommonTrainConfig['quant'];
  readonly techniques?: (model: Model, seed: number) => Technique[];
  /** Units on the training loop's hooks (e.g. `earlyStopping()`), built fresh for the run. */
  readonly callbacks?: () => TrainCallback[];
  /** Evaluation settings (e.g. the forward pass at a final precision). */
  readonly evalContext?: CommonTrainConfig['evalContext'];
  /** Measures the trained model, techniques and loop units before they are disposed (plain data, cached with the outcome). */
  readonly analyze?: (model: Model, techniques: readonly Technique[], callbacks: readonly TrainCallback[]) => unknown;
  /** Plain data describing the model and techniques (see `RunSpec.cacheKey`); without it the arm always trains. */
  readonly cacheKey?: unknown;
  readonly cache?: RunCacheSettings | false;
}

/** What a language-model run measured. */
export interface LmRunOutcome {
  readonly arm: string;
  readonly seed: number;
  readonly perplexity: number;
  readonly loss: number;
  readonly iterations: number;
  readonly effectiveMacs: number;
  readonly macs: number;
  readonly energyJ: number;
  readonly acceleratorEnergyJ: number;
  readonly latencySeconds: number;
  readonly seconds: number;
  readonly analysis?: unknown;
  readonly cache?: CacheStatus;
}

function streamHash(ids: Int32Array): string {
  return crypto
    .createHash('sha256')
    .update(Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Trains and evaluates one language-model arm with an energy ledger (validation perplexity at the end, with
 * `evalContext`), through the run cache when the spec has a `cacheKey` (key: library source, token streams, every
 * setting and the cache key).
 */
export async function runLanguageModelExperiment(spec: LmRunSpec): Promise<LmRunOutcome> {
  const cache = spec.cache === false ? undefined : (spec.cache ?? runCacheFromEnv());
  return throughRunCache({
    settings: cache && spec.cacheKey !== undefined ? cache : undefined,
    describe: () => ({
      library: libraryFingerprint(),
      task: 'language-model',
      seed: spec.seed,
      train: streamHash(spec.train),
      validation: streamHash(spec.validation),
      batchSize: spec.batchSize,
      bptt: spec.bptt,
      epochs: spec.epochs,
      lr: spec.lr,
      optimizer: spec.optimizer,
      schedule: spec.schedule,
      clipNorm: spec.clipNorm ?? null,
      precision: spec.precision ?? null,
      quant: spec.quant ?? null,
      key: spec.cacheKey,
    }),
    arm: spec.arm,
    seed: spec.seed,
    train: () => trainLanguageModelArm(spec),
  });
}

async function trainLanguageModelArm(spec: LmRunSpec): Promise<LmRunOutcome> {
  const model = spec.model(spec.seed);
  const techniques = spec.techniques?.(model, spec.seed) ?? [];
  const callbacks = spec.callbacks?.() ?? [];
  const ledger = new EnergyLedger();
  try {
    const r = await train({
      task: 'language-model',
      model,
      train: spec.train,
      validation: spec.validation,
      batchSize: spec.batchSize,
      bptt: spec.bptt,
      epochs: spec.epochs,
      lr: spec.lr,
      optimizer: spec.optimizer,
      schedule: spec.schedule,
      clipNorm: spec.clipNorm,
      seed: spec.seed,
      precision: spec.precision,
      quant: spec.quant,
      techniques,
      callbacks,
      ledger,
      evalContext: spec.evalContext,
      logEvery: 1_000_000,
    });
    const t = ledger.totals();
    const analysis = spec.analyze ? JSON.parse(JSON.stringify(spec.analyze(model, techniques, callbacks))) : undefined;
    return {
      arm: spec.arm,
      seed: spec.seed,
      perplexity: r.final?.perplexity ?? Number.NaN,
      loss: r.final?.loss ?? Number.NaN,
      iterations: r.iterations,
      effectiveMacs: t.effectiveMacs,
      macs: t.macs.total,
      energyJ: t.energy.total,
      acceleratorEnergyJ: t.acceleratorEnergy,
      latencySeconds: t.latency,
      seconds: r.seconds,
      ...(analysis === undefined ? {} : { analysis }),
    };
  } finally {
    model.params.dispose();
    for (const t of techniques) t.dispose?.();
    for (const c of callbacks) c.dispose?.();
  }
}
