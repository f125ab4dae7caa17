import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { batches, batchesPerEpoch, type ChannelStats } from '../data/pipeline';
import type { ImageDataset } from '../data/image-dataset';
import { createRng, type Rng } from '../random';
import { hashString } from '../models/params';
import type { ForwardContext, Model } from '../models/spec';
import { defaultQuantConfig, type QuantConfig } from '../quant/layers';
import { checkPrecision, type LayerPrecision } from '../quant/precision';
import type { EnergyLedger } from '../cost/ledger';
import { checkOptimizerConfig, createOptimizer, type OptimizerConfig, type OptimizerState } from './optimizers';
import { checkSchedule, lrAt, type LrSchedule } from './schedules';
import type { EpochInfo, StepInfo, Technique } from './technique';
import { evaluate, recomputeBatchNormStats, type Evaluation } from './evaluate';
import { WeightAverage } from './swa';
import { packSnapshot, readCheckpoint, unpackSnapshot, writeCheckpoint } from './checkpoint';

/** Something that shows progress (kernel-ext's `progress()` fits). */
export interface ProgressSink {
  tick(n?: number, info?: Readonly<Record<string, number | string>>): void;
  done(info?: Readonly<Record<string, number | string>>): void;
}

/** Configuration of {@link train}. */
export interface TrainConfig {
  readonly model: Model;
  readonly train: ImageDataset;
  readonly validation?: ImageDataset;
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
  readonly augment?: boolean;
  readonly normalize?: ChannelStats;
  /** Default precision of every layer (e.g. FW-8/BW-8 for static low-precision training). */
  readonly precision?: LayerPrecision;
  /** Quantizer settings (rounding, ranges); seeds are derived from the run seed and iteration. */
  readonly quant?: Partial<Omit<QuantConfig, 'nextSeed'>>;
  readonly ledger?: EnergyLedger;
  /** Stochastic weight averaging from a fraction of the run, every `every` iterations. */
  readonly swa?: { readonly start: number; readonly every: number };
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
  /** Stop after this many trained iterations (for tests and interruption experiments). */
  readonly stopAfter?: number;
}

/** One epoch of the training history. */
export interface EpochRecord {
  readonly epoch: number;
  readonly iteration: number;
  readonly trainLoss: number;
  readonly lr: number;
  readonly validation?: Evaluation;
  readonly effectiveMacs?: number;
  readonly energyJ?: number;
  readonly techniques: Record<string, Record<string, number>>;
}

/** A point of the periodic evaluation curve (see `TrainConfig.evalEvery`). */
export interface CurvePoint {
  readonly iteration: number;
  readonly energyJ: number;
  readonly effectiveMacs: number;
  readonly top1: number;
  readonly loss: number;
}

/** Result of {@link train}. */
export interface TrainResult {
  readonly history: EpochRecord[];
  /** Periodic evaluations (empty unless `evalEvery` is set). */
  readonly curve: CurvePoint[];
  readonly iterations: number;
  readonly batchesSeen: number;
  readonly seconds: number;
  readonly final?: Evaluation;
  readonly stopped: 'completed' | 'stopAfter';
}

/** The loss became NaN or infinite; the parameters are those before the bad step. */
export class DivergenceError extends Error {
  constructor(
    readonly iteration: number,
    readonly loss: number,
    readonly checkpoint: string | undefined,
  ) {
    super(
      `training diverged: loss is ${loss} at iteration ${iteration}; the update was not applied` +
        (checkpoint ? `; the last good checkpoint is ${checkpoint}` : ' (no checkpoint configured)') +
        '. Lower the learning rate or check the data.',
    );
    this.name = 'DivergenceError';
  }
}

/** Validates a {@link TrainConfig} before any work, naming the bad field and the allowed values. */
export function checkTrainConfig(c: TrainConfig): void {
  const posInt = (v: number, f: string) => {
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(f, v, 'a positive integer');
  };
  posInt(c.batchSize, 'batchSize');
  posInt(c.epochs, 'epochs');
  if (!(Number.isFinite(c.lr) && c.lr > 0)) throw new ConfigError('lr', c.lr, 'a positive learning rate');
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) throw new ConfigError('seed', c.seed, 'a non-negative integer');
  checkOptimizerConfig(c.optimizer);
  checkSchedule(c.schedule);
  if (c.precision) checkPrecision(c.precision);
  if (c.swa) {
    if (!(c.swa.start >= 0 && c.swa.start < 1)) throw new ConfigError('swa.start', c.swa.start, 'a fraction in [0, 1)');
    posInt(c.swa.every, 'swa.every');
  }
  if (c.checkpoint) posInt(c.checkpoint.every, 'checkpoint.every');
  if (c.iterations !== undefined) posInt(c.iterations, 'iterations');
  if (c.evalEvery !== undefined) {
    posInt(c.evalEvery, 'evalEvery');
    if (!c.validation) throw new ConfigError('evalEvery', c.evalEvery, 'a validation set to evaluate on');
  }
  for (const t of c.techniques ?? []) {
    if (t.trainFraction !== undefined && !(t.trainFraction > 0 && t.trainFraction <= 1)) throw new ConfigError(`${t.name}.trainFraction`, t.trainFraction, 'a fraction in (0, 1]');
  }
  if (c.logEvery !== undefined) posInt(c.logEvery, 'logEvery');
  if (c.train.count < c.batchSize) throw new ConfigError('batchSize', c.batchSize, `at most the training set size ${c.train.count}`);
  const shape = [c.train.height, c.train.width, c.train.channels];
  if (shape.join(',') !== c.model.inputShape.join(',')) throw new ConfigError('model.inputShape', c.model.inputShape, `the data shape [${shape}]`);
  const names = new Set<string>();
  for (const t of c.techniques ?? []) {
    if (names.has(t.name)) throw new ConfigError('techniques', t.name, 'distinct technique names');
    names.add(t.name);
  }
}

interface CheckpointData {
  version: 1;
  model: string;
  seed: number;
  position: { epoch: number; batch: number; batchesSeen: number; iteration: number };
  params: Record<string, { shape: number[]; data: string }>;
  optimizer: OptimizerState & { slots: Record<string, { shape: number[]; values: number[] }> };
  augmentRng: object;
  techniques: Record<string, unknown>;
  ledger?: object;
  swa?: { n: number; values: Record<string, { shape: number[]; values: number[] }> };
  groupOptimizers?: Record<string, OptimizerState>;
  history: EpochRecord[];
  curve?: CurvePoint[];
  epochLoss: { sum: number; n: number };
}

function appendLog(file: string | undefined, record: object): void {
  if (!file) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, JSON.stringify(record) + '\n');
}

/** Learning-rate clock length: planned batches times the expected trained fraction of each technique. */
export function plannedIterations(c: Pick<TrainConfig, 'train' | 'batchSize' | 'epochs' | 'techniques' | 'iterations'>): number {
  if (c.iterations !== undefined) return c.iterations;
  const frac = (c.techniques ?? []).reduce((a, t) => a * (t.trainFraction ?? 1), 1);
  return Math.max(1, Math.round(c.epochs * batchesPerEpoch(c.train.count, c.batchSize, true) * frac));
}

/**
 * Trains `config.model`: epochs of shuffled (seeded) mini-batches, techniques applied in the
 * documented order (see {@link Technique}), optimizer and schedule, energy ledger, validation at
 * each epoch end, atomic checkpoints and a JSON-lines run log. A NaN or infinite loss stops the run
 * with a {@link DivergenceError} before the bad update, keeping the last good checkpoint. With
 * `checkpoint.resume`, a run continues exactly where its checkpoint stopped.
 */
export async function train(config: TrainConfig): Promise<TrainResult> {
  checkTrainConfig(config);
  const t0 = Date.now();
  const { model } = config;
  const techniques = config.techniques ?? [];
  const params = new Map([...model.params.trainable()].filter(([n]) => config.trainable?.(n) ?? true));
  if (params.size === 0) throw new ConfigError('trainable', 'no parameter', 'at least one trainable parameter');
  // Backward products each layer needs when some layers are frozen: a weight gradient iff its weight trains,
  // an input gradient iff a trainable layer comes before it.
  const backwardOf = config.trainable
    ? (() => {
        const firstTrainable = model.layers.findIndex((l) => config.trainable?.(l.weight));
        const index = new Map(model.layers.map((l, i) => [l.name, i]));
        return (layer: import('../models/spec').LayerSpec) => ({
          weightGrad: config.trainable?.(layer.weight) ?? true,
          inputGrad: firstTrainable >= 0 && (index.get(layer.name) ?? 0) > firstTrainable,
        });
      })()
    : undefined;
  // Technique parameters train with the model's optimizer, or with their own when the technique asks for one.
  const ownGroups = techniques
    .filter((t) => t.parameters && t.parameterOptimizer)
    .map((t) => ({ t, params: new Map([...(t.parameters?.() ?? [])].map(([k, v]) => [`${t.name}/${k}`, v])), optimizer: createOptimizer(t.parameterOptimizer!.config) }));
  for (const t of techniques) if (!t.parameterOptimizer) for (const [k, v] of t.parameters?.() ?? []) params.set(`${t.name}/${k}`, v);
  const allParams = new Map([...params, ...ownGroups.flatMap((g) => [...g.params])]);
  const optimizer = createOptimizer(config.optimizer);
  // tfjs returns gradients keyed by variable name; map them back to parameter names.
  const nameOf = new Map([...allParams.entries()].map(([n, v]) => [v.name, n]));
  const totalIterations = plannedIterations(config);
  const logEvery = config.logEvery ?? 50;
  const quantBase = { ...defaultQuantConfig(0), ...(config.quant ?? {}) };
  let augmentRng: Rng = createRng(`${config.seed}/augment`);
  const swa = config.swa ? new WeightAverage(model) : undefined;
  const history: EpochRecord[] = [];
  const curve: CurvePoint[] = [];
  let pos = { epoch: 0, batch: 0, batchesSeen: 0, iteration: 0 };
  let epochLoss = { sum: 0, n: 0 };

  const cp = config.checkpoint;
  if (cp?.resume) {
    const saved = readCheckpoint<CheckpointData>(cp.file);
    if (saved) {
      if (saved.model !== model.name || saved.seed !== config.seed) {
        throw new ConfigError('checkpoint', cp.file, `a checkpoint of ${model.name} with seed ${config.seed} (it holds ${saved.model}, seed ${saved.seed})`);
      }
      model.params.restore(unpackSnapshot(saved.params));
      optimizer.restore(saved.optimizer);
      augmentRng = createRng(`${config.seed}/augment`, saved.augmentRng);
      for (const t of techniques) if (t.restore && saved.techniques[t.name] !== undefined) t.restore(saved.techniques[t.name]);
      if (saved.ledger && config.ledger) config.ledger.restore(saved.ledger);
      if (saved.swa && swa) swa.restore(saved.swa);
      for (const g of ownGroups) if (saved.groupOptimizers?.[g.t.name]) g.optimizer.restore(saved.groupOptimizers[g.t.name]!);
      history.push(...saved.history);
      curve.push(...(saved.curve ?? []));
      pos = { ...saved.position };
      epochLoss = { ...saved.epochLoss };
    }
  }

  const info = (lr: number): StepInfo => ({ ...pos, totalIterations, lr, examples: config.batchSize, model, ledger: config.ledger });

  const saveCheckpoint = async () => {
    if (!cp) return;
    const data: CheckpointData = {
      version: 1,
      model: model.name,
      seed: config.seed,
      position: { ...pos },
      params: packSnapshot(await model.params.snapshot()),
      optimizer: await optimizer.state(),
      augmentRng: augmentRng.state(),
      techniques: Object.fromEntries(techniques.filter((t) => t.state).map((t) => [t.name, t.state?.()])),
      ledger: config.ledger?.state(),
      swa: swa ? await swa.state() : undefined,
      groupOptimizers: Object.fromEntries(await Promise.all(ownGroups.map(async (g) => [g.t.name, await g.optimizer.state()] as const))),
      history,
      curve,
      epochLoss,
    };
    writeCheckpoint(cp.file, data);
  };

  const techniqueStats = () => Object.fromEntries(techniques.filter((t) => t.stats).map((t) => [t.name, t.stats?.() ?? {}]));
  let stopped: TrainResult['stopped'] = 'completed';

  const epochs = config.iterations !== undefined ? Number.MAX_SAFE_INTEGER : config.epochs;
  outer: while (pos.epoch < epochs && (config.iterations === undefined || pos.iteration < config.iterations)) {
    const orderRng = createRng(`${config.seed}/order/${pos.epoch}`);
    for (const batch of batches(config.train, {
      batchSize: config.batchSize,
      rng: orderRng,
      augmentRng,
      augment: config.augment ?? false,
      normalize: config.normalize,
      dropLast: true,
      startBatch: pos.batch,
    })) {
      const lr = lrAt(config.schedule, config.lr, pos.iteration, totalIterations);
      const here = info(lr);
      const skip = techniques.some((t) => t.shouldTrain && !t.shouldTrain(here));
      if (skip) {
        tf.dispose([batch.x, batch.y]);
        pos = { ...pos, batch: pos.batch + 1, batchesSeen: pos.batchesSeen + 1 };
        config.progress?.tick(1);
        continue;
      }
      let quant: QuantConfig = { ...quantBase, nextSeed: seedFor(config.seed, pos.iteration) };
      for (const t of techniques) if (t.quant) quant = t.quant(quant, here);
      const ctx: ForwardContext = {
        training: true,
        quant,
        precision: (layer) => {
          for (const t of techniques) {
            const p = t.precision?.(layer, here);
            if (p) return p;
          }
          return config.precision;
        },
        blockPlan: techniques.some((t) => t.blockPlan)
          ? (block, x) => {
              for (const t of techniques) {
                const p = t.blockPlan?.(block, x, here);
                if (p) return p;
              }
              return undefined;
            }
          : undefined,
        onExecute: config.ledger?.onExecute,
        backwardOf,
      };
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(batch.x, ctx);
        let loss = tf.losses.softmaxCrossEntropy(tf.oneHot(batch.y, model.numClasses), logits) as tf.Scalar;
        for (const t of techniques) {
          const extra = t.lossTerm?.(here);
          if (extra) loss = tf.add(loss, extra) as tf.Scalar;
        }
        return loss;
      }, [...allParams.values()]);
      const loss = (await value.data())[0] as number;
      value.dispose();
      tf.dispose([batch.x, batch.y]);
      if (!Number.isFinite(loss)) {
        tf.dispose(Object.values(grads));
        throw new DivergenceError(pos.iteration, loss, cp && fs.existsSync(cp.file) ? cp.file : undefined);
      }
      // Gradients by parameter name.
      const byVar = new Map<string, tf.Tensor>();
      for (const [vname, g] of Object.entries(grads)) byVar.set(nameOf.get(vname) ?? vname, g);
      let g = byVar;
      for (const t of techniques) {
        if (!t.transformGradients) continue;
        const next = t.transformGradients(g, here);
        if (next !== g) for (const [k, v] of g) if (next.get(k) !== v) v.dispose();
        g = next;
      }
      optimizer.apply(params, g, lr);
      for (const grp of ownGroups) grp.optimizer.apply(grp.params, g, lrAt(config.schedule, grp.t.parameterOptimizer!.lr, pos.iteration, totalIterations));
      tf.dispose([...g.values()]);
      for (const t of techniques) t.afterUpdate?.(here);
      pos = { ...pos, batch: pos.batch + 1, batchesSeen: pos.batchesSeen + 1, iteration: pos.iteration + 1 };
      epochLoss = { sum: epochLoss.sum + loss, n: epochLoss.n + 1 };
      for (const t of techniques) t.afterStep?.({ ...info(lr), loss });
      const point = config.ledger?.endIteration(pos.iteration);
      if (swa && pos.iteration >= config.swa!.start * totalIterations && pos.iteration % config.swa!.every === 0) swa.update();
      config.progress?.tick(1, { loss, lr });
      if (pos.iteration % logEvery === 0) {
        appendLog(config.runLog, { type: 'step', ...pos, loss, lr, effectiveMacs: point?.effectiveMacs, energyJ: point?.energy.total, techniques: techniqueStats() });
      }
      if (config.evalEvery && config.validation && pos.iteration % config.evalEvery === 0) {
        const ev = await evaluate(model, config.validation, { normalize: config.normalize, ctx: config.evalContext });
        const tot = config.ledger?.totals();
        curve.push({ iteration: pos.iteration, energyJ: tot?.energy.total ?? NaN, effectiveMacs: tot?.effectiveMacs ?? NaN, top1: ev.top1, loss: ev.loss });
      }
      if (cp && pos.iteration % cp.every === 0) await saveCheckpoint();
      if (config.stopAfter !== undefined && pos.iteration >= config.stopAfter) {
        stopped = 'stopAfter';
        break outer;
      }
      if (config.iterations !== undefined && pos.iteration >= config.iterations) break;
    }
    // Epoch end.
    const lr = lrAt(config.schedule, config.lr, pos.iteration, totalIterations);
    const validation = config.validation ? await evaluate(model, config.validation, { normalize: config.normalize, ctx: config.evalContext }) : undefined;
    const trainLoss = epochLoss.n > 0 ? epochLoss.sum / epochLoss.n : NaN;
    const epochInfo: EpochInfo = { ...info(lr), trainLoss, validation: validation ? { loss: validation.loss, top1: validation.top1 } : undefined };
    for (const t of techniques) t.onEpochEnd?.(epochInfo);
    const totals = config.ledger?.totals();
    const record: EpochRecord = { epoch: pos.epoch, iteration: pos.iteration, trainLoss, lr, validation, effectiveMacs: totals?.effectiveMacs, energyJ: totals?.energy.total, techniques: techniqueStats() };
    history.push(record);
    appendLog(config.runLog, { type: 'epoch', ...record });
    pos = { ...pos, epoch: pos.epoch + 1, batch: 0 };
    epochLoss = { sum: 0, n: 0 };
  }
  if (swa && swa.count > 0 && stopped === 'completed') {
    swa.swapIn();
    recomputeBatchNormStats(model, config.train, { normalize: config.normalize, maxBatches: 50, ctx: config.evalContext });
  }
  await saveCheckpoint();
  const final = config.validation ? await evaluate(model, config.validation, { normalize: config.normalize, ctx: config.evalContext }) : undefined;
  optimizer.dispose();
  for (const grp of ownGroups) grp.optimizer.dispose();
  swa?.dispose();
  config.progress?.done(final ? { top1: final.top1 } : undefined);
  return { history, curve, iterations: pos.iteration, batchesSeen: pos.batchesSeen, seconds: (Date.now() - t0) / 1000, final, stopped };
}

/** Deterministic stochastic-rounding seeds for one iteration of a run. */
function seedFor(seed: number, iteration: number): () => number {
  let i = 0;
  const base = hashString(`${seed}/${iteration}`);
  return () => (base + 7919 * ++i) % 2147483647;
}
