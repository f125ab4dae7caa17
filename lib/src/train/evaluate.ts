import * as tf from '@tensorflow/tfjs-core';
import { type BatchOptions, batches, type ChannelStats } from '../data/pipeline';
import type { ImageDataset } from '../data/image-dataset';
import { createRng } from '../random';
import type { ForwardContext, Model } from '../models/spec';

/** Loss and accuracy of a model on a dataset. */
export interface Evaluation {
  readonly loss: number;
  readonly top1: number;
  readonly top5: number;
  /** Examples evaluated (images; tokens for a language model). */
  readonly count: number;
  /** Language models: exp(loss). */
  readonly perplexity?: number;
}

/**
 * Evaluates in inference mode (batch norm uses its running statistics): mean cross-entropy,
 * top-1 and top-5 accuracy. `ctx` may add evaluation-time settings (precision, block plans).
 */
export async function evaluate(
  model: Model,
  ds: ImageDataset,
  options: { batchSize?: number; normalize?: ChannelStats; ctx?: Omit<ForwardContext, 'training'> } = {},
): Promise<Evaluation> {
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  const k = Math.min(5, model.numClasses);
  for (const b of batches(ds, {
    batchSize: options.batchSize ?? 250,
    rng: createRng(0),
    shuffle: false,
    normalize: options.normalize,
  })) {
    const [l, c1, c5] = tf.tidy(() => {
      const logits = model.apply(b.x, { ...options.ctx, training: false }) as tf.Tensor2D;
      const ce = tf.sum(
        tf.losses.softmaxCrossEntropy(
          tf.oneHot(b.y, model.numClasses),
          logits,
          undefined,
          undefined,
          tf.Reduction.NONE,
        ),
      );
      const correct1 = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), b.y), 'float32'));
      const { indices } = tf.topk(logits, k);
      const correct5 = tf.sum(tf.cast(tf.any(tf.equal(indices, tf.expandDims(b.y, 1)), 1), 'float32'));
      return [ce.dataSync()[0] as number, correct1.dataSync()[0] as number, correct5.dataSync()[0] as number];
    });
    loss += l;
    top1 += c1;
    top5 += c5;
    tf.dispose([b.x, b.y]);
  }
  return { loss: loss / ds.count, top1: top1 / ds.count, top5: top5 / ds.count, count: ds.count };
}

/**
 * Re-estimates batch-norm running statistics as exact averages over `ds` (needed after weight
 * averaging): running mean and variance are reset, then each batch k enters with weight 1/k (the cumulative average
 * `torch.optim.swa_utils.update_bn` takes), over the first `maxBatches` batches (default: all). Pass the evaluation context (e.g. SLU's gates) so the statistics match the network that will be evaluated.
 */
export function recomputeBatchNormStats(
  model: Model,
  ds: ImageDataset,
  options: {
    batchSize?: number;
    normalize?: ChannelStats;
    maxBatches?: number;
    ctx?: Omit<ForwardContext, 'training'>;
    /** Training augmentation applied to the images (seeded by `seed`, default 0); default none. */
    augment?: BatchOptions['augment'];
    seed?: number;
  } = {},
): void {
  for (const p of model.params.all()) {
    if (p.role !== 'bn-stat') continue;
    tf.tidy(() => p.variable.assign(p.name.endsWith('/var') ? tf.onesLike(p.variable) : tf.zerosLike(p.variable)));
  }
  let k = 0;
  for (const b of batches(ds, {
    batchSize: options.batchSize ?? 128,
    rng: createRng(options.seed ?? 0),
    shuffle: false,
    normalize: options.normalize,
    ...(options.augment ? { augment: options.augment } : {}),
  })) {
    k += 1;
    tf.tidy(() => void model.apply(b.x, { ...options.ctx, training: true, bnMomentum: (k - 1) / k }));
    tf.dispose([b.x, b.y]);
    if (options.maxBatches !== undefined && k >= options.maxBatches) break;
  }
}
