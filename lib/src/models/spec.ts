import type * as tf from '@tensorflow/tfjs-core';
import type { LayerPrecision } from '../quant/precision';
import type { QuantConfig } from '../quant/layers';

/** Kinds of layers whose products are counted (batch norm, pooling and activations are not MACs). */
export type LayerKind = 'conv' | 'depthwise' | 'dense' | 'lstm' | 'embedding';

/** Static description of one MAC-carrying layer, for cost accounting and per-layer settings. */
export interface LayerSpec {
  readonly name: string;
  readonly kind: LayerKind;
  /** Input shape per example ([h, w, c] for convolutions, [features] for dense, [steps, features] for LSTM). */
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** Name of the weight parameter (for LSTM, the input weight; see `extraWeights`). */
  readonly weight: string;
  readonly extraWeights?: readonly string[];
  /** Number of trainable weights (not biases). */
  readonly weightCount: number;
  /** Forward multiply-accumulates per example. */
  readonly macs: number;
  /** Residual block the layer belongs to, if any. */
  readonly block?: string;
  /** First layer: its input gradient is not needed, so backward skips that convolution. */
  readonly first: boolean;
  /**
   * A convolution lowered to the filter-shape fibres it keeps (structured sparsity): the weight is
   * [kept, cout], row r holding fibre `kept[r]` = (i * kernel + j) * inChannels + c of the dense filter bank.
   */
  readonly fibres?: { readonly kept: Int32Array; readonly kernel: number; readonly inChannels: number };
  /** A convolution replaced by basis filters (this spec, before it) followed by this layer as a 1x1 convolution. */
  readonly basis?: LayerSpec;
}

/** A residual block that a technique may skip, gate or run at its own precision per input. */
export interface BlockSpec {
  readonly name: string;
  /** Index of the stage (0-based) and of the block within it. */
  readonly stage: number;
  readonly index: number;
  /** Layers inside the block (including a projection shortcut). */
  readonly layers: readonly string[];
  /**
   * True when an input may skip the block: its shapes agree (skipping is the identity) or, in a ResNet built with
   * `skippableTransitions`, a skipped input takes the projection shortcut alone.
   */
  readonly skippable: boolean;
  /** Forward MACs per example of the block. */
  readonly macs: number;
  /** Forward MACs per example an input saves by skipping the block (default `macs`; less a shortcut that still runs). */
  readonly skipSavedMacs?: number;
}

/** One group of inputs that executes a block with the given precision. */
export interface BlockGroup {
  /** Batch indices in this group. */
  readonly indices: Int32Array;
  /** Precision for the block's layers for these inputs, combined with the layer's own precision field by field by the minimum (undefined: the layer's). */
  readonly precision?: LayerPrecision;
  /**
   * Multiplier of the residual branch for these inputs: a number (stochastic depth's survival
   * probability at test time) or a tensor [n] in group order (a gate whose forward value is 1 and
   * whose gradient reaches the gate network).
   */
  readonly residualScale?: number | tf.Tensor1D;
}

/** How a batch executes a block: the groups; inputs in no group skip it (identity). */
export interface BlockPlan {
  readonly groups: readonly BlockGroup[];
}

/** What the forward pass reports for accounting: layer, how many examples ran it, at which precision. */
export interface LayerExecution {
  readonly layer: LayerSpec;
  readonly examples: number;
  readonly precision: LayerPrecision | undefined;
  /** Which backward products the step needs (default both; frozen layers need neither or only the input gradient). */
  readonly backward?: { readonly inputGrad: boolean; readonly weightGrad: boolean };
}

/**
 * Everything a forward pass may consult. Techniques plug in here: precision per layer (PFQ),
 * per-input block plans (SLU, DFQ, stochastic depth), observers (statistics), execution records (ledger).
 */
export interface ForwardContext {
  readonly training: boolean;
  /** Momentum of batch-norm running statistics in training mode (default 0.9; 0 replaces them with the batch's). */
  readonly bnMomentum?: number;
  /** Quantization settings; required when any precision below 32 bits is used. */
  readonly quant?: QuantConfig;
  /** Default precision of a layer (undefined: float32). */
  readonly precision?: (layer: LayerSpec) => LayerPrecision | undefined;
  /** Per-input plan for a residual block (undefined: every input runs it at the default precision). */
  readonly blockPlan?: (block: BlockSpec, x: tf.Tensor4D) => BlockPlan | undefined;
  /** Backward products each layer needs in this step (fine-tuning with frozen layers); default both. */
  readonly backwardOf?: (layer: LayerSpec) => { readonly inputGrad: boolean; readonly weightGrad: boolean };
  /** A source of seeds for random choices of the forward pass (dropout); the trainer derives them from the run seed. */
  readonly random?: () => number;
  /** Receives every layer execution (for the energy ledger). */
  readonly onExecute?: (e: LayerExecution) => void;
  /** Receives each layer's input and output tensors; must not keep or dispose them. */
  readonly observe?: (layer: LayerSpec, input: tf.Tensor, output: tf.Tensor) => void;
}

/** A model: named parameters, static layer and block descriptions, and a functional forward pass. */
export interface Model {
  readonly name: string;
  /** Input shape per example. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layers: readonly LayerSpec[];
  readonly blocks: readonly BlockSpec[];
  readonly params: import('./params').ParamStore;
  /** How the model was built, for model surgery (absent: the model cannot be rebuilt with other shapes). */
  readonly architecture?: Architecture;
  /** Logits for a batch; run it inside `tf.tidy` or a gradient function. */
  apply(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
}

/** Total forward MACs per example. */
export function forwardMacs(model: Pick<Model, 'layers'>): number {
  return model.layers.reduce((a, l) => a + l.macs, 0);
}

/** Architectures model surgery can rebuild. */
export type Architecture =
  | import('./sequential').SequentialArchitecture
  | { readonly family: 'resnet'; readonly options: import('./resnet').ResNetOptions }
  | { readonly family: 'lstm'; readonly options: import('./lstm').LstmLmOptions };
