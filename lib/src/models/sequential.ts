import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { ParamStore } from './params';
import { maxPool2d } from '../backend/onednn';
import { Builder, relu, runConv, runDense } from './ops';
import type { ForwardContext, LayerSpec, Model } from './spec';

/** One operation of a {@link sequentialModel}. */
export type SeqOp =
  | {
      readonly op: 'conv';
      readonly name: string;
      readonly kernel: number;
      readonly filters: number;
      readonly stride?: number;
      readonly pad: 'same' | 'valid';
      readonly bias?: boolean;
      /** Kept filter-shape fibres (a lowered convolution). */
      readonly fibres?: Int32Array;
      /** Basis filters followed by a 1x1 convolution. */
      readonly basis?: number;
    }
  | { readonly op: 'dense'; readonly name: string; readonly units: number }
  | { readonly op: 'relu' }
  /** Pooling; `ceil` pools as Caffe does (output ceil((n - size) / stride) + 1, padding bottom-right). */
  | {
      readonly op: 'pool';
      readonly kind: 'max' | 'avg';
      readonly size: number;
      readonly stride: number;
      readonly ceil?: boolean;
    }
  | { readonly op: 'flatten' };

/** Architecture of a sequential model, enough to rebuild it with other shapes (model surgery). */
export interface SequentialArchitecture {
  readonly family: 'sequential';
  readonly name: string;
  readonly inputShape: readonly number[];
  readonly ops: readonly SeqOp[];
  readonly seed: number;
}

function poolOut(n: number, size: number, stride: number, ceil: boolean): number {
  return ceil ? Math.ceil((n - size) / stride) + 1 : Math.floor((n - size) / stride) + 1;
}

/**
 * Whether TensorFlow's SAME padding pools `n` pixels as Caffe's ceil mode does: the same output count, and at most one
 * padded row (column), at the bottom (right). Max pooling under SAME then equals max pooling of the -inf-padded input.
 */
function sameIsCeil(n: number, size: number, stride: number): boolean {
  const out = poolOut(n, size, stride, true);
  return out === Math.ceil(n / stride) && (out - 1) * stride + size - n <= 1;
}

/**
 * The pooling of a {@link SeqOp} (`valid`, or Caffe's ceil mode: padded at the bottom right so that a valid pooling
 * gives ceil((n - size) / stride) + 1 outputs; max pooling pads with -1e9, average pooling with zeros that count in the
 * mean). Max pooling runs on oneDNN where available ({@link maxPool2d}), under SAME where that pads as ceil mode does.
 */
export function pool2d(x: tf.Tensor4D, o: Extract<SeqOp, { op: 'pool' }>): tf.Tensor4D {
  if (!o.ceil)
    return o.kind === 'max' ? maxPool2d(x, o.size, o.stride, 'valid') : tf.avgPool(x, o.size, o.stride, 'valid');
  const pad = (x.shape[1] - o.size) % o.stride === 0 ? 0 : o.stride - ((x.shape[1] - o.size) % o.stride);
  if (
    o.kind === 'max' &&
    pad > 0 &&
    sameIsCeil(x.shape[1], o.size, o.stride) &&
    sameIsCeil(x.shape[2], o.size, o.stride)
  )
    return maxPool2d(x, o.size, o.stride, 'same');
  const xp = pad
    ? tf.pad(
        x,
        [
          [0, 0],
          [0, pad],
          [0, pad],
          [0, 0],
        ],
        o.kind === 'max' ? -1e9 : 0,
      )
    : x;
  return o.kind === 'max' ? maxPool2d(xp, o.size, o.stride, 'valid') : tf.avgPool(xp, o.size, o.stride, 'valid');
}

/**
 * A feed-forward model from a list of operations (conv, dense, ReLU, pooling, flatten); the last dense
 * layer's units are the classes. LeNet-5, CifarNet and MLPs are built this way, so that model surgery can
 * rebuild them with filters, fibres or neurons removed.
 */
export function sequentialModel(arch: Omit<SequentialArchitecture, 'family'>): Model {
  const store = new ParamStore(arch.seed);
  const b = new Builder(store);
  let shape = [...arch.inputShape];
  const specs = new Map<number, LayerSpec>();
  const shapes: number[][] = [];
  arch.ops.forEach((o, i) => {
    shapes.push(shape);
    if (o.op === 'conv') {
      if (shape.length !== 3) throw new ConfigError(`ops[${i}]`, o.name, 'a convolution on an [h, w, c] input');
      const spec = b.conv(o.name, shape, o.kernel, o.filters, o.stride ?? 1, o.pad, {
        bias: o.bias,
        fibres: o.fibres,
        basis: o.basis,
      });
      specs.set(i, spec);
      shape = [...spec.outShape];
    } else if (o.op === 'dense') {
      if (shape.length !== 1)
        throw new ConfigError(`ops[${i}]`, o.name, 'a dense layer on a flat input (add a flatten)');
      if (!Number.isInteger(o.units) || o.units <= 0)
        throw new ConfigError(`${o.name}.units`, o.units, 'a positive integer');
      specs.set(i, b.dense(o.name, shape[0] as number, o.units));
      shape = [o.units];
    } else if (o.op === 'pool') {
      shape = [
        poolOut(shape[0] as number, o.size, o.stride, o.ceil ?? false),
        poolOut(shape[1] as number, o.size, o.stride, o.ceil ?? false),
        shape[2] as number,
      ];
    } else if (o.op === 'flatten') {
      shape = [shape.reduce((a, v) => a * v, 1)];
    }
  });
  const last = arch.ops[arch.ops.length - 1];
  if (last?.op !== 'dense') throw new ConfigError('ops', arch.ops.length, 'a list ending with the dense output layer');
  const numClasses = last.units;
  return {
    name: arch.name,
    inputShape: arch.inputShape,
    numClasses,
    layers: b.layers,
    blocks: [],
    params: store,
    architecture: { family: 'sequential', ...arch },
    apply(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
      let h = x;
      arch.ops.forEach((o, i) => {
        if (o.op === 'conv') h = runConv(store, specs.get(i) as LayerSpec, h as tf.Tensor4D, ctx, o.stride ?? 1, o.pad);
        else if (o.op === 'dense') h = runDense(store, specs.get(i) as LayerSpec, h as tf.Tensor2D, ctx);
        else if (o.op === 'relu') h = relu(h);
        else if (o.op === 'pool') h = pool2d(h as tf.Tensor4D, o);
        else h = tf.reshape(h, [h.shape[0] as number, -1]);
      });
      return h;
    },
  };
}
