import * as tf from '@tensorflow/tfjs-core';
import type { LayerPrecision } from './precision';
import { quantize, type RangeMode, type Rounding } from './quantizers';
import { ConfigError, checkKeys } from '../errors';
import {
  QUANT_SCHEMES,
  dorefaActivation,
  dorefaGradient,
  dorefaWeight,
  dorefaWeightSlope,
  wageActivation,
  wageError,
  wageGradient,
  wageWeight,
  type QuantScheme,
} from './schemes';

/** How quantized layers quantize: shared by all layers of a run. */
export interface QuantConfig {
  /** Rounding of forward weights and activations (default nearest). */
  readonly forwardRounding: Rounding;
  /** Rounding of gradients (default stochastic, as in SBM and FracTrain). */
  readonly gradientRounding: Rounding;
  /** Range granularity of activations, and of gradients unless `gradientRange` is set (default sample-mean as in SBM). */
  readonly activationRange: RangeMode;
  /**
   * Range granularity of the output gradients (error) quantized for the backward pass (default: `activationRange`).
   * `'tensor'` takes the batch's extreme |dy|, so no gradient entry is clipped; `'sample-mean'` averages the per-example
   * extremes and clips the examples whose gradient is larger than the average.
   */
  readonly gradientRange?: RangeMode;
  /** Range granularity of weights (default channel). */
  readonly weightRange: RangeMode;
  /** Next seed for stochastic rounding; advanced deterministically by the caller. */
  readonly nextSeed: () => number;
  /**
   * Running activation ranges: in training, each layer's input range (max|x|, averaged per sample as
   * configured) updates an exponential moving average; in evaluation the average is the fixed range.
   */
  readonly ranges?: RunningRanges;
  /**
   * Which static scheme's quantizers the layers use (default `'sbm'`: the configurable quantizers of this config);
   * see {@link QuantScheme}. `'dorefa'` and `'wageubn'` ignore the range and rounding fields.
   */
  readonly scheme?: QuantScheme;
  /** Grid of the `'sbm'` quantizers: symmetric around 0 over max|x| (default) or asymmetric over [min, max] (Banner et al.). */
  readonly mode?: 'symmetric' | 'asymmetric';
  /** Set by the model for each layer: its name (key of running ranges and statistics), the mode, and whether it is the network's first layer. */
  readonly key?: string;
  readonly training?: boolean;
  readonly first?: boolean;
  /**
   * A rule that computes the weight gradient of conv, depthwise and dense layers in place of the quantized product
   * (set by a technique for its steps, e.g. PSG's Eq. 2; see {@link WeightGradientRule}).
   */
  readonly weightGradientRule?: WeightGradientRule;
}

/**
 * A replacement of the quantized layers' weight gradient, as tfjs registers a kernel's gradient: under a rule, a
 * layer keeps its forward activations at `activation` bits, quantizes the output gradient once at `gradError` bits
 * (for the input gradient and for the rule), and asks the rule for the weight gradient of its saved operands.
 */
export interface WeightGradientRule {
  weightGradient(input: {
    /** The layer's name (its `QuantConfig.key`), or its geometry's kind when unnamed. */
    readonly layer: string;
    /** Input activations at the layer's `activation` bits. */
    readonly x: tf.Tensor;
    /** Output gradient at the layer's `gradError` bits. */
    readonly dy: tf.Tensor;
    readonly geometry: WeightGradGeometry;
    readonly precision: LayerPrecision;
  }): tf.Tensor;
}

/** How a layer's weight gradient is formed from its operands (see {@link weightGradient}). */
export type WeightGradGeometry =
  | { readonly kind: 'dense' }
  | { readonly kind: 'conv' | 'depthwise'; readonly attrs: ConvAttrs; readonly filterShape: readonly number[] };

/** The weight gradient sum_n x_n^T g_n of a dense, conv or depthwise layer from its input x and output gradient dy. */
export function weightGradient(x: tf.Tensor, dy: tf.Tensor, g: WeightGradGeometry): tf.Tensor {
  if (g.kind === 'dense') return tf.matMul(x as tf.Tensor2D, dy as tf.Tensor2D, true, false);
  if (g.kind === 'conv') return filterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, [...g.filterShape], g.attrs);
  return tf.engine().runKernel(
    tf.DepthwiseConv2dNativeBackpropFilter,
    { x, dy } as unknown as tf.NamedTensorMap,
    {
      strides: g.attrs.strides,
      pad: g.attrs.pad,
      dilations: 1,
      dimRoundingMode: undefined,
      filterShape: [...g.filterShape],
    } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

/** Forward operands under a weight-gradient rule: the activations at `activation` bits (kept for the rule) and the weights. */
function ruleForwardOperands<T extends tf.Tensor>(
  xi: tf.Tensor,
  wi: tf.Tensor,
  p: LayerPrecision,
  cfg: QuantConfig,
): { xq: T; wq: T; saved: tf.Tensor[] } {
  const xq = qIn(xi, p.activation, cfg) as T;
  const wq = qa(wi, p.weight, cfg, cfg.forwardRounding, cfg.weightRange) as T;
  return { xq, wq, saved: [xq, wq] };
}

/** The weight gradient a rule computes from a layer's saved activations and its quantized output gradient. */
function ruleWeightGradient(
  rule: WeightGradientRule,
  x: tf.Tensor,
  dy: tf.Tensor,
  geometry: WeightGradGeometry,
  p: LayerPrecision,
  cfg: QuantConfig,
): tf.Tensor {
  return rule.weightGradient({ layer: cfg.key ?? geometry.kind, x, dy, geometry, precision: p });
}

/** Exponential moving averages of activation ranges by layer (momentum 0.9 by default). */
export class RunningRanges {
  private readonly values = new Map<string, tf.Variable>();
  constructor(readonly momentum = 0.9) {}

  /** Folds the symmetric range of `x` (per `range` mode) into the average for `key`. */
  update(key: string, x: tf.Tensor, range: RangeMode): void {
    tf.tidy(() => {
      const axes = Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
      const m = range === 'sample-mean' && x.rank > 1 ? tf.mean(tf.max(tf.abs(x), axes)) : tf.max(tf.abs(x));
      const v = this.values.get(key);
      if (!v) this.values.set(key, tf.variable(m, false));
      else v.assign(tf.add(tf.mul(v, this.momentum), tf.mul(m, 1 - this.momentum)));
    });
  }

  /** The averaged max|x| of `key`, if seen in training. */
  get(key: string): tf.Scalar | undefined {
    return this.values.get(key) as tf.Scalar | undefined;
  }

  /** Holds the current averages; the returned function puts them back (a failed training step changes nothing). */
  hold(): { restore(): void; release(): void } {
    const kept = new Map([...this.values].map(([k, v]) => [k, tf.clone(v)]));
    return {
      restore: () => {
        for (const [k, v] of this.values) {
          const old = kept.get(k);
          if (old) v.assign(old);
          else {
            v.dispose();
            this.values.delete(k);
          }
        }
        kept.forEach((t) => t.dispose());
      },
      release: () => kept.forEach((t) => t.dispose()),
    };
  }

  /** Current averages as numbers (for inspection and checkpoints). */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values].map(([k, v]) => [k, v.dataSync()[0] as number]));
  }

  dispose(): void {
    for (const v of this.values.values()) v.dispose();
    this.values.clear();
  }
}

/** A deterministic seed source for stochastic rounding. */
export function seedCounter(base: number): () => number {
  let i = 0;
  return () => (base * 1000003 + ++i) % 2147483647;
}

/**
 * Validates user quantizer settings (a partial {@link QuantConfig} without `nextSeed`), naming an unknown key
 * or a bad value and the allowed values.
 */
export function checkQuantOptions(q: Partial<Omit<QuantConfig, 'nextSeed'>>, field = 'quant'): void {
  checkKeys(
    q,
    [
      'forwardRounding',
      'gradientRounding',
      'activationRange',
      'gradientRange',
      'weightRange',
      'ranges',
      'weightGradientRule',
      'scheme',
      'mode',
    ],
    field,
  );
  if (q.scheme !== undefined && !QUANT_SCHEMES.includes(q.scheme))
    throw new ConfigError(`${field}.scheme`, q.scheme, QUANT_SCHEMES.join(', '));
  if (q.mode !== undefined && q.mode !== 'symmetric' && q.mode !== 'asymmetric')
    throw new ConfigError(`${field}.mode`, q.mode, 'symmetric, asymmetric');
  if (q.ranges !== undefined && q.mode === 'asymmetric')
    throw new ConfigError(
      `${field}.ranges`,
      'RunningRanges',
      'unset with mode asymmetric (running ranges hold a symmetric max|x|)',
    );
  if (q.weightGradientRule !== undefined && ((q.scheme ?? 'sbm') !== 'sbm' || q.mode === 'asymmetric'))
    throw new ConfigError(
      `${field}.scheme`,
      [q.scheme ?? 'sbm', q.mode ?? 'symmetric'],
      "'sbm' with a symmetric grid under a weight-gradient rule (its layers quantize on the simulator's symmetric grid)",
    );
  const roundings = ['nearest', 'stochastic', 'truncate'];
  const ranges = ['tensor', 'channel', 'sample-mean'];
  for (const [k, allowed] of [
    ['forwardRounding', roundings],
    ['gradientRounding', roundings],
    ['activationRange', ranges],
    ['gradientRange', ranges],
    ['weightRange', ranges],
  ] as const) {
    const v = q[k];
    if (v !== undefined && !allowed.includes(v)) throw new ConfigError(`${field}.${k}`, v, allowed.join(', '));
  }
  if (q.ranges !== undefined && !(q.ranges instanceof RunningRanges))
    throw new ConfigError(`${field}.ranges`, typeof q.ranges, 'a RunningRanges');
}

/**
 * The default simulator settings: activations over per-sample ranges averaged over the batch, output gradients over
 * the batch's extreme |dy| (as the released code of SBM, E²-Train and FracTrain quantizes gradients: `quantize_grad`
 * with `reduce_type='extreme'`), weights per output channel, stochastic gradient rounding.
 */
export function defaultQuantConfig(seed: number): QuantConfig {
  return {
    forwardRounding: 'nearest',
    gradientRounding: 'stochastic',
    activationRange: 'sample-mean',
    gradientRange: 'tensor',
    weightRange: 'channel',
    nextSeed: seedCounter(seed),
  };
}

/** The range granularity of the output gradients: `gradientRange`, else `activationRange`. */
function gradientRangeOf(cfg: QuantConfig): RangeMode {
  return cfg.gradientRange ?? cfg.activationRange;
}

function qa(x: tf.Tensor, bits: number, cfg: QuantConfig, rounding: Rounding, range: RangeMode): tf.Tensor {
  if (bits >= 32) return x;
  return quantize(x, {
    bits,
    mode: cfg.mode ?? 'symmetric',
    range,
    rounding,
    seed: rounding === 'stochastic' ? cfg.nextSeed() : undefined,
  });
}

/**
 * The quantizers of a static scheme: forward weights and activations, the output gradient (error), and the weight
 * gradient as the scheme applies it. Each is called only below 32 bits, except `weightGradient`, which sees every
 * layer's product (and leaves it alone where the scheme does).
 */
export interface SchemeQuantizers {
  weight(w: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor;
  /** Activations (the copy kept for the weight gradient; the forward pass adds running ranges where the scheme has them). */
  activation(x: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor;
  error(dy: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor;
  /** The weight gradient from the product `dw` and what the forward pass saved with {@link SchemeQuantizers.forwardSave}. */
  weightGradient(dw: tf.Tensor, saved: tf.Tensor | undefined, p: LayerPrecision, cfg: QuantConfig): tf.Tensor;
  /** A tensor of the forward pass the weight gradient needs (DoReFa's tanh slope at this step's weights). */
  forwardSave?(w: tf.Tensor, p: LayerPrecision): tf.Tensor | undefined;
  /** The error quantizer's output also serves the weight gradient, whatever the widths (WAGEUBN's G acts on the gradient). */
  readonly sharedError: boolean;
  /** Forward activations follow running ranges when the run keeps them. */
  readonly runningRanges: boolean;
}

/**
 * The network's input (normalised images, which exceed DoReFa's [0, 1] and WAGE's (-1, 1)) on a symmetric grid over
 * its max|x|: their papers keep the first layer in float, which FracTrain's cost comparison does not.
 */
const firstLayerInput = (x: tf.Tensor, bits: number) =>
  quantize(x, { bits: Math.max(bits, 2), mode: 'symmetric', range: 'tensor', rounding: 'nearest' });

/** The quantizers of each static scheme (see {@link QuantScheme}); `'sbm'`, the default, is this config's own. */
export const SCHEME_QUANTIZERS: Readonly<Record<QuantScheme, SchemeQuantizers>> = {
  sbm: {
    weight: (w, bits, cfg) => qa(w, bits, cfg, cfg.forwardRounding, cfg.weightRange),
    activation: (x, bits, cfg) => qa(x, bits, cfg, cfg.forwardRounding, cfg.activationRange),
    error: (dy, bits, cfg) => qa(dy, bits, cfg, cfg.gradientRounding, gradientRangeOf(cfg)),
    weightGradient: (dw) => dw,
    sharedError: false,
    runningRanges: true,
  },
  dorefa: {
    weight: (w, bits) => dorefaWeight(w, bits),
    activation: (x, bits, cfg) => (cfg.first ? firstLayerInput(x, bits) : dorefaActivation(x, bits)),
    error: (dy, bits, cfg) => dorefaGradient(dy, bits, cfg.nextSeed()),
    weightGradient: (dw, slope) => (slope ? tf.mul(dw, slope) : dw),
    forwardSave: (w, p) => (p.weight < 32 ? dorefaWeightSlope(w) : undefined),
    sharedError: false,
    runningRanges: false,
  },
  wageubn: {
    weight: (w, bits) => wageWeight(w, bits),
    activation: (x, bits, cfg) => (cfg.first ? firstLayerInput(x, bits) : wageActivation(x, bits)),
    error: (dy, bits) => wageError(dy, bits),
    weightGradient: (dw, _saved, p, cfg) => (p.gradWeight < 32 ? wageGradient(dw, p.gradWeight, cfg.nextSeed()) : dw),
    sharedError: true,
    runningRanges: false,
  },
};

const schemeOf = (cfg: QuantConfig): SchemeQuantizers => SCHEME_QUANTIZERS[cfg.scheme ?? 'sbm'];

/** Forward weight quantizer of the run's scheme. */
function qw(w: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor {
  return bits >= 32 ? w : schemeOf(cfg).weight(w, bits, cfg);
}

/** Output-gradient (error) quantizer of the run's scheme. */
function qg(dy: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor {
  return bits >= 32 ? dy : schemeOf(cfg).error(dy, bits, cfg);
}

/** Activation quantizer of the run's scheme, without running ranges (the copy kept for the weight gradient). */
function qAct(x: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor {
  return bits >= 32 ? x : schemeOf(cfg).activation(x, bits, cfg);
}

/** Forward activation quantizer: uses and updates the layer's running range when configured. */
function qIn(x: tf.Tensor, bits: number, cfg: QuantConfig): tf.Tensor {
  if (bits >= 32) return x;
  if (!schemeOf(cfg).runningRanges) return qAct(x, bits, cfg);
  if (cfg.ranges && cfg.key) {
    if (cfg.training) cfg.ranges.update(cfg.key, x, cfg.activationRange);
    else {
      const fixedMax = cfg.ranges.get(cfg.key);
      if (fixedMax)
        return quantize(x, {
          bits,
          mode: 'symmetric',
          rounding: cfg.forwardRounding,
          fixedMax,
          seed: cfg.forwardRounding === 'stochastic' ? cfg.nextSeed() : undefined,
        });
    }
  }
  return qAct(x, bits, cfg);
}

type BinaryGradFunc = (
  a: tf.Tensor,
  b: tf.Tensor,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };

/** `tf.customGrad` for an op of two tensors, typed. */
function binaryCustomGrad(f: BinaryGradFunc): (a: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  const g = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) =>
    f(args[0] as tf.Tensor, args[1] as tf.Tensor, args[2] as tf.GradSaveFunc)) as Parameters<typeof tf.customGrad>[0]);
  return (a, b) => g(a, b);
}

/** Forward operands of a quantized product: Q_a(x), Q_w(w), and the activations kept for the weight gradient. */
function forwardOperands<T extends tf.Tensor>(
  xi: tf.Tensor,
  wi: tf.Tensor,
  p: LayerPrecision,
  cfg: QuantConfig,
): { xq: T; wq: T; xw: T; saved: tf.Tensor[] } {
  const xq = qIn(xi, p.activation, cfg) as T;
  const wq = qw(wi, p.weight, cfg) as T;
  const xw = p.activationWeightGrad === p.activation ? xq : (qAct(xi, p.activationWeightGrad, cfg) as T);
  const extra = schemeOf(cfg).forwardSave?.(wi, p);
  const saved: tf.Tensor[] = extra ? [xw, wq, extra] : [xw, wq];
  return { xq, wq, xw, saved };
}

/** The output gradient quantized for error propagation and for the weight gradient (once when the widths agree, and always once for WAGEUBN, whose G quantizer acts on the weight gradient itself). */
function outputGradients<T extends tf.Tensor>(dy: tf.Tensor, p: LayerPrecision, cfg: QuantConfig): { dyE: T; dyW: T } {
  const dyE = qg(dy, p.gradError, cfg) as T;
  const dyW = p.gradWeight === p.gradError || schemeOf(cfg).sharedError ? dyE : (qg(dy, p.gradWeight, cfg) as T);
  return { dyE, dyW };
}

/** Convolution geometry. */
export interface ConvAttrs {
  readonly strides: number;
  readonly pad: 'same' | 'valid';
}

/** Weight gradient of an NHWC conv2d (tfjs exports no op for it). */
function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, shape: number[], attrs: ConvAttrs): tf.Tensor {
  return tf
    .engine()
    .runKernel(
      tf.Conv2DBackpropFilter,
      { x, dy } as unknown as tf.NamedTensorMap,
      { strides: attrs.strides, pad: attrs.pad, dataFormat: 'NHWC', filterShape: shape } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
}

/**
 * Quantized NHWC conv2d with a straight-through estimator. Forward: conv(Q_a(x), Q_w(w)).
 * Backward: the output gradient is quantized at `gradError` bits for the input gradient (computed
 * with Q_w(w)) and at `gradWeight` bits for the weight gradient (computed with the activations at
 * `activationWeightGrad` bits); when both widths agree it is quantized once and used for both.
 * Quantizers pass gradients straight through.
 */
export function quantConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  attrs: ConvAttrs,
  p: LayerPrecision,
  cfg: QuantConfig,
): tf.Tensor4D {
  if (cfg.weightGradientRule) return ruleConv2d(x, w, attrs, p, cfg, cfg.weightGradientRule);
  const op = binaryCustomGrad((xi, wi, save) => {
    const { xq, wq, saved: keep } = forwardOperands<tf.Tensor4D>(xi, wi, p, cfg);
    save(keep);
    return {
      value: tf.conv2d(xq, wq, attrs.strides, attrs.pad),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, slope] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor | undefined];
        const { dyE, dyW } = outputGradients<tf.Tensor4D>(dy, p, cfg);
        const dx = tf.conv2dTranspose(dyE, ws, xs.shape, attrs.strides, attrs.pad);
        return [dx, schemeOf(cfg).weightGradient(filterGrad(xs, dyW, ws.shape, attrs), slope, p, cfg)];
      },
    };
  });
  return op(x, w) as tf.Tensor4D;
}

/** Conv2d under a weight-gradient rule: forward at `activation`/`weight` bits, input gradient at `gradError` bits. */
function ruleConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  attrs: ConvAttrs,
  p: LayerPrecision,
  cfg: QuantConfig,
  rule: WeightGradientRule,
): tf.Tensor4D {
  const op = binaryCustomGrad((xi, wi, save) => {
    const { xq, wq, saved: keep } = ruleForwardOperands<tf.Tensor4D>(xi, wi, p, cfg);
    save(keep);
    return {
      value: tf.conv2d(xq, wq, attrs.strides, attrs.pad),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dyq = qa(dy, p.gradError, cfg, cfg.gradientRounding, gradientRangeOf(cfg)) as tf.Tensor4D;
        const dx = tf.conv2dTranspose(dyq, ws, xs.shape, attrs.strides, attrs.pad);
        const geometry: WeightGradGeometry = { kind: 'conv', attrs, filterShape: ws.shape };
        return [dx, ruleWeightGradient(rule, xs, dyq, geometry, p, cfg)];
      },
    };
  });
  return op(x, w) as tf.Tensor4D;
}

/** Input gradient of an NHWC depthwise conv2d (channel multiplier 1). */
function depthwiseInputGrad(
  dy: tf.Tensor,
  ws: tf.Tensor4D,
  inputShape: readonly number[],
  attrs: ConvAttrs,
): tf.Tensor {
  return tf.engine().runKernel(
    tf.DepthwiseConv2dNativeBackpropInput,
    { dy, filter: ws } as unknown as tf.NamedTensorMap,
    {
      strides: attrs.strides,
      pad: attrs.pad,
      dilations: 1,
      dimRoundingMode: undefined,
      inputShape: [...inputShape],
    } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

/** Quantized depthwise conv2d (channel multiplier 1), same scheme as {@link quantConv2d}, and under a weight-gradient rule alike. */
export function quantDepthwiseConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  attrs: ConvAttrs,
  p: LayerPrecision,
  cfg: QuantConfig,
): tf.Tensor4D {
  const rule = cfg.weightGradientRule;
  const op = binaryCustomGrad((xi, wi, save) => {
    // A rule gets the FW-bit activations.
    const { xq, wq, saved: keep } = (rule ? ruleForwardOperands : forwardOperands)<tf.Tensor4D>(xi, wi, p, cfg);
    save(keep);
    return {
      value: tf.depthwiseConv2d(xq, wq, attrs.strides, attrs.pad),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, slope] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor | undefined];
        const geometry: WeightGradGeometry = { kind: 'depthwise', attrs, filterShape: ws.shape };
        if (rule) {
          const dyq = qa(dy, p.gradError, cfg, cfg.gradientRounding, gradientRangeOf(cfg));
          return [depthwiseInputGrad(dyq, ws, xs.shape, attrs), ruleWeightGradient(rule, xs, dyq, geometry, p, cfg)];
        }
        const { dyE, dyW } = outputGradients<tf.Tensor>(dy, p, cfg);
        return [
          depthwiseInputGrad(dyE, ws, xs.shape, attrs),
          schemeOf(cfg).weightGradient(weightGradient(xs, dyW, geometry), slope, p, cfg),
        ];
      },
    };
  });
  return op(x, w) as tf.Tensor4D;
}

/** Quantized dense layer x [n, in] * w [in, out], same scheme as {@link quantConv2d}. */
export function quantMatMul(x: tf.Tensor2D, w: tf.Tensor2D, p: LayerPrecision, cfg: QuantConfig): tf.Tensor2D {
  const rule = cfg.weightGradientRule;
  if (rule) {
    const op = binaryCustomGrad((xi, wi, save) => {
      const { xq, wq, saved: keep } = ruleForwardOperands<tf.Tensor2D>(xi, wi, p, cfg);
      save(keep);
      return {
        value: tf.matMul(xq, wq),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
          const dyq = qa(dy, p.gradError, cfg, cfg.gradientRounding, gradientRangeOf(cfg)) as tf.Tensor2D;
          return [tf.matMul(dyq, ws, false, true), ruleWeightGradient(rule, xs, dyq, { kind: 'dense' }, p, cfg)];
        },
      };
    });
    return op(x, w) as tf.Tensor2D;
  }
  const op = binaryCustomGrad((xi, wi, save) => {
    const { xq, wq, saved: keep } = forwardOperands<tf.Tensor2D>(xi, wi, p, cfg);
    save(keep);
    return {
      value: tf.matMul(xq, wq),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, slope] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor | undefined];
        const { dyE, dyW } = outputGradients<tf.Tensor2D>(dy, p, cfg);
        return [
          tf.matMul(dyE, ws, false, true),
          schemeOf(cfg).weightGradient(tf.matMul(xs, dyW, true, false), slope, p, cfg),
        ];
      },
    };
  });
  return op(x, w) as tf.Tensor2D;
}
