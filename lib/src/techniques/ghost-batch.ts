import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { GradientProblem, GradientResult, StepInfo, Technique } from '../train/technique';
import type { TaskBatch } from '../train/task';

/** Options of {@link ghostBatches}. */
export interface GhostBatchOptions {
  /** Examples per ghost batch (the authors' SmoothOut code: `--mini-batch-size`, 128 or 256). */
  readonly size: number;
}

/**
 * Splits a batch into ceil(examples / size) consecutive ghost batches (sizes differing by at most one), computes the
 * gradient of each separately, and averages them weighted by their sizes: the mean gradient of the whole batch, except
 * that every batch-norm layer normalises each ghost batch by its own statistics and updates its running averages once
 * per ghost batch. This is ghost batch norm as large-batch code implements it (Hoffer et al. 2017; wenwei202/smoothout
 * `main_gbn.py`: the batch `chunk`ed into mini-batches, one forward and backward each, gradients accumulated).
 * `perShard` runs around each ghost batch's gradient (SmoothOut perturbs and restores the weights there).
 */
export function ghostBatchGradients(
  problem: GradientProblem,
  size: number,
  perShard?: (shard: number, compute: () => GradientResult) => GradientResult,
): GradientResult {
  const n = Math.ceil(problem.batch.examples / size);
  const shards: TaskBatch[] = n === 1 ? [problem.batch] : problem.shards(n);
  const total = problem.batch.examples;
  const sums = new Map<string, tf.Tensor>();
  let loss: tf.Scalar = tf.scalar(0);
  shards.forEach((part, i) => {
    const r = perShard ? perShard(i, () => problem.gradients(part)) : problem.gradients(part);
    const w = part.examples / total;
    tf.tidy(() => {
      for (const [name, g] of r.grads) {
        const prev = sums.get(name);
        const next = tf.keep(prev ? tf.add(prev, tf.mul(g, w)) : tf.mul(g, w));
        prev?.dispose();
        sums.set(name, next);
      }
      const l = tf.keep(tf.add(loss, tf.mul(r.loss, w)) as tf.Scalar);
      loss.dispose();
      loss = l;
    });
    tf.dispose([r.loss, ...r.grads.values()]);
  });
  return { loss, grads: sums };
}

/**
 * Ghost batch norm as a technique: the gradient stage runs {@link ghostBatchGradients} with batches of `size`. With a
 * batch of at most `size` examples it is the default computation.
 */
export function ghostBatches(options: GhostBatchOptions): Technique {
  checkKeys(options, ['size'], 'ghostBatches');
  const { size } = options;
  if (typeof size !== 'number' || !(Number.isInteger(size) && size >= 1))
    throw new ConfigError('ghostBatches.size', size, 'a positive integer number of examples');
  return {
    name: 'ghost-batches',
    computeGradients(problem: GradientProblem, _info: StepInfo): GradientResult {
      return ghostBatchGradients(problem, size);
    },
  };
}
