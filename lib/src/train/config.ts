import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, checkKeys, requireOption } from '../errors';
import { augmentationOf, batchesPerEpoch, type Augmentation, type ChannelStats } from '../data/pipeline';
import type { ImageDataset } from '../data/image-dataset';
import type { ForwardContext, Model } from '../models/spec';
import { checkPrecision, type LayerPrecision } from '../quant/precision';
import { checkQuantOptions, type QuantConfig } from '../quant/layers';
import type { EnergyLedger } from '../cost/ledger';
import { checkOptimizerConfig, type OptimizerConfig } from './optimizers';
import { checkSchedule, type LrSchedule } from './schedules';
import type { Technique } from './technique';
import type { TrainCallback } from './loop';
import { checkComposition } from './compose';
import { checkDivergenceOptions, type DivergenceOptions } from './guard';

/** Something that shows progress (kernel-ext's `progress()` fits). */
export interface ProgressSink {
  tick(n?: number, info?: Readonly<Record<string, number | string>>): void;
  done(info?: Readonly<Record<string, number | string>>): void;
}

/** Stochastic weight averaging (see {@link CommonTrainConfig.swa}). */
export interface SwaOptions {
  readonly start: number;
  readonly every: number;
  readonly bnBatches?: number | 'all';
  readonly bnAugment?: boolean;
}

/** Settings shared by every task. */
export interface CommonTrainConfig {
  readonly model: Model;
  /** Examples per mini-batch (images; parallel token rows for a language model). */
  readonly batchSize: number;
  /** Epochs over the training set (the last may be cut short by `iterations`). */
  readonly epochs: number;
  /** Train exactly this many iterations instead of `epochs` full epochs (the schedule spans them). */
  readonly iterations?: number;
  /** Base learning rate (the schedule scales it). */
  readonly lr: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: LrSchedule;
  readonly techniques?: readonly Technique[];
  readonly seed: number;
  /** Default precision of every layer (e.g. FW-8/BW-8 for static low-precision training). */
  readonly precision?: LayerPrecision;
  /** Quantizer settings (rounding, ranges); seeds are derived from the run seed and iteration. */
  readonly quant?: Partial<Omit<QuantConfig, 'nextSeed'>>;
  readonly ledger?: EnergyLedger;
  /** Clip the applied gradient to this global L2 norm (all parameters together), as for LSTM language models. */
  readonly clipNorm?: number;
  /** When the run counts as diverged, and what then happens. */
  readonly divergence?: DivergenceOptions;
  /**
   * Stochastic weight averaging from a fraction of the run, every `every` iterations; at the end the average replaces
   * the weights and batch-norm statistics are re-estimated over `bnBatches` batches of 128 training images (default
   * `'all'`: the whole training set, as `torch.optim.swa_utils.update_bn` does over a training loader), with the
   * training augmentation applied unless `bnAugment` is false (then the images as evaluation sees them).
   */
  readonly swa?: SwaOptions;
  /** Checkpoint file, written atomically every `every` iterations and at the end; `resume` continues from it. */
  readonly checkpoint?: { readonly file: string; readonly every: number; readonly resume?: boolean };
  /** Evaluate on `validation` every this many trained iterations (accuracy against energy spent, Fig. 5-style curves). */
  readonly evalEvery?: number;
  /** Parameters to train (by name); the others stay fixed and their layers are charged no weight gradient (fine-tuning). Default: all. */
  readonly trainable?: (param: string) => boolean;
  /** Forward settings of validation passes (e.g. SLU's gates for dynamic inference, a quantized precision). */
  readonly evalContext?: Omit<ForwardContext, 'training'>;
  /** JSON-lines run log. */
  readonly runLog?: string;
  /** Log a line every this many iterations (default 50). */
  readonly logEvery?: number;
  readonly progress?: ProgressSink;
  /** Units on the training loop's hooks (e.g. `earlyStopping()`), run after the built-in ones and before checkpoints. */
  readonly callbacks?: readonly TrainCallback[];
  /** Stop after this many trained iterations (for tests and interruption experiments). */
  readonly stopAfter?: number;
}

/** Image classification (the default task). */
export interface ImageTrainConfig extends CommonTrainConfig {
  readonly task?: 'image-classification';
  readonly train: ImageDataset;
  readonly validation?: ImageDataset;
  /** Augmentation of the training images (seeded; `true`: pad-crop-flip, `'flip'`: flips only; default none). */
  readonly augment?: boolean | Augmentation;
  readonly normalize?: ChannelStats;
}

/** Language modelling with truncated BPTT over a token stream (model: an LSTM language model). */
export interface LanguageModelTrainConfig extends CommonTrainConfig {
  readonly task: 'language-model';
  /** Training token ids. */
  readonly train: Int32Array;
  readonly validation?: Int32Array;
  /** Tokens per truncated-BPTT window. */
  readonly bptt: number;
  /** Parallel rows of the validation layout (default 10). */
  readonly evalBatchSize?: number;
}

/** Configuration of `train`. */
export type TrainConfig = ImageTrainConfig | LanguageModelTrainConfig;

const COMMON_KEYS = [
  'model',
  'batchSize',
  'epochs',
  'iterations',
  'lr',
  'optimizer',
  'schedule',
  'techniques',
  'seed',
  'precision',
  'quant',
  'ledger',
  'clipNorm',
  'divergence',
  'swa',
  'checkpoint',
  'evalEvery',
  'trainable',
  'evalContext',
  'runLog',
  'logEvery',
  'progress',
  'stopAfter',
  'callbacks',
  'task',
];
const IMAGE_KEYS = [...COMMON_KEYS, 'train', 'validation', 'augment', 'normalize'];
const LM_KEYS = [...COMMON_KEYS, 'train', 'validation', 'bptt', 'evalBatchSize'];

const posInt = (v: unknown, f: string): void => {
  if (!Number.isInteger(v) || (v as number) <= 0) throw new ConfigError(f, v, 'a positive integer');
};

/**
 * Refuses a path the run could not write when it first needs to (after its first step): a parent that is a file, a
 * folder that cannot be created or written, or a kernel file system (/proc, /sys, /dev, where creating folders can hang).
 */
export function checkWritablePath(file: string, field: string): void {
  if (typeof file !== 'string' || file === '') throw new ConfigError(field, file, 'a file path');
  const abs = path.resolve(file);
  if (/^\/(proc|sys|dev)(\/|$)/.test(abs)) throw new ConfigError(field, file, 'a path outside /proc, /sys and /dev');
  // The nearest existing ancestor must be a writable folder (the run creates what is missing below it).
  let dir = path.dirname(abs);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  if (!fs.statSync(dir).isDirectory())
    throw new ConfigError(field, file, `a path whose parent folders can be created (${dir} is a file)`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new ConfigError(field, file, `a path in a writable folder (${dir} is not writable)`);
  }
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory())
    throw new ConfigError(field, file, 'a file path, not a folder');
}

/** Validates a {@link TrainConfig} before any work, naming the bad field, its value and the allowed values. */
export function checkTrainConfig(c: TrainConfig): void {
  requireOption(c, 'config', 'a training configuration');
  const task = c.task ?? 'image-classification';
  if (task !== 'image-classification' && task !== 'language-model')
    throw new ConfigError('task', task, "'image-classification' or 'language-model'");
  checkKeys(c, task === 'language-model' ? LM_KEYS : IMAGE_KEYS, 'config');
  requireOption(c.model, 'model', 'a model (e.g. cifarResNet({ depth: 20 }))');
  requireOption(
    c.train,
    'train',
    task === 'language-model' ? 'the training token ids (Int32Array)' : 'a training ImageDataset',
  );
  posInt(c.batchSize, 'batchSize');
  posInt(c.epochs, 'epochs');
  if (!(typeof c.lr === 'number' && Number.isFinite(c.lr) && c.lr > 0))
    throw new ConfigError('lr', c.lr, 'a positive learning rate');
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) throw new ConfigError('seed', c.seed, 'a non-negative integer');
  checkOptimizerConfig(requireOption(c.optimizer, 'optimizer', "an optimizer, e.g. { kind: 'sgd', momentum: 0.9 }"));
  checkSchedule(requireOption(c.schedule, 'schedule', "a learning-rate schedule, e.g. { kind: 'cosine' }"));
  if (c.task !== 'language-model' && c.augment !== undefined) augmentationOf(c.augment);
  if (c.precision) checkPrecision(c.precision);
  if (c.quant) checkQuantOptions(c.quant);
  if (c.clipNorm !== undefined && !(Number.isFinite(c.clipNorm) && c.clipNorm > 0))
    throw new ConfigError('clipNorm', c.clipNorm, 'a positive norm');
  if (c.divergence) checkDivergenceOptions(c.divergence);
  if (c.swa) {
    checkKeys(c.swa, ['start', 'every', 'bnBatches', 'bnAugment'], 'swa');
    if (c.swa.bnBatches !== undefined && c.swa.bnBatches !== 'all') posInt(c.swa.bnBatches, 'swa.bnBatches');
    if (c.swa.bnAugment !== undefined && typeof c.swa.bnAugment !== 'boolean')
      throw new ConfigError('swa.bnAugment', c.swa.bnAugment, 'true or false');
    if (!(c.swa.start >= 0 && c.swa.start < 1)) throw new ConfigError('swa.start', c.swa.start, 'a fraction in [0, 1)');
    posInt(c.swa.every, 'swa.every');
  }
  if (c.checkpoint) {
    checkKeys(c.checkpoint, ['file', 'every', 'resume'], 'checkpoint');
    if (typeof c.checkpoint.file !== 'string' || c.checkpoint.file === '')
      throw new ConfigError('checkpoint.file', c.checkpoint.file, 'a file path');
    posInt(c.checkpoint.every, 'checkpoint.every');
    if (c.checkpoint.resume !== undefined && typeof c.checkpoint.resume !== 'boolean')
      throw new ConfigError('checkpoint.resume', c.checkpoint.resume, 'true or false');
  }
  if (c.iterations !== undefined) posInt(c.iterations, 'iterations');
  if (c.stopAfter !== undefined) posInt(c.stopAfter, 'stopAfter');
  if (c.evalEvery !== undefined) {
    posInt(c.evalEvery, 'evalEvery');
    if (!c.validation) throw new ConfigError('evalEvery', c.evalEvery, 'a validation set to evaluate on');
  }
  const names = new Set<string>();
  for (const t of c.techniques ?? []) {
    if (!t || typeof t.name !== 'string') throw new ConfigError('techniques', t, 'techniques with a name');
    if (names.has(t.name)) throw new ConfigError('techniques', t.name, 'distinct technique names');
    names.add(t.name);
    if (t.trainFraction !== undefined && !(t.trainFraction > 0 && t.trainFraction <= 1))
      throw new ConfigError(`${t.name}.trainFraction`, t.trainFraction, 'a fraction in (0, 1]');
  }
  checkComposition(c.techniques ?? [], c.precision);
  if (c.callbacks !== undefined && !Array.isArray(c.callbacks))
    throw new ConfigError('callbacks', c.callbacks, 'an array of training-loop units');
  const units = new Set<string>();
  for (const u of c.callbacks ?? []) {
    if (!u || typeof u.name !== 'string') throw new ConfigError('callbacks', u, 'training-loop units with a name');
    if (units.has(u.name)) throw new ConfigError('callbacks', u.name, 'distinct unit names');
    units.add(u.name);
  }
  if (c.logEvery !== undefined) posInt(c.logEvery, 'logEvery');
  if (c.trainable !== undefined && typeof c.trainable !== 'function')
    throw new ConfigError(
      'trainable',
      c.trainable,
      'a function of the parameter name, e.g. (name) => name.startsWith("fc")',
    );
  if (c.progress !== undefined && !(typeof c.progress?.tick === 'function' && typeof c.progress?.done === 'function'))
    throw new ConfigError('progress', c.progress, 'an object with tick() and done() (e.g. kernel-ext progress())');
  if (
    c.ledger !== undefined &&
    !(['onExecute', 'endIteration', 'totals'] as const).every((f) => typeof c.ledger?.[f] === 'function')
  )
    throw new ConfigError('ledger', c.ledger, 'an EnergyLedger (onExecute, endIteration and totals)');
  for (const [field, file] of [
    ['checkpoint.file', c.checkpoint?.file],
    ['runLog', c.runLog],
  ] as const)
    if (file !== undefined) checkWritablePath(file, field);
  if (c.task === 'language-model') {
    if (!(c.train instanceof Int32Array))
      throw new ConfigError('train', typeof c.train, 'an Int32Array of token ids for a language model');
    if (c.validation !== undefined && !(c.validation instanceof Int32Array))
      throw new ConfigError('validation', typeof c.validation, 'an Int32Array of token ids');
    posInt(c.bptt, 'bptt');
    if (c.evalBatchSize !== undefined) posInt(c.evalBatchSize, 'evalBatchSize');
    if (!('applyWithState' in c.model))
      throw new ConfigError('model', c.model.name, 'a language model (lstmLanguageModel) for the language-model task');
    if (c.train.length < c.batchSize * (c.bptt + 1))
      throw new ConfigError(
        'batchSize',
        c.batchSize,
        `at most ${Math.floor(c.train.length / (c.bptt + 1))} rows for ${c.train.length} tokens and bptt ${c.bptt}`,
      );
    const vocab = c.model.numClasses;
    for (const [f, ids] of [
      ['train', c.train],
      ['validation', c.validation],
    ] as const) {
      if (!ids) continue;
      for (let i = 0; i < ids.length; i++) {
        const v = ids[i] as number;
        if (v < 0 || v >= vocab)
          throw new ConfigError(`${f}[${i}]`, v, `a token id in [0, ${vocab}) (the model's vocabulary)`);
      }
    }
  } else {
    if (c.train.count < c.batchSize)
      throw new ConfigError('batchSize', c.batchSize, `at most the training set size ${c.train.count}`);
    const shape = [c.train.height, c.train.width, c.train.channels];
    if (shape.join(',') !== c.model.inputShape.join(','))
      throw new ConfigError('model.inputShape', c.model.inputShape, `the data shape [${shape}]`);
    if (c.validation !== undefined) {
      const v = [c.validation.height, c.validation.width, c.validation.channels];
      if (v.join(',') !== shape.join(','))
        throw new ConfigError('validation', `images of [${v}]`, `images of the training shape [${shape}]`);
    }
    if (c.normalize !== undefined) {
      const { mean, std } = c.normalize;
      if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== shape[2] || std.length !== shape[2])
        throw new ConfigError('normalize', c.normalize, `a mean and std per channel (${shape[2]} each)`);
      if (!std.every((x) => Number.isFinite(x) && x > 0) || !mean.every(Number.isFinite))
        throw new ConfigError(
          'normalize.std',
          std,
          'positive finite values (a channel with std 0 cannot be standardized)',
        );
    }
    const maxLabel = c.train.labels.reduce((a, b) => Math.max(a, b), 0);
    if (maxLabel >= c.model.numClasses)
      throw new ConfigError(
        'model.numClasses',
        c.model.numClasses,
        `more than the largest label ${maxLabel} of ${c.train.name}`,
      );
  }
}

/** What the run length depends on (a {@link TrainConfig} fits). */
export type RunLengthInput =
  | {
      readonly task?: 'image-classification';
      readonly train: { readonly count: number };
      readonly batchSize: number;
      readonly epochs: number;
      readonly iterations?: number;
      readonly techniques?: readonly Pick<Technique, 'trainFraction'>[];
    }
  | {
      readonly task: 'language-model';
      readonly train: { readonly length: number };
      readonly bptt: number;
      readonly batchSize: number;
      readonly epochs: number;
      readonly iterations?: number;
      readonly techniques?: readonly Pick<Technique, 'trainFraction'>[];
    };

/** Mini-batches of one epoch of the run's task. */
export function batchesOfEpoch(c: RunLengthInput): number {
  if (c.task === 'language-model') return Math.ceil((Math.floor(c.train.length / c.batchSize) - 1) / c.bptt);
  return batchesPerEpoch(c.train.count, c.batchSize, true);
}

/** Learning-rate clock length: planned batches times the expected trained fraction of each technique. */
export function plannedIterations(c: RunLengthInput): number {
  if (c.iterations !== undefined) return c.iterations;
  const frac = (c.techniques ?? []).reduce((a, t) => a * (t.trainFraction ?? 1), 1);
  return Math.max(1, Math.round(c.epochs * batchesOfEpoch(c) * frac));
}
