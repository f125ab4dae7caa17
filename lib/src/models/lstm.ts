import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import { quantMatMul } from '../quant/layers';
import { ParamStore } from './params';
import type { ForwardContext, LayerSpec, Model } from './spec';

/** Options of {@link lstmLanguageModel}. */
export interface LstmLmOptions {
  readonly vocabSize: number;
  readonly embedding: number;
  /** Hidden size of each LSTM layer, bottom first. */
  readonly hidden: readonly number[];
  /** Unrolled time steps per example. */
  readonly steps: number;
  readonly seed?: number;
  /** Uniform init range (default 0.1, as in Zaremba et al.). */
  readonly initRange?: number;
  /**
   * Dropout rate on the non-recurrent connections in training (Zaremba et al. 2014): the embedding output,
   * each LSTM layer's output, before the output layer; recurrent connections are never dropped. Default 0.
   */
  readonly dropout?: number;
}

/** Hidden and cell state of each layer, [batch, hidden]. */
export interface LstmState {
  readonly h: tf.Tensor2D[];
  readonly c: tf.Tensor2D[];
}

/** A language model whose state can be carried across batches (truncated BPTT). */
export interface LanguageModel extends Model {
  readonly hidden: readonly number[];
  /** Zero state for a batch. */
  zeroState(batch: number): LstmState;
  /** Logits [batch * steps, vocab] and the final state, from ids [batch, steps] and an initial state. */
  applyWithState(ids: tf.Tensor2D, state: LstmState, ctx: ForwardContext): { logits: tf.Tensor2D; state: LstmState };
}

/** Column blocks of each layer's gate weights, in this order (the thesis' Eq. 2.4): input, forget, output gates, input update. */
export const LSTM_GATE_ORDER = ['i', 'f', 'o', 'u'] as const;

/**
 * Stacked LSTM language model: embedding, N LSTM layers with their own hidden sizes, dense output
 * over the vocabulary. Layer l has Wx [in, 4H], Wh [H, 4H] and b [4H], whose column blocks are the
 * gates i, f, o and the update u of Eq. (2.4): i = σ(x Wxi + h Whi + bi), f = σ(...), o = σ(...),
 * u = tanh(...), c' = f ⊙ c + i ⊙ u, h' = o ⊙ tanh(c'). The hidden unit k of a layer owns column k
 * of every block, row k of Wh, and row k of the next layer's Wx (or of the output layer): the
 * intrinsic sparse structure of ISS.
 */
export function lstmLanguageModel(options: LstmLmOptions): LanguageModel {
  checkKeys(
    options,
    ['vocabSize', 'embedding', 'hidden', 'steps', 'seed', 'initRange', 'dropout'],
    'lstmLanguageModel',
  );
  const { vocabSize, embedding, hidden, steps } = options;
  for (const [f, v] of [
    ['vocabSize', vocabSize],
    ['embedding', embedding],
    ['steps', steps],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(f, v, 'a positive integer');
  }
  if (hidden.length === 0 || hidden.some((h) => !Number.isInteger(h) || h <= 0))
    throw new ConfigError('hidden', hidden, 'one or more positive integer hidden sizes');
  const dropout = options.dropout ?? 0;
  if (!(Number.isFinite(dropout) && dropout >= 0 && dropout < 1))
    throw new ConfigError('dropout', dropout, 'a rate in [0, 1)');
  const store = new ParamStore(options.seed ?? 0);
  const r = options.initRange ?? 0.1;
  store.uniform('embedding', [vocabSize, embedding], r);
  const layers: LayerSpec[] = [
    {
      name: 'embedding',
      kind: 'embedding',
      inShape: [steps],
      outShape: [steps, embedding],
      weight: 'embedding',
      weightCount: vocabSize * embedding,
      macs: 0,
      first: true,
    },
  ];
  let nin = embedding;
  hidden.forEach((h, l) => {
    store.uniform(`lstm${l + 1}/wx`, [nin, 4 * h], r);
    store.uniform(`lstm${l + 1}/wh`, [h, 4 * h], r);
    store.constant(`lstm${l + 1}/b`, [4 * h], 0, 'bias');
    layers.push({
      name: `lstm${l + 1}`,
      kind: 'lstm',
      inShape: [steps, nin],
      outShape: [steps, h],
      weight: `lstm${l + 1}/wx`,
      extraWeights: [`lstm${l + 1}/wh`],
      weightCount: (nin + h) * 4 * h,
      macs: steps * (nin + h) * 4 * h,
      first: false,
    });
    nin = h;
  });
  store.uniform('output/w', [nin, vocabSize], r);
  store.constant('output/b', [vocabSize], 0, 'bias');
  layers.push({
    name: 'output',
    kind: 'dense',
    inShape: [nin],
    outShape: [vocabSize],
    weight: 'output/w',
    weightCount: nin * vocabSize,
    macs: steps * nin * vocabSize,
    first: false,
  });

  const matmul = (ctx: ForwardContext, spec: LayerSpec, x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D => {
    const p = ctx.precision?.(spec);
    if (p && (p.weight < 32 || p.activation < 32 || p.gradError < 32 || p.gradWeight < 32)) {
      if (!ctx.quant) throw new Error(`layer ${spec.name}: a precision below 32 bits needs ctx.quant`);
      return quantMatMul(x, w, p, ctx.quant);
    }
    return tf.matMul(x, w);
  };

  const zeroState = (batch: number): LstmState => ({
    h: hidden.map((h) => tf.zeros([batch, h]) as tf.Tensor2D),
    c: hidden.map((h) => tf.zeros([batch, h]) as tf.Tensor2D),
  });

  const modelName = `LSTM-LM-${hidden.join('-')}`;
  /** Dropout of the non-recurrent connections, training only, with seeds from the context. */
  const drop = <T extends tf.Tensor>(x: T, ctx: ForwardContext): T => {
    if (!ctx.training || dropout === 0) return x;
    if (!ctx.random)
      throw new Error(`${modelName}: dropout in training needs ctx.random (a seed source; the trainer provides one)`);
    return tf.dropout(x, dropout, undefined, ctx.random()) as T;
  };

  function applyWithState(
    ids: tf.Tensor2D,
    state: LstmState,
    ctx: ForwardContext,
  ): { logits: tf.Tensor2D; state: LstmState } {
    const [batch, T] = ids.shape;
    const emb = drop(
      tf.reshape(tf.gather(store.get('embedding'), tf.reshape(ids, [batch * T])), [batch, T, embedding]) as tf.Tensor3D,
      ctx,
    );
    // The sequence as [batch, T, features]; each layer projects all its inputs at once (one matmul for the
    // window, bias included), then runs the recurrence step by step.
    let seq: tf.Tensor3D = emb;
    let width = embedding;
    const hs: tf.Tensor2D[] = [];
    const cs: tf.Tensor2D[] = [];
    hidden.forEach((H, l) => {
      const spec = layers[l + 1] as LayerSpec;
      const wx = store.get(`lstm${l + 1}/wx`) as tf.Tensor2D;
      const wh = store.get(`lstm${l + 1}/wh`) as tf.Tensor2D;
      const bias = store.get(`lstm${l + 1}/b`);
      const xproj = tf.unstack(
        tf.reshape(tf.add(matmul(ctx, spec, tf.reshape(seq, [batch * T, width]) as tf.Tensor2D, wx), bias), [
          batch,
          T,
          4 * H,
        ]),
        1,
      ) as tf.Tensor2D[];
      let h = state.h[l] as tf.Tensor2D;
      let c = state.c[l] as tf.Tensor2D;
      const outs: tf.Tensor2D[] = [];
      for (const xp of xproj) {
        const [zifo, zu] = tf.split(tf.add(xp, matmul(ctx, spec, h, wh)), [3 * H, H], 1) as [tf.Tensor2D, tf.Tensor2D];
        const [i, f, o] = tf.split(tf.sigmoid(zifo), 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        c = tf.add(tf.mul(f, c), tf.mul(i, tf.tanh(zu))) as tf.Tensor2D;
        h = tf.mul(o, tf.tanh(c)) as tf.Tensor2D;
        outs.push(h);
      }
      ctx.onExecute?.({ layer: spec, examples: batch * (T / steps), precision: ctx.precision?.(spec) });
      hs.push(h);
      cs.push(c);
      // Dropout between layers and before the output layer (non-recurrent connections only).
      seq = drop(tf.stack(outs, 1) as tf.Tensor3D, ctx);
      width = H;
    });
    const top = tf.reshape(seq, [batch * T, nin]) as tf.Tensor2D;
    const outSpec = layers[layers.length - 1] as LayerSpec;
    const logits = tf.add(
      matmul(ctx, outSpec, top, store.get('output/w') as tf.Tensor2D),
      store.get('output/b'),
    ) as tf.Tensor2D;
    ctx.onExecute?.({ layer: outSpec, examples: batch * (T / steps), precision: ctx.precision?.(outSpec) });
    return { logits, state: { h: hs, c: cs } };
  }

  return {
    name: modelName,
    inputShape: [steps],
    numClasses: vocabSize,
    layers,
    blocks: [],
    params: store,
    architecture: { family: 'lstm', options },
    hidden,
    zeroState,
    applyWithState,
    apply(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
      const ids = x as tf.Tensor2D;
      return applyWithState(ids, zeroState(ids.shape[0]), ctx).logits;
    },
  };
}
