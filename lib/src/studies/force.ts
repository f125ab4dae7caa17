import type { Scale } from '../config';
import { ConfigError } from '../errors';
import { type DifferenceInterval, differenceInterval } from '../experiments/statistics';
import type { ImageDataset } from '../data/image-dataset';
import type { ForceArmAnalysis, WeightsAnalysisName } from '../experiments/analyses';
import { type Arm, buildModel, type ModelDescription } from '../experiments/arm';
import { decompositionAt, lowRankSpeedup } from '../models/low-rank';
import { convnetRegime, sparsityArms, type SparsityRegime } from './sparsity';
import { forceStrength, type ForceKind, type ForceScaler } from '../techniques/force-regularization';

/**
 * The regime of the Force Regularization notebook (thesis ch. 3) on the CIFAR-10 ConvNet of Table 3.1-3.2 (Caffe's
 * cifar10_full, no augmentation): the dense baseline is notebook 30c's (`convnetRegime`, shared through the run cache);
 * each force arm fine-tunes it for `forceEpochs` "with the same base learning rate as the baseline" (Sec. 3.3.1); the
 * decomposed model fine-tunes `decomposedEpochs`. Strengths are angles (see `forceStrength`).
 */
export interface ForceRegime extends SparsityRegime {
  readonly forceEpochs: number;
  readonly decomposedEpochs: number;
  /** Angles of the l2-force arms (the first is the main arm), of the l1-force arm, and of the 1/||W|| arm (Table 3.1). */
  readonly angles: { readonly l2: readonly number[]; readonly l1: number; readonly inverse: number };
  /** The rank's PCA reconstruction error bound (the thesis: 5%). */
  readonly maxErrorShare: number;
  /**
   * SSL on the decomposed network of the l2 arm at `angle` (Fig. 3.7b): one arm per group-Lasso strength in `lambdas`,
   * with `threshold`; absent where cut.
   */
  readonly ssl?: { readonly angle: number; readonly lambdas: readonly number[]; readonly threshold: number };
}

/**
 * `smoke` plumbing; `lite` the ConvNet regime of notebook 30c (12 dense epochs, the baseline must reach 75%), 2 force
 * epochs per arm at lr 0.01 for the sweep of angles 1, 3, 10 and 30 (Fig. 3.5), 1 decomposed epoch, SSL of the l2
 * arm's decomposed network at angle 3 (the strongest lite angle whose decomposed models classify) at two strengths,
 * 3 seeds; `paper` Caffe's cifar10_full schedule as configuration.
 */
export function forceRegime(scale: Scale, seeds?: number): ForceRegime {
  const base = convnetRegime(scale, seeds);
  const extra: Record<Scale, Omit<ForceRegime, keyof SparsityRegime>> = {
    smoke: {
      forceEpochs: 1,
      decomposedEpochs: 1,
      angles: { l2: [30], l1: 30, inverse: 30 },
      maxErrorShare: 0.05,
      ssl: { angle: 30, lambdas: [0.05], threshold: 1e-3 },
    },
    lite: {
      forceEpochs: 2,
      decomposedEpochs: 1,
      angles: { l2: [1, 3, 10, 30], l1: 30, inverse: 30 },
      maxErrorShare: 0.05,
      ssl: { angle: 3, lambdas: [0.003, 0.01], threshold: 1e-3 },
    },
    paper: {
      forceEpochs: 40,
      decomposedEpochs: 20,
      angles: { l2: [10, 30, 100], l1: 30, inverse: 30 },
      maxErrorShare: 0.05,
      ssl: { angle: 10, lambdas: [0.01], threshold: 1e-3 },
    },
  };
  return { ...base, ...extra[scale], fineTuneLr: base.lr };
}

/**
 * AlexNet's conv3-conv5 (Caffe's CaffeNet: 384 filters of 3x3x256; 384 of 3x3x192 in 2 groups; 256 of 3x3x192 in 2
 * groups) with the thesis's ranks without and with the l2 force (Table 3.4): the `paper` layer settings, whose
 * theoretical speedups the tests check against Table 3.4's.
 */
export const ALEXNET_TABLE_3_4 = [
  {
    layer: 'conv3',
    filters: 384,
    channels: 256,
    kernel: 3,
    groups: 1,
    rankNone: 184,
    rankL2: 124,
    theoreticalNone: 1.79,
    theoreticalL2: 2.65,
  },
  {
    layer: 'conv4',
    filters: 384,
    channels: 192,
    kernel: 3,
    groups: 2,
    rankNone: 201,
    rankL2: 106,
    theoreticalNone: 1.72,
    theoreticalL2: 3.26,
  },
  {
    layer: 'conv5',
    filters: 256,
    channels: 192,
    kernel: 3,
    groups: 2,
    rankNone: 146,
    rankL2: 129,
    theoreticalNone: 1.63,
    theoreticalL2: 1.85,
  },
] as const;

/** {@link lowRankSpeedup} of a Table 3.4 row at its two ranks. */
export function alexnetTheoreticalSpeedups(row: (typeof ALEXNET_TABLE_3_4)[number]): { none: number; l2: number } {
  const at = (rank: number) =>
    lowRankSpeedup({ filters: row.filters, channels: row.channels, kernel: row.kernel, rank, groups: row.groups });
  return { none: at(row.rankNone), l2: at(row.rankL2) };
}

/**
 * The arms of the Force Regularization notebook on `model` in `regime`: the dense baseline (the SSL notebook's, the
 * same arm for the same model and regime), force fine-tuning of its model (`lambda` 0 is the no-force control with the
 * same extra training), SSL on the force arm's decomposed network, and the decomposed model's fine-tuning at the force
 * arm's ranks (SVD), timed against the original.
 */
export function forceArms(
  regime: ForceRegime,
  data: { readonly train: ImageDataset; readonly test: ImageDataset },
  model: ModelDescription,
) {
  const s = sparsityArms(regime, data, model);
  const iterations = regime.forceEpochs * Math.floor(data.train.count / regime.batchSize);
  /** The layers the force arm's SVD decomposition at its ranks replaces (none: no layer's rank saves MACs). */
  const decomposedLayers = (seed: number, forced: ForceArmAnalysis): string[] => {
    const probe = buildModel(model, seed, forced.weights);
    try {
      return Object.keys(decompositionAt(probe, forced.ranks, 'svd', seed));
    } finally {
      probe.params.dispose();
    }
  };
  const decompose = (measured: ForceArmAnalysis) =>
    ({ decompose: 'svd', ranks: measured.ranks.map(({ layer, rank }) => ({ layer, rank })) }) as const;
  return {
    baseline: s.baseline,
    /** lambda_s of an angle for the model's widest coordinated layer over the force arms' run (see `forceStrength`). */
    lambdaFor(angle: number): number {
      const probe = buildModel(model, 0);
      const widest = Math.max(
        ...probe.layers.filter((l) => l.kind === 'conv').map((l) => l.outShape[l.outShape.length - 1] as number),
      );
      probe.params.dispose();
      return forceStrength({
        angle,
        filters: widest,
        lr: regime.fineTuneLr,
        iterations,
        momentum: 0.9,
        schedule: { kind: 'cosine' },
      });
    },
    /** Force fine-tuning of the `baseline` arm's model (the baseline's weight decay stays). */
    forced(
      seed: number,
      baseline: Arm<WeightsAnalysisName>,
      o: { force: ForceKind; scaler: ForceScaler; lambda: number },
      label: string,
    ): Arm<'force'> {
      return {
        ...{ label, seed, data, model, init: baseline, recipe: s.recipe(regime.forceEpochs, regime.fineTuneLr) },
        techniques:
          o.lambda > 0 ? [{ kind: 'force', options: { lambda: o.lambda, force: o.force, scaler: o.scaler } }] : [],
        analysis: 'force',
        analysisOptions: { maxErrorShare: regime.maxErrorShare },
      };
    },
    /**
     * SSL on the force arm's decomposed network (Sec. 3.3.4, Fig. 3.7b): shapes of the basis filters (`name/basis`) and
     * filters of the 1x1 recombinations, group Lasso `lambda`, for `regime.decomposedEpochs` (the training of the
     * decomposed arm, so the two differ only by the regularizer); its analysis holds the group counts (the sparsity
     * Fig. 3.7b reports). Undefined when no layer decomposes.
     */
    sparsified(
      seed: number,
      forced: Arm<'force'>,
      measured: ForceArmAnalysis,
      o: { lambda: number; threshold: number },
      label: string,
    ): Arm<'sparse'> | undefined {
      const layers = decomposedLayers(seed, measured);
      if (layers.length === 0) return undefined;
      const terms = [
        { structure: 'shape' as const, lambda: o.lambda, layers: { names: layers.map((n) => `${n}/basis`) } },
        { structure: 'filter' as const, lambda: o.lambda, layers: { names: layers } },
      ];
      return {
        ...{ label, seed, data, model, init: forced, initTransform: decompose(measured) },
        recipe: s.recipe(regime.decomposedEpochs, regime.fineTuneLr, 0),
        techniques: [{ kind: 'ssl', options: { terms, threshold: o.threshold } }],
        analysis: 'sparse',
      };
    },
    /** Fine-tuning of the force arm's model decomposed by SVD at its ranks, timed against the original (see `sparsityArms.compacted`). */
    decomposed(
      seed: number,
      forced: Arm<'force'>,
      measured: ForceArmAnalysis,
      label: string,
    ): Arm<'compact-inference'> | undefined {
      if (decomposedLayers(seed, measured).length === 0) return undefined;
      return {
        ...{ label, seed, data, model, init: forced, initTransform: decompose(measured), techniques: [] },
        recipe: s.recipe(regime.decomposedEpochs, regime.fineTuneLr),
        analysis: 'compact-inference',
      };
    },
  };
}

/** The two paired intervals behind {@link lowerRankAtAccuracy} and the verdict they give. */
export interface RankAtAccuracy {
  /** Paired interval of the rank measure (arm - reference); undefined with fewer than 2 pairs. */
  readonly rank?: DifferenceInterval;
  /** Paired interval of top-1 (arm - reference), as a fraction; undefined with fewer than 2 pairs. */
  readonly top1?: DifferenceInterval;
  /**
   * true: the rank interval lies below 0 and the top-1 interval above -margin (lower rank at the reference's accuracy);
   * false: the rank interval lies at or above 0, or the top-1 interval below -margin (the rank did not fall, or the
   * accuracy did); 'inconclusive' otherwise; undefined when either interval is missing.
   */
  readonly outcome?: boolean | 'inconclusive';
}

/**
 * "A force lowers rank without costing accuracy", judged as one claim (Sec. 3.3, Table 3.2: a lower rank bought with a
 * collapse of accuracy is not the thesis's result): paired 95% t intervals over seeds of the rank measure and of top-1
 * of an arm against its reference, `margin` the accuracy loss (fraction) still counted as kept.
 */
export function lowerRankAtAccuracy(o: {
  readonly rank: { readonly a: readonly number[]; readonly b: readonly number[] };
  readonly top1: { readonly a: readonly number[]; readonly b: readonly number[] };
  readonly margin: number;
}): RankAtAccuracy {
  if (!(Number.isFinite(o.margin) && o.margin >= 0))
    throw new ConfigError('lowerRankAtAccuracy.margin', o.margin, 'a non-negative accuracy loss (fraction)');
  const twoPairs = (p: { a: readonly number[]; b: readonly number[] }) =>
    p.a.length >= 2 ? differenceInterval(p.a, p.b, { paired: true }) : undefined;
  const rank = twoPairs(o.rank);
  const top1 = twoPairs(o.top1);
  if (!rank || !top1) return { ...(rank ? { rank } : {}), ...(top1 ? { top1 } : {}) };
  const supports = rank.hi < 0 && top1.lo > -o.margin;
  const contradicts = rank.lo >= 0 || top1.hi < -o.margin;
  return { rank, top1, outcome: supports ? true : contradicts ? false : 'inconclusive' };
}
