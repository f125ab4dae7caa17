import type { Scale } from '../config';
import type { ImageDataset } from '../data/image-dataset';
import { modelFromWeights, type RunSpec } from '../experiments/run';
import {
  decompositionAt,
  lowRankSpeedup,
  modelFilterRanks,
  type FilterRank,
  type LowRankMethod,
} from '../models/low-rank';
import type { Model } from '../models/spec';
import { removeStructure } from '../models/surgery';
import { convnetRegime, sparsityArms, type SparsityRegime } from './sparsity';
import {
  forceRegularization,
  forceStrength,
  type ForceKind,
  type ForceScaler,
} from '../techniques/force-regularization';
import { structuredSparsity, type Ssl } from '../techniques/ssl';
import { evaluate } from '../train/evaluate';
import type { TensorRecord } from '../models/records';

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

/** What a force arm stores: weights, per-layer ranks, and the test accuracy of its decompositions before fine-tuning. */
export interface ForceArmAnalysis {
  readonly weights: Record<string, TensorRecord>;
  readonly ranks: ReadonlyArray<FilterRank & { readonly layer: string }>;
  /** Per method, at the arm's own ranks (layers whose decomposition saves MACs): top-1 of the decomposed model, its MACs over the dense model's. */
  readonly lra: ReadonlyArray<{ readonly method: LowRankMethod; readonly top1: number; readonly macsRatio: number }>;
}

const LRA_METHODS: readonly LowRankMethod[] = ['svd', 'pca', 'kmeans'];

/**
 * The arms of the Force Regularization notebook on `build` in `regime`: the dense baseline (the SSL notebook's, same
 * cache entry for the same `key`), force fine-tuning of its weights (`lambda` 0 is the no-force control with the same
 * extra training), and the decomposed model's fine-tuning at the force arm's ranks (SVD), timed against the original.
 */
export function forceArms(
  regime: ForceRegime,
  data: { train: ImageDataset; test: ImageDataset },
  build: (seed: number) => Model,
  key: Readonly<Record<string, unknown>>,
) {
  const s = sparsityArms(regime, data, build, key);
  const iterations = regime.forceEpochs * Math.floor(data.train.count / regime.batchSize);
  return {
    baseline: s.baseline,
    /** lambda_s of an angle for `build`'s widest coordinated layer over the force arms' run (see `forceStrength`). */
    lambdaFor(angle: number): number {
      const probe = build(0);
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
    /** Force fine-tuning of `baselineWeights` (no weight decay change: the baseline's stays). */
    forced(
      seed: number,
      baselineWeights: Record<string, TensorRecord>,
      o: { force: ForceKind; scaler: ForceScaler; lambda: number },
      label: string,
    ): RunSpec {
      return {
        arm: label,
        seed,
        train: data.train,
        test: data.test,
        batchSize: regime.batchSize,
        epochs: regime.forceEpochs,
        lr: regime.fineTuneLr,
        augment: regime.augment ?? false,
        optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: regime.weightDecay },
        schedule: { kind: 'cosine' },
        model: modelFromWeights(build, baselineWeights),
        techniques: (m) =>
          o.lambda > 0 ? [forceRegularization({ model: m, lambda: o.lambda, force: o.force, scaler: o.scaler })] : [],
        analyze: async (m, _ts, norm): Promise<ForceArmAnalysis> => {
          const ranks = modelFilterRanks(m, { maxErrorShare: regime.maxErrorShare });
          const denseMacs = m.layers.reduce((a, l) => a + l.macs, 0);
          const lra = [];
          for (const method of LRA_METHODS) {
            const basis = decompositionAt(m, ranks, method, seed);
            if (Object.keys(basis).length === 0) {
              lra.push({ method, top1: Number.NaN, macsRatio: 1 });
              continue;
            }
            const small = removeStructure(m, { basis });
            const ev = await evaluate(small, data.test, { normalize: norm });
            lra.push({ method, top1: ev.top1, macsRatio: small.layers.reduce((a, l) => a + l.macs, 0) / denseMacs });
            small.params.dispose();
          }
          return { weights: m.params.recordsSync(), ranks, lra };
        },
        cacheKey: {
          ...key,
          phase: 'force',
          ...o,
          from: { phase: 'baseline', epochs: regime.baselineEpochs, lr: regime.lr, weightDecay: regime.weightDecay },
          maxErrorShare: regime.maxErrorShare,
          analysis: 'weights+ranks+lra',
        },
      };
    },
    /**
     * SSL on the force arm's decomposed network (Sec. 3.3.4, Fig. 3.7b): shapes of the basis filters (`name/basis`) and
     * filters of the 1x1 recombinations, group Lasso `lambda`, for `regime.decomposedEpochs` (the training of the
     * decomposed arm, so the two differ only by the regularizer); its analysis is the group counts (the sparsity
     * Fig. 3.7b reports). Undefined when no layer decomposes.
     */
    sparsified(
      seed: number,
      forced: ForceArmAnalysis,
      forcedKey: unknown,
      o: { lambda: number; threshold: number },
      label: string,
    ): RunSpec | undefined {
      const probe = modelFromWeights(build, forced.weights)(seed);
      const basis = decompositionAt(probe, forced.ranks, 'svd', seed);
      probe.params.dispose();
      const layers = Object.keys(basis);
      if (layers.length === 0) return undefined;
      const decomposed = (k: number): Model => {
        const full = modelFromWeights(build, forced.weights)(k);
        const small = removeStructure(full, { basis });
        full.params.dispose();
        return small;
      };
      return {
        arm: label,
        seed,
        train: data.train,
        test: data.test,
        batchSize: regime.batchSize,
        epochs: regime.decomposedEpochs,
        lr: regime.fineTuneLr,
        augment: regime.augment ?? false,
        optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0 },
        schedule: { kind: 'cosine' },
        model: decomposed,
        techniques: (m) => [
          structuredSparsity({
            model: m,
            threshold: o.threshold,
            terms: [
              { structure: 'shape', lambda: o.lambda, layers: (l) => layers.some((n) => l.name === `${n}/basis`) },
              { structure: 'filter', lambda: o.lambda, layers: (l) => layers.includes(l.name) },
            ],
          }),
        ],
        analyze: (_m, ts) => ({ groups: (ts[0] as Ssl).groupCounts() }),
        cacheKey: { ...key, phase: 'force+ssl', basis, ...o, from: forcedKey, analysis: 'groups' },
      };
    },
    /** Fine-tuning of the force arm's model decomposed by SVD at its ranks, timed against the original (see `sparsityArms.compacted`). */
    decomposed(seed: number, forced: ForceArmAnalysis, forcedKey: unknown, label: string): RunSpec | undefined {
      const probe = modelFromWeights(build, forced.weights)(seed);
      const basis = decompositionAt(probe, forced.ranks, 'svd', seed);
      probe.params.dispose();
      if (Object.keys(basis).length === 0) return undefined;
      const spec = s.compacted(seed, { weights: forced.weights, removal: { basis } }, forcedKey, label);
      return { ...spec, epochs: regime.decomposedEpochs };
    },
  };
}
