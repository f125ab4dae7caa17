import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import type { LanguageModel, LstmState } from '../models/lstm';
import type { ForwardContext } from '../models/spec';

/**
 * Lays a token stream out as `batch` parallel rows (PyTorch's batchify): row r holds tokens
 * r*L .. r*L+L-1 with L = floor(n / batch); the remainder is dropped.
 */
export function batchify(ids: Int32Array, batch: number): { data: Int32Array; rows: number; length: number } {
  if (!Number.isInteger(batch) || batch <= 0) throw new ConfigError('batch', batch, 'a positive integer');
  const length = Math.floor(ids.length / batch);
  if (length < 2)
    throw new ConfigError('batch', batch, `at most ${Math.floor(ids.length / 2)} for ${ids.length} tokens`);
  return { data: ids.slice(0, length * batch), rows: batch, length };
}

/** Truncated-BPTT windows: inputs [batch, steps] and next-token targets, in order along the rows. */
export function* bpttWindows(
  b: { data: Int32Array; rows: number; length: number },
  steps: number,
): Generator<{ input: Int32Array; target: Int32Array; steps: number }> {
  for (let start = 0; start + 1 < b.length; start += steps) {
    const t = Math.min(steps, b.length - 1 - start);
    const input = new Int32Array(b.rows * t);
    const target = new Int32Array(b.rows * t);
    for (let r = 0; r < b.rows; r++) {
      for (let k = 0; k < t; k++) {
        input[r * t + k] = b.data[r * b.length + start + k] as number;
        target[r * t + k] = b.data[r * b.length + start + k + 1] as number;
      }
    }
    yield { input, target, steps: t };
  }
}

/** Mean next-token cross-entropy (nats), perplexity exp(loss), and next-token top-1/top-5 accuracy. */
export interface PerplexityResult {
  readonly loss: number;
  readonly perplexity: number;
  readonly top1: number;
  readonly top5: number;
  readonly tokens: number;
}

/** Evaluates a language model over a token stream with state carried across windows. */
export function evaluatePerplexity(
  model: LanguageModel,
  ids: Int32Array,
  options: { batch: number; steps: number; ctx?: Omit<ForwardContext, 'training'> },
): PerplexityResult {
  const b = batchify(ids, options.batch);
  let state: LstmState = model.zeroState(options.batch);
  let total = 0;
  let tokens = 0;
  let c1 = 0;
  let c5 = 0;
  const k = Math.min(5, model.numClasses);
  for (const w of bpttWindows(b, options.steps)) {
    let sums: Float32Array | Int32Array | Uint8Array = new Float32Array(3);
    let next: LstmState = state;
    tf.tidy(() => {
      const x = tf.tensor2d(w.input, [b.rows, w.steps], 'int32');
      const y = tf.tensor1d(w.target, 'int32');
      const { logits, state: s } = model.applyWithState(x, state, { ...options.ctx, training: false });
      const ce = tf.losses.softmaxCrossEntropy(
        tf.oneHot(y, model.numClasses),
        logits,
        undefined,
        undefined,
        tf.Reduction.SUM,
      );
      const top1 = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'));
      const top5 = tf.sum(tf.cast(tf.any(tf.equal(tf.topk(logits, k).indices, tf.expandDims(y, 1)), 1), 'float32'));
      sums = tf.stack([ce, top1, top5]).dataSync();
      next = { h: s.h.map((t) => tf.keep(t)), c: s.c.map((t) => tf.keep(t)) };
    });
    tf.dispose([...state.h, ...state.c]);
    state = next;
    total += sums[0] as number;
    c1 += sums[1] as number;
    c5 += sums[2] as number;
    tokens += w.target.length;
  }
  tf.dispose([...state.h, ...state.c]);
  const loss = total / tokens;
  return { loss, perplexity: Math.exp(loss), top1: c1 / tokens, top5: c5 / tokens, tokens };
}
