import type { Scale } from '../config';
import { ConfigError } from '../errors';
import type { RunSpec } from '../experiments/run';
import type { ImageDataset } from '../data/image-dataset';
import { cifarResNet } from '../models/resnet';
import type { Model } from '../models/spec';
import type { Technique } from '../train/technique';

/**
 * A CIFAR training regime shared by several notebooks, so that the arms they have in common (the 32-bit SGD baseline
 * above all) are the same run and the run cache computes them once.
 */
export interface CifarRegime {
  readonly scale: Scale;
  /** Training images (50,000 = the whole CIFAR-10 training set) and test images. */
  readonly trainCount: number;
  readonly testCount: number;
  /** CIFAR ResNet depth (6n + 2) and stage widths. */
  readonly depth: number;
  readonly widths: readonly [number, number, number];
  readonly batchSize: number;
  /** Epochs of the full budget (the baseline's whole learning-rate schedule). */
  readonly epochs: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Periodic test evaluations per epoch (accuracy against energy curves). */
  readonly evalsPerEpoch: number;
  /** Seeds per compared arm. */
  readonly seeds: number;
}

/**
 * The regime of `scale` from a table of the three scales, with `seeds` overriding its seed count (ignored at
 * `smoke`, which checks plumbing with one seed); refuses an unknown scale and a seed count that is not a positive integer.
 */
export function regimeAtScale<R extends { readonly seeds: number }>(
  table: Record<Scale, R>,
  scale: Scale,
  seeds?: number,
): R {
  const base = table[scale];
  if (!base) throw new ConfigError('scale', scale, 'smoke, lite or paper');
  if (seeds !== undefined && !(Number.isInteger(seeds) && seeds >= 1))
    throw new ConfigError('seeds', seeds, 'a positive integer');
  return seeds === undefined || scale === 'smoke' ? base : { ...base, seeds };
}

/** Trained iterations of the full budget of `regime` (whole epochs of `trainCount` in full batches: the trainer drops the last partial batch). */
export function regimeIterations(regime: CifarRegime): number {
  return Math.round(regime.epochs * Math.floor(regime.trainCount / regime.batchSize));
}

/** What an arm of a regime changes: its label and seed, and optionally energy ratio, model, optimizer, techniques. */
export interface RegimeArm {
  readonly arm: string;
  readonly seed: number;
  /** Fraction of the full budget's iterations this arm trains (its schedule spans them; default 1). */
  readonly ratio?: number;
  /** Model (default: the regime's ResNet); describe it in `cacheKey`. */
  readonly model?: (seed: number) => Model;
  readonly lr?: number;
  readonly optimizer?: RunSpec['optimizer'];
  readonly schedule?: RunSpec['schedule'];
  readonly techniques?: (model: Model, seed: number) => Technique[];
  readonly precision?: RunSpec['precision'];
  readonly quant?: RunSpec['quant'];
  readonly swa?: RunSpec['swa'];
  readonly evalContext?: RunSpec['evalContext'];
  readonly inspect?: RunSpec['inspect'];
  readonly analyze?: RunSpec['analyze'];
  /** Plain data describing what this arm changes (model options, techniques and their options); `{}` for the baseline. */
  readonly cacheKey: Readonly<Record<string, unknown>>;
}

/**
 * The run spec of an arm in `regime` on `data`: the regime's ResNet, SGD with momentum and weight decay, cosine
 * schedule over the arm's iterations, an evaluation every `trainCount / evalsPerEpoch` images, and a cache key that
 * covers the regime and what the arm changes (so two notebooks asking for the same arm share one run).
 */
export function regimeSpec(
  regime: CifarRegime,
  data: { train: ImageDataset; test: ImageDataset },
  arm: RegimeArm,
): RunSpec {
  const ratio = arm.ratio ?? 1;
  if (!(ratio > 0 && ratio <= 1)) throw new ConfigError(`arm ${arm.arm} ratio`, ratio, 'a fraction in (0, 1]');
  if (data.train.count !== regime.trainCount)
    throw new ConfigError(
      'regime train set',
      data.train.count,
      `${regime.trainCount} images (the regime's training set)`,
    );
  const iterations = Math.max(1, Math.round(ratio * regimeIterations(regime)));
  const perEpoch = Math.floor(regime.trainCount / regime.batchSize);
  return {
    arm: arm.arm,
    seed: arm.seed,
    train: data.train,
    test: data.test,
    batchSize: regime.batchSize,
    iterations,
    lr: arm.lr ?? regime.lr,
    optimizer: arm.optimizer ?? { kind: 'sgd', momentum: regime.momentum, weightDecay: regime.weightDecay },
    schedule: arm.schedule ?? { kind: 'cosine' },
    model: arm.model ?? ((k: number) => cifarResNet({ depth: regime.depth, seed: k, widths: regime.widths })),
    techniques: arm.techniques,
    precision: arm.precision,
    quant: arm.quant,
    swa: arm.swa,
    evalContext: arm.evalContext,
    inspect: arm.inspect,
    analyze: arm.analyze,
    evalEvery: Math.max(1, Math.round(perEpoch / regime.evalsPerEpoch)),
    cacheKey: {
      regime: { depth: regime.depth, widths: regime.widths, weightDecay: regime.weightDecay },
      ...arm.cacheKey,
    },
  };
}
