import type * as tf from '@tensorflow/tfjs-core';
import type { BlockPlan, BlockSpec, LayerSpec, Model } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import type { EnergyLedger } from '../cost/ledger';
import type { QuantConfig } from '../quant/layers';
import type { OptimizerConfig } from './optimizers';
import type { StateValue } from '../models/records';
import type { TaskBatch } from './task';

/** Where the trainer is. */
export interface StepInfo {
  readonly epoch: number;
  /** Batch index within the epoch. */
  readonly batch: number;
  /** Mini-batches drawn so far (trained or skipped). */
  readonly batchesSeen: number;
  /** Training iterations actually run so far (the schedule's clock). */
  readonly iteration: number;
  /** Planned iterations of the run (for schedules). */
  readonly totalIterations: number;
  readonly lr: number;
  /** Examples in this step's mini-batch (sequences for a language model). */
  readonly examples: number;
  readonly model: Model;
  readonly ledger: EnergyLedger | undefined;
}

/** What a technique sees at the end of an epoch. */
export interface EpochInfo extends StepInfo {
  /** Mean training loss over the epoch's trained iterations. */
  readonly trainLoss: number;
  readonly validation?: { readonly loss: number; readonly top1: number; readonly perplexity?: number };
}

/** Gradients by parameter name and the loss they belong to (a scalar tensor the trainer reads and disposes). */
export interface GradientResult {
  readonly loss: tf.Scalar;
  readonly grads: Map<string, tf.Tensor>;
}

/**
 * The gradient stage's problem, handed to a technique that replaces the gradient computation
 * (e.g. TernGrad's N workers, each on its shard of the mini-batch).
 */
export interface GradientProblem {
  /** This step's mini-batch. */
  readonly batch: TaskBatch;
  /** Parameters the step differentiates, by name (model parameters and technique parameters). */
  readonly params: ReadonlyMap<string, tf.Variable>;
  /** The batch cut into `n` consecutive shards of sizes differing by at most one (n <= examples); the step frees them. */
  shards(n: number): TaskBatch[];
  /**
   * The default computation on `part` of the batch (default: all of it): loss = task loss + every technique's
   * loss term, and its gradient with respect to {@link params}. The caller owns (and disposes) the result.
   */
  gradients(part?: TaskBatch): GradientResult;
}

/**
 * A training technique plugged into the trainer. Every hook is optional. One training step runs these
 * stages in this order (techniques in the order given to the trainer, within a stage):
 *
 * 1. **Draw batch** (the task).
 * 2. **Skip**: if any `shouldTrain` returns false, the mini-batch is skipped: not trained, not charged.
 * 3. **Pre-forward**: each `perturb` may change the weights (SmoothOut's noise) and returns how to undo it;
 *    undo runs right after the gradient stage (before transforms and the update), and also when the step fails.
 * 4. **Forward** with each `quant` adjusting the quantization settings, layer precision from `precision`
 *    and per-input block plans from `blockPlan`, combined by the rules of `compose.ts` (never first-wins).
 * 5. **Loss**: task loss plus every `lossTerm` (inside the gradient scope).
 * 6. **Gradients**: the default computation, or one technique's `computeGradients` replacing it as a whole.
 * 7. **Gradient transforms**: each `transformGradients` in order (quantize, sign, ternarize, add regularizer
 *    gradients), then the run's clipping by global norm.
 * 8. **Update**: the optimizers (the model's, and a technique's own for its parameters).
 * 9. **Post-update**: each `afterUpdate` in order (thresholding to exact zeros, projections).
 * 10. **Accounting**: each `afterStep` (statistics, ledger overheads), then the ledger closes the iteration.
 * 11. Evaluation, checkpoint and log (the trainer); at epoch end each `onEpochEnd`.
 *
 * A step whose loss or batch-norm statistics are not finite (or whose loss passes the divergence bound)
 * fails between stages 6 and 7: perturbations are undone, statistics restored, nothing is updated.
 */
export interface Technique {
  readonly name: string;
  /**
   * The options that shape this technique's run, as plain JSON (e.g. SMD's p, seed and dropped-batch rule): recorded
   * in checkpoints, so that resuming with other options is refused. Techniques without it are recorded by name.
   */
  readonly settings?: Readonly<Record<string, string | number | boolean | null>>;
  /** Expected fraction of mini-batches trained (SMD: 1 - p); the schedule's clock length is scaled by it. */
  readonly trainFraction?: number;
  /**
   * A mini-batch this technique skips still updates the weights with zero gradients, so that momentum and weight decay
   * keep moving them (E²-Train's released SMD: `optimizer.zero_grad(); optimizer.step()` on a dropped batch). Default
   * false: a skipped batch changes nothing.
   */
  readonly zeroGradientUpdateOnSkip?: boolean;
  /** Extra trainable parameters (gate networks); optimized with the model's unless `parameterOptimizer` is set. */
  parameters?(): ReadonlyMap<string, tf.Variable>;
  /** Optimizer (and learning rate) for this technique's own parameters, e.g. plain SGD for SLU gates when the weights use signSGD. */
  readonly parameterOptimizer?: { readonly config: OptimizerConfig; readonly lr: number };
  /**
   * How this technique's layer precision combines with another technique's precision for the same layer:
   * `'min'`: field by field, the fewer bits win (a cap; PFQ, DFQ); `'exclusive'` (default): the technique's
   * precision has its own meaning (PSG's predictor bits), and a second precision-setting technique is rejected.
   */
  readonly precisionCombine?: 'min' | 'exclusive';

  /** Stage 2: return false to skip this mini-batch. */
  shouldTrain?(info: StepInfo): boolean;
  /** Stage 3: perturb the weights before the forward pass; return the undo (run after the gradient stage). */
  perturb?(params: ReadonlyMap<string, tf.Variable>, info: StepInfo): (() => void) | undefined;
  /** Stage 4: adjusts the quantization settings of this step (e.g. PSG's predictor mode). */
  quant?(cfg: QuantConfig, info: StepInfo): QuantConfig;
  /** Stage 4: precision of a layer in this step (undefined: no opinion). */
  precision?(layer: LayerSpec, info: StepInfo): LayerPrecision | undefined;
  /**
   * Per-input plan of a residual block in evaluation passes (dynamic inference: SLU's and DFQ's gates, stochastic
   * depth's survival scaling); an experiment arm evaluates with it.
   */
  readonly evalPlan?: (block: BlockSpec, x: tf.Tensor4D) => BlockPlan | undefined;
  /** Stage 4: per-input plan of a residual block (undefined: every input runs it). */
  blockPlan?(block: BlockSpec, x: tf.Tensor4D, info: StepInfo): BlockPlan | undefined;
  /** Stage 5: a scalar added to the loss; called inside the gradient scope (may use model parameters and tensors it recorded). */
  lossTerm?(info: StepInfo): tf.Scalar | undefined;
  /**
   * Stage 6: replaces the gradient computation (at most one technique of a run may). May be asynchronous (a worker
   * exchanging gradients with a server); the shards it took are freed when it settles.
   */
  computeGradients?(problem: GradientProblem, info: StepInfo): GradientResult | Promise<GradientResult>;
  /** Stage 7: returns the gradients to apply; must not dispose its input (the trainer does). */
  transformGradients?(grads: Map<string, tf.Tensor>, info: StepInfo): Map<string, tf.Tensor>;
  /** Stage 9: after the update (thresholding, projections); `params` are the parameters the step trained. */
  afterUpdate?(info: StepInfo, params: ReadonlyMap<string, tf.Variable>): void;
  /** Stage 10: accounting and statistics of a completed step. */
  afterStep?(info: StepInfo & { readonly loss: number }): void;
  onEpochEnd?(info: EpochInfo): void;
  /** Numbers for the run log (skip rates, fractions, ...). */
  stats?(): Record<string, number>;
  /** Checkpointable state (JSON with tensors as {@link TensorRecord}s). */
  state?(): StateValue;
  restore?(state: StateValue): void;
  /** Frees the technique's tensors and variables (its gate networks, tables). */
  dispose?(): void;
}
