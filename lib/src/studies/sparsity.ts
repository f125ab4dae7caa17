import type { Scale } from '../config';
import { regimeAtScale } from './regime';
import { e2trainRegime } from './e2train';
import type { ImageDataset } from '../data/image-dataset';
import { modelFromWeights, type RunSpec } from '../experiments/run';
import type { Model } from '../models/spec';
import { removeStructure, maskStructure, type StructureRemoval } from '../models/surgery';
import { inferenceTime } from '../analysis/perf';
import type { TensorRecord } from '../models/records';
import { structuredSparsity, type Ssl, type SslGroupCount, type SslTerm } from '../techniques/ssl';
import { l1Sparsity, type L1Sparsity } from '../techniques/l1';

/**
 * A training regime of the structured-sparsity notebooks on a small model (LeNet-5 on MNIST, the CIFAR ConvNet):
 * SGD with momentum 0.9, cosine schedule, no augmentation (digits must not be flipped), batch `batchSize`.
 */
export interface SparsityRegime {
  readonly scale: Scale;
  readonly trainCount: number;
  readonly testCount: number;
  readonly batchSize: number;
  /** Epochs of the dense baseline, of sparsity fine-tuning, and of fine-tuning the compacted model. */
  readonly baselineEpochs: number;
  readonly sparseEpochs: number;
  readonly compactEpochs: number;
  readonly lr: number;
  /** Learning rate of the two fine-tuning phases. */
  readonly fineTuneLr: number;
  readonly weightDecay: number;
  readonly seeds: number;
  /** Pad-crop-flip augmentation in every phase (default false: digits must not be flipped, the ConvNet follows the thesis). */
  readonly augment?: boolean;
}

/**
 * LeNet-5 on MNIST (thesis Tables 2.1-2.2): `smoke` plumbing; `lite` the whole MNIST sets, the baseline through the
 * schedule length of Caffe's LeNet example (10,000 iterations of 64; it must reach 99%; a first lite run with 8 epochs,
 * 7,496 iterations, reached 99.16% with the floor inconclusive), SSL 4 and compaction 2 epochs; `paper` the baseline
 * of Caffe's LeNet example the thesis starts from (10,000 iterations of 64, lr 0.01, momentum 0.9, weight decay 5e-4;
 * Caffe's "inv" decay replaced by the cosine schedule), as configuration.
 */
export function lenetRegime(scale: Scale, seeds?: number): SparsityRegime {
  const r: Record<Scale, SparsityRegime> = {
    smoke: {
      scale,
      trainCount: 512,
      testCount: 256,
      batchSize: 64,
      baselineEpochs: 1,
      sparseEpochs: 1,
      compactEpochs: 1,
      lr: 0.01,
      fineTuneLr: 0.005,
      weightDecay: 5e-4,
      seeds: 1,
    },
    lite: {
      scale,
      trainCount: 60000,
      testCount: 10000,
      batchSize: 64,
      baselineEpochs: (10000 * 64) / 60000,
      sparseEpochs: 4,
      compactEpochs: 2,
      lr: 0.01,
      fineTuneLr: 0.005,
      weightDecay: 5e-4,
      seeds: 3,
    },
    paper: {
      scale,
      trainCount: 60000,
      testCount: 10000,
      batchSize: 64,
      baselineEpochs: (10000 * 64) / 60000,
      sparseEpochs: 10,
      compactEpochs: 5,
      lr: 0.01,
      fineTuneLr: 0.001,
      weightDecay: 5e-4,
      seeds: 10,
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/**
 * The CIFAR-10 ConvNet (Krizhevsky's cifar10_full, `cifarNet`) of thesis Table 2.3, trained without augmentation as
 * there: `lite` the whole CIFAR-10 sets (the baseline must reach 75%), batch 100, 12 epochs from lr 0.01 (cosine; an
 * epoch took about 137 s on this machine with another lite run sharing the cores); SSL fine-tuning 3 epochs, the
 * compacted model 1. `paper`: Caffe's cifar10_full schedule length (60,000 iterations
 * of 100) as configuration.
 */
export function convnetRegime(scale: Scale, seeds?: number): SparsityRegime {
  const r: Record<Scale, SparsityRegime> = {
    smoke: {
      scale,
      trainCount: 500,
      testCount: 200,
      batchSize: 100,
      baselineEpochs: 1,
      sparseEpochs: 1,
      compactEpochs: 1,
      lr: 0.01,
      fineTuneLr: 0.005,
      weightDecay: 5e-4,
      seeds: 1,
    },
    lite: {
      scale,
      trainCount: 50000,
      testCount: 10000,
      batchSize: 100,
      baselineEpochs: 12,
      sparseEpochs: 3,
      compactEpochs: 1,
      lr: 0.01,
      fineTuneLr: 0.005,
      weightDecay: 5e-4,
      seeds: 3,
    },
    paper: {
      scale,
      trainCount: 50000,
      testCount: 10000,
      batchSize: 100,
      baselineEpochs: 120,
      sparseEpochs: 40,
      compactEpochs: 20,
      lr: 0.001,
      fineTuneLr: 0.0001,
      weightDecay: 4e-3,
      seeds: 10,
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/** What a sparsity fine-tuning arm stores: its weights, the zero groups as a removal, and group counts. */
export interface SparseArmAnalysis {
  readonly weights: Record<string, TensorRecord>;
  readonly removal: StructureRemoval;
  readonly groups?: readonly SslGroupCount[];
  /** Share of exact-zero weights of each regularized weight (the l1 baseline). */
  readonly zeroShare?: ReadonlyArray<{ readonly layer: string; readonly weights: number; readonly zero: number }>;
}

/** What a compacted arm stores: its layers' MACs, and inference times of the compacted and of the original (masked) model. */
export interface CompactArmAnalysis {
  readonly macs: ReadonlyArray<{ readonly layer: string; readonly macs: number; readonly originalMacs: number }>;
  /** Median forward-pass ms at each batch size: compacted, and the original dense model with the same weights masked. */
  readonly inference: ReadonlyArray<{
    readonly batch: number;
    readonly compactedMs: number;
    readonly originalMs: number;
  }>;
}

/**
 * Depth regularization of a CIFAR ResNet (thesis Fig. 2.7) on the E²-Train regime (`e2trainRegime`): the dense
 * baseline is E²-Train's shared 32-bit SGD arm (`e2trainArms.sgd`, ResNet-8 16-32-64 through its whole cosine schedule
 * at `lite`, augmentation on); SSL fine-tunes it with the depth group Lasso from lr 0.01 (the thesis fine-tunes at
 * 0.01 after 0.1) and the compacted ResNet fine-tunes once more. `lite`: 2 SSL epochs, 1 compacted epoch, 3 seeds;
 * `paper`: the thesis's ResNet-20 on He et al.'s schedule (64k iterations of 128, weight decay 1e-4) as configuration.
 */
export function resnetDepthRegime(
  scale: Scale,
  seeds?: number,
): SparsityRegime & { readonly depth: number; readonly widths: readonly [number, number, number] } {
  const e = e2trainRegime(scale, seeds);
  const r: Record<Scale, { sparseEpochs: number; compactEpochs: number; depth: number }> = {
    smoke: { sparseEpochs: 1, compactEpochs: 1, depth: e2trainRegime('smoke').depth },
    lite: { sparseEpochs: 2, compactEpochs: 1, depth: e2trainRegime('lite').depth },
    paper: { sparseEpochs: 40, compactEpochs: 20, depth: 20 },
  };
  const x = r[scale];
  return {
    scale,
    trainCount: e.trainCount,
    testCount: e.testCount,
    batchSize: e.batchSize,
    baselineEpochs: e.epochs,
    sparseEpochs: x.sparseEpochs,
    compactEpochs: x.compactEpochs,
    lr: e.lr,
    fineTuneLr: e.lr / 10,
    weightDecay: e.weightDecay,
    seeds: e.seeds,
    augment: true,
    depth: x.depth,
    widths: e.widths,
  };
}

const BATCHES_TIMED = [1, 64];

/**
 * The arms of a sparsity experiment on `build` in `regime`: a dense baseline (cached with its weights), sparsity
 * fine-tuning from it (SSL `terms`, or the l1 baseline), and the compacted model's fine-tuning (cached with its
 * measured inference times against the original). `key` names the model in cache keys.
 */
export function sparsityArms(
  regime: SparsityRegime,
  data: { train: ImageDataset; test: ImageDataset },
  build: (seed: number) => Model,
  key: Readonly<Record<string, unknown>>,
) {
  const fromBaseline = {
    phase: 'baseline',
    epochs: regime.baselineEpochs,
    lr: regime.lr,
    weightDecay: regime.weightDecay,
  };
  // A phase given in fractional epochs (Caffe's LeNet: 10,000 iterations of 64 on 60,000 images) runs that many iterations.
  const length = (epochs: number) =>
    Number.isInteger(epochs)
      ? { epochs }
      : { iterations: Math.max(1, Math.round((epochs * data.train.count) / regime.batchSize)) };
  const common = (epochs: number, lr: number) => ({
    train: data.train,
    test: data.test,
    batchSize: regime.batchSize,
    ...length(epochs),
    lr,
    augment: regime.augment ?? false,
    optimizer: { kind: 'sgd' as const, momentum: 0.9, weightDecay: regime.weightDecay },
    schedule: { kind: 'cosine' as const },
  });
  return {
    baseline(seed: number, label = 'baseline'): RunSpec {
      return {
        ...common(regime.baselineEpochs, regime.lr),
        arm: label,
        seed,
        model: build,
        analyze: (m) => m.params.recordsSync(),
        cacheKey: { ...key, phase: 'baseline', analysis: 'weights' },
      };
    },
    /** SSL fine-tuning of `baselineWeights` with `terms` (thresholding at `threshold`). Weight decay is off (the group Lasso is the regularizer). */
    ssl(
      seed: number,
      baselineWeights: Record<string, TensorRecord>,
      o: { terms: readonly SslTerm[]; termsKey: unknown; threshold: number },
      label: string,
    ): RunSpec {
      return {
        ...common(regime.sparseEpochs, regime.fineTuneLr),
        optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0 },
        arm: label,
        seed,
        model: modelFromWeights(build, baselineWeights),
        techniques: (m) => [structuredSparsity({ model: m, terms: o.terms, threshold: o.threshold })],
        analyze: (m, ts): SparseArmAnalysis => {
          const s = ts[0] as Ssl;
          return { weights: m.params.recordsSync(), removal: s.removal(), groups: s.groupCounts() };
        },
        cacheKey: {
          ...key,
          phase: 'ssl',
          terms: o.termsKey,
          threshold: o.threshold,
          from: fromBaseline,
          analysis: 'weights+removal',
        },
      };
    },
    /** The l1 baseline's fine-tuning of `baselineWeights` (lambda, pruning threshold). */
    l1(
      seed: number,
      baselineWeights: Record<string, TensorRecord>,
      o: { lambda: number; threshold: number },
      label: string,
    ): RunSpec {
      return {
        ...common(regime.sparseEpochs, regime.fineTuneLr),
        optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0 },
        arm: label,
        seed,
        model: modelFromWeights(build, baselineWeights),
        techniques: (m) => [l1Sparsity({ model: m, lambda: o.lambda, threshold: o.threshold })],
        analyze: (m, ts): SparseArmAnalysis => ({
          weights: m.params.recordsSync(),
          removal: {},
          zeroShare: (ts[0] as L1Sparsity).zeroShare().map(({ layer, weights, zero }) => ({ layer, weights, zero })),
        }),
        cacheKey: { ...key, phase: 'l1', ...o, from: fromBaseline, analysis: 'weights+zeros' },
      };
    },
    /**
     * Fine-tuning of the compacted model: the sparse arm's weights with its removal applied by model surgery. Its
     * analysis times inference (median of 20 passes at batch 1 and 64) of the compacted model against the original
     * architecture holding the same weights with the structure masked.
     */
    compacted(seed: number, sparse: SparseArmAnalysis, sparseKey: unknown, label: string): RunSpec {
      const compact = (k: number): Model => {
        const full = modelFromWeights(build, sparse.weights)(k);
        const small = removeStructure(full, sparse.removal);
        full.params.dispose();
        return small;
      };
      return {
        ...common(regime.compactEpochs, regime.fineTuneLr),
        arm: label,
        seed,
        model: compact,
        analyze: (m): CompactArmAnalysis => {
          const original = modelFromWeights(build, sparse.weights)(seed);
          maskStructure(original, sparse.removal);
          const macs = m.layers.map((l) => ({
            layer: l.name,
            macs: l.macs,
            originalMacs: original.layers.find((o) => o.name === l.name)?.macs ?? Number.NaN,
          }));
          const inference = BATCHES_TIMED.map((batch) => ({
            batch,
            compactedMs: inferenceTime(m, { batch, repeats: 20 }).medianMs,
            originalMs: inferenceTime(original, { batch, repeats: 20 }).medianMs,
          }));
          original.params.dispose();
          return { macs, inference };
        },
        cacheKey: { ...key, phase: 'compacted', from: sparseKey, analysis: 'macs+inference' },
      };
    },
  };
}
