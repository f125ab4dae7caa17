import { augmentationOf, storedAugmentation } from '../data/pipeline';
import { datasetFingerprint, streamFingerprint } from '../data/fingerprint';
import { ConfigError } from '../errors';
import { hashString } from '../models/params';
import type { LayerSpec, Model } from '../models/spec';
import { defaultQuantConfig } from '../quant/layers';
import { formatPrecision } from '../quant/precision';
import {
  checkpointing,
  evaluationCurve,
  progressReport,
  resumeFrom,
  runLog,
  stopAfter,
  weightAveraging,
} from './callbacks';
import type { RunSignature } from './checkpoint';
import { checkTrainConfig, plannedIterations, type TrainConfig } from './config';
import type { Evaluation } from './evaluate';
import { DivergenceError, DivergenceGuard } from './guard';
import {
  type CurvePoint,
  type EpochRecord,
  endLoop,
  type LoopEnd,
  memoizedEvaluation,
  runLoop,
  type TrainCallback,
  type TrainLoop,
} from './loop';
import { createOptimizer } from './optimizers';
import type { StepRun } from './step';
import { imageClassificationTask, languageModelTask, type Task } from './task';
import type { Technique } from './technique';

export * from './config';
export { DivergenceError } from './guard';

/** Result of {@link train}. */
export interface TrainResult {
  readonly history: EpochRecord[];
  /** Periodic evaluations (empty unless `evalEvery` is set). */
  readonly curve: CurvePoint[];
  readonly iterations: number;
  readonly batchesSeen: number;
  readonly seconds: number;
  readonly final?: Evaluation;
  /**
   * `completed`, `stopAfter` (interrupted), `early-stopping` (a unit stopped the run), or `diverged` (only with
   * `divergence.action: 'stop'`; otherwise a {@link DivergenceError} is thrown).
   */
  readonly stopped: 'completed' | 'stopAfter' | 'early-stopping' | 'diverged';
  /** Why and where the run diverged (with `stopped: 'diverged'`). */
  readonly divergence?: { readonly iteration: number; readonly loss: number; readonly reason: string };
}

function buildTask(c: TrainConfig): Task {
  return c.task === 'language-model'
    ? languageModelTask({
        train: c.train,
        validation: c.validation,
        batchSize: c.batchSize,
        bptt: c.bptt,
        evalBatchSize: c.evalBatchSize,
      })
    : imageClassificationTask({
        train: c.train,
        validation: c.validation,
        batchSize: c.batchSize,
        augment: augmentationOf(c.augment ?? false),
        normalize: c.normalize,
        seed: c.seed,
      });
}

function signature(
  c: TrainConfig,
  model: Model,
  techniques: readonly Technique[],
  totalIterations: number,
): RunSignature {
  const arch = model.params
    .all()
    .map((p) => `${p.name}:${p.variable.shape.join('x')}`)
    .join(';');
  const lm = c.task === 'language-model';
  return {
    task: c.task ?? 'image-classification',
    model: model.name,
    architecture: hashString(arch).toString(16),
    dataset: lm ? `tokens` : c.train.name,
    datasetSize: lm ? c.train.length : c.train.count,
    batchSize: c.batchSize,
    epochs: c.epochs,
    iterations: c.iterations ?? null,
    totalIterations,
    seed: c.seed,
    lr: c.lr,
    optimizer: JSON.stringify(c.optimizer),
    schedule: JSON.stringify(c.schedule),
    techniques: JSON.stringify(techniques.map((t) => (t.settings ? { name: t.name, ...t.settings } : t.name))),
    units: (c.callbacks ?? []).map((u) => u.name).join(','),
    precision: c.precision ? formatPrecision(c.precision) : 'FP32',
    augment: lm ? false : storedAugmentation(augmentationOf(c.augment ?? false)),
    bptt: lm ? c.bptt : null,
    data: lm ? streamFingerprint(c.train) : datasetFingerprint(c.train),
    normalize: JSON.stringify(lm ? null : (c.normalize ?? null)),
    clipNorm: c.clipNorm ?? null,
    // Plain settings only (running ranges and weight-gradient rules are state and code, not settings).
    quant: JSON.stringify(c.quant ?? null, (k, v) =>
      (k !== '' && typeof v === 'object' && v !== null && !Array.isArray(v) && v.constructor !== Object) ||
      typeof v === 'function'
        ? undefined
        : v,
    ),
    divergence: JSON.stringify(c.divergence ?? null),
    swa: JSON.stringify(c.swa ?? null),
  };
}

/** Backward products each layer needs when some layers are frozen: a weight gradient iff its weight trains, an input gradient iff a trainable layer comes before it. */
function frozenBackward(
  model: Model,
  trainable: (param: string) => boolean,
): (layer: LayerSpec) => { inputGrad: boolean; weightGrad: boolean } {
  const firstTrainable = model.layers.findIndex((l) => trainable(l.weight));
  const index = new Map(model.layers.map((l, i) => [l.name, i]));
  return (layer) => ({
    weightGrad: trainable(layer.weight),
    inputGrad: firstTrainable >= 0 && (index.get(layer.name) ?? 0) > firstTrainable,
  });
}

/** The step's parts: trained parameters, technique groups with their own optimizers, guard, quantizers. */
function stepRun(config: TrainConfig, task: Task): StepRun {
  const { model, trainable } = config;
  const techniques = config.techniques ?? [];
  const params = new Map([...model.params.trainable()].filter(([n]) => trainable?.(n) ?? true));
  if (params.size === 0) throw new ConfigError('trainable', 'no parameter', 'at least one trainable parameter');
  const groups = techniques
    .filter((t) => t.parameters && t.parameterOptimizer)
    .map((t) => ({
      technique: t,
      params: new Map([...(t.parameters?.() ?? [])].map(([k, v]) => [`${t.name}/${k}`, v])),
      optimizer: createOptimizer(t.parameterOptimizer!.config),
      lr: t.parameterOptimizer!.lr,
    }));
  for (const t of techniques)
    if (!t.parameterOptimizer) for (const [k, v] of t.parameters?.() ?? []) params.set(`${t.name}/${k}`, v);
  const differentiated = new Map([...params, ...groups.flatMap((g) => [...g.params])]);
  return {
    model,
    task,
    techniques,
    seed: config.seed,
    schedule: config.schedule,
    params,
    optimizer: createOptimizer(config.optimizer),
    groups,
    differentiated,
    nameOf: new Map([...differentiated.entries()].map(([n, v]) => [v.name, n])),
    precision: config.precision,
    quant: { ...defaultQuantConfig(0), ...(config.quant ?? {}) },
    backwardOf: trainable ? frozenBackward(model, trainable) : undefined,
    onExecute: config.ledger?.onExecute,
    forwardState: model.params
      .all()
      .filter((p) => p.role === 'bn-stat')
      .map((p) => p.variable),
    clipNorm: config.clipNorm,
    // The reference loss is at least a uniform prediction's, ln(classes): fine-tuning a converged model starts near 0.
    guard: new DivergenceGuard({ lossFloor: Math.log(Math.max(2, model.numClasses)), ...config.divergence }),
    ledger: config.ledger,
  };
}

/**
 * The units on the loop's hooks that the configuration asks for, in hook order: resume first; SWA's update before
 * the checkpoint that saves it; the user's units (`config.callbacks`, e.g. early stopping); checkpoints; `stopAfter`.
 */
function loopUnits(c: TrainConfig): TrainCallback[] {
  return [
    ...(c.checkpoint?.resume ? [resumeFrom(c.checkpoint.file)] : []),
    ...(c.swa ? [weightAveraging(c.swa, c.model)] : []),
    ...(c.progress ? [progressReport(c.progress)] : []),
    ...(c.runLog ? [runLog(c.runLog, c.logEvery ?? 50)] : []),
    ...(c.evalEvery && c.validation ? [evaluationCurve(c.evalEvery)] : []),
    ...(c.callbacks ?? []),
    ...(c.checkpoint ? [checkpointing(c.checkpoint)] : []),
    ...(c.stopAfter !== undefined ? [stopAfter(c.stopAfter)] : []),
  ];
}

function result(loop: TrainLoop, end: LoopEnd, final: Evaluation | undefined): TrainResult {
  const common = {
    history: loop.history,
    curve: loop.curve,
    iterations: loop.position.iteration,
    batchesSeen: loop.position.batchesSeen,
    seconds: (Date.now() - loop.startedAt) / 1000,
  };
  if (!('diverged' in end)) return { ...common, final, stopped: end.stop };
  return {
    ...common,
    stopped: 'diverged',
    divergence: { iteration: end.iteration, loss: end.loss, reason: end.diverged },
  };
}

/**
 * Trains `config.model` on its task (image classification, or language modelling with truncated BPTT): epochs of
 * seeded mini-batches, each step a pipeline of stages (see {@link Technique} and `step.ts`), and units on the loop's
 * hooks (see {@link TrainCallback}): resume, SWA, progress, the run log, the evaluation curve, the user's units (e.g.
 * early stopping), atomic checkpoints. The configuration is checked before any work. A step whose loss or batch-norm
 * statistics stop being finite, or whose loss passes `divergence.lossFactor` times its start, changes nothing and
 * stops the run as diverged (a {@link DivergenceError} naming the last checkpoint written, or `stopped: 'diverged'`);
 * a checkpoint is written only from a model whose parameters are all finite. With `checkpoint.resume`, a run
 * continues exactly where its checkpoint stopped, and refuses a checkpoint of a different run.
 */
export async function train(config: TrainConfig): Promise<TrainResult> {
  checkTrainConfig(config);
  const startedAt = Date.now();
  const task = buildTask(config);
  const callbacks = loopUnits(config);
  let step: StepRun | undefined;
  try {
    step = stepRun(config, task);
    const totalIterations = plannedIterations(config);
    const loop: TrainLoop = {
      ...{ config, model: config.model, task, techniques: config.techniques ?? [], step, callbacks, startedAt },
      ...memoizedEvaluation(() => task.evaluate(config.model, config.evalContext)),
      ...{ totalIterations, signature: signature(config, config.model, config.techniques ?? [], totalIterations) },
      ...{ position: { epoch: 0, batch: 0, batchesSeen: 0, iteration: 0 }, epochLoss: { sum: 0, n: 0 } },
      ...{ history: [], curve: [] },
    };
    const end = await endLoop(loop, await runLoop(loop));
    const final = !('diverged' in end) && config.validation ? await loop.evaluate() : undefined;
    for (const cb of callbacks) cb.onFinish?.(loop, end, final);
    if ('diverged' in end && (config.divergence?.action ?? 'throw') === 'throw')
      throw new DivergenceError(
        end.iteration,
        end.loss,
        end.diverged,
        loop.lastCheckpoint,
        config.checkpoint?.file,
        loop.lastCheckpointIteration,
      );
    return result(loop, end, final);
  } finally {
    step?.optimizer.dispose();
    for (const g of step?.groups ?? []) g.optimizer.dispose();
    for (const cb of callbacks) cb.dispose?.();
    task.dispose();
  }
}
