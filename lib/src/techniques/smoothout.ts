import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import { hashString, type ParamRole } from '../models/params';
import type { Model } from '../models/spec';
import { tfSeed } from '../random';
import type { GradientProblem, GradientResult, StepInfo, Technique } from '../train/technique';
import { ghostBatchGradients } from './ghost-batch';

/** Options of {@link smoothOut}. */
export interface SmoothOutOptions {
  readonly model: Model;
  /** Noise strength a: U(-a, a), or the standard deviation of Gaussian noise; with `adaptive`, the scale of Eq. (5.12). */
  readonly a: number;
  /** Uniform (Eq. 5.5, default) or Gaussian noise (Table 5.5). */
  readonly noise?: 'uniform' | 'gaussian';
  /**
   * AdaSmoothOut (Eq. 5.12): the noise of each filter (conv: per output channel) or neuron (dense: its input
   * connections) is rescaled to a x ||w|| / ||theta|| x theta; other parameters (biases) as one vector each.
   */
  readonly adaptive?: boolean;
  /**
   * Remove the noise before the update (Algorithm 2, line 5; default true). `false` is Tables 5.3-5.5's "w/o de-noising"
   * / "noise only": the perturbed weights are kept, and the update applies to them.
   */
  readonly denoise?: boolean;
  readonly seed: number;
  /** Parameter roles perturbed (default weights and biases: batch-norm parameters are excluded, as in the thesis). */
  readonly roles?: readonly ParamRole[];
  /**
   * Ghost batches of this many examples, each with its own noise draw, its own forward and backward pass (batch norm
   * over the ghost batch) and its own de-noising, gradients averaged: the authors' large-batch code
   * (wenwei202/smoothout `main_gbn.py`, `--mini-batch-size`). Unset: one noise draw for the whole batch.
   */
  readonly ghostBatch?: number;
}

/** The seeded noise tensor for one parameter at one step (before adaptive scaling). */
function draw(shape: readonly number[], o: { noise: 'uniform' | 'gaussian'; scale: number }, seed: number): tf.Tensor {
  return o.noise === 'uniform'
    ? tf.randomUniform(shape as number[], -o.scale, o.scale, 'float32', tfSeed(seed))
    : tf.randomNormal(shape as number[], 0, o.scale, 'float32', tfSeed(seed));
}

/**
 * Eq. (5.12)'s rescaling: per group (the last axis of a conv or dense weight: one output filter or neuron), theta is
 * scaled to a x ||w_group|| / ||theta_group||; a 1-D parameter is one group.
 */
export function adaptiveNoise(w: tf.Tensor, theta: tf.Tensor, a: number): tf.Tensor {
  return tf.tidy(() => {
    const axes = w.rank >= 2 ? Array.from({ length: w.rank - 1 }, (_, i) => i) : [0];
    const wn = tf.sqrt(tf.sum(tf.square(w), axes, true));
    const tn = tf.sqrt(tf.sum(tf.square(theta), axes, true));
    return tf.mul(tf.mul(theta, tf.divNoNan(wn, tn)), a);
  });
}

/** SmoothOut as a technique (see {@link smoothOut}). */
export interface SmoothOut extends Technique {
  /**
   * The noise this technique would add to each perturbed parameter at `iteration` (with ghost batches, for ghost batch
   * `shard`); fresh tensors the caller owns.
   */
  noiseAt(iteration: number, shard?: number): Map<string, tf.Tensor>;
}

/**
 * Stochastic SmoothOut (Wen, thesis ch. 5, Algorithm 2) and AdaSmoothOut (Eq. 5.12) in the pre-forward stage: before
 * the forward pass every perturbed parameter becomes w + theta_t (theta_t drawn from the run's seed, the step and the
 * parameter's name); right after the backward pass the saved weights are put back bit for bit (de-noising), so the
 * update applies the gradient taken at w + theta_t to w (Eq. 5.11). Without de-noising the noise stays in the weights.
 */
export function smoothOut(options: SmoothOutOptions): SmoothOut {
  checkKeys(options, ['model', 'a', 'noise', 'adaptive', 'denoise', 'seed', 'roles', 'ghostBatch'], 'smoothOut');
  const ghost = options.ghostBatch;
  if (ghost !== undefined && !(typeof ghost === 'number' && Number.isInteger(ghost) && ghost >= 1))
    throw new ConfigError('smoothOut.ghostBatch', ghost, 'a positive integer number of examples');
  if (!(Number.isFinite(options.a) && options.a >= 0))
    throw new ConfigError('smoothOut.a', options.a, 'a non-negative noise strength');
  const noise = options.noise ?? 'uniform';
  if (noise !== 'uniform' && noise !== 'gaussian')
    throw new ConfigError('smoothOut.noise', noise, "'uniform' or 'gaussian'");
  if (!Number.isInteger(options.seed)) throw new ConfigError('smoothOut.seed', options.seed, 'an integer');
  const roles = options.roles ?? ['weight', 'bias'];
  const adaptive = options.adaptive ?? false;
  const denoise = options.denoise ?? true;
  const perturbed = options.model.params.all().filter((p) => p.trainable && roles.includes(p.role));
  if (perturbed.length === 0)
    throw new ConfigError('smoothOut.roles', roles, `roles of some trainable parameter of ${options.model.name}`);
  const noiseAt = (iteration: number, shard?: number) =>
    new Map(
      perturbed.map((p) => {
        const at = shard === undefined ? `${iteration}` : `${iteration}.${shard}`;
        const seed = hashString(`smoothout/${options.seed}/${at}/${p.name}`);
        return [
          p.name,
          tf.tidy(() => {
            // AdaSmoothOut draws unit-scale noise and rescales it per filter; SmoothOut draws at strength a.
            const theta = draw(p.variable.shape, { noise, scale: adaptive ? 1 : options.a }, seed);
            return adaptive ? adaptiveNoise(p.variable, theta, options.a) : theta;
          }),
        ] as [string, tf.Tensor];
      }),
    );
  /** Adds theta to every perturbed parameter; returns the undo (de-noising), or undefined without it. */
  const applyNoise = (theta: Map<string, tf.Tensor>): (() => void) | undefined => {
    const saved = denoise ? new Map(perturbed.map((p) => [p.name, tf.clone(p.variable)])) : undefined;
    for (const p of perturbed) {
      const t = theta.get(p.name) as tf.Tensor;
      tf.tidy(() => p.variable.assign(tf.add(p.variable, t)));
    }
    tf.dispose([...theta.values()]);
    if (!saved) return undefined;
    return () => {
      for (const p of perturbed) p.variable.assign(saved.get(p.name) as tf.Tensor);
      tf.dispose([...saved.values()]);
    };
  };
  return {
    name: 'smoothout',
    noiseAt,
    ...(ghost !== undefined
      ? {
          computeGradients(problem: GradientProblem, info: StepInfo): GradientResult {
            return ghostBatchGradients(problem, ghost, (shard, compute) => {
              if (options.a === 0) return compute();
              const undo = applyNoise(noiseAt(info.iteration, shard));
              try {
                return compute();
              } finally {
                undo?.();
              }
            });
          },
        }
      : {}),
    perturb(_params, info) {
      if (options.a === 0 || ghost !== undefined) return undefined;
      return applyNoise(noiseAt(info.iteration));
    },
  };
}
