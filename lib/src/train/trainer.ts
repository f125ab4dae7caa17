import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { removeStaleTemporaries } from '../data/files';
import { augmentationOf, storedAugmentation } from '../data/pipeline';
import { createRng } from '../random';
import { hashString } from '../models/params';
import type { LayerSpec, Model } from '../models/spec';
import { defaultQuantConfig } from '../quant/layers';
import { formatPrecision } from '../quant/precision';
import { createOptimizer } from './optimizers';
import type { EpochInfo, StepInfo, Technique } from './technique';
import { recomputeBatchNormStats, type Evaluation } from './evaluate';
import { WeightAverage } from './swa';
import { checkResumable, readCheckpoint, writeCheckpoint, type CheckpointData, type RunSignature } from './checkpoint';
import { checkTrainConfig, plannedIterations, type TrainConfig } from './config';
import { imageClassificationTask, languageModelTask, type Task } from './task';
import { DivergenceError, DivergenceGuard } from './guard';
import { sumOfAll, trainStep, type StepRun } from './step';
import { lrAt } from './schedules';
import type { StateValue } from '../models/records';

export * from './config';
export { DivergenceError } from './guard';

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
  /** `diverged` only with `divergence.action: 'stop'` (otherwise a {@link DivergenceError} is thrown). */
  readonly stopped: 'completed' | 'stopAfter' | 'diverged';
  /** Why and where the run diverged (with `stopped: 'diverged'`). */
  readonly divergence?: { readonly iteration: number; readonly loss: number; readonly reason: string };
}

function appendLog(file: string | undefined, record: object): void {
  if (!file) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${JSON.stringify(record)}\n`);
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
    techniques: techniques.map((t) => t.name).join(','),
    precision: c.precision ? formatPrecision(c.precision) : 'FP32',
    augment: lm ? false : storedAugmentation(augmentationOf(c.augment ?? false)),
    bptt: lm ? c.bptt : null,
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

/**
 * Trains `config.model` on its task (image classification, or language modelling with truncated BPTT):
 * epochs of seeded mini-batches, each step a pipeline of stages (see {@link Technique} and `step.ts`),
 * optimizer and schedule, energy ledger, validation at each epoch end, atomic checkpoints and a JSON-lines
 * run log. The configuration is checked before any work. A step whose loss or batch-norm statistics stop
 * being finite, or whose loss passes `divergence.lossFactor` times its start, changes nothing and stops the
 * run as diverged (a {@link DivergenceError} naming the last checkpoint written, or `stopped: 'diverged'`);
 * a checkpoint is written only from a model whose parameters are all finite. With `checkpoint.resume`, a
 * run continues exactly where its checkpoint stopped, and refuses a checkpoint of a different run.
 */
export async function train(config: TrainConfig): Promise<TrainResult> {
  checkTrainConfig(config);
  const t0 = Date.now();
  const { model } = config;
  const techniques = config.techniques ?? [];
  const trainable = config.trainable;
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
  const optimizer = createOptimizer(config.optimizer);
  const task = buildTask(config);
  const totalIterations = plannedIterations(config);
  // The reference loss is at least a uniform prediction's, ln(classes): fine-tuning a converged model starts near 0.
  const guard = new DivergenceGuard({ lossFloor: Math.log(Math.max(2, model.numClasses)), ...config.divergence });
  const run: StepRun = {
    model,
    task,
    techniques,
    seed: config.seed,
    schedule: config.schedule,
    params,
    optimizer,
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
    guard,
    ledger: config.ledger,
  };
  const logEvery = config.logEvery ?? 50;
  const swa = config.swa ? new WeightAverage(model) : undefined;
  const history: EpochRecord[] = [];
  const curve: CurvePoint[] = [];
  let pos = { epoch: 0, batch: 0, batchesSeen: 0, iteration: 0 };
  let epochLoss = { sum: 0, n: 0 };
  const sig = signature(config, model, techniques, totalIterations);
  const cp = config.checkpoint;
  let lastCheckpoint: string | undefined;

  const dispose = () => {
    optimizer.dispose();
    for (const g of groups) g.optimizer.dispose();
    swa?.dispose();
    task.dispose();
  };

  try {
    if (cp?.resume) {
      const saved = readCheckpoint(cp.file);
      if (saved) {
        checkResumable(cp.file, saved.run, sig);
        model.params.restore(saved.params);
        optimizer.restore(saved.optimizer as unknown as Parameters<typeof optimizer.restore>[0]);
        for (const g of groups) {
          const s = saved.groupOptimizers[g.technique.name];
          if (s) g.optimizer.restore(s as unknown as Parameters<typeof optimizer.restore>[0]);
        }
        for (const t of techniques)
          if (t.restore && saved.techniques[t.name] !== undefined) t.restore(saved.techniques[t.name] as StateValue);
        task.restore(saved.task);
        guard.restore(saved.guard);
        if (saved.ledger && config.ledger) config.ledger.restore(saved.ledger);
        if (saved.swa && swa) swa.restore(saved.swa as unknown as Parameters<typeof swa.restore>[0]);
        history.push(...(saved.history as EpochRecord[]));
        curve.push(...(saved.curve as CurvePoint[]));
        pos = { ...saved.position };
        epochLoss = { ...saved.epochLoss };
        lastCheckpoint = cp.file;
      }
    } else if (cp) {
      removeStaleTemporaries(cp.file);
    }

    const info = (lr: number, examples = config.batchSize): StepInfo => ({
      ...pos,
      totalIterations,
      lr,
      examples,
      model,
      ledger: config.ledger,
    });
    const techniqueStats = () =>
      Object.fromEntries(techniques.filter((t) => t.stats).map((t) => [t.name, t.stats?.() ?? {}]));

    /** Writes a checkpoint, unless the model is broken (then the run is diverged: a broken model is never saved). */
    const saveCheckpoint = async (): Promise<string | undefined> => {
      if (!cp) return undefined;
      const probe = tf.tidy(() => sumOfAll(model.params.all().map((p) => p.variable)));
      const finite = Number.isFinite((await probe.data())[0]);
      probe.dispose();
      if (!finite) return 'parameters or statistics are not finite';
      const data: CheckpointData = {
        version: 2,
        run: sig,
        position: { ...pos },
        params: await model.params.snapshot(),
        optimizer: optimizer.state() as unknown as StateValue,
        groupOptimizers: Object.fromEntries(
          groups.map((g) => [g.technique.name, g.optimizer.state() as unknown as StateValue]),
        ),
        techniques: Object.fromEntries(techniques.filter((t) => t.state).map((t) => [t.name, t.state?.() ?? null])),
        task: task.state(),
        ledger: config.ledger?.state(),
        swa: swa ? (swa.state() as unknown as StateValue) : undefined,
        guard: guard.state(),
        history,
        curve,
        epochLoss,
      };
      writeCheckpoint(cp.file, data);
      lastCheckpoint = cp.file;
      return undefined;
    };

    const diverge = (iteration: number, loss: number, reason: string): TrainResult => {
      appendLog(config.runLog, {
        type: 'diverged',
        ...pos,
        iteration,
        loss: Number.isFinite(loss) ? loss : String(loss),
        reason,
        checkpoint: lastCheckpoint ?? null,
      });
      if ((config.divergence?.action ?? 'throw') === 'throw')
        throw new DivergenceError(iteration, loss, reason, lastCheckpoint, cp?.file);
      config.progress?.done({ diverged: reason });
      return {
        history,
        curve,
        iterations: pos.iteration,
        batchesSeen: pos.batchesSeen,
        seconds: (Date.now() - t0) / 1000,
        stopped: 'diverged',
        divergence: { iteration, loss, reason },
      };
    };

    let stopped: TrainResult['stopped'] = 'completed';
    const epochs = config.iterations !== undefined ? Number.MAX_SAFE_INTEGER : config.epochs;
    outer: while (pos.epoch < epochs && (config.iterations === undefined || pos.iteration < config.iterations)) {
      for await (const batch of task.epoch(pos.epoch, pos.batch, createRng(`${config.seed}/order/${pos.epoch}`))) {
        const lr = lrAt(config.schedule, config.lr, pos.iteration, totalIterations);
        let outcome: Awaited<ReturnType<typeof trainStep>>;
        try {
          outcome = await trainStep(run, batch, info(lr, batch.examples));
        } finally {
          task.release(batch);
        }
        if (outcome.status === 'skipped') {
          pos = { ...pos, batch: pos.batch + 1, batchesSeen: pos.batchesSeen + 1 };
          config.progress?.tick(1);
          continue;
        }
        if (outcome.status === 'diverged') return diverge(pos.iteration, outcome.loss, outcome.reason);
        const loss = outcome.loss;
        pos = { ...pos, batch: pos.batch + 1, batchesSeen: pos.batchesSeen + 1, iteration: pos.iteration + 1 };
        epochLoss = { sum: epochLoss.sum + loss, n: epochLoss.n + 1 };
        if (swa && pos.iteration >= config.swa!.start * totalIterations && pos.iteration % config.swa!.every === 0)
          swa.update();
        config.progress?.tick(1, { loss, lr });
        if (pos.iteration % logEvery === 0) {
          const tot = config.ledger?.totals();
          appendLog(config.runLog, {
            type: 'step',
            ...pos,
            loss,
            lr,
            effectiveMacs: tot?.effectiveMacs,
            energyJ: tot?.energy.total,
            techniques: techniqueStats(),
          });
        }
        if (config.evalEvery && config.validation && pos.iteration % config.evalEvery === 0) {
          const ev = await task.evaluate(model, config.evalContext);
          const tot = config.ledger?.totals();
          curve.push({
            iteration: pos.iteration,
            energyJ: tot?.energy.total ?? NaN,
            effectiveMacs: tot?.effectiveMacs ?? NaN,
            top1: ev.top1,
            loss: ev.loss,
          });
        }
        if (cp && pos.iteration % cp.every === 0) {
          const broken = await saveCheckpoint();
          if (broken) return diverge(pos.iteration, loss, broken);
        }
        if (config.stopAfter !== undefined && pos.iteration >= config.stopAfter) {
          stopped = 'stopAfter';
          break outer;
        }
        if (config.iterations !== undefined && pos.iteration >= config.iterations) break;
      }
      // Epoch end.
      const lr = lrAt(config.schedule, config.lr, pos.iteration, totalIterations);
      const validation = config.validation ? await task.evaluate(model, config.evalContext) : undefined;
      const trainLoss = epochLoss.n > 0 ? epochLoss.sum / epochLoss.n : NaN;
      const epochInfo: EpochInfo = {
        ...info(lr),
        trainLoss,
        validation: validation
          ? { loss: validation.loss, top1: validation.top1, perplexity: validation.perplexity }
          : undefined,
      };
      for (const t of techniques) t.onEpochEnd?.(epochInfo);
      const totals = config.ledger?.totals();
      const record: EpochRecord = {
        epoch: pos.epoch,
        iteration: pos.iteration,
        trainLoss,
        lr,
        validation,
        effectiveMacs: totals?.effectiveMacs,
        energyJ: totals?.energy.total,
        techniques: techniqueStats(),
      };
      history.push(record);
      appendLog(config.runLog, { type: 'epoch', ...record });
      pos = { ...pos, epoch: pos.epoch + 1, batch: 0 };
      epochLoss = { sum: 0, n: 0 };
    }
    if (swa && swa.count > 0 && stopped === 'completed') {
      swa.swapIn();
      if (config.task !== 'language-model')
        recomputeBatchNormStats(model, config.train, {
          normalize: config.normalize,
          maxBatches: 50,
          ctx: config.evalContext,
        });
    }
    const broken = await saveCheckpoint();
    if (broken) return diverge(pos.iteration, NaN, broken);
    const final = config.validation ? await task.evaluate(model, config.evalContext) : undefined;
    config.progress?.done(final ? { top1: final.top1 } : undefined);
    return {
      history,
      curve,
      iterations: pos.iteration,
      batchesSeen: pos.batchesSeen,
      seconds: (Date.now() - t0) / 1000,
      final,
      stopped,
    };
  } finally {
    dispose();
  }
}
