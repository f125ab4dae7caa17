import type { Scale } from '../config';
import { regimeAtScale } from './regime';
import { e2trainRegime } from './e2train';
import type { ImageDataset } from '../data/image-dataset';
import type { AnalysisName, WeightsAnalysisName } from '../experiments/analyses';
import {
  type Arm,
  buildModel,
  type GivenWeights,
  type ModelDescription,
  type Recipe,
  type SslTermDescription,
} from '../experiments/arm';
import { ConfigError } from '../errors';
import type { TensorRecord } from '../models/records';
import { groupLassoStrength, structuredSparsity } from '../techniques/ssl';

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
 * schedule length of Caffe's LeNet example (10,000 iterations of 64; it must reach 99%), SSL 4 and compaction 2
 * epochs; `paper` the baseline
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
 * there: `lite` the whole CIFAR-10 sets (the baseline must reach 75%), batch 100, 12 epochs from lr 0.01 (cosine);
 * SSL fine-tuning 3 epochs, the compacted model 1. `paper`: Caffe's cifar10_full schedule length (60,000 iterations
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

type Data = { readonly train: ImageDataset; readonly test: ImageDataset };

/**
 * The arms of a sparsity experiment on `model` in `regime`: a dense baseline (storing its weights), sparsity
 * fine-tuning from a baseline arm (SSL `terms`, or the l1 baseline), and the compacted model's fine-tuning from a
 * sparsity arm (storing its measured inference times against the original).
 */
export function sparsityArms(regime: SparsityRegime, data: Data, model: ModelDescription) {
  // A phase given in fractional epochs (Caffe's LeNet: 10,000 iterations of 64 on 60,000 images) runs that many iterations.
  const length = (epochs: number) =>
    Number.isInteger(epochs)
      ? { epochs }
      : { iterations: Math.max(1, Math.round((epochs * data.train.count) / regime.batchSize)) };
  const recipe = (epochs: number, lr: number, weightDecay = regime.weightDecay): Recipe => ({
    batchSize: regime.batchSize,
    ...length(epochs),
    lr,
    optimizer: { kind: 'sgd', momentum: 0.9, weightDecay },
    schedule: { kind: 'cosine' },
    augment: regime.augment ? 'pad-crop-flip' : 'none',
    input: 'standardize',
  });
  const arm = <A extends AnalysisName | undefined>(
    o: Omit<Arm<A>, 'data' | 'model' | 'techniques'> & Partial<Pick<Arm<A>, 'techniques'>>,
  ): Arm<A> => ({
    data,
    model,
    techniques: [],
    ...o,
  });
  return {
    baseline(seed: number, label = 'baseline'): Arm<'weights'> {
      return arm({ label, seed, recipe: recipe(regime.baselineEpochs, regime.lr), analysis: 'weights' });
    },
    /**
     * SSL fine-tuning of the `baseline` arm's model with `terms` (thresholding at `threshold`), without weight decay (the
     * group Lasso regularizes); `phase` replaces the regime's length, learning rate and weight decay (e.g. the authors'
     * phases, {@link sslCodePhases}).
     */
    ssl(
      seed: number,
      baseline: Arm<WeightsAnalysisName> | GivenWeights,
      o: { terms: readonly SslTermDescription[]; threshold: number; phase?: SslPhase },
      label: string,
    ): Arm<'sparse'> {
      const p = o.phase ?? libraryPhases(regime).sparse;
      const r = recipe(p.epochs, p.lr, p.weightDecay);
      return arm({
        ...{ label, seed, recipe: r, init: baseline },
        techniques: [{ kind: 'ssl', options: { terms: o.terms, threshold: o.threshold } }],
        analysis: 'sparse',
      });
    },
    /** The l1 baseline's fine-tuning of the `baseline` arm's model (lambda, pruning threshold). */
    l1(
      seed: number,
      baseline: Arm<WeightsAnalysisName> | GivenWeights,
      o: { lambda: number; threshold: number },
      label: string,
    ): Arm<'sparse'> {
      return arm({
        ...{ label, seed, recipe: recipe(regime.sparseEpochs, regime.fineTuneLr, 0), init: baseline },
        techniques: [{ kind: 'l1', options: { lambda: o.lambda, threshold: o.threshold } }],
        analysis: 'sparse',
      });
    },
    /**
     * Fine-tuning of the compacted model: the `sparse` arm's weights with its removal applied by model surgery. Its
     * analysis times inference (median of 20 passes at batch 1 and 64) of the compacted model against the original
     * architecture holding the same weights with the structure masked.
     */
    compacted(seed: number, sparse: Arm<'sparse'>, label: string, phase?: SslPhase): Arm<'compact-inference'> {
      const p = phase ?? libraryPhases(regime).compact;
      const r = recipe(p.epochs, p.lr, p.weightDecay);
      return arm({
        ...{ label, seed, recipe: r },
        ...{ init: sparse, initTransform: 'compact', analysis: 'compact-inference' },
      });
    },
    /** The recipe of a phase (epochs, lr and weight decay as `sparsityArms` sets them), for study arms built beside these. */
    recipe,
  };
}

/** The length (epochs), learning rate and weight decay of one SSL phase. */
export interface SslPhase {
  readonly epochs: number;
  readonly lr: number;
  readonly weightDecay: number;
}

/**
 * This library's SSL phases on `regime`: group Lasso for `sparseEpochs` from `fineTuneLr` without weight decay, the
 * compacted network's fine-tuning for `compactEpochs` from `fineTuneLr` with the regime's weight decay.
 */
function libraryPhases(regime: SparsityRegime): { sparse: SslPhase; compact: SslPhase } {
  return {
    sparse: { epochs: regime.sparseEpochs, lr: regime.fineTuneLr, weightDecay: 0 },
    compact: { epochs: regime.compactEpochs, lr: regime.fineTuneLr, weightDecay: regime.weightDecay },
  };
}

/**
 * The SSL phases of the authors' released ResNet depth recipe (wenwei202/caffe, branch `scnn`, `examples/cifar10/readme.md`
 * and `template_resnet_depth_solver.prototxt`, `template_resnet_finetune_solver.prototxt`) on `regime`'s length: the
 * group-Lasso phase is a whole baseline schedule from the baseline's learning rate with its weight decay (64,000 iterations
 * from 0.1 in the code), the fine-tuning of the shallower network 1.5 baseline schedules from a tenth of it (96,000 from
 * 0.01).
 */
export function sslCodePhases(regime: SparsityRegime): { sparse: SslPhase; compact: SslPhase } {
  return {
    sparse: { epochs: regime.baselineEpochs, lr: regime.lr, weightDecay: regime.weightDecay },
    compact: { epochs: 1.5 * regime.baselineEpochs, lr: regime.lr / 10, weightDecay: regime.weightDecay },
  };
}

/**
 * The norm of the weakest residual block's depth group in `model` with `weights` (the strength scale of
 * {@link groupLassoStrength} in the depth studies: rho times this norm is what the regularizer removes).
 */
export function weakestBlockNorm(model: ModelDescription, weights: Readonly<Record<string, TensorRecord>>): number {
  const m = buildModel(model, 0, weights);
  const probe = structuredSparsity({ model: m, threshold: 0, terms: [{ structure: 'depth', lambda: 0 }] });
  try {
    const norms = probe.normsByGroup().map((g) => g.norms[0] as number);
    if (norms.length === 0) throw new ConfigError('weakestBlockNorm model', model.kind, 'a model with residual blocks');
    return Math.min(...norms);
  } finally {
    probe.dispose?.();
    m.params.dispose();
  }
}

/** The SSL and compaction arms of one protocol of a depth ladder (see {@link sslDepthLadder}). */
export interface SslDepthProtocolArms {
  readonly protocol: 'library' | 'code';
  readonly ssl: Arm<'sparse'>;
  /** The compacted network's fine-tuning from `ssl` (run it only where `ssl` removed a block). */
  readonly compacted: Arm<'compact-inference'>;
  readonly lambda: number;
  readonly threshold: number;
}

/**
 * The depth ladder of notebook 30d for one seed and strength `rho` from a trained `baseline` arm whose weakest block
 * has norm `minNorm` ({@link weakestBlockNorm}): SSL with the depth group Lasso and the compacted network's fine-tuning,
 * once with this library's phases (the regime's `sparseEpochs` and `compactEpochs` from `fineTuneLr`) and once with
 * the authors' released phases ({@link sslCodePhases}: a whole baseline schedule from the baseline's rate, then 1.5
 * schedules from a tenth of it). Each protocol's strength is rho's on its own phase (learning rate and length).
 */
export function sslDepthLadder(
  regime: SparsityRegime,
  data: Data,
  model: ModelDescription,
  o: { readonly seed: number; readonly baseline: Arm<'weights'>; readonly minNorm: number; readonly rho: number },
): SslDepthProtocolArms[] {
  const arms = sparsityArms(regime, data, model);
  const perEpoch = Math.floor(data.train.count / regime.batchSize);
  const code = sslCodePhases(regime);
  const { sparse: library, compact: libraryCompact } = libraryPhases(regime);
  return (
    [
      ['library', library, libraryCompact],
      ['code', code.sparse, code.compact],
    ] as const
  ).map(([protocol, sparse, compact]) => {
    const { lambda, threshold } = groupLassoStrength({
      ...{ norm: o.minNorm, rho: o.rho, lr: sparse.lr, iterations: Math.round(sparse.epochs * perEpoch) },
      ...{ momentum: 0.9, schedule: { kind: 'cosine' } },
    });
    const label = `SSL depth rho=${o.rho}, ${protocol === 'code' ? "the code's phases" : "this library's phases"}`;
    const ssl = arms.ssl(
      o.seed,
      o.baseline,
      { terms: [{ structure: 'depth', lambda }], threshold, phase: sparse },
      label,
    );
    return { protocol, ssl, compacted: arms.compacted(o.seed, ssl, `${label}, compacted`, compact), lambda, threshold };
  });
}

/**
 * The SSL phases of the authors' released ConvNet recipe (wenwei202/caffe, branch `scnn`, `examples/cifar10/readme.md`,
 * `template_group_solver.prototxt` and `template_finetune_solver.prototxt`, against
 * `cifar10_full_baseline_multistep_solver.prototxt`'s 300,000 iterations at lr 0.001) on `regime`'s length: the
 * group-Lasso phase two thirds of the baseline's schedule (200,000 iterations) from the baseline's learning rate without
 * weight decay (`train_script.sh 0.001 0.0 ...`), the compacted network's fine-tuning half a schedule (150,000) from a
 * tenth of it with the baseline's weight decay (`train_script.sh 0.0001 0.004`).
 */
export function sslConvnetCodePhases(regime: SparsityRegime): { sparse: SslPhase; compact: SslPhase } {
  return {
    sparse: { epochs: (2 * regime.baselineEpochs) / 3, lr: regime.lr, weightDecay: 0 },
    compact: { epochs: regime.baselineEpochs / 2, lr: regime.lr / 10, weightDecay: regime.weightDecay },
  };
}

/** One protocol of the ConvNet ladder (see {@link sslConvnetLadder}): its SSL arm and the compacted network's fine-tuning. */
export interface SslConvnetProtocolArms {
  /** What this protocol changes against the one before, for the ladder's rung names. */
  readonly rung: string;
  readonly ssl: Arm<'sparse'>;
  /** The compacted network's fine-tuning from `ssl` (run it only where `ssl` removed a row or a column, and no whole layer). */
  readonly compacted: Arm<'compact-inference'>;
  /** The group-Lasso strength on rows and on columns. */
  readonly lambda: number;
}

/**
 * The SSL ladder of the CIFAR-10 ConvNet (notebook 30e) for one seed from a trained `baseline` arm, each protocol
 * changing one thing against the one before: SSL on rows (filters) and columns (filter shapes) of every conv layer at
 * `lambda` with this library's phases (the regime's `sparseEpochs` from `fineTuneLr` without weight decay, then
 * `compactEpochs`); the same strength with the authors' released phases ({@link sslConvnetCodePhases}); the authors'
 * phases at the code's strength `codeLambda` (the readme's 0.003 on columns and on rows). `control` is the code's
 * group-Lasso phase without the group Lasso: what the phase's own learning rate and length do to the baseline.
 */
export function sslConvnetLadder(
  regime: SparsityRegime,
  data: Data,
  model: ModelDescription,
  o: {
    readonly seed: number;
    readonly baseline: Arm<'weights'>;
    readonly lambda: number;
    readonly codeLambda: number;
    readonly threshold: number;
  },
): { readonly protocols: readonly SslConvnetProtocolArms[]; readonly control: Arm<undefined> } {
  for (const [name, v] of [
    ['lambda', o.lambda],
    ['codeLambda', o.codeLambda],
    ['threshold', o.threshold],
  ] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new ConfigError(`sslConvnetLadder ${name}`, v, 'a positive number');
  }
  const arms = sparsityArms(regime, data, model);
  const code = sslConvnetCodePhases(regime);
  const { sparse: library, compact: libraryCompact } = libraryPhases(regime);
  const convs = { kinds: ['conv'] as const };
  const protocol = (rung: string, label: string, lambda: number, sparse: SslPhase, compact: SslPhase) => {
    const terms: SslTermDescription[] = [
      { structure: 'filter', lambda, layers: convs },
      { structure: 'shape', lambda, layers: convs },
    ];
    const ssl = arms.ssl(o.seed, o.baseline, { terms, threshold: o.threshold, phase: sparse }, label);
    return { rung, ssl, compacted: arms.compacted(o.seed, ssl, `${label}, compacted`, compact), lambda };
  };
  const protocols = [
    protocol(
      `SSL λ=${o.lambda}, this library's phases`,
      `ConvNet SSL λ=${o.lambda}, this library's phases`,
      o.lambda,
      library,
      libraryCompact,
    ),
    protocol(
      `the code's phases (same λ)`,
      `ConvNet SSL λ=${o.lambda}, the code's phases`,
      o.lambda,
      code.sparse,
      code.compact,
    ),
    protocol(
      `the code's λ=${o.codeLambda}`,
      `ConvNet SSL λ=${o.codeLambda}, the code's phases`,
      o.codeLambda,
      code.sparse,
      code.compact,
    ),
  ];
  const control: Arm<undefined> = {
    ...{ label: "ConvNet, the code's SSL phase without the group Lasso", seed: o.seed, data, model },
    ...{ recipe: arms.recipe(code.sparse.epochs, code.sparse.lr, code.sparse.weightDecay), techniques: [] },
    ...{ init: o.baseline, analysis: undefined },
  };
  return { protocols, control };
}
