import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import { sequentialModel, type SeqOp } from './sequential';
import { ParamStore } from './params';
import { Builder, runConvBn, runDense, runGrouped, scaleResidual } from './ops';
import type { BlockGroup, BlockSpec, ForwardContext, Model } from './spec';
import type { LayerPrecision } from '../quant/precision';

/** LeNet-5 as in Caffe's MNIST example: conv 5x5x20, max-pool, conv 5x5x50, max-pool, fc 500, ReLU, fc 10. */
export function lenet5(
  options: { seed?: number; inputShape?: readonly [number, number, number]; numClasses?: number } = {},
): Model {
  checkKeys(options, ['seed', 'inputShape', 'numClasses'], 'lenet5');
  return sequentialModel({
    name: 'LeNet-5',
    inputShape: options.inputShape ?? [28, 28, 1],
    seed: options.seed ?? 0,
    ops: [
      { op: 'conv', name: 'conv1', kernel: 5, filters: 20, pad: 'valid', bias: true },
      { op: 'pool', kind: 'max', size: 2, stride: 2 },
      { op: 'conv', name: 'conv2', kernel: 5, filters: 50, pad: 'valid', bias: true },
      { op: 'pool', kind: 'max', size: 2, stride: 2 },
      { op: 'flatten' },
      { op: 'dense', name: 'ip1', units: 500 },
      { op: 'relu' },
      { op: 'dense', name: 'ip2', units: checkClasses(options.numClasses ?? 10) },
    ],
  });
}

/** Checks a number of classes (at least 2), naming the field. */
export function checkClasses(n: number, field = 'numClasses'): number {
  if (!Number.isInteger(n) || n < 2) throw new ConfigError(field, n, 'an integer number of classes >= 2');
  return n;
}

/** A multi-layer perceptron with ReLU hidden layers over flattened inputs. */
export function mlp(options: {
  inputShape: readonly number[];
  hidden: readonly number[];
  numClasses?: number;
  seed?: number;
}): Model {
  checkKeys(options, ['inputShape', 'hidden', 'numClasses', 'seed'], 'mlp');
  if (!Array.isArray(options.hidden) || options.hidden.some((h) => !Number.isInteger(h) || h <= 0))
    throw new ConfigError('hidden', options.hidden, 'positive integer layer sizes');
  const numClasses = checkClasses(options.numClasses ?? 10);
  const sizes = [...options.hidden, numClasses];
  return sequentialModel({
    name: `MLP-${options.hidden.join('-')}`,
    inputShape: options.inputShape,
    seed: options.seed ?? 0,
    ops: [
      { op: 'flatten' },
      ...sizes.flatMap((n, i): SeqOp[] =>
        i < sizes.length - 1
          ? [{ op: 'dense', name: `fc${i + 1}`, units: n }, { op: 'relu' }]
          : [{ op: 'dense', name: `fc${i + 1}`, units: n }],
      ),
    ],
  });
}

/**
 * The CIFAR-10 "ConvNet" of Krizhevsky (Caffe cifar10_full), used in the thesis (SSL, Force
 * Regularization) and as TernGrad's CifarNet: conv 5x5x32, max-pool 3/2, ReLU; conv 5x5x32, ReLU,
 * avg-pool 3/2; conv 5x5x64, ReLU, avg-pool 3/2; fc 10 (Caffe pooling rounds up).
 */
export function cifarNet(options: { seed?: number; numClasses?: number } = {}): Model {
  checkKeys(options, ['seed', 'numClasses'], 'cifarNet');
  const pool = (kind: 'max' | 'avg'): SeqOp => ({ op: 'pool', kind, size: 3, stride: 2, ceil: true });
  return sequentialModel({
    name: 'CifarNet',
    inputShape: [32, 32, 3],
    seed: options.seed ?? 0,
    ops: [
      { op: 'conv', name: 'conv1', kernel: 5, filters: 32, pad: 'same', bias: true },
      pool('max'),
      { op: 'relu' },
      { op: 'conv', name: 'conv2', kernel: 5, filters: 32, pad: 'same', bias: true },
      { op: 'relu' },
      pool('avg'),
      { op: 'conv', name: 'conv3', kernel: 5, filters: 64, pad: 'same', bias: true },
      { op: 'relu' },
      pool('avg'),
      { op: 'flatten' },
      { op: 'dense', name: 'ip1', units: checkClasses(options.numClasses ?? 10) },
    ],
  });
}

/** MobileNetV2 inverted-residual settings for 32x32 inputs: (expansion t, channels c, repeats n, stride s). */
export const MOBILENETV2_CIFAR: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 1],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * MobileNetV2 (Sandler et al. 2018) for 32x32 inputs: a stride-1 3x3 stem (CIFAR variant, 32
 * filters), inverted residual blocks (1x1 expansion, 3x3 depthwise, 1x1 linear projection, batch norm,
 * ReLU6), a 1x1 conv to 1280, global average pooling and a dense layer. Blocks with a residual
 * connection can be skipped or run at their own precision per input.
 */
export function mobileNetV2(options: { seed?: number; numClasses?: number; widthMultiplier?: number } = {}): Model {
  const numClasses = options.numClasses ?? 10;
  const wm = options.widthMultiplier ?? 1;
  const ch = (c: number) => Math.max(8, Math.round((c * wm) / 8) * 8);
  const store = new ParamStore(options.seed ?? 0);
  const b = new Builder(store);
  const stem = b.conv('conv1', [32, 32, 3], 3, ch(32), 1, 'same');
  b.batchNorm('bn1', ch(32));
  let shape = stem.outShape;
  interface IR {
    spec: BlockSpec;
    expand?: import('./spec').LayerSpec;
    dw: import('./spec').LayerSpec;
    project: import('./spec').LayerSpec;
    stride: number;
    residual: boolean;
  }
  const blocks: IR[] = [];
  MOBILENETV2_CIFAR.forEach(([t, c, n, s], stage) => {
    for (let i = 0; i < n; i++) {
      const name = `stage${stage + 1}/block${i + 1}`;
      const stride = i === 0 ? s : 1;
      const cin = shape[2] as number;
      const hidden = cin * t;
      const expand = t !== 1 ? b.conv(`${name}/expand`, shape, 1, hidden, 1, 'same', { block: name }) : undefined;
      if (expand) b.batchNorm(`${name}/expand-bn`, hidden);
      const dw = b.conv(`${name}/dw`, expand ? expand.outShape : shape, 3, hidden, stride, 'same', {
        block: name,
        depthwise: true,
      });
      b.batchNorm(`${name}/dw-bn`, hidden);
      const project = b.conv(`${name}/project`, dw.outShape, 1, ch(c), 1, 'same', { block: name });
      b.batchNorm(`${name}/project-bn`, ch(c));
      const residual = stride === 1 && cin === ch(c);
      const layers = [expand, dw, project].filter((l): l is import('./spec').LayerSpec => l !== undefined);
      blocks.push({
        spec: {
          name,
          stage,
          index: i,
          layers: layers.map((l) => l.name),
          skippable: residual,
          macs: layers.reduce((a, l) => a + l.macs, 0),
        },
        expand,
        dw,
        project,
        stride,
        residual,
      });
      shape = project.outShape;
    }
  });
  const last = b.conv('conv-last', shape, 1, 1280, 1, 'same');
  b.batchNorm('bn-last', 1280);
  const fc = b.dense('fc', 1280, numClasses);
  const relu6 = (x: tf.Tensor4D) => tf.clipByValue(x, 0, 6) as tf.Tensor4D;
  function body(bl: IR, x: tf.Tensor4D, ctx: ForwardContext, group: BlockGroup | undefined): tf.Tensor4D {
    const p: LayerPrecision | undefined = group?.precision;
    const n = bl.spec.name;
    let h = bl.expand ? relu6(runConvBn(store, bl.expand, `${n}/expand-bn`, x, ctx, 1, 'same', p)) : x;
    h = relu6(runConvBn(store, bl.dw, `${n}/dw-bn`, h, ctx, bl.stride, 'same', p));
    h = runConvBn(store, bl.project, `${n}/project-bn`, h, ctx, 1, 'same', p);
    return bl.residual ? (tf.add(scaleResidual(h, group?.residualScale), x) as tf.Tensor4D) : h;
  }
  return {
    name: wm === 1 ? 'MobileNetV2' : `MobileNetV2-x${wm}`,
    inputShape: [32, 32, 3],
    numClasses,
    layers: b.layers,
    blocks: blocks.map((bl) => bl.spec),
    params: store,
    apply(input: tf.Tensor, ctx: ForwardContext): tf.Tensor {
      let x = relu6(runConvBn(store, stem, 'bn1', input as tf.Tensor4D, ctx, 1, 'same'));
      for (const bl of blocks) {
        const plan = ctx.blockPlan?.(bl.spec, x);
        if (!plan) {
          x = body(bl, x, ctx, undefined);
          continue;
        }
        if (!bl.residual && plan.groups.reduce((a, g) => a + g.indices.length, 0) < x.shape[0]) {
          throw new Error(`block ${bl.spec.name} has no residual connection and cannot be skipped`);
        }
        x = runGrouped(
          x,
          plan.groups,
          (xs, g) => body(bl, xs, ctx, g),
          (xs) => xs,
        );
      }
      x = relu6(runConvBn(store, last, 'bn-last', x, ctx, 1, 'same'));
      return runDense(store, fc, tf.mean(x, [1, 2]) as tf.Tensor2D, ctx);
    },
  };
}
