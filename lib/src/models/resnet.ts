import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import { checkClasses } from './small';
import { ParamStore } from './params';
import { Builder, relu, runConvBn, runDense, runGrouped, scaleResidual } from './ops';
import type { BlockGroup, BlockSpec, ForwardContext, LayerSpec, Model } from './spec';
import type { LayerPrecision } from '../quant/precision';

/** Depths of CIFAR ResNets (6n + 2) that the papers use. */
export const CIFAR_RESNET_DEPTHS = [8, 14, 20, 32, 38, 44, 56, 74, 110] as const;

/** Options of {@link cifarResNet}. */
export interface ResNetOptions {
  /** 6n + 2. */
  readonly depth: number;
  readonly numClasses?: number;
  /** Filters of the three stages (default 16, 32, 64). */
  readonly widths?: readonly [number, number, number];
  readonly seed?: number;
  /** Input shape (default 32x32x3). */
  readonly inputShape?: readonly [number, number, number];
  /** Filters of each block's first convolution, blocks in order (default: the stage width); model surgery sets it. */
  readonly innerWidths?: readonly number[];
  /**
   * Blocks left out; the others keep their names. A block with an identity shortcut becomes the identity; the first
   * block of stages 2 and 3 keeps its projection shortcut alone, ReLU(BN(1x1 conv(x))) (SSL's depth regularization
   * zeroes the convolutions between shortcuts, not the shortcut). Model surgery sets it.
   */
  readonly removedBlocks?: readonly string[];
  /** Per convolution: kept filter-shape fibres or a basis decomposition (see `Builder.conv`). Model surgery sets it. */
  readonly convs?: Readonly<Record<string, { readonly fibres?: Int32Array; readonly basis?: number }>>;
  /**
   * Let inputs skip the first block of stages 2 and 3 too (default false): a skipped input takes the projection
   * shortcut alone, ReLU(BN(1x1 conv(x))), as stochastic depth does for transition blocks (Huang et al., 2016, Sec. 3).
   * Gives every block of a ResNet-8 a gate.
   */
  readonly skippableTransitions?: boolean;
}

const RESNET_KEYS = [
  'depth',
  'numClasses',
  'widths',
  'seed',
  'inputShape',
  'innerWidths',
  'removedBlocks',
  'convs',
  'skippableTransitions',
];

/** A removed transition block: its projection shortcut alone. */
interface ProjectionOnly {
  name: string;
  proj: LayerSpec;
  stride: number;
}

interface BlockLayers {
  spec: BlockSpec;
  conv1: LayerSpec;
  conv2: LayerSpec;
  proj?: LayerSpec;
  stride: number;
}

/**
 * CIFAR ResNet of He et al. (2016): a 3x3 conv (16), three stages of n basic blocks (16, 32, 64
 * filters; stride 2 at the start of stages 2 and 3), global average pooling and a dense layer.
 * Identity shortcuts, and a 1x1 conv + BN projection where the shape changes. Every block
 * follows the context's block plan: inputs can skip it (identity, for blocks whose shape is kept)
 * or run it at their own precision.
 */
export function cifarResNet(options: ResNetOptions): Model {
  checkKeys(options, RESNET_KEYS, 'resnet');
  const { depth } = options;
  if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
    throw new ConfigError('depth', depth, `6n + 2 with n >= 1 (e.g. ${CIFAR_RESNET_DEPTHS.join(', ')})`);
  }
  const n = (depth - 2) / 6;
  const numClasses = checkClasses(options.numClasses ?? 10);
  const widths = options.widths ?? [16, 32, 64];
  if (!Array.isArray(widths) || widths.length !== 3 || widths.some((w) => !Number.isInteger(w) || w <= 0))
    throw new ConfigError('widths', widths, 'three positive integer stage widths, e.g. [16, 32, 64]');
  const inner = options.innerWidths;
  if (inner !== undefined && (inner.length !== 3 * n || inner.some((w) => !Number.isInteger(w) || w <= 0)))
    throw new ConfigError('innerWidths', inner, `${3 * n} positive integer widths, one per block`);
  const removed = new Set(options.removedBlocks ?? []);
  const convOpts = (name: string) => options.convs?.[name] ?? {};
  const inputShape = options.inputShape ?? [32, 32, 3];
  const store = new ParamStore(options.seed ?? 0);
  const b = new Builder(store);
  const stem = b.conv('conv1', inputShape, 3, widths[0], 1, 'same', convOpts('conv1'));
  b.batchNorm('bn1', widths[0]);
  let shape = stem.outShape;
  const blocks: BlockLayers[] = [];
  const sequence: Array<BlockLayers | ProjectionOnly> = [];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < n; i++) {
      const name = `stage${s + 1}/block${i + 1}`;
      const stride = s > 0 && i === 0 ? 2 : 1;
      const cout = widths[s] as number;
      const mid = inner?.[s * n + i] ?? cout;
      if (removed.has(name)) {
        removed.delete(name);
        if (stride !== 1 || shape[2] !== cout) {
          const proj = b.conv(`${name}/proj`, shape, 1, cout, stride, 'same', convOpts(`${name}/proj`));
          b.batchNorm(`${name}/proj-bn`, cout);
          sequence.push({ name, proj, stride });
          shape = proj.outShape;
        }
        continue;
      }
      const conv1 = b.conv(`${name}/conv1`, shape, 3, mid, stride, 'same', {
        block: name,
        ...convOpts(`${name}/conv1`),
      });
      b.batchNorm(`${name}/bn1`, mid);
      const conv2 = b.conv(`${name}/conv2`, conv1.outShape, 3, cout, 1, 'same', {
        block: name,
        ...convOpts(`${name}/conv2`),
      });
      b.batchNorm(`${name}/bn2`, cout);
      let proj: LayerSpec | undefined;
      if (stride !== 1 || shape[2] !== cout) {
        proj = b.conv(`${name}/proj`, shape, 1, cout, stride, 'same', { block: name });
        b.batchNorm(`${name}/proj-bn`, cout);
      }
      const layers = [conv1, conv2, ...(proj ? [proj] : [])].flatMap((l) => (l.basis ? [l.basis, l] : [l]));
      const macs = layers.reduce((a, l) => a + l.macs, 0);
      blocks.push({
        spec: {
          name,
          stage: s,
          index: i,
          layers: layers.map((l) => l.name),
          skippable: !proj || options.skippableTransitions === true,
          macs,
          skipSavedMacs: macs - (proj ? proj.macs : 0),
        },
        conv1,
        conv2,
        proj,
        stride,
      });
      sequence.push(blocks[blocks.length - 1] as BlockLayers);
      shape = conv2.outShape;
    }
  }
  if (removed.size > 0)
    throw new ConfigError(
      'removedBlocks',
      [...removed],
      `names of blocks of this ResNet-${depth} (e.g. stage1/block2)`,
    );
  const fc = b.dense('fc', shape[2] as number, numClasses);

  /** The block on `x`; `shortcut`, when given, is its projection shortcut already computed for these inputs. */
  function blockBody(
    bl: BlockLayers,
    x: tf.Tensor4D,
    ctx: ForwardContext,
    group: BlockGroup | undefined,
    shortcutGiven?: tf.Tensor4D,
  ): tf.Tensor4D {
    const p: LayerPrecision | undefined = group?.precision;
    const name = bl.spec.name;
    let h = relu(runConvBn(store, bl.conv1, `${name}/bn1`, x, ctx, bl.stride, 'same', p)) as tf.Tensor4D;
    h = runConvBn(store, bl.conv2, `${name}/bn2`, h, ctx, 1, 'same', p);
    const shortcut =
      shortcutGiven ?? (bl.proj ? runConvBn(store, bl.proj, `${name}/proj-bn`, x, ctx, bl.stride, 'same', p) : x);
    return relu(tf.add(scaleResidual(h, group?.residualScale), shortcut)) as tf.Tensor4D;
  }

  return {
    name: `ResNet-${depth}`,
    inputShape,
    numClasses,
    layers: b.layers,
    blocks: blocks.map((bl) => bl.spec),
    params: store,
    architecture: { family: 'resnet', options },
    apply(input: tf.Tensor, ctx: ForwardContext): tf.Tensor {
      let x = relu(runConvBn(store, stem, 'bn1', input as tf.Tensor4D, ctx, 1, 'same')) as tf.Tensor4D;
      for (const item of sequence) {
        if (!('spec' in item)) {
          x = relu(runConvBn(store, item.proj, `${item.name}/proj-bn`, x, ctx, item.stride, 'same')) as tf.Tensor4D;
          continue;
        }
        const bl = item;
        const plan = ctx.blockPlan?.(bl.spec, x);
        if (!plan) {
          x = blockBody(bl, x, ctx, undefined);
          continue;
        }
        const covered = plan.groups.reduce((a, g) => a + g.indices.length, 0);
        if (!bl.spec.skippable && covered < x.shape[0]) {
          throw new Error(
            `block ${bl.spec.name} changes shape and cannot be skipped; its plan must cover all ${x.shape[0]} inputs`,
          );
        }
        // A skipped input keeps its value, or takes the projection shortcut alone where the block changes shape.
        if (bl.proj && plan.groups.every((g) => g.precision === undefined)) {
          // Every input runs the projection at the layer's own precision, whether it executes or skips the block: it
          // runs once over the whole batch, so the projection has one weight gradient per step (PSG signs that whole
          // gradient, Eq. 2) and its batch norm one set of batch statistics.
          const all = runConvBn(store, bl.proj, `${bl.spec.name}/proj-bn`, x, ctx, bl.stride, 'same');
          const rows = (idx: Int32Array) =>
            idx.length === all.shape[0] && isIdentity(idx)
              ? all
              : (tf.gather(all, tf.tensor1d(idx, 'int32')) as tf.Tensor4D);
          x = runGrouped(
            x,
            plan.groups,
            (xs, g, idx) => blockBody(bl, xs, ctx, g, rows(idx)),
            (_xs, idx) => relu(rows(idx)) as tf.Tensor4D,
          );
          continue;
        }
        const skip = (xs: tf.Tensor4D): tf.Tensor4D =>
          bl.proj
            ? (relu(runConvBn(store, bl.proj, `${bl.spec.name}/proj-bn`, xs, ctx, bl.stride, 'same')) as tf.Tensor4D)
            : xs;
        x = runGrouped(x, plan.groups, (xs, g) => blockBody(bl, xs, ctx, g), skip);
      }
      const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
      return runDense(store, fc, pooled, ctx);
    },
  };
}

/** Whether `idx` is 0, 1, ..., n - 1. */
function isIdentity(idx: Int32Array): boolean {
  for (let i = 0; i < idx.length; i++) if (idx[i] !== i) return false;
  return true;
}
