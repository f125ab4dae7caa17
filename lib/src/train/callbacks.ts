import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { removeStaleTemporaries } from '../data/files';
import { recordValues, type StateValue } from '../models/records';
import { ConfigError } from '../errors';
import { type CheckpointData, checkResumable, readCheckpoint, writeCheckpoint } from './checkpoint';
import type { ProgressSink, SwaOptions } from './config';
import { recomputeBatchNormStats } from './evaluate';
import type { CurvePoint, EpochRecord, HookResult, LoopEnd, TrainCallback, TrainLoop } from './loop';
import { techniqueStats } from './loop';
import { sumOfAll } from './step';
import { WeightAverage } from './swa';

type OptimizerState = Parameters<TrainLoop['step']['optimizer']['restore']>[0];

/** The loop's whole state as a checkpoint (parameters, optimizers, techniques, task, guard, ledger, callbacks). */
async function checkpointData(loop: TrainLoop): Promise<CheckpointData> {
  const s = loop.step;
  return {
    version: 3,
    run: loop.signature,
    position: { ...loop.position },
    params: await loop.model.params.snapshot(),
    optimizer: s.optimizer.state() as unknown as StateValue,
    groupOptimizers: Object.fromEntries(
      s.groups.map((g) => [g.technique.name, g.optimizer.state() as unknown as StateValue]),
    ),
    techniques: Object.fromEntries(loop.techniques.filter((t) => t.state).map((t) => [t.name, t.state?.() ?? null])),
    task: loop.task.state(),
    ledger: loop.config.ledger?.state(),
    guard: s.guard.state(),
    callbacks: Object.fromEntries(loop.callbacks.filter((c) => c.state).map((c) => [c.name, c.state?.() ?? null])),
    history: loop.history,
    curve: loop.curve,
    epochLoss: loop.epochLoss,
  };
}

/** Puts a checkpoint's state back into the loop (the checkpoint was checked to be of this run). */
function restoreCheckpoint(loop: TrainLoop, saved: CheckpointData): void {
  const s = loop.step;
  loop.model.params.restore(saved.params);
  s.optimizer.restore(saved.optimizer as unknown as OptimizerState);
  for (const g of s.groups) {
    const st = saved.groupOptimizers[g.technique.name];
    if (st) g.optimizer.restore(st as unknown as OptimizerState);
  }
  for (const t of loop.techniques)
    if (t.restore && saved.techniques[t.name] !== undefined) t.restore(saved.techniques[t.name] as StateValue);
  for (const c of loop.callbacks)
    if (c.restore && saved.callbacks[c.name] !== undefined) c.restore(saved.callbacks[c.name] as StateValue);
  loop.task.restore(saved.task);
  s.guard.restore(saved.guard);
  if (saved.ledger && loop.config.ledger) loop.config.ledger.restore(saved.ledger);
  loop.history.push(...(saved.history as EpochRecord[]));
  loop.curve.push(...(saved.curve as CurvePoint[]));
  loop.position = { ...saved.position };
  loop.epochLoss = { ...saved.epochLoss };
}

/**
 * Resume: the run continues exactly where the checkpoint in `file` stopped (parameters, optimizers, techniques, task,
 * guard, ledger, callbacks, history, position); a checkpoint of another run is refused, naming the field. No file:
 * the run starts afresh. Put it first, so that the other units start from the restored state.
 */
export function resumeFrom(file: string) {
  return {
    name: 'resume',
    onStart(loop: TrainLoop) {
      const saved = readCheckpoint(file);
      if (!saved) return undefined;
      checkResumable(file, saved.run, loop.signature);
      for (const [name, record] of Object.entries(saved.params))
        if (!recordValues(record).every(Number.isFinite))
          throw new ConfigError(
            'checkpoint.resume',
            file,
            `a checkpoint whose values are all finite (parameter ${name} holds NaN or infinity): delete it to start afresh`,
          );
      restoreCheckpoint(loop, saved);
      loop.invalidate();
      loop.lastCheckpoint = file;
      loop.lastCheckpointIteration = saved.position.iteration;
      return undefined;
    },
  } satisfies TrainCallback;
}

/**
 * Checkpoints: the whole loop state written atomically every `every` iterations and at the end, and only from a
 * model whose parameters are all finite (a broken model ends the run as diverged instead). A checkpoint written
 * during the run is held as `<file>.pending` until the next trained step's loss, computed on its weights, passes the
 * divergence check; only then does it replace `<file>`, the last good checkpoint a diverged run names. The final
 * checkpoint is written directly. Temporaries and an unconfirmed pending checkpoint a killed run left are removed at
 * the start.
 */
export function checkpointing(cp: { readonly file: string; readonly every: number; readonly resume?: boolean }) {
  const pending = `${cp.file}.pending`;
  let held: number | undefined;
  const brokenModel = async (loop: TrainLoop, loss: number): Promise<HookResult> => {
    const probe = tf.tidy(() => sumOfAll(loop.model.params.all().map((p) => p.variable)));
    const finite = Number.isFinite((await probe.data())[0]);
    probe.dispose();
    return finite
      ? undefined
      : { diverged: 'parameters or statistics are not finite', loss, iteration: loop.position.iteration };
  };
  return {
    name: 'checkpoint',
    onStart(_loop: TrainLoop) {
      if (!cp.resume) removeStaleTemporaries(cp.file);
      removeStaleTemporaries(pending);
      fs.rmSync(pending, { force: true });
      return undefined;
    },
    async onStep(loop: TrainLoop, step: { loss: number }): Promise<HookResult> {
      // This step's loss was computed on the held checkpoint's weights (or later ones) and passed the check.
      if (held !== undefined) {
        fs.renameSync(pending, cp.file);
        loop.lastCheckpoint = cp.file;
        loop.lastCheckpointIteration = held;
        held = undefined;
      }
      if (loop.position.iteration % cp.every !== 0) return undefined;
      const broken = await brokenModel(loop, step.loss);
      if (broken) return broken;
      writeCheckpoint(pending, await checkpointData(loop));
      held = loop.position.iteration;
      return undefined;
    },
    async onEnd(loop: TrainLoop): Promise<HookResult> {
      const broken = await brokenModel(loop, Number.NaN);
      if (broken) return broken;
      writeCheckpoint(cp.file, await checkpointData(loop));
      fs.rmSync(pending, { force: true });
      held = undefined;
      loop.lastCheckpoint = cp.file;
      loop.lastCheckpointIteration = loop.position.iteration;
      return undefined;
    },
  } satisfies TrainCallback;
}

/**
 * Stochastic weight averaging: from `start` (a fraction of the planned iterations), every `every` iterations, the
 * running average of the trainable weights is updated; when the run ends (completed or early-stopped) the average
 * replaces the weights and, for image tasks, batch-norm statistics are re-estimated on 50 training batches.
 */
export function weightAveraging(swa: SwaOptions, model: TrainLoop['model']) {
  const average = new WeightAverage(model);
  return {
    name: 'swa',
    onStep(loop: TrainLoop) {
      const it = loop.position.iteration;
      if (it >= swa.start * loop.totalIterations && it % swa.every === 0) average.update();
      return undefined;
    },
    onEnd(loop: TrainLoop, end: LoopEnd) {
      if (average.count === 0 || ('stop' in end && end.stop === 'stopAfter')) return undefined;
      average.swapIn();
      loop.invalidate();
      const c = loop.config;
      if (c.task !== 'language-model')
        recomputeBatchNormStats(loop.model, c.train, {
          normalize: c.normalize,
          ...(swa.bnBatches === undefined || swa.bnBatches === 'all' ? {} : { maxBatches: swa.bnBatches }),
          ...((swa.bnAugment ?? true) && c.augment ? { augment: c.augment, seed: c.seed } : {}),
          ctx: c.evalContext,
        });
      return undefined;
    },
    state: () => average.state() as unknown as StateValue,
    restore: (s: StateValue) => average.restore(s as unknown as Parameters<WeightAverage['restore']>[0]),
    dispose: () => average.dispose(),
  } satisfies TrainCallback;
}

/** The accuracy-against-energy curve: the validation set evaluated every `every` trained iterations. */
export function evaluationCurve(every: number) {
  return {
    name: 'evaluation-curve',
    async onStep(loop: TrainLoop) {
      if (loop.position.iteration % every !== 0) return undefined;
      const ev = await loop.evaluate();
      const tot = loop.config.ledger?.totals();
      loop.curve.push({
        iteration: loop.position.iteration,
        energyJ: tot?.energy.total ?? Number.NaN,
        effectiveMacs: tot?.effectiveMacs ?? Number.NaN,
        top1: ev.top1,
        loss: ev.loss,
      });
      return undefined;
    },
  } satisfies TrainCallback;
}

function appendLog(file: string, record: object): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${JSON.stringify(record)}\n`);
}

/** The JSON-lines run log: a step line every `every` iterations, a line per epoch, and where a run diverged. */
export function runLog(file: string, every: number) {
  return {
    name: 'run-log',
    onStep(loop: TrainLoop, step: { loss: number; lr: number }) {
      if (loop.position.iteration % every !== 0) return undefined;
      const tot = loop.config.ledger?.totals();
      appendLog(file, {
        type: 'step',
        ...loop.position,
        loss: step.loss,
        lr: step.lr,
        effectiveMacs: tot?.effectiveMacs,
        energyJ: tot?.energy.total,
        techniques: techniqueStats(loop.techniques),
      });
      return undefined;
    },
    onEpochEnd(_loop: TrainLoop, record: EpochRecord) {
      appendLog(file, { type: 'epoch', ...record });
      return undefined;
    },
    onFinish(loop: TrainLoop, end: LoopEnd) {
      if (!('diverged' in end)) return;
      appendLog(file, {
        type: 'diverged',
        ...loop.position,
        iteration: end.iteration,
        loss: Number.isFinite(end.loss) ? end.loss : String(end.loss),
        reason: end.diverged,
        checkpoint: loop.lastCheckpoint ?? null,
      });
    },
  } satisfies TrainCallback;
}

/** Ends the run after `iterations` trained iterations (an interruption: for tests and resume experiments). */
export function stopAfter(iterations: number) {
  return {
    name: 'stop-after',
    onStep: (loop: TrainLoop): HookResult =>
      loop.position.iteration >= iterations ? { stop: 'stopAfter' } : undefined,
  } satisfies TrainCallback;
}

/** Reports progress to a sink (kernel-ext's progress bar): a tick per drawn mini-batch, then the outcome. */
export function progressReport(sink: ProgressSink) {
  return {
    name: 'progress',
    onSkip: () => sink.tick(1),
    onStep(_loop: TrainLoop, step: { loss: number; lr: number }) {
      sink.tick(1, { loss: step.loss, lr: step.lr });
      return undefined;
    },
    onFinish(_loop: TrainLoop, end: LoopEnd, final: { top1: number } | undefined) {
      if ('diverged' in end) sink.done({ diverged: end.diverged });
      else sink.done(final ? { top1: final.top1 } : undefined);
    },
  } satisfies TrainCallback;
}
