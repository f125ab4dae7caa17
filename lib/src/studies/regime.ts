import type { Scale } from '../config';
import { ConfigError } from '../errors';
import { type ImageDataset, selectImages } from '../data/image-dataset';
import type { AnalysisName } from '../experiments/analyses';
import type { Arm, ModelDescription, Recipe, TechniqueDescription } from '../experiments/arm';
import type { ResNetOptions } from '../models/resnet';
import type { LayerPrecision } from '../quant/precision';
import type { OptimizerConfig } from '../train/optimizers';
import type { LrSchedule } from '../train/schedules';

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

/** What an arm of a regime changes: its label and seed, and optionally the fraction of the budget, model, recipe, techniques. */
export interface RegimeArmChanges<A extends AnalysisName | undefined> {
  readonly label: string;
  readonly seed: number;
  /** Fraction of the full budget's iterations this arm trains (its schedule spans them; default 1). */
  readonly ratio?: number;
  /** Model (default: the regime's ResNet). */
  readonly model?: ModelDescription;
  readonly lr?: number;
  readonly optimizer?: OptimizerConfig;
  readonly schedule?: LrSchedule;
  readonly swa?: Recipe['swa'];
  readonly techniques?: readonly TechniqueDescription[];
  readonly precision?: LayerPrecision;
  readonly quant?: Arm['quant'];
  readonly evaluateAt?: LayerPrecision;
  readonly analysis?: A;
  readonly init?: Arm<'weights'>;
}

/** The regime's ResNet, with `options` changed (e.g. every block skippable). */
export function regimeResNet(
  regime: CifarRegime,
  options: Partial<Omit<ResNetOptions, 'seed'>> = {},
): ModelDescription {
  return { kind: 'resnet', options: { depth: regime.depth, widths: regime.widths, ...options } };
}

/**
 * An arm in `regime` on `data`: the regime's ResNet, SGD with momentum and weight decay, cosine schedule over the
 * arm's iterations, pad-crop-flip augmentation, standardized input and an evaluation every `trainCount /
 * evalsPerEpoch` images, with what the arm changes. Its cache key is derived from the description, so two notebooks
 * asking for the same arm share one run.
 */
export function regimeArm<A extends AnalysisName | undefined = undefined>(
  regime: CifarRegime,
  data: { readonly train: ImageDataset; readonly test: ImageDataset },
  changes: RegimeArmChanges<A>,
): Arm<A> {
  const ratio = changes.ratio ?? 1;
  if (!(ratio > 0 && ratio <= 1)) throw new ConfigError(`arm ${changes.label} ratio`, ratio, 'a fraction in (0, 1]');
  if (data.train.count !== regime.trainCount)
    throw new ConfigError(
      'regime train set',
      data.train.count,
      `${regime.trainCount} images (the regime's training set)`,
    );
  const perEpoch = Math.floor(regime.trainCount / regime.batchSize);
  return {
    label: changes.label,
    seed: changes.seed,
    data,
    model: changes.model ?? regimeResNet(regime),
    recipe: {
      batchSize: regime.batchSize,
      iterations: Math.max(1, Math.round(ratio * regimeIterations(regime))),
      lr: changes.lr ?? regime.lr,
      optimizer: changes.optimizer ?? { kind: 'sgd', momentum: regime.momentum, weightDecay: regime.weightDecay },
      schedule: changes.schedule ?? { kind: 'cosine' },
      augment: 'pad-crop-flip',
      input: 'standardize',
      ...(changes.swa ? { swa: changes.swa } : {}),
      evalEvery: Math.max(1, Math.round(perEpoch / regime.evalsPerEpoch)),
    },
    techniques: changes.techniques ?? [],
    ...(changes.precision ? { precision: changes.precision } : {}),
    ...(changes.quant ? { quant: changes.quant } : {}),
    ...(changes.evaluateAt ? { evaluateAt: changes.evaluateAt } : {}),
    ...(changes.init ? { init: changes.init } : {}),
    analysis: changes.analysis as A,
  };
}

/**
 * A regime and data for choosing a hyperparameter without the test set: the last `holdOut` training images become the
 * evaluation set and the others the training set, with the regime's epochs over them (so its iterations shrink in
 * proportion). The test images are not part of the result.
 */
export function heldOutRegime(
  regime: CifarRegime,
  data: { readonly train: ImageDataset },
  holdOut = 5000,
): { regime: CifarRegime; data: { train: ImageDataset; test: ImageDataset } } {
  const n = data.train.count;
  if (!(Number.isInteger(holdOut) && holdOut > 0 && holdOut < n))
    throw new ConfigError('holdOut', holdOut, `a positive number of images below the training set's ${n}`);
  const keep = n - holdOut;
  const index = (from: number, count: number) => Int32Array.from({ length: count }, (_, i) => from + i);
  return {
    regime: { ...regime, trainCount: keep, testCount: holdOut },
    data: {
      train: selectImages(data.train, index(0, keep), `${data.train.name} (first ${keep})`),
      test: selectImages(data.train, index(keep, holdOut), `${data.train.name} (last ${holdOut}, held out)`),
    },
  };
}

/**
 * The learning rate whose run scored the highest held-out top-1 among `candidates` (ties: the smaller rate, the more
 * conservative choice). Refuses an empty list and non-finite scores.
 */
export function chooseLearningRate(candidates: ReadonlyArray<{ readonly lr: number; readonly top1: number }>): number {
  if (candidates.length === 0) throw new ConfigError('candidates', 0, 'at least one learning rate with its score');
  for (const c of candidates)
    if (!Number.isFinite(c.top1)) throw new ConfigError(`candidates (lr ${c.lr}) top1`, c.top1, 'a finite score');
  const best = [...candidates].sort((a, b) => b.top1 - a.top1 || a.lr - b.lr)[0] as { lr: number };
  return best.lr;
}

/**
 * The learning-rate grid of a held-out choice around `lr`: lr / 3, lr and 3 lr, each rounded to 6 significant digits
 * (so that 0.1 / 3 prints as 0.0333333). Refuses a rate that is not a positive finite number.
 */
export function learningRateGrid(lr: number): [number, number, number] {
  if (!(Number.isFinite(lr) && lr > 0)) throw new ConfigError('learning rate', lr, 'a positive finite number');
  const r = (v: number) => Number(v.toPrecision(6));
  return [r(lr / 3), r(lr), r(3 * lr)];
}

/**
 * `arm` at learning rate `lr` (its recipe's `lr` replaced; the schedule scales from it), labelled `label`; everything
 * else, the seed and the data included, unchanged. Refuses a rate that is not a positive finite number.
 */
export function withLearningRate<A extends AnalysisName | undefined>(arm: Arm<A>, lr: number, label: string): Arm<A> {
  if (!(Number.isFinite(lr) && lr > 0)) throw new ConfigError('learning rate', lr, 'a positive finite number');
  return { ...arm, label, recipe: { ...arm.recipe, lr } };
}
