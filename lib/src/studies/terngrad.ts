import type { Scale } from '../config';
import type { ImageDataset } from '../data/image-dataset';
import { ConfigError } from '../errors';
import type { Arm, ModelDescription } from '../experiments/arm';
import { regimeAtScale } from './regime';
import type { OptimizerConfig } from '../train/optimizers';
import type { LrSchedule } from '../train/schedules';

/** One data-parallel TernGrad study (Fig. 4.3's LeNet or Table 4.1's CifarNet). */
export interface TernGradStudy {
  readonly trainCount: number;
  readonly testCount: number;
  /** Total mini-batch (Fig. 4.3: fixed as workers grow), or per worker when `batchPerWorker` (Table 4.1). */
  readonly batch: number;
  readonly batchPerWorker: boolean;
  readonly iterations: number;
  /**
   * Optimizers compared, with their base learning rates (the thesis: momentum 0.01, vanilla 0.1, Adam 0.0002) and, where
   * an optimizer's TernGrad arms run at fewer worker counts than the study's (for time), those counts; `input` is the
   * image scaling its rate is tuned for (see `Recipe.input`; default standardized).
   */
  readonly optimizers: ReadonlyArray<{
    readonly name: string;
    readonly optimizer: OptimizerConfig;
    readonly lr: number;
    readonly workers?: readonly number[];
    readonly input?: 'standardize' | 'unit-range';
  }>;
  readonly schedule: LrSchedule;
  /** Worker counts of the TernGrad arms. */
  readonly workers: readonly number[];
  /** Explicit (workers, total batch, iterations) rows where the source lists them (Table 4.1); they override `batch` and `iterations`. */
  readonly rows?: ReadonlyArray<{ readonly workers: number; readonly batch: number; readonly iterations: number }>;
}

/** The regime of the TernGrad notebook (thesis ch. 4). */
export interface TernGradRegime {
  readonly scale: Scale;
  /** Fig. 4.3: LeNet on MNIST, float (one worker: any N gives the same average) against TernGrad at each N. */
  readonly lenet: TernGradStudy;
  /** Table 4.1: CifarNet on CIFAR-10 (the thesis: Adam), the batch per worker fixed; absent where cut. */
  readonly cifarnet?: TernGradStudy;
  /** Ablations at one worker count: without clipping (Table 4.2's "noclip") and without scaler sharing. */
  readonly ablationWorkers: number;
  /** Real worker processes (bytes on the wire, step time): workers and steps. */
  readonly real: { readonly workers: number; readonly iterations: number };
  readonly seeds: number;
}

const LENET_OPT = {
  momentum: {
    name: 'momentum SGD',
    optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 } as OptimizerConfig,
    lr: 0.01,
  },
  // The thesis's vanilla rate 0.1 is Caffe's LeNet recipe, whose input is the pixels scaled to [0, 1] (on standardized
  // inputs, 3.2x larger, it diverges: notebook 40's header).
  vanilla: {
    name: 'vanilla SGD',
    optimizer: { kind: 'sgd', momentum: 0, weightDecay: 5e-4 } as OptimizerConfig,
    lr: 0.1,
    input: 'unit-range' as const,
  },
};
const POLY: LrSchedule = { kind: 'poly', power: 0.5 };
const ADAM = { name: 'Adam', optimizer: { kind: 'adam' } as OptimizerConfig, lr: 0.0002 };
/** The ConvNet's 12-epoch recipe of notebooks 30c and 32 (Caffe's cifar10_full rate and momentum, cosine decay). */
const CONVNET_SGD = {
  name: 'momentum SGD',
  optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 } as OptimizerConfig,
  lr: 0.01,
};

/**
 * TernGrad regimes. `paper` is the thesis's (Sec. 4.2.1): LeNet with a total batch of 64 for 10,000 iterations, poly
 * decay (power 0.5) from 0.01 (momentum) or 0.1 (vanilla), weight decay 5e-4, 1-64 workers; CifarNet with Adam at
 * 0.0002, 64 per worker, 300,000 iterations at 2 workers. `lite`: LeNet on the whole MNIST, 4,700 iterations of 64
 * (about 5 epochs), momentum SGD with TernGrad at 2 and 4 workers and vanilla SGD (float and TernGrad at 2 workers), 3 seeds; CifarNet (Table 4.1) on the whole CIFAR-10
 * at 2 workers of 50 for 6,000 iterations (12 epochs) with the ConvNet recipe of the SSL and Force Regularization
 * notebooks (momentum SGD from 0.01, cosine, weight decay 5e-4): the thesis's Adam at 0.0002 is tuned for 300,000
 * iterations. 8 workers and more, and vanilla SGD at 4, are cut for time (notebook 40's header). `smoke`: plumbing.
 */
export function terngradRegime(scale: Scale, seeds?: number): TernGradRegime {
  const r: Record<Scale, TernGradRegime> = {
    smoke: {
      scale,
      seeds: 1,
      ablationWorkers: 2,
      real: { workers: 2, iterations: 3 },
      lenet: {
        trainCount: 512,
        testCount: 256,
        batch: 64,
        batchPerWorker: false,
        iterations: 8,
        optimizers: [LENET_OPT.momentum, { ...LENET_OPT.vanilla, workers: [2] }],
        schedule: POLY,
        workers: [2, 4],
      },
      cifarnet: {
        trainCount: 256,
        testCount: 128,
        batch: 16,
        batchPerWorker: true,
        iterations: 4,
        optimizers: [ADAM],
        schedule: { kind: 'constant' },
        workers: [2],
      },
    },
    lite: {
      scale,
      seeds: 3,
      ablationWorkers: 2,
      real: { workers: 2, iterations: 20 },
      lenet: {
        trainCount: 60000,
        testCount: 10000,
        batch: 64,
        batchPerWorker: false,
        iterations: 4700,
        optimizers: [LENET_OPT.momentum, { ...LENET_OPT.vanilla, workers: [2] }],
        schedule: POLY,
        workers: [2, 4],
      },
      cifarnet: {
        trainCount: 50000,
        testCount: 10000,
        batch: 50,
        batchPerWorker: true,
        iterations: 6000,
        optimizers: [CONVNET_SGD],
        schedule: { kind: 'cosine' },
        workers: [2],
      },
    },
    paper: {
      scale,
      seeds: 10,
      ablationWorkers: 2,
      real: { workers: 8, iterations: 100 },
      lenet: {
        trainCount: 60000,
        testCount: 10000,
        batch: 64,
        batchPerWorker: false,
        iterations: 10000,
        optimizers: [LENET_OPT.momentum, LENET_OPT.vanilla],
        schedule: POLY,
        workers: [1, 2, 4, 8, 16, 32, 64],
      },
      // Table 4.1's rows: 128 images at 2 workers for 300K iterations, 2,048 at 16 for 18.75K (the same epochs; the text's
      // "batch per worker fixed" would give 1,024 at 16).
      cifarnet: {
        trainCount: 50000,
        testCount: 10000,
        batch: 64,
        batchPerWorker: true,
        iterations: 300000,
        optimizers: [ADAM],
        schedule: { kind: 'constant' },
        workers: [2, 16],
        rows: [
          { workers: 2, batch: 128, iterations: 300000 },
          { workers: 16, batch: 2048, iterations: 18750 },
        ],
      },
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/** One arm of a TernGrad study: float (one worker) or TernGrad at `workers`, with its clipping and scaler sharing. */
export interface TernGradArm {
  readonly label: string;
  readonly optimizer: number;
  readonly workers: number;
  readonly ternary: boolean;
  readonly clip: number | null;
  readonly scalerSharing: boolean;
  /** Layer-wise ternarizing (default true); false: one scaler over all of a worker's gradients (Table 4.2's ablation). */
  readonly layerWise?: boolean;
  /**
   * The optimizer's weight decay moved inside each worker's gradient before ternarizing, on conv and dense weights (the
   * authors' TensorFlow code); default false: the decay is the optimizer's, applied after the average to every parameter.
   */
  readonly decayInside?: boolean;
}

/**
 * A TernGrad arm of `study`: the total batch is fixed (Fig. 4.3) or grows with the workers (Table 4.1,
 * whose iterations then shrink to keep the epochs of the smallest worker count); TernGrad's draws follow the arm's seed.
 * A run that diverges stops and is reported (`RunOutcome.stopped`), evaluated on its weights before the diverging step.
 */
export function terngradArm(
  study: TernGradStudy,
  data: { readonly train: ImageDataset; readonly test: ImageDataset },
  model: ModelDescription,
  seed: number,
  arm: TernGradArm,
): Arm<'terngrad'> {
  const opt = study.optimizers[arm.optimizer];
  if (!opt)
    throw new ConfigError(
      'arm.optimizer',
      arm.optimizer,
      `an index into the study's ${study.optimizers.length} optimizer(s)`,
    );
  if (!(Number.isInteger(arm.workers) && arm.workers >= 1))
    throw new ConfigError('arm.workers', arm.workers, 'a positive integer');
  const row = study.rows?.find((r) => r.workers === arm.workers);
  if (study.rows && !row)
    throw new ConfigError(
      'arm.workers',
      arm.workers,
      `one of the study's rows (${study.rows.map((r) => r.workers).join(', ')} workers)`,
    );
  const batchSize = row ? row.batch : study.batchPerWorker ? study.batch * arm.workers : study.batch;
  if (batchSize % arm.workers !== 0)
    throw new ConfigError('arm.workers', arm.workers, `a divisor of the batch ${batchSize}`);
  const minWorkers = Math.min(...study.workers);
  const iterations = row
    ? row.iterations
    : study.batchPerWorker
      ? Math.max(1, Math.round((study.iterations * minWorkers) / arm.workers))
      : study.iterations;
  const plain = !arm.ternary && arm.workers === 1;
  const layerWise = arm.layerWise ?? true;
  const decay = arm.decayInside ? (opt.optimizer.weightDecay ?? 0) : 0;
  if (arm.decayInside && plain)
    throw new ConfigError('arm.decayInside', true, 'false for the one-worker float arm (it has no TernGrad stage)');
  const optimizer = decay > 0 ? ({ ...opt.optimizer, weightDecay: 0 } as OptimizerConfig) : opt.optimizer;
  return {
    ...{ label: arm.label, seed, data, model },
    recipe: {
      ...{ batchSize, iterations, lr: opt.lr, optimizer, schedule: study.schedule },
      ...{ augment: 'none', input: opt.input ?? 'standardize' },
      // A diverging arm (TernGrad without clipping can: Sec. 4.1.3) is an outcome to report, not a failed notebook.
      divergence: { action: 'stop' },
    },
    techniques: plain
      ? []
      : [
          {
            kind: 'terngrad',
            options: {
              workers: arm.workers,
              ternary: arm.ternary,
              clip: arm.clip,
              scalerSharing: arm.scalerSharing,
              layerWise,
              ...(decay > 0 ? { weightDecay: decay } : {}),
            },
          },
        ],
    analysis: 'terngrad',
  };
}
