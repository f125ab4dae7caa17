import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import type { Model } from '../models/spec';
import { defaultQuantConfig, weightGradient, type WeightGradGeometry } from '../quant/layers';
import { mostSignificantBits } from '../quant/quantizers';
import { type Psg, psgRule } from './psg';

/** The weight-gradient operands of one layer in one batch, as PSG's backward pass sees them. */
export interface PsgOperands {
  readonly layer: string;
  /** Input activations at FW bits. */
  readonly x: tf.Tensor;
  /** Output gradient at BW bits. */
  readonly dy: tf.Tensor;
  readonly geometry: WeightGradGeometry;
}

/**
 * Runs one PSG forward and backward pass of `model` on a batch (no update) and returns the weight-gradient operands of
 * every conv, depthwise and dense layer (the caller disposes `x` and `dy`).
 */
export function psgOperands(model: Model, psg: Psg, x: tf.Tensor, labels: tf.Tensor1D, seed: number): PsgOperands[] {
  const out: PsgOperands[] = [];
  const quant = {
    ...defaultQuantConfig(seed),
    weightGradientRule: psgRule({
      beta: psg.beta,
      operands: (layer: string, xs: tf.Tensor, dy: tf.Tensor, geometry: WeightGradGeometry) =>
        void out.push({ layer, x: tf.keep(xs.clone()), dy: tf.keep(dy.clone()), geometry }),
    }),
  };
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => {
      const logits = model.apply(x, {
        training: true,
        bnMomentum: 0,
        quant,
        precision: (l) =>
          l.kind === 'conv' || l.kind === 'dense' || l.kind === 'depthwise' ? psg.layerPrecision : undefined,
      });
      return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, model.numClasses), logits) as tf.Scalar;
    }, [...model.params.trainable().values()]);
    tf.dispose(Object.values(grads));
  });
  return out;
}

/** Failures and bound of Eq. (3) for one layer and batch at one predictor precision. */
export interface SignBoundCount {
  readonly layer: string;
  readonly xMsb: number;
  readonly gMsb: number;
  /** Weight-gradient entries. */
  readonly weights: number;
  /** Entries where the predictor decides the sign (|g_msb| >= tau) and it differs from the full gradient's. */
  readonly failures: number;
  /** Sum over entries of the per-entry bound term of appendix A (its mean over entries and batches estimates Δx²E1 + Δg²E2). */
  readonly boundSum: number;
}

/** Options of {@link signPredictionCounts}. */
export interface SignBoundOptions {
  /** Predictor precisions to evaluate, as [xMsb, gMsb] pairs. */
  readonly grid: ReadonlyArray<readonly [number, number]>;
  /** Adaptive threshold ratio (tau = beta x max|g_msb| of the layer). */
  readonly beta: number;
  /** Full widths the MSBs are taken from (default 8 and 16, the paper's B_x and B_g). */
  readonly xBits?: number;
  readonly gBits?: number;
  /** 'truncate' (the predictor's hardware MSBs, default) or 'nearest' (the symmetric noise the proof assumes). */
  readonly rounding?: 'truncate' | 'nearest';
}

/**
 * Eq. (3) of E²-Train on measured operands. Each layer's x and g_y are scaled to [-1, 1] (appendix A's data range);
 * for each predictor precision, g_w = sum_n x_n^T g_{y,n} and its MSB prediction are formed, and per weight entry:
 * a failure is |g_w^msb| >= tau with sign(g_w^msb) != sign(g_w) (events H_0, H_p, H_n of Table 5), and the bound term is
 * (Δx² Σ_n ||g_{y,n}||² + Δg² Σ_n ||x_n||²) / (24 (D + tau)²) where g_w != 0 (Eqs. 8-9) and the same over 12 tau²
 * where g_w = 0 (Eq. 7), with D = Σ_n (x_n^T q_{g,n} + q_{x,n}^T g_{y,n}) the entry's gradient error (Eq. 5),
 * Δ = 2^-(B_msb - 1). The bound is an expectation over the data: its estimate is the mean of the term over entries and
 * batches, compared with the failure frequency over the same entries and batches; no term is capped.
 */
export function signPredictionCounts(ops: readonly PsgOperands[], options: SignBoundOptions): SignBoundCount[] {
  const xBits = options.xBits ?? 8;
  const gBits = options.gBits ?? 16;
  if (!(options.beta > 0 && options.beta < 1)) throw new ConfigError('beta', options.beta, 'a ratio in (0, 1)');
  for (const [xm, gm] of options.grid) {
    if (!(Number.isInteger(xm) && xm >= 1 && xm <= xBits))
      throw new ConfigError('grid xMsb', xm, `an integer in [1, ${xBits}]`);
    if (!(Number.isInteger(gm) && gm >= 1 && gm <= gBits))
      throw new ConfigError('grid gMsb', gm, `an integer in [1, ${gBits}]`);
  }
  const rounding = options.rounding ?? 'truncate';
  const out: SignBoundCount[] = [];
  for (const op of ops) {
    const rows = tf.tidy(() => {
      const xs = tf.div(op.x, tf.maximum(tf.max(tf.abs(op.x)), 1e-30));
      const gs = tf.div(op.dy, tf.maximum(tf.max(tf.abs(op.dy)), 1e-30));
      const gw = weightGradient(xs, gs, op.geometry);
      // Σ_n ||g_{y,n}||² and Σ_n ||x_n||² of every entry: the same products with squared operands against ones (zero
      // padding stays zero, so padded positions do not count).
      const sg = weightGradient(tf.onesLike(xs), tf.square(gs), op.geometry);
      const sx = weightGradient(tf.square(xs), tf.onesLike(gs), op.geometry);
      const zero = tf.equal(gw, 0);
      const res: tf.Tensor[] = [];
      for (const [xMsb, gMsb] of options.grid) {
        const xq = mostSignificantBits(xs, xBits, xMsb, rounding);
        const gq = mostSignificantBits(gs, gBits, gMsb, rounding);
        const gm = weightGradient(xq, gq, op.geometry);
        const tau = tf.mul(tf.max(tf.abs(gm)), options.beta);
        const fail = tf.sum(
          tf.cast(tf.logicalAnd(tf.greaterEqual(tf.abs(gm), tau), tf.notEqual(tf.sign(gm), tf.sign(gw))), 'float32'),
        );
        const d = tf.add(
          weightGradient(xs, tf.sub(gs, gq), op.geometry),
          weightGradient(tf.sub(xs, xq), gs, op.geometry),
        );
        const dx2 = 2 ** (-2 * (xMsb - 1));
        const dg2 = 2 ** (-2 * (gMsb - 1));
        const num = tf.add(tf.mul(sg, dx2), tf.mul(sx, dg2));
        const term = tf.where(
          zero,
          tf.div(num, tf.mul(tf.square(tau), 12)),
          tf.div(num, tf.mul(tf.square(tf.add(d, tau)), 24)),
        );
        res.push(fail, tf.sum(term));
      }
      return tf.stack(res);
    });
    const v = rows.dataSync();
    rows.dispose();
    const weights =
      op.geometry.kind === 'dense'
        ? (op.x.shape[1] as number) * (op.dy.shape[1] as number)
        : op.geometry.filterShape.reduce((a, b) => a * b, 1);
    options.grid.forEach(([xMsb, gMsb], i) =>
      out.push({
        layer: op.layer,
        xMsb,
        gMsb,
        weights,
        failures: v[2 * i] as number,
        boundSum: v[2 * i + 1] as number,
      }),
    );
  }
  return out;
}
