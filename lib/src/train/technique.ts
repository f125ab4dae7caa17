import type * as tf from '@tensorflow/tfjs-core';
import type { BlockPlan, BlockSpec, LayerSpec, Model } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import type { EnergyLedger } from '../cost/ledger';
import type { QuantConfig } from '../quant/layers';

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
  /** Examples in this step's mini-batch. */
  readonly examples: number;
  readonly model: Model;
  readonly ledger: EnergyLedger | undefined;
}

/** What a technique sees at the end of an epoch. */
export interface EpochInfo extends StepInfo {
  /** Mean training loss over the epoch's trained iterations. */
  readonly trainLoss: number;
  readonly validation?: { readonly loss: number; readonly top1: number };
}

/**
 * A training technique plugged into the trainer. Every hook is optional. Order within one step
 * (techniques in the order given to the trainer):
 * 1. `shouldTrain`: if any technique returns false, the mini-batch is skipped (not trained, not charged);
 *    then each `quant` hook adjusts the step's quantization settings.
 * 2. Forward pass: `precision` and `blockPlan` of the first technique that returns a value win.
 * 3. Loss = task loss + the sum of every `lossTerm` (computed inside the gradient scope).
 * 4. Gradients pass through each `transformGradients` in order (quantize, sign, ternarize, add regularizer gradients).
 * 5. The optimizer applies them; then each `afterUpdate` runs in order (proximal or threshold steps).
 * 6. `afterStep` receives the loss; at epoch end `onEpochEnd` runs in order.
 */
export interface Technique {
  readonly name: string;
  /** Expected fraction of mini-batches trained (SMD: 1 - p); the schedule's clock length is scaled by it. */
  readonly trainFraction?: number;
  /** Extra trainable parameters (gate networks); optimized with the model's unless `parameterOptimizer` is set. */
  parameters?(): ReadonlyMap<string, tf.Variable>;
  /** Optimizer (and learning rate) for this technique's own parameters, e.g. plain SGD for SLU gates when the weights use signSGD. */
  readonly parameterOptimizer?: { readonly config: import('./optimizers').OptimizerConfig; readonly lr: number };
  /** Adjusts the quantization settings of this step (e.g. PSG's predictor mode). */
  quant?(cfg: QuantConfig, info: StepInfo): QuantConfig;
  shouldTrain?(info: StepInfo): boolean;
  precision?(layer: LayerSpec, info: StepInfo): LayerPrecision | undefined;
  blockPlan?(block: BlockSpec, x: tf.Tensor4D, info: StepInfo): BlockPlan | undefined;
  /** A scalar added to the loss; called inside the gradient scope (may use model parameters and tensors it recorded). */
  lossTerm?(info: StepInfo): tf.Scalar | undefined;
  /** Returns the gradients to apply; must not dispose its input (the trainer does). */
  transformGradients?(grads: Map<string, tf.Tensor>, info: StepInfo): Map<string, tf.Tensor>;
  afterUpdate?(info: StepInfo): void;
  afterStep?(info: StepInfo & { readonly loss: number }): void;
  onEpochEnd?(info: EpochInfo): void;
  /** Numbers for the run log (skip rates, fractions, ...). */
  stats?(): Record<string, number>;
  /** Checkpointable state. */
  state?(): unknown;
  restore?(state: unknown): void;
}
