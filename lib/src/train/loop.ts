import type { Model } from '../models/spec';
import type { StateValue } from '../models/records';
import { createRng } from '../random';
import type { RunSignature } from './checkpoint';
import type { TrainConfig } from './config';
import type { Evaluation } from './evaluate';
import { lrAt } from './schedules';
import { type StepOutcome, type StepRun, trainStep } from './step';
import type { Task } from './task';
import type { EpochInfo, StepInfo, Technique } from './technique';

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

/** Where a run stands: epoch, batch within it, mini-batches drawn and iterations trained. */
export interface LoopPosition {
  readonly epoch: number;
  readonly batch: number;
  readonly batchesSeen: number;
  readonly iteration: number;
}

/**
 * Why the loop ends early, as a hook returns it: an interruption (`stopAfter`), early stopping, or divergence
 * (a broken model must not be checkpointed; `loss` and `iteration` say where).
 */
export type LoopStop =
  | { readonly stop: 'stopAfter' | 'early-stopping' }
  | { readonly diverged: string; readonly loss: number; readonly iteration: number };

/** How a run ended. */
export type LoopEnd = LoopStop | { readonly stop: 'completed' };

/** What a hook may return: a reason to stop the loop, or nothing to go on. */
export type HookResult = LoopStop | undefined;

/** The state of a running loop, handed to every hook. */
export interface TrainLoop {
  readonly config: TrainConfig;
  readonly model: Model;
  readonly task: Task;
  readonly techniques: readonly Technique[];
  /** The step's parts: parameters, optimizers, divergence guard, ledger. */
  readonly step: StepRun;
  readonly totalIterations: number;
  readonly signature: RunSignature;
  readonly callbacks: readonly TrainCallback[];
  position: LoopPosition;
  /** Sum and count of this epoch's trained losses. */
  epochLoss: { sum: number; n: number };
  readonly history: EpochRecord[];
  readonly curve: CurvePoint[];
  /** The last good checkpoint: confirmed by a later step's loss, written at the end, or resumed from (named when a run diverges). */
  lastCheckpoint?: string;
  /** The trained iterations the last good checkpoint holds. */
  lastCheckpointIteration?: number;
  /** Wall-clock start (ms). */
  readonly startedAt: number;
  /**
   * The evaluation of the current model on the validation set, computed once per model state: the evaluation curve,
   * the epoch's record and the final evaluation at the same state share it.
   */
  evaluate(): Promise<Evaluation>;
  /** Says that the model or what its evaluation uses changed outside a training step (the next evaluation is fresh). */
  invalidate(): void;
}

/** The loop's memoized evaluation: valid until a trained step or an `invalidate()`. */
export function memoizedEvaluation(evaluate: () => Promise<Evaluation>): {
  evaluate(): Promise<Evaluation>;
  invalidate(): void;
} {
  let memo: Promise<Evaluation> | undefined;
  return {
    evaluate: () => {
      memo ??= evaluate();
      return memo;
    },
    invalidate: () => {
      memo = undefined;
    },
  };
}

/**
 * A unit on the training loop's hooks (checkpoints, SWA, the evaluation curve, the run log, early stopping, ...).
 * Hooks run in the order of the loop's callbacks; a hook that returns a {@link LoopStop} ends the loop (the end
 * hooks still run, except after divergence). `state`/`restore` put the unit's state in checkpoints under its name.
 */
export interface TrainCallback {
  readonly name: string;
  /** Before the first step; may end the run at once (e.g. an early stop restored from a checkpoint). */
  onStart?(loop: TrainLoop): HookResult | Promise<HookResult>;
  /** After a mini-batch a technique skipped. */
  onSkip?(loop: TrainLoop): void;
  /** After each trained iteration, with its loss and learning rate. */
  onStep?(loop: TrainLoop, step: { readonly loss: number; readonly lr: number }): HookResult | Promise<HookResult>;
  /** After an epoch's record is in the history. */
  onEpochEnd?(loop: TrainLoop, record: EpochRecord): HookResult | Promise<HookResult>;
  /** After the loop ended without diverging (`end.stop` says how); may still find the model broken. */
  onEnd?(loop: TrainLoop, end: LoopEnd): HookResult | Promise<HookResult>;
  /** Last, with how the run ended and its final evaluation (if any). */
  onFinish?(loop: TrainLoop, end: LoopEnd, final: Evaluation | undefined): void;
  state?(): StateValue;
  restore?(state: StateValue): void;
  dispose?(): void;
}

/** The step information techniques see at the loop's current position. */
export function stepInfo(loop: TrainLoop, lr: number, examples = loop.config.batchSize): StepInfo {
  return {
    ...loop.position,
    totalIterations: loop.totalIterations,
    lr,
    examples,
    model: loop.model,
    ledger: loop.config.ledger,
  };
}

/** Statistics of every technique that reports some, by technique name. */
export function techniqueStats(techniques: readonly Technique[]): Record<string, Record<string, number>> {
  return Object.fromEntries(techniques.filter((t) => t.stats).map((t) => [t.name, t.stats?.() ?? {}]));
}

/** Runs `hook` on each callback in order until one returns a stop. */
async function firstStop(
  loop: TrainLoop,
  hook: (cb: TrainCallback) => HookResult | Promise<HookResult>,
): Promise<HookResult> {
  for (const cb of loop.callbacks) {
    const stop = await hook(cb);
    if (stop) return stop;
  }
  return undefined;
}

function advance(loop: TrainLoop, trained: boolean): void {
  if (trained) loop.invalidate();
  const p = loop.position;
  loop.position = {
    ...p,
    batch: p.batch + 1,
    batchesSeen: p.batchesSeen + 1,
    iteration: p.iteration + (trained ? 1 : 0),
  };
}

/** The epoch-end record: validation, techniques' epoch hooks, ledger totals; appended to the history. */
async function closeEpoch(loop: TrainLoop): Promise<EpochRecord> {
  const c = loop.config;
  const lr = lrAt(c.schedule, c.lr, loop.position.iteration, loop.totalIterations);
  const validation = c.validation ? await loop.evaluate() : undefined;
  const trainLoss = loop.epochLoss.n > 0 ? loop.epochLoss.sum / loop.epochLoss.n : Number.NaN;
  const info: EpochInfo = {
    ...stepInfo(loop, lr),
    trainLoss,
    validation: validation
      ? { loss: validation.loss, top1: validation.top1, perplexity: validation.perplexity }
      : undefined,
  };
  for (const t of loop.techniques) t.onEpochEnd?.(info);
  // A technique's epoch hook may change what evaluation sees.
  if (loop.techniques.some((t) => t.onEpochEnd)) loop.invalidate();
  const totals = c.ledger?.totals();
  const record: EpochRecord = {
    epoch: loop.position.epoch,
    iteration: loop.position.iteration,
    trainLoss,
    lr,
    validation,
    effectiveMacs: totals?.effectiveMacs,
    energyJ: totals?.energy.total,
    techniques: techniqueStats(loop.techniques),
  };
  loop.history.push(record);
  return record;
}

async function runStep(loop: TrainLoop, batch: Parameters<typeof trainStep>[1], lr: number): Promise<StepOutcome> {
  try {
    return await trainStep(loop.step, batch, stepInfo(loop, lr, batch.examples));
  } finally {
    loop.task.release(batch);
  }
}

/**
 * The loop: epochs of seeded mini-batches (`iterations`, when set, ends it mid-epoch), each trained by the step
 * pipeline, with the callbacks' hooks after each step and each epoch. Returns how it ended; a step that diverged
 * changed nothing.
 */
export async function runLoop(loop: TrainLoop): Promise<LoopEnd> {
  const c = loop.config;
  const started = await firstStop(loop, (cb) => cb.onStart?.(loop));
  if (started) return started;
  const epochs = c.iterations !== undefined ? Number.MAX_SAFE_INTEGER : c.epochs;
  const more = () =>
    loop.position.epoch < epochs && (c.iterations === undefined || loop.position.iteration < c.iterations);
  while (more()) {
    const order = createRng(`${c.seed}/order/${loop.position.epoch}`);
    for await (const batch of loop.task.epoch(loop.position.epoch, loop.position.batch, order)) {
      const lr = lrAt(c.schedule, c.lr, loop.position.iteration, loop.totalIterations);
      const outcome = await runStep(loop, batch, lr);
      if (outcome.status === 'diverged')
        return { diverged: outcome.reason, loss: outcome.loss, iteration: loop.position.iteration };
      advance(loop, outcome.status === 'trained');
      if (outcome.status === 'skipped') {
        for (const cb of loop.callbacks) cb.onSkip?.(loop);
        continue;
      }
      loop.epochLoss = { sum: loop.epochLoss.sum + outcome.loss, n: loop.epochLoss.n + 1 };
      const stop = await firstStop(loop, (cb) => cb.onStep?.(loop, { loss: outcome.loss, lr }));
      if (stop) return stop;
      if (c.iterations !== undefined && loop.position.iteration >= c.iterations) break;
    }
    const record = await closeEpoch(loop);
    const stop = await firstStop(loop, (cb) => cb.onEpochEnd?.(loop, record));
    loop.position = { ...loop.position, epoch: loop.position.epoch + 1, batch: 0 };
    loop.epochLoss = { sum: 0, n: 0 };
    if (stop) return stop;
  }
  return { stop: 'completed' };
}

/** Runs the end hooks after a loop that did not diverge; a hook may still report divergence. */
export async function endLoop(loop: TrainLoop, end: LoopEnd): Promise<LoopEnd> {
  if ('diverged' in end) return end;
  return (await firstStop(loop, (cb) => cb.onEnd?.(loop, end))) ?? end;
}
