import type { Scale } from '../config';
import type { ImageDataset } from '../data/image-dataset';
import type { Augmentation, ChannelStats } from '../data/pipeline';
import { ConfigError } from '../errors';
import { keskarSharpness } from '../analysis/sharpness';
import type { AnalysisKinds } from '../experiments/analyses';
import { buildModel, type Arm, type ModelDescription, runArm } from '../experiments/arm';
import type { RunOutcome } from '../experiments/run';
import { regimeAtScale } from './regime';
import type { LrSchedule } from '../train/schedules';

/** A SmoothOut variant: noise kind, adaptive scaling, de-noising, strength a (the thesis's values by default, Tables 5.4-5.5). */
export interface SmoothOutVariant {
  readonly label: string;
  readonly a: number;
  readonly noise: 'uniform' | 'gaussian';
  readonly adaptive: boolean;
  readonly denoise: boolean;
}

/** The thesis's variants and strengths (Table 5.1: a = 0.0375; Tables 5.4-5.5 for the others). */
export const SMOOTHOUT_VARIANTS: Readonly<Record<string, SmoothOutVariant>> = {
  smoothout: { label: 'SmoothOut', a: 0.0375, noise: 'uniform', adaptive: false, denoise: true },
  ada: { label: 'AdaSmoothOut', a: 0.15, noise: 'uniform', adaptive: true, denoise: true },
  gaussian: { label: 'SmoothOut (Gaussian)', a: 0.025, noise: 'gaussian', adaptive: false, denoise: true },
  adaGaussian: { label: 'AdaSmoothOut (Gaussian)', a: 0.2, noise: 'gaussian', adaptive: true, denoise: true },
  noDenoise: {
    label: 'SmoothOut w/o de-noising (same a)',
    a: 0.0375,
    noise: 'uniform',
    adaptive: false,
    denoise: false,
  },
  noiseOnly: { label: 'uniform noise only', a: 0.0001, noise: 'uniform', adaptive: false, denoise: false },
};

/** Every variant name of {@link SMOOTHOUT_VARIANTS}, in its order. */
const ALL_VARIANTS: readonly string[] = Object.keys(SMOOTHOUT_VARIANTS);

/** The regime of the SmoothOut notebook (thesis ch. 5): one small-batch / large-batch study. */
export interface SmoothOutRegime {
  readonly scale: Scale;
  readonly trainCount: number;
  readonly testCount: number;
  /** Small and large batch (the thesis: 256 and 6,000 for F1, 5,000 for C1). */
  readonly smallBatch: number;
  readonly largeBatch: number;
  /** Epochs of every arm (large-batch arms train the same epochs, hence fewer steps). */
  readonly epochs: number;
  /** Adam's learning rate (the thesis's Fig. 5.2: 0.001). */
  readonly lr: number;
  /**
   * The learning-rate schedule of every arm. `lite` decays it (cosine to 0) so that the small-batch baseline completes
   * its schedule (notebook 41's header says why).
   */
  readonly schedule: LrSchedule;
  /** Augmentation of the training images of every arm (`'none'` in the thesis's F1 and C1 studies). */
  readonly augment: Augmentation;
  /** Variants at the large batch. */
  readonly variants: readonly string[];
  /** Variants at the small batch (`[]`: the small batch trains the baseline only). */
  readonly smallBatchVariants: readonly string[];
  /** Sharpness: images it is measured on, restarts, ascent steps. */
  readonly sharpness: { readonly images: number; readonly restarts: number; readonly steps: number };
  readonly seeds: number;
}

/**
 * SmoothOut regimes on an MLP on MNIST (the thesis's F1 benchmark, Table 5.1). `lite`: the whole MNIST, Adam 0.001
 * decayed by a cosine to 0 over 10 epochs at batch 256 and 6,000, SmoothOut at both and the ablation variants at 6,000, sharpness on 1,000 training
 * images (5 restarts, as the thesis), 3 seeds. `paper`: the same study at the thesis's sizes as configuration.
 */
export function smoothoutRegime(scale: Scale, seeds?: number): SmoothOutRegime {
  const all = ALL_VARIANTS;
  const r: Record<Scale, SmoothOutRegime> = {
    smoke: {
      scale,
      trainCount: 1024,
      testCount: 256,
      smallBatch: 64,
      largeBatch: 512,
      epochs: 1,
      lr: 0.001,
      augment: 'none',
      schedule: { kind: 'cosine' },
      variants: ['smoothout', 'ada', 'noDenoise'],
      smallBatchVariants: ['smoothout'],
      sharpness: { images: 128, restarts: 2, steps: 3 },
      seeds: 1,
    },
    lite: {
      scale,
      trainCount: 60000,
      testCount: 10000,
      smallBatch: 256,
      largeBatch: 6000,
      epochs: 10,
      lr: 0.001,
      augment: 'none',
      schedule: { kind: 'cosine' },
      variants: all,
      smallBatchVariants: ['smoothout'],
      sharpness: { images: 1000, restarts: 5, steps: 10 },
      seeds: 3,
    },
    paper: {
      scale,
      trainCount: 60000,
      testCount: 10000,
      smallBatch: 256,
      largeBatch: 6000,
      epochs: 100,
      lr: 0.001,
      augment: 'none',
      schedule: { kind: 'constant' },
      variants: all,
      smallBatchVariants: ['smoothout'],
      sharpness: { images: 60000, restarts: 5, steps: 50 },
      seeds: 10,
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/**
 * The CNN study of Table 5.1 (the thesis's C1 on CIFAR-10) on this project's ConvNet (`cifarNet`, Caffe's
 * cifar10_full, the network of the SSL, Force Regularization and TernGrad notebooks): baseline and SmoothOut
 * (a = 0.0375) at a small and a large batch, Adam from 0.001 decayed by a cosine.
 * `lite`: the whole CIFAR-10 for 15 epochs at batches 64 and 1,250 (C1's 256 and 5,000 divided by 4: the same ratio of
 * 19.5, four times the steps), horizontal flips (every arm), baseline and SmoothOut at both, sharpness on 1,000 training
 * images (5 restarts of 10 ascent steps), 3 seeds (why flips: notebook 41b's header).
 * `paper`: the thesis's C1 study (batches 256 and 5,000, no augmentation) with every variant, 100 epochs, as
 * configuration. `smoke`: plumbing.
 */
export function smoothoutCnnRegime(scale: Scale, seeds?: number): SmoothOutRegime {
  const r: Record<Scale, SmoothOutRegime> = {
    smoke: {
      scale,
      trainCount: 512,
      testCount: 256,
      smallBatch: 64,
      largeBatch: 256,
      epochs: 1,
      lr: 0.001,
      augment: 'flip',
      schedule: { kind: 'cosine' },
      variants: ['smoothout'],
      smallBatchVariants: ['smoothout'],
      sharpness: { images: 128, restarts: 2, steps: 3 },
      seeds: 1,
    },
    lite: {
      scale,
      trainCount: 50000,
      testCount: 10000,
      smallBatch: 64,
      largeBatch: 1250,
      epochs: 15,
      lr: 0.001,
      augment: 'flip',
      schedule: { kind: 'cosine' },
      variants: ['smoothout'],
      smallBatchVariants: ['smoothout'],
      sharpness: { images: 1000, restarts: 5, steps: 10 },
      seeds: 3,
    },
    paper: {
      scale,
      trainCount: 50000,
      testCount: 10000,
      smallBatch: 256,
      largeBatch: 5000,
      epochs: 100,
      lr: 0.001,
      augment: 'none',
      schedule: { kind: 'constant' },
      variants: ALL_VARIANTS,
      smallBatchVariants: ['smoothout'],
      sharpness: { images: 50000, restarts: 5, steps: 50 },
      seeds: 10,
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/** One arm of a SmoothOut study: the baseline (`variant` undefined) or a variant of {@link SMOOTHOUT_VARIANTS}, at a batch. */
export interface SmoothOutArm {
  /** "SB baseline", "SB SmoothOut", "LB baseline", "LB AdaSmoothOut", ... (SB / LB: small / large batch). */
  readonly label: string;
  readonly batch: number;
  readonly variant?: string;
  /**
   * Square-root learning-rate scaling for a large batch, as the authors' code does by default (wenwei202/smoothout
   * `main_gbn.py` `--lr_bb_fix`, `--lr_fix_policy sqrt`): lr x sqrt(batch / `mini`), `mini` its `--mini-batch-size`
   * (default 128). Unset: the regime's learning rate at every batch.
   */
  readonly lrScaling?: { readonly mini: number };
  /**
   * A fresh noise draw (and its own forward and backward pass) per mini-batch of this many examples inside the batch,
   * gradients averaged, as the authors' large-batch code does (`main_gbn.py`, `--mini-batch-size`, default 128). Only
   * with a variant; unset: one draw for the whole batch (Algorithm 2).
   */
  readonly noiseGhostBatch?: number;
  /** A multiplier of the variant's noise strength `a` (default 1), for strength rungs. Only with a variant. */
  readonly aScale?: number;
}

/**
 * The arms of a SmoothOut study in run order: the small-batch baseline, the regime's small-batch variants, the
 * large-batch baseline, its large-batch variants. Throws on a variant name that is not in {@link SMOOTHOUT_VARIANTS}.
 */
export function smoothoutArms(regime: SmoothOutRegime): SmoothOutArm[] {
  const variant = (v: string, tag: 'SB' | 'LB', batch: number): SmoothOutArm => {
    const known = SMOOTHOUT_VARIANTS[v];
    if (!known) throw new ConfigError('smoothout variant', v, ALL_VARIANTS.join(', '));
    return { label: `${tag} ${known.label}`, batch, variant: v };
  };
  return [
    { label: 'SB baseline', batch: regime.smallBatch },
    ...regime.smallBatchVariants.map((v) => variant(v, 'SB', regime.smallBatch)),
    { label: 'LB baseline', batch: regime.largeBatch },
    ...regime.variants.map((v) => variant(v, 'LB', regime.largeBatch)),
  ];
}

/** A baseline (`variant` undefined) or SmoothOut arm at `batch`, storing its weights; a run that diverges stops and is reported (`RunOutcome.stopped`). */
export function smoothoutArm(
  regime: SmoothOutRegime,
  data: { readonly train: ImageDataset; readonly test: ImageDataset },
  model: ModelDescription,
  seed: number,
  arm: SmoothOutArm,
): Arm<'weights'> {
  const v = arm.variant === undefined ? undefined : SMOOTHOUT_VARIANTS[arm.variant];
  if (arm.variant !== undefined && !v)
    throw new ConfigError('smoothout variant', arm.variant, Object.keys(SMOOTHOUT_VARIANTS).join(', '));
  if (!(Number.isInteger(arm.batch) && arm.batch > 0 && arm.batch <= data.train.count))
    throw new ConfigError('smoothout batch', arm.batch, `a batch size in 1..${data.train.count}`);
  const mini = arm.lrScaling?.mini;
  if (mini !== undefined && !(Number.isInteger(mini) && mini > 0 && mini <= arm.batch))
    throw new ConfigError('smoothout lrScaling.mini', mini, `a batch size in 1..${arm.batch}`);
  const lr = mini === undefined ? regime.lr : regime.lr * Math.sqrt(arm.batch / mini);
  const ghost = arm.noiseGhostBatch;
  if (ghost !== undefined && !(v && Number.isInteger(ghost) && ghost > 0 && ghost <= arm.batch))
    throw new ConfigError(
      'smoothout noiseGhostBatch',
      ghost,
      v ? `a batch size in 1..${arm.batch}` : 'unset for a baseline arm (it has no noise)',
    );
  const aScale = arm.aScale;
  if (aScale !== undefined && !(v && Number.isFinite(aScale) && aScale > 0))
    throw new ConfigError('smoothout aScale', aScale, v ? 'a positive multiplier' : 'unset for a baseline arm');
  return {
    ...{ label: arm.label, seed, data, model },
    recipe: {
      ...{
        batchSize: arm.batch,
        epochs: regime.epochs,
        lr,
        optimizer: { kind: 'adam' },
        schedule: regime.schedule,
      },
      ...{ augment: regime.augment, input: 'standardize' },
      // The guard watches the loss at the perturbed weights: a noise draw can spike it (AdaSmoothOut with Gaussian noise
      // at 6,000 did). A stopped run is reported, not a failure.
      divergence: { action: 'stop' },
    },
    techniques: v
      ? [
          {
            kind: 'smoothout',
            options: {
              ...{ a: v.a * (aScale ?? 1), noise: v.noise, adaptive: v.adaptive, denoise: v.denoise },
              ...(ghost !== undefined ? { ghostBatch: ghost } : {}),
            },
          },
        ]
      : [],
    analysis: 'weights',
  };
}

/**
 * The large-batch ladder of a SmoothOut study (notebook 41c), each rung one change from the previous: the large-batch
 * baseline; + SmoothOut (`variant`, the study's arm); + square-root learning-rate scaling from the code's mini-batch
 * `mini` (`main_gbn.py` `--lr_bb_fix`, default on); + a fresh noise per mini-batch of `mini` (the code's ghost batches:
 * its large-batch protocol); the baseline with the same learning-rate scaling (the code protocol's comparator); the code
 * protocol at a quarter of the noise strength.
 */
export function smoothoutLargeBatchLadder(
  regime: SmoothOutRegime,
  o: { readonly variant?: string; readonly mini?: number } = {},
): Array<{ readonly rung: string; readonly arm: SmoothOutArm }> {
  const variant = o.variant ?? 'smoothout';
  const known = SMOOTHOUT_VARIANTS[variant];
  if (!known) throw new ConfigError('smoothout ladder variant', variant, ALL_VARIANTS.join(', '));
  const mini = o.mini ?? 128;
  if (!(Number.isInteger(mini) && mini > 0 && mini <= regime.largeBatch))
    throw new ConfigError('smoothout ladder mini', mini, `a batch size in 1..${regime.largeBatch}`);
  const batch = regime.largeBatch;
  const name = known.label;
  const scaled = { lrScaling: { mini } };
  return [
    { rung: 'LB baseline', arm: { label: 'LB baseline', batch } },
    { rung: `+ ${name} (a ${known.a})`, arm: { label: `LB ${name}`, batch, variant } },
    {
      rung: `+ sqrt lr scaling (x${Math.sqrt(batch / mini).toFixed(2)})`,
      arm: { label: `LB ${name}, sqrt lr`, batch, variant, ...scaled },
    },
    {
      rung: `+ a noise per ${mini}-image mini-batch (the code's protocol)`,
      arm: { label: `LB ${name}, sqrt lr, noise per ${mini}`, batch, variant, ...scaled, noiseGhostBatch: mini },
    },
    {
      rung: "the code protocol's baseline: + sqrt lr scaling",
      arm: { label: 'LB baseline, sqrt lr', batch, ...scaled },
    },
    {
      rung: `the code's protocol at a / 4 (a ${known.a / 4})`,
      arm: {
        ...{ label: `LB ${name}, sqrt lr, noise per ${mini}, a/4`, batch, variant, ...scaled },
        ...{ noiseGhostBatch: mini, aScale: 0.25 },
      },
    },
  ];
}

/** One trained arm of a SmoothOut study with the (C_eps, A)-sharpness of its weights. */
export interface SmoothOutRun {
  readonly seed: number;
  readonly label: string;
  readonly outcome: RunOutcome<AnalysisKinds['weights']>;
  readonly sharpness: number;
  readonly maxBoxRatio: number;
}

/**
 * Runs every arm of a SmoothOut study for each seed (small-batch baseline and variants, then large-batch ones) and
 * measures Keskar's sharpness of each trained model on `probe` images (the arm's input scaling `normalize`; the
 * regime's restarts and steps). `onRun` sees each run as it ends (progress).
 */
export async function smoothoutStudy(
  regime: SmoothOutRegime,
  data: { readonly train: ImageDataset; readonly test: ImageDataset },
  model: ModelDescription,
  o: {
    readonly seeds: readonly number[];
    readonly probe: ImageDataset;
    readonly normalize: ChannelStats;
    readonly onRun?: (run: SmoothOutRun) => void;
  },
): Promise<SmoothOutRun[]> {
  const runs: SmoothOutRun[] = [];
  for (const seed of o.seeds)
    for (const a of smoothoutArms(regime)) {
      const outcome = await runArm(smoothoutArm(regime, data, model, seed, a));
      const m = buildModel(model, seed, outcome.analysis);
      try {
        const sh = keskarSharpness(m, o.probe, {
          ...{ normalize: o.normalize, seed },
          ...{ restarts: regime.sharpness.restarts, steps: regime.sharpness.steps },
        });
        const run = { seed, label: a.label, outcome, sharpness: sh.sharpness, maxBoxRatio: sh.maxBoxRatio };
        runs.push(run);
        o.onRun?.(run);
      } finally {
        m.params.dispose();
      }
    }
  return runs;
}
