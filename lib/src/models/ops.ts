import * as tf from '@tensorflow/tfjs-core';
import { quantConv2d, quantDepthwiseConv2d, quantMatMul } from '../quant/layers';
import type { LayerPrecision } from '../quant/precision';
import { minPrecision } from '../quant/precision';
import { fusedBackend, fusedBatchNormTrain, reluGrad } from '../backend/native-ops';
import { ConfigError } from '../errors';
import type { ParamStore } from './params';
import type { BlockGroup, ForwardContext, LayerSpec } from './spec';

/**
 * Every `s`-th pixel of an NHWC tensor, starting at 0 (x[:, ::s, ::s, :]), built from reshape and
 * slice so that it is differentiable (tfjs has no StridedSlice gradient).
 */
export function subsample(x: tf.Tensor4D, s: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const H = Math.ceil(h / s) * s;
  const W = Math.ceil(w / s) * s;
  const xp =
    H !== h || W !== w
      ? tf.pad(x, [
          [0, 0],
          [0, H - h],
          [0, W - w],
          [0, 0],
        ])
      : x;
  const grouped = tf.reshape(xp, [b * (H / s), s, W / s, s * c]);
  return tf.reshape(tf.slice(grouped, [0, 0, 0, 0], [-1, 1, -1, c]), [b, H / s, W / s, c]) as tf.Tensor4D;
}

const reluOp = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  const y = tf.relu(x);
  save([y]);
  // TensorFlow's fused ReluGrad on the native backend; elsewhere dy * 1[y > 0] as sign(y) (y >= 0): two ops, where
  // tfjs' own Relu gradient (Step) costs a fifth of a ResNet step.
  const native = fusedBackend();
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      native ? reluGrad(native, dy, saved[0] as tf.Tensor) : tf.mul(dy, tf.sign(saved[0] as tf.Tensor)),
  };
}) as Parameters<typeof tf.customGrad>[0]);

/** ReLU with a cheaper backward pass (same values and gradients as `tf.relu`). */
export function relu<T extends tf.Tensor>(x: T): T {
  return reluOp(x) as T;
}

/** Mutable spec list while a model is built. */
export class Builder {
  readonly layers: LayerSpec[] = [];
  constructor(readonly store: ParamStore) {}

  /**
   * Declares a conv layer (weights He-normal) and returns its spec. `fibres`: keep only these filter-shape
   * fibres (a lowered convolution, see {@link LayerSpec.fibres}); `basis`: M basis filters (k x k, stride and
   * padding of the layer) followed by this layer as a 1x1 convolution from M channels.
   */
  conv(
    name: string,
    inShape: readonly number[],
    k: number,
    cout: number,
    stride: number,
    pad: 'same' | 'valid',
    opts: { block?: string; bias?: boolean; depthwise?: boolean; fibres?: Int32Array; basis?: number } = {},
  ): LayerSpec {
    const [h, w, cin] = inShape as [number, number, number];
    for (const [f, v] of [
      ['kernel', k],
      ['filters', cout],
      ['stride', stride],
      ['input channels', cin],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`${name}.${f}`, v, 'a positive integer');
    }
    const oh = pad === 'same' ? Math.ceil(h / stride) : Math.floor((h - k) / stride) + 1;
    const ow = pad === 'same' ? Math.ceil(w / stride) : Math.floor((w - k) / stride) + 1;
    if (!(oh > 0 && ow > 0))
      throw new ConfigError(
        `${name}.inShape`,
        inShape,
        `an input of at least ${k}x${k} for a valid ${k}x${k} convolution`,
      );
    const depthwise = opts.depthwise ?? false;
    if ((opts.fibres || opts.basis !== undefined) && depthwise)
      throw new ConfigError(`${name}`, 'depthwise', 'a dense convolution for fibre lowering or basis decomposition');
    if (opts.fibres && opts.basis !== undefined)
      throw new ConfigError(`${name}`, 'fibres and basis', 'one of fibre lowering or basis decomposition');
    if (opts.basis !== undefined) {
      if (!Number.isInteger(opts.basis) || opts.basis <= 0)
        throw new ConfigError(`${name}.basis`, opts.basis, 'a positive number of basis filters');
      const basis = this.conv(`${name}/basis`, inShape, k, opts.basis, stride, pad, { block: opts.block });
      const main = this.conv(name, basis.outShape, 1, cout, 1, 'valid', { block: opts.block, bias: opts.bias });
      const spec: LayerSpec = { ...main, basis };
      this.layers[this.layers.length - 1] = spec;
      return spec;
    }
    const outC = depthwise ? cin : cout;
    let wshape = depthwise ? [k, k, cin, 1] : [k, k, cin, cout];
    let taps = depthwise ? k * k : k * k * cin;
    let fibres: LayerSpec['fibres'];
    if (opts.fibres) {
      const kept = opts.fibres;
      for (let i = 0; i < kept.length; i++) {
        const v = kept[i] as number;
        if (!Number.isInteger(v) || v < 0 || v >= k * k * cin || (i > 0 && v <= (kept[i - 1] as number)))
          throw new ConfigError(`${name}.fibres`, Array.from(kept), `increasing fibre indices in [0, ${k * k * cin})`);
      }
      if (kept.length === 0)
        throw new ConfigError(`${name}.fibres`, [], "at least one fibre (remove the layer's filters instead)");
      fibres = { kept, kernel: k, inChannels: cin };
      wshape = [kept.length, cout];
      taps = kept.length;
    }
    this.store.heNormal(`${name}/w`, wshape, taps);
    if (opts.bias) this.store.constant(`${name}/b`, [outC], 0, 'bias');
    const spec: LayerSpec = {
      name,
      kind: depthwise ? 'depthwise' : 'conv',
      inShape: [h, w, cin],
      outShape: [oh, ow, outC],
      weight: `${name}/w`,
      weightCount: wshape.reduce((a, b) => a * b, 1),
      macs: oh * ow * outC * taps,
      block: opts.block,
      first: this.layers.length === 0,
      ...(fibres ? { fibres } : {}),
    };
    this.layers.push(spec);
    return spec;
  }

  /** Declares a dense layer (He-normal weights, zero bias). */
  dense(name: string, nin: number, nout: number, opts: { block?: string } = {}): LayerSpec {
    this.store.heNormal(`${name}/w`, [nin, nout], nin);
    this.store.constant(`${name}/b`, [nout], 0, 'bias');
    const spec: LayerSpec = {
      name,
      kind: 'dense',
      inShape: [nin],
      outShape: [nout],
      weight: `${name}/w`,
      weightCount: nin * nout,
      macs: nin * nout,
      block: opts.block,
      first: this.layers.length === 0,
    };
    this.layers.push(spec);
    return spec;
  }

  /** Declares batch-norm parameters (scale, shift, running mean and variance) for `channels`. */
  batchNorm(name: string, channels: number): void {
    this.store.constant(`${name}/gamma`, [channels], 1, 'bn-scale');
    this.store.constant(`${name}/beta`, [channels], 0, 'bn-shift');
    this.store.constant(`${name}/mean`, [channels], 0, 'bn-stat');
    this.store.constant(`${name}/var`, [channels], 1, 'bn-stat');
  }
}

/** A layer's precision: the context's, and a block group's precision for these inputs, combined field by field by the minimum. */
function precisionOf(
  ctx: ForwardContext,
  spec: LayerSpec,
  group: LayerPrecision | undefined,
): LayerPrecision | undefined {
  const p = minPrecision(group, ctx.precision?.(spec));
  return p &&
    (p.weight < 32 || p.activation < 32 || p.gradError < 32 || p.gradWeight < 32 || p.activationWeightGrad < 32)
    ? p
    : undefined;
}

function requireQuant(ctx: ForwardContext, spec: LayerSpec) {
  if (!ctx.quant)
    throw new Error(`layer ${spec.name}: a precision below 32 bits needs ctx.quant (the quantization settings)`);
  return { ...ctx.quant, key: spec.name, training: ctx.training, first: spec.first };
}

/**
 * A strided 1x1 convolution reads every stride-th pixel (no padding either way): subsample, then convolve with
 * stride 1. Same result and MACs; it also avoids TensorFlow 2.21 kernels that fail on strided 1x1 filter gradients
 * (the stock one corrupts memory at some batch sizes, e.g. 7 and 25; the oneDNN one computes wrong values).
 */
function unstride1x1(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: 'same' | 'valid',
): { x: tf.Tensor4D; stride: number; pad: 'same' | 'valid' } {
  return stride > 1 && w.shape[0] === 1 && w.shape[1] === 1
    ? { x: subsample(x, stride), stride: 1, pad: 'valid' }
    : { x, stride, pad };
}

/** Runs a conv or depthwise layer (float or quantized per the context), with its bias when declared. */
export function runConv(
  store: ParamStore,
  spec: LayerSpec,
  x: tf.Tensor4D,
  ctx: ForwardContext,
  stride: number,
  pad: 'same' | 'valid',
  group?: LayerPrecision,
): tf.Tensor4D {
  if (spec.basis) {
    // Basis filters at the layer's stride and padding, then this layer as a 1x1 convolution.
    x = runConv(store, spec.basis, x, ctx, stride, pad, group);
    stride = 1;
    pad = 'valid';
  }
  if (spec.fibres) return runLoweredConv(store, spec, x, ctx, stride, pad, group);
  const w = store.get(spec.weight) as tf.Tensor4D;
  const input = x;
  ({ x, stride, pad } = unstride1x1(x, w, stride, pad));
  const p = precisionOf(ctx, spec, group);
  let y: tf.Tensor4D;
  if (spec.kind === 'depthwise') {
    y = p
      ? quantDepthwiseConv2d(x, w, { strides: stride, pad }, p, requireQuant(ctx, spec))
      : tf.depthwiseConv2d(x, w, stride, pad);
  } else {
    y = p ? quantConv2d(x, w, { strides: stride, pad }, p, requireQuant(ctx, spec)) : tf.conv2d(x, w, stride, pad);
  }
  if (store.has(`${spec.name}/b`)) y = tf.add(y, store.get(`${spec.name}/b`));
  ctx.onExecute?.({ layer: spec, examples: x.shape[0], precision: p, backward: ctx.backwardOf?.(spec) });
  ctx.observe?.(spec, input, y);
  return y;
}

/** Output size and leading padding of one spatial axis, as TensorFlow pads. */
function geometry(
  n: number,
  k: number,
  stride: number,
  pad: 'same' | 'valid',
): { out: number; before: number; after: number } {
  if (pad === 'valid') return { out: Math.floor((n - k) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(n / stride);
  const total = Math.max((out - 1) * stride + k - n, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

/**
 * A convolution lowered to its kept filter-shape fibres: for each kernel position, the input window's kept
 * channels times the matching weight rows, summed (MACs = output pixels x cout x kept fibres). Float only.
 */
function runLoweredConv(
  store: ParamStore,
  spec: LayerSpec,
  x: tf.Tensor4D,
  ctx: ForwardContext,
  stride: number,
  pad: 'same' | 'valid',
  group: LayerPrecision | undefined,
): tf.Tensor4D {
  const f = spec.fibres as NonNullable<LayerSpec['fibres']>;
  if (precisionOf(ctx, spec, group))
    throw new Error(`layer ${spec.name}: a fibre-lowered convolution runs in float32 only`);
  const w = store.get(spec.weight) as tf.Tensor2D;
  const [b, h, wd] = x.shape;
  const gy = geometry(h, f.kernel, stride, pad);
  const gx = geometry(wd, f.kernel, stride, pad);
  const xp =
    gy.before + gy.after + gx.before + gx.after > 0
      ? tf.pad(x, [
          [0, 0],
          [gy.before, gy.after],
          [gx.before, gx.after],
          [0, 0],
        ])
      : x;
  const byPosition = new Map<number, { channels: number[]; rows: number[] }>();
  f.kept.forEach((fibre, row) => {
    const p = Math.floor(fibre / f.inChannels);
    const e = byPosition.get(p) ?? { channels: [], rows: [] };
    e.channels.push(fibre % f.inChannels);
    e.rows.push(row);
    byPosition.set(p, e);
  });
  const terms: tf.Tensor2D[] = [];
  for (const [p, { channels, rows }] of byPosition) {
    const i = Math.floor(p / f.kernel);
    const j = p % f.kernel;
    let win = tf.slice(
      xp,
      [0, i, j, 0],
      [b, (gy.out - 1) * stride + 1, (gx.out - 1) * stride + 1, f.inChannels],
    ) as tf.Tensor4D;
    if (stride > 1) win = subsample(win, stride);
    const sel = channels.length === f.inChannels ? win : tf.gather(win, tf.tensor1d(channels, 'int32'), 3);
    const wr = rows.length === f.kept.length ? w : tf.gather(w, tf.tensor1d(rows, 'int32'), 0);
    terms.push(tf.matMul(tf.reshape(sel, [b * gy.out * gx.out, channels.length]) as tf.Tensor2D, wr as tf.Tensor2D));
  }
  let y = tf.reshape(terms.length === 1 ? (terms[0] as tf.Tensor2D) : tf.addN(terms), [
    b,
    gy.out,
    gx.out,
    w.shape[1],
  ]) as tf.Tensor4D;
  if (store.has(`${spec.name}/b`)) y = tf.add(y, store.get(`${spec.name}/b`));
  ctx.onExecute?.({ layer: spec, examples: b, precision: undefined, backward: ctx.backwardOf?.(spec) });
  ctx.observe?.(spec, x, y);
  return y;
}

/** Runs a dense layer (float or quantized per the context). */
export function runDense(
  store: ParamStore,
  spec: LayerSpec,
  x: tf.Tensor2D,
  ctx: ForwardContext,
  group?: LayerPrecision,
): tf.Tensor2D {
  const w = store.get(spec.weight) as tf.Tensor2D;
  const p = precisionOf(ctx, spec, group);
  const y = tf.add(
    p ? quantMatMul(x, w, p, requireQuant(ctx, spec)) : tf.matMul(x, w),
    store.get(`${spec.name}/b`),
  ) as tf.Tensor2D;
  ctx.onExecute?.({ layer: spec, examples: x.shape[0], precision: p, backward: ctx.backwardOf?.(spec) });
  ctx.observe?.(spec, x, y);
  return y;
}

/**
 * Training-mode batch norm over N, H, W with a hand-written backward pass (the autodiff of
 * `moments` + `batchNorm` costs several times more elementwise work):
 * dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), dgamma = sum(dy * xhat), dbeta = sum(dy).
 */
function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  running: { mean: tf.Tensor1D; variance: tf.Tensor1D; momentum: number },
): { y: tf.Tensor4D; runningMean: tf.Tensor1D; runningVariance: tf.Tensor1D } {
  const native = fusedBackend();
  if (native) {
    // The fused kernel also folds the batch statistics into the running averages (factor 1 - momentum).
    const r = fusedBatchNormTrain(native, x, gamma, beta, eps, {
      mean: running.mean,
      variance: running.variance,
      factor: 1 - running.momentum,
    });
    return { y: r.y, runningMean: r.mean, runningVariance: r.varianceUnbiased };
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, g, bt] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(xi, mean), rstd);
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), bt),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gm] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
        const dbeta = tf.sum(dy, [0, 1, 2]);
        const dgamma = tf.sum(tf.mul(dy, xh), [0, 1, 2]);
        const n = dy.shape[0]! * dy.shape[1]! * dy.shape[2]!;
        const inner = tf.sub(tf.sub(dy, tf.div(dbeta, n)), tf.mul(xh, tf.div(dgamma, n)));
        return [tf.mul(inner, tf.mul(gm, rs)), dgamma, dbeta];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  const m = running.momentum;
  return {
    y: op(x, gamma, beta) as tf.Tensor4D,
    runningMean: tf.add(tf.mul(running.mean, m), tf.mul(mean, 1 - m)) as tf.Tensor1D,
    runningVariance: tf.add(
      tf.mul(running.variance, m),
      tf.mul(variance, (1 - m) * (n / Math.max(n - 1, 1))),
    ) as tf.Tensor1D,
  };
}

/**
 * Batch norm in float (as in both papers). Training: batch statistics, and the running averages
 * (momentum 0.9, unbiased variance) are updated; evaluation: the running averages.
 */
export function runBatchNorm(
  store: ParamStore,
  name: string,
  x: tf.Tensor4D,
  ctx: ForwardContext,
  eps = 1e-5,
): tf.Tensor4D {
  const momentum = ctx.bnMomentum ?? 0.9;
  const gamma = store.get(`${name}/gamma`) as tf.Tensor1D;
  const beta = store.get(`${name}/beta`) as tf.Tensor1D;
  const rm = store.get(`${name}/mean`);
  const rv = store.get(`${name}/var`);
  if (!ctx.training) return tf.batchNorm4d(x, rm as tf.Tensor1D, rv as tf.Tensor1D, beta, gamma, eps);
  const { y, runningMean, runningVariance } = batchNormTrain(x, gamma, beta, eps, {
    mean: rm as tf.Tensor1D,
    variance: rv as tf.Tensor1D,
    momentum,
  });
  // A single example has no variance to estimate: its statistics are left as they are.
  if (x.shape[0] > 1) {
    rm.assign(runningMean);
    rv.assign(runningVariance);
  }
  return y;
}

/**
 * A convolution followed by batch norm. In evaluation with fused ops on (native backend), float precision and a
 * plain filter bank, the batch norm is folded into the convolution: w' = w * g, b' = (b - mean) * g + beta with
 * g = gamma / sqrt(var + eps), one convolution and one bias add instead of a convolution and a normalisation.
 * Otherwise (training, quantized layers, observers, lowered or decomposed layers) the two run as they are.
 */
export function runConvBn(
  store: ParamStore,
  spec: LayerSpec,
  bn: string,
  x: tf.Tensor4D,
  ctx: ForwardContext,
  stride: number,
  pad: 'same' | 'valid',
  group?: LayerPrecision,
  eps = 1e-5,
): tf.Tensor4D {
  const foldable =
    !ctx.training &&
    !ctx.observe &&
    !spec.fibres &&
    !spec.basis &&
    spec.kind === 'conv' &&
    !precisionOf(ctx, spec, group) &&
    fusedBackend() !== undefined;
  if (!foldable) return runBatchNorm(store, bn, runConv(store, spec, x, ctx, stride, pad, group), ctx, eps);
  const g = tf.mul(store.get(`${bn}/gamma`), tf.rsqrt(tf.add(store.get(`${bn}/var`), eps)));
  const b0 = store.has(`${spec.name}/b`)
    ? tf.sub(store.get(`${spec.name}/b`), store.get(`${bn}/mean`))
    : tf.neg(store.get(`${bn}/mean`));
  const bias = tf.add(tf.mul(b0, g), store.get(`${bn}/beta`));
  const w = store.get(spec.weight) as tf.Tensor4D;
  const u = unstride1x1(x, w, stride, pad);
  const y = tf.add(tf.conv2d(u.x, tf.mul(w, g) as tf.Tensor4D, u.stride, u.pad), bias) as tf.Tensor4D;
  ctx.onExecute?.({ layer: spec, examples: x.shape[0], precision: undefined, backward: ctx.backwardOf?.(spec) });
  return y;
}

function isIdentityOrder(idx: Int32Array): boolean {
  for (let i = 0; i < idx.length; i++) if (idx[i] !== i) return false;
  return true;
}

/** Scales a residual branch [n, h, w, c] by a group's `residualScale` (number or per-example tensor). */
export function scaleResidual(h: tf.Tensor4D, scale: number | tf.Tensor1D | undefined): tf.Tensor4D {
  if (scale === undefined || scale === 1) return h;
  if (typeof scale === 'number') return tf.mul(h, scale) as tf.Tensor4D;
  return tf.mul(h, tf.reshape(scale, [-1, 1, 1, 1])) as tf.Tensor4D;
}

/**
 * Runs `body` on the inputs of each group of a block plan and reassembles the batch; inputs in no
 * group get `skip(x)` (the identity for skippable blocks). Work is done only for the inputs that
 * run the block, in forward and backward passes (gather/concat/gather are differentiable).
 */
export function runGrouped(
  x: tf.Tensor4D,
  groups: ReadonlyArray<BlockGroup>,
  body: (xs: tf.Tensor4D, group: BlockGroup, indices: Int32Array) => tf.Tensor4D,
  skip: (xs: tf.Tensor4D, indices: Int32Array) => tf.Tensor4D,
): tf.Tensor4D {
  const n = x.shape[0];
  const owner = new Int32Array(n).fill(-1);
  groups.forEach((g, gi) =>
    g.indices.forEach((i) => {
      if (i < 0 || i >= n) throw new RangeError(`block plan index ${i} outside the batch of ${n}`);
      if (owner[i] !== -1) throw new RangeError(`block plan puts input ${i} in two groups`);
      owner[i] = gi;
    }),
  );
  if (groups.length === 1 && groups[0]!.indices.length === n && isIdentityOrder(groups[0]!.indices))
    return body(x, groups[0]!, groups[0]!.indices);
  const parts: tf.Tensor4D[] = [];
  const position = new Int32Array(n);
  let offset = 0;
  groups.forEach((g) => {
    if (g.indices.length === 0) return;
    parts.push(body(tf.gather(x, tf.tensor1d(g.indices, 'int32')) as tf.Tensor4D, g, g.indices));
    g.indices.forEach((i, k) => (position[i] = offset + k));
    offset += g.indices.length;
  });
  const skipped = Array.from(owner.keys()).filter((i) => owner[i] === -1);
  if (skipped.length > 0) {
    const idx = Int32Array.from(skipped);
    parts.push(skip(tf.gather(x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D, idx));
    skipped.forEach((i, k) => (position[i] = offset + k));
  }
  const all = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
  return tf.gather(all, tf.tensor1d(position, 'int32')) as tf.Tensor4D;
}
