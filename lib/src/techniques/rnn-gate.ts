import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from '../models/params';
import type { BlockSpec, Model } from '../models/spec';

/** Options of {@link rnnGates}. */
export interface RnnGateOptions {
  readonly model: Model;
  /** The blocks that get a gate, in forward order (the shared LSTM state runs along them). */
  readonly blocks: readonly BlockSpec[];
  /** Seed of the gate parameters. */
  readonly seed: number;
  /** Width of the per-block projection and of the shared LSTM (default 10, E²-Train appendix C). */
  readonly hidden?: number;
  /** Outputs per gate: 1 (a run/skip logit, SLU) or the number of options (DFQ's precision choices). */
  readonly outputs: number;
  /** Initial value of the output bias (one per output). */
  readonly initialBias: readonly number[];
  /** Standardise each gate's pooled input by running statistics (see `SluOptions.normalizeGateInput`). */
  readonly normalizeInput?: boolean;
}

/** A chain of RNN gates over a model's blocks (see {@link rnnGates}). */
export interface RnnGates {
  readonly store: ParamStore;
  /** Forward MACs of all gates per input. */
  readonly macsPerInput: number;
  /** Logits [n, outputs] of block `b`'s gate for its input x, advancing the shared LSTM state (reset at the first gated block). */
  logits(b: BlockSpec, x: tf.Tensor4D, training: boolean): tf.Tensor2D;
  /** Drops the LSTM state (after a forward pass). */
  reset(): void;
  /** Input channels of each gated block. */
  readonly channels: ReadonlyMap<string, number>;
}

/**
 * The RNN gate of E²-Train's SLU (appendix C) and of FracTrain's DFQ (Sec. 3.2, "we follow [33]"): per gated block,
 * global average pooling of the block input, a linear projection to `hidden` dimensions, one LSTM of size `hidden`
 * whose weights all gates share (its state runs along the blocks in forward order), and a linear output of `outputs`
 * logits. Parameters are initialised from `seed` and their names.
 */
export function rnnGates(options: RnnGateOptions): RnnGates {
  const { model, blocks, outputs } = options;
  const H = options.hidden ?? 10;
  const normalize = options.normalizeInput ?? false;
  const store = new ParamStore(options.seed);
  const channels = new Map<string, number>();
  for (const b of blocks) {
    const first = model.layers.find((l) => l.name === b.layers[0]);
    const c = (first?.inShape[2] ?? 0) as number;
    channels.set(b.name, c);
    store.heNormal(`proj/${b.name}/w`, [c, H], c);
    store.constant(`proj/${b.name}/b`, [H], 0, 'bias');
    if (normalize) {
      store.constant(`norm/${b.name}/mean`, [c], 0, 'bn-stat');
      store.constant(`norm/${b.name}/var`, [c], 1, 'bn-stat');
    }
  }
  store.uniform('lstm/wx', [H, 4 * H], 1 / Math.sqrt(H));
  store.uniform('lstm/wh', [H, 4 * H], 1 / Math.sqrt(H));
  store.constant('lstm/b', [4 * H], 0, 'bias');
  store.uniform('out/w', [H, outputs], 1 / Math.sqrt(H));
  const bias = store.constant('out/b', [outputs], 0, 'bias');
  tf.tidy(() => bias.assign(tf.tensor1d([...options.initialBias])));
  const macsPerInput = blocks.reduce(
    (a, b) => a + (channels.get(b.name) as number) * H + 2 * H * 4 * H + H * outputs,
    0,
  );
  const firstGated = blocks[0]?.name;
  let state: { h: tf.Tensor2D; c: tf.Tensor2D } | undefined;

  /** The gate's input features for block `b`: channel means, standardised by running statistics when asked. */
  const features = (b: BlockSpec, x: tf.Tensor4D, training: boolean): tf.Tensor2D => {
    const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
    if (!normalize) return pooled;
    const rm = store.get(`norm/${b.name}/mean`) as tf.Variable;
    const rv = store.get(`norm/${b.name}/var`) as tf.Variable;
    if (training && x.shape[0] > 1) {
      const { mean, variance } = tf.moments(pooled, 0);
      // Running statistics: updated from the batch, outside the gradient (they are not parameters).
      tf.tidy(() => {
        rm.assign(tf.add(tf.mul(rm, 0.9), tf.mul(mean, 0.1)));
        rv.assign(tf.add(tf.mul(rv, 0.9), tf.mul(variance, 0.1)));
      });
    }
    return tf.div(tf.sub(pooled, rm), tf.sqrt(tf.add(rv, 1e-5))) as tf.Tensor2D;
  };

  return {
    store,
    macsPerInput,
    channels,
    logits(b, x, training) {
      const n = x.shape[0];
      if (b.name === firstGated || !state) state = { h: tf.zeros([n, H]), c: tf.zeros([n, H]) };
      const z = tf.add(
        tf.matMul(features(b, x, training), store.get(`proj/${b.name}/w`) as tf.Tensor2D),
        store.get(`proj/${b.name}/b`),
      );
      const g = tf.add(
        tf.add(
          tf.matMul(z as tf.Tensor2D, store.get('lstm/wx') as tf.Tensor2D),
          tf.matMul(state.h, store.get('lstm/wh') as tf.Tensor2D),
        ),
        store.get('lstm/b'),
      );
      const [gi, gf, go, gu] = tf.split(g, 4, 1);
      const c = tf.add(tf.mul(tf.sigmoid(gf!), state.c), tf.mul(tf.sigmoid(gi!), tf.tanh(gu!))) as tf.Tensor2D;
      const h = tf.mul(tf.sigmoid(go!), tf.tanh(c)) as tf.Tensor2D;
      state = { h, c };
      return tf.add(tf.matMul(h, store.get('out/w') as tf.Tensor2D), store.get('out/b')) as tf.Tensor2D;
    },
    reset() {
      state = undefined;
    },
  };
}
