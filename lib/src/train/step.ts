import * as tf from '@tensorflow/tfjs-core';
import { hashString } from '../models/params';
import type { ForwardContext, LayerSpec, Model } from '../models/spec';
import type { QuantConfig } from '../quant/layers';
import type { Optimizer } from './optimizers';
import type { GradientProblem, GradientResult, StepInfo, Technique } from './technique';
import type { Task, TaskBatch } from './task';
import type { DivergenceGuard } from './guard';
import { composeBlockPlan, composePrecision } from './compose';
import { lrAt, type LrSchedule } from './schedules';

/** Everything a training step needs, prepared once per run by the trainer. */
export interface StepRun {
  readonly model: Model;
  readonly task: Task;
  readonly techniques: readonly Technique[];
  readonly seed: number;
  readonly schedule: LrSchedule;
  /** Parameters updated by the run's optimizer, by name. */
  readonly params: ReadonlyMap<string, tf.Variable>;
  readonly optimizer: Optimizer;
  /** Technique parameters with their own optimizer and base learning rate. */
  readonly groups: ReadonlyArray<{
    readonly technique: Technique;
    readonly params: ReadonlyMap<string, tf.Variable>;
    readonly optimizer: Optimizer;
    readonly lr: number;
  }>;
  /** Every parameter the step differentiates. */
  readonly differentiated: ReadonlyMap<string, tf.Variable>;
  /** tfjs variable name -> parameter name. */
  readonly nameOf: ReadonlyMap<string, string>;
  readonly precision: import('../quant/precision').LayerPrecision | undefined;
  readonly quant: Omit<QuantConfig, 'nextSeed'>;
  readonly backwardOf?: (layer: LayerSpec) => { readonly inputGrad: boolean; readonly weightGrad: boolean };
  readonly onExecute?: ForwardContext['onExecute'];
  /** State the forward pass updates (batch-norm running statistics), restored when a step fails. */
  readonly forwardState: readonly tf.Variable[];
  readonly clipNorm: number | undefined;
  readonly guard: DivergenceGuard;
  readonly ledger: import('../cost/ledger').EnergyLedger | undefined;
}

/** What one step did. */
export type StepOutcome =
  | { readonly status: 'skipped' }
  | { readonly status: 'trained'; readonly loss: number }
  | { readonly status: 'diverged'; readonly loss: number; readonly reason: string };

/** Deterministic seeds for one iteration of a run (stochastic rounding, dropout), per purpose. */
export function seedSource(seed: number, iteration: number, purpose = ''): () => number {
  let i = 0;
  const base = hashString(purpose ? `${seed}/${purpose}/${iteration}` : `${seed}/${iteration}`);
  return () => (base + 7919 * ++i) % 2147483647;
}

// Stage 2.
function skipBatch(run: StepRun, info: StepInfo): boolean {
  // Every technique sees every batch (each keeps its own draws), then any may skip it.
  const keeps = run.techniques.map((t) => (t.shouldTrain ? t.shouldTrain(info) : true));
  if (!keeps.some((keep) => !keep)) return false;
  if (run.techniques.some((t, i) => !keeps[i] && t.zeroGradientUpdateOnSkip)) {
    // The skipping technique asks for an optimizer step with zero gradients (momentum and weight decay still act).
    const zeros = new Map<string, tf.Tensor>();
    for (const [name, w] of run.params) zeros.set(name, tf.zerosLike(w));
    for (const g of run.groups)
      for (const [name, w] of g.params) if (!zeros.has(name)) zeros.set(name, tf.zerosLike(w));
    update(run, zeros, info);
    tf.dispose([...zeros.values()]);
  }
  return true;
}

// Stage 3.
function perturb(run: StepRun, info: StepInfo): () => void {
  const undos: Array<() => void> = [];
  for (const t of run.techniques) {
    const undo = t.perturb?.(run.differentiated, info);
    if (undo) undos.push(undo);
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const u of undos.reverse()) u();
  };
}

/** Holds the forward-updated state (batch-norm statistics, running quantizer ranges) so a failed step can put it back. */
function holdForwardState(run: StepRun): { restore(): void; release(): void } {
  const kept = run.forwardState.map((v) => tf.clone(v));
  const ranges = run.quant.ranges?.hold();
  return {
    restore() {
      run.forwardState.forEach((v, i) => v.assign(kept[i] as tf.Tensor));
      tf.dispose(kept);
      ranges?.restore();
    },
    release() {
      tf.dispose(kept);
      ranges?.release();
    },
  };
}

// Stage 4.
function forwardContext(run: StepRun, info: StepInfo): ForwardContext {
  let quant: QuantConfig = { ...run.quant, nextSeed: seedSource(run.seed, info.iteration) };
  for (const t of run.techniques) if (t.quant) quant = t.quant(quant, info);
  return {
    training: true,
    quant,
    precision: composePrecision(run.techniques, run.precision, info),
    blockPlan: composeBlockPlan(run.techniques, info),
    onExecute: run.onExecute,
    backwardOf: run.backwardOf,
    random: seedSource(run.seed, info.iteration, 'dropout'),
  };
}

// Stages 5 and 6.
async function gradients(run: StepRun, batch: TaskBatch, ctx: ForwardContext, info: StepInfo): Promise<GradientResult> {
  const lossOf = (part: TaskBatch): tf.Scalar => {
    let loss = run.task.loss(run.model, part, ctx);
    for (const t of run.techniques) {
      const extra = t.lossTerm?.(info);
      if (extra) loss = tf.add(loss, extra) as tf.Scalar;
    }
    return loss;
  };
  // Shards are owned by the step: freed when the gradient stage ends.
  const made: TaskBatch[] = [];
  const problem: GradientProblem = {
    batch,
    params: run.differentiated,
    shards(n) {
      if (!Number.isInteger(n) || n < 1 || n > batch.examples)
        throw new RangeError(`shards: n = ${n}, expected an integer in 1..${batch.examples} (the batch size)`);
      const parts = run.task.shards(batch, n);
      made.push(...parts);
      return parts;
    },
    gradients(part = batch) {
      const { value, grads } = tf.variableGrads(() => lossOf(part), [...run.differentiated.values()]);
      const byName = new Map<string, tf.Tensor>();
      for (const [vname, g] of Object.entries(grads)) byName.set(run.nameOf.get(vname) ?? vname, g);
      return { loss: value, grads: byName };
    },
  };
  const replacer = run.techniques.find((t) => t.computeGradients);
  try {
    return replacer
      ? await (replacer.computeGradients as NonNullable<Technique['computeGradients']>)(problem, info)
      : problem.gradients();
  } finally {
    for (const part of made) tf.dispose([part.x, part.y, ...(part.state ? [...part.state.h, ...part.state.c] : [])]);
  }
}

/** One host read per step: the loss and the sum of the forward-updated statistics (finite iff all are). */
/** The sum of every element of `tensors` (finite iff all are, barring overflow); call inside `tf.tidy`. */
export function sumOfAll(tensors: readonly tf.Tensor[]): tf.Scalar {
  return tensors.length > 0
    ? tf.sum(tf.concat(tensors.map((v) => (v.rank === 1 ? v : tf.reshape(v, [-1])))))
    : tf.scalar(0);
}

async function readLossAndStatistics(run: StepRun, loss: tf.Scalar): Promise<[number, number]> {
  const probe = tf.tidy(() => tf.stack([loss, sumOfAll(run.forwardState)]));
  const v = await probe.data();
  probe.dispose();
  return [v[0] as number, v[1] as number];
}

// Stage 7.
function transform(run: StepRun, grads: Map<string, tf.Tensor>, info: StepInfo): Map<string, tf.Tensor> {
  let g = grads;
  for (const t of run.techniques) {
    if (!t.transformGradients) continue;
    const next = t.transformGradients(g, info);
    if (next !== g) for (const [k, v] of g) if (next.get(k) !== v) v.dispose();
    g = next;
  }
  if (run.clipNorm !== undefined) {
    const clipped = clipByGlobalNorm(g, run.clipNorm);
    tf.dispose([...g.values()]);
    g = clipped;
  }
  return g;
}

/** Scales all gradients together so that their global L2 norm is at most `maxNorm` (on the device, no host read). */
export function clipByGlobalNorm(grads: ReadonlyMap<string, tf.Tensor>, maxNorm: number): Map<string, tf.Tensor> {
  const scale = tf.tidy(() => {
    const norm = tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
    return tf.minimum(1, tf.div(maxNorm, tf.maximum(norm, 1e-12)));
  });
  const out = new Map([...grads].map(([k, g]) => [k, tf.mul(g, scale)]));
  scale.dispose();
  return out;
}

// Stage 8.
function update(run: StepRun, grads: ReadonlyMap<string, tf.Tensor>, info: StepInfo): void {
  run.optimizer.apply(run.params, grads, info.lr);
  for (const g of run.groups)
    g.optimizer.apply(g.params, grads, lrAt(run.schedule, g.lr, info.iteration, info.totalIterations));
}

/**
 * One training step, its stages in the order of {@link Technique}: skip, pre-forward, forward, loss,
 * gradients, (divergence check), transforms, update, post-update, accounting. A step that fails the check
 * changes nothing: perturbations undone, forward-updated statistics restored, no update, carried state dropped.
 */
export async function trainStep(run: StepRun, batch: TaskBatch, info: StepInfo): Promise<StepOutcome> {
  if (skipBatch(run, info)) return { status: 'skipped' };
  const undo = perturb(run, info);
  const held = holdForwardState(run);
  let result: GradientResult;
  try {
    result = await gradients(run, batch, forwardContext(run, info), info);
  } catch (err) {
    undo();
    held.restore();
    run.task.discard();
    throw err;
  }
  undo();
  const [loss, statSum] = await readLossAndStatistics(run, result.loss);
  result.loss.dispose();
  const reason = run.guard.check(loss, statSum);
  if (reason) {
    tf.dispose([...result.grads.values()]);
    held.restore();
    run.task.discard();
    return { status: 'diverged', loss, reason };
  }
  held.release();
  run.task.commit();
  run.guard.record(loss);
  const grads = transform(run, result.grads, info);
  update(run, grads, info);
  tf.dispose([...grads.values()]);
  for (const t of run.techniques) t.afterUpdate?.(info, run.differentiated);
  const done: StepInfo = {
    ...info,
    batch: info.batch + 1,
    batchesSeen: info.batchesSeen + 1,
    iteration: info.iteration + 1,
  };
  for (const t of run.techniques) t.afterStep?.({ ...done, loss });
  run.ledger?.endIteration(done.iteration);
  return { status: 'trained', loss };
}
