import * as tf from '@tensorflow/tfjs-core';
import type { ImageDataset } from '../data/image-dataset';
import { batches, type ChannelStats } from '../data/pipeline';
import { ConfigError } from '../errors';
import type { Model } from '../models/spec';
import { createRng, tfSeed } from '../random';
import { smoothOut } from '../techniques/smoothout';

/** Loss and accuracy of a model on a data set, and optionally the loss's gradient with respect to its trainable parameters. */
export interface DatasetLoss {
  /** Mean softmax cross-entropy. */
  readonly loss: number;
  readonly top1: number;
  /** By parameter name (the caller disposes them). */
  readonly grads?: Map<string, tf.Tensor>;
}

/** Summed cross-entropy and correct top-1 predictions of `model` (inference mode) on one batch (one host read). */
function batchLossAndCorrect(model: Model, x: tf.Tensor, y: tf.Tensor): [number, number] {
  return tf.tidy(() => {
    const logits = model.apply(x, { training: false }) as tf.Tensor2D;
    const ce = tf.sum(
      tf.losses.softmaxCrossEntropy(tf.oneHot(y, model.numClasses), logits, undefined, undefined, tf.Reduction.NONE),
    );
    const v = tf.stack([ce, tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'))]).dataSync();
    return [v[0] as number, v[1] as number];
  });
}

/** The trainable parameters sharpness studies move (batch-norm statistics are not parameters of the loss surface). */
function trainable(model: Model): Array<{ name: string; variable: tf.Variable }> {
  return model.params
    .all()
    .filter((p) => p.trainable)
    .map((p) => ({ name: p.name, variable: p.variable }));
}

/**
 * The mean cross-entropy and top-1 of `model` (inference mode) on `ds` in a fixed order, in batches of `batchSize`;
 * with `withGradient`, the gradient of the mean loss too.
 */
export function datasetLoss(
  model: Model,
  ds: ImageDataset,
  o: { normalize?: ChannelStats; batchSize?: number; withGradient?: boolean } = {},
): DatasetLoss {
  const params = trainable(model);
  let lossSum = 0;
  let correct = 0;
  let grads: Map<string, tf.Tensor> | undefined = o.withGradient
    ? new Map(params.map((p) => [p.name, tf.zerosLike(p.variable)]))
    : undefined;
  for (const b of batches(ds, {
    batchSize: o.batchSize ?? 500,
    rng: createRng(0),
    shuffle: false,
    normalize: o.normalize,
  })) {
    if (grads) {
      // One forward pass per batch: the correct count is taken from the logits the gradient is computed on.
      let hits: tf.Scalar | undefined;
      const sumLoss = () => {
        const logits = model.apply(b.x, { training: false }) as tf.Tensor2D;
        hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), b.y), 'float32')) as tf.Scalar);
        return tf.sum(
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(b.y, model.numClasses),
            logits,
            undefined,
            undefined,
            tf.Reduction.NONE,
          ),
        ) as tf.Scalar;
      };
      const { value, grads: g } = tf.variableGrads(
        sumLoss,
        params.map((p) => p.variable),
      );
      lossSum += value.dataSync()[0] as number;
      correct += (hits as tf.Scalar | undefined)?.dataSync()[0] ?? 0;
      tf.dispose([value, ...(hits ? [hits] : [])]);
      const next = new Map(
        params.map((p) => [p.name, tf.add(grads!.get(p.name) as tf.Tensor, g[p.variable.name] as tf.Tensor)]),
      );
      tf.dispose([...grads.values(), ...Object.values(g)]);
      grads = next;
    } else {
      const [l, c] = batchLossAndCorrect(model, b.x, b.y);
      lossSum += l;
      correct += c;
    }
    tf.dispose([b.x, b.y]);
  }
  const count = ds.count;
  if (grads) {
    const scaled = new Map([...grads].map(([k, v]) => [k, tf.div(v, count)]));
    tf.dispose([...grads.values()]);
    grads = scaled;
  }
  return { loss: lossSum / count, top1: correct / count, grads };
}

/** One restart of {@link boxMaximize}. */
export interface BoxRestart {
  readonly start: 'centre' | 'random';
  readonly best: number;
}

/**
 * Projected gradient ascent in a box: maximizes f(x0 + delta) subject to |delta_i| <= bound_i, from the centre and from
 * `restarts - 1` random points (seeded), `steps` sign-gradient steps of `stepFraction` x bound each, every iterate clipped
 * to the box. Returns the largest value seen, the delta that gave it, and the largest |delta_i| / bound_i visited (at
 * most 1: the search never leaves its box). The thesis solves this with L-BFGS-B (Sec. 5.2); projected sign ascent is
 * the box-constrained method used here (no maintained L-BFGS-B for tfjs; it needs only gradients and stays feasible by
 * construction).
 */
export function boxMaximize(o: {
  x0: readonly tf.Tensor[];
  bound: readonly tf.Tensor[];
  valueAndGrad: (x: readonly tf.Tensor[]) => { value: number; grads: tf.Tensor[] };
  restarts?: number;
  steps?: number;
  stepFraction?: number;
  seed: number;
}): { best: number; bestDelta: tf.Tensor[]; maxBoxRatio: number; restarts: BoxRestart[] } {
  const restarts = o.restarts ?? 5;
  const steps = o.steps ?? 20;
  const frac = o.stepFraction ?? 0.25;
  if (!(Number.isInteger(restarts) && restarts >= 1))
    throw new ConfigError('boxMaximize.restarts', restarts, 'a positive integer');
  if (!(Number.isInteger(steps) && steps >= 0))
    throw new ConfigError('boxMaximize.steps', steps, 'a non-negative integer');
  if (!(Number.isFinite(frac) && frac > 0 && frac <= 1))
    throw new ConfigError('boxMaximize.stepFraction', frac, 'a fraction in (0, 1]');
  let best = -Infinity;
  let bestDelta: tf.Tensor[] = o.x0.map((x) => tf.zerosLike(x));
  let maxBoxRatio = 0;
  const out: BoxRestart[] = [];
  const ratio = (delta: tf.Tensor[]) =>
    Math.max(
      ...delta.map((d, i) =>
        tf.tidy(() => tf.max(tf.divNoNan(tf.abs(d), o.bound[i] as tf.Tensor)).dataSync()[0] as number),
      ),
    );
  for (let r = 0; r < restarts; r++) {
    let delta = o.x0.map((x, i) =>
      r === 0
        ? tf.zerosLike(x)
        : tf.mul(
            tf.randomUniform(x.shape, -1, 1, 'float32', tfSeed((o.seed * 7919 + r * 104729 + i) >>> 0)),
            o.bound[i] as tf.Tensor,
          ),
    );
    let restartBest = -Infinity;
    for (let k = 0; k <= steps; k++) {
      maxBoxRatio = Math.max(maxBoxRatio, ratio(delta));
      const x = o.x0.map((x0, i) => tf.add(x0, delta[i] as tf.Tensor));
      const { value, grads } = o.valueAndGrad(x);
      tf.dispose(x);
      if (value > restartBest) restartBest = value;
      if (value > best) {
        best = value;
        tf.dispose(bestDelta);
        bestDelta = delta.map((d) => tf.clone(d));
      }
      if (k < steps) {
        const next = delta.map((d, i) =>
          tf.tidy(() => {
            const b = o.bound[i] as tf.Tensor;
            return tf.minimum(
              tf.maximum(tf.add(d, tf.mul(tf.sign(grads[i] as tf.Tensor), tf.mul(b, frac))), tf.neg(b)),
              b,
            );
          }),
        );
        tf.dispose(delta);
        delta = next;
      }
      tf.dispose(grads);
    }
    tf.dispose(delta);
    out.push({ start: r === 0 ? 'centre' : 'random', best: restartBest });
  }
  return { best, bestDelta, maxBoxRatio, restarts: out };
}

/**
 * The (C_eps, A)-sharpness of Keskar et al. with A = I (thesis Sec. 5.2): 100 x (max of the loss over the box
 * |delta_i| <= eps (|w_i| + 1) - loss at w) / (1 + loss at w), the maximum over restarts (the thesis reports the maximum
 * of 5). The loss is the mean cross-entropy on `ds`; the model's weights are restored bit for bit afterwards.
 */
export function keskarSharpness(
  model: Model,
  ds: ImageDataset,
  o: {
    normalize?: ChannelStats;
    epsilon?: number;
    restarts?: number;
    steps?: number;
    seed: number;
    batchSize?: number;
  },
): { sharpness: number; baseLoss: number; maxLoss: number; maxBoxRatio: number; restarts: BoxRestart[] } {
  const eps = o.epsilon ?? 5e-4;
  if (!(Number.isFinite(eps) && eps > 0)) throw new ConfigError('sharpness.epsilon', eps, 'a positive box size');
  const params = trainable(model);
  const saved = params.map((p) => tf.clone(p.variable));
  try {
    const base = datasetLoss(model, ds, { normalize: o.normalize, batchSize: o.batchSize }).loss;
    const bound = saved.map((w) => tf.tidy(() => tf.mul(tf.add(tf.abs(w), 1), eps)));
    const res = boxMaximize({
      x0: saved,
      bound,
      restarts: o.restarts,
      steps: o.steps,
      seed: o.seed,
      valueAndGrad: (x) => {
        params.forEach((p, i) => p.variable.assign(x[i] as tf.Tensor));
        const r = datasetLoss(model, ds, { normalize: o.normalize, batchSize: o.batchSize, withGradient: true });
        return { value: r.loss, grads: params.map((p) => r.grads?.get(p.name) as tf.Tensor) };
      },
    });
    tf.dispose([...bound, ...res.bestDelta]);
    return {
      sharpness: (100 * (res.best - base)) / (1 + base),
      baseLoss: base,
      maxLoss: res.best,
      maxBoxRatio: res.maxBoxRatio,
      restarts: res.restarts,
    };
  } finally {
    params.forEach((p, i) => p.variable.assign(saved[i] as tf.Tensor));
    tf.dispose(saved);
  }
}

/**
 * The loss under growing noise (thesis Fig. 5.2b) and the sharpness metric of Eq. (5.9): for each strength a, the mean
 * loss on `ds` in batches of `batchSize`, each batch seen by the model perturbed with fresh SmoothOut noise (uniform
 * or Gaussian, optionally adaptive); s = the least-squares slope of the mean loss against a. Weights are restored.
 */
export function noiseSensitivity(
  model: Model,
  ds: ImageDataset,
  o: {
    strengths: readonly number[];
    noise?: 'uniform' | 'gaussian';
    adaptive?: boolean;
    seed: number;
    normalize?: ChannelStats;
    batchSize?: number;
  },
): { points: Array<{ a: number; loss: number; top1: number }>; slope: number } {
  if (!Array.isArray(o.strengths) || o.strengths.length < 2 || o.strengths.some((a) => !(Number.isFinite(a) && a >= 0)))
    throw new ConfigError('noiseSensitivity.strengths', o.strengths, 'at least two non-negative noise strengths');
  const params = trainable(model);
  const points = o.strengths.map((a) => {
    const so = smoothOut({ model, a, noise: o.noise, adaptive: o.adaptive, seed: o.seed });
    let lossSum = 0;
    let correct = 0;
    let index = 0;
    for (const b of batches(ds, {
      batchSize: o.batchSize ?? 100,
      rng: createRng(0),
      shuffle: false,
      normalize: o.normalize,
    })) {
      const undo = so.perturb?.(new Map(params.map((p) => [p.name, p.variable])), { iteration: index } as Parameters<
        NonNullable<typeof so.perturb>
      >[1]);
      const [l, c] = batchLossAndCorrect(model, b.x, b.y);
      if (undo) undo();
      lossSum += l;
      correct += c;
      index += 1;
      tf.dispose([b.x, b.y]);
    }
    return { a, loss: lossSum / ds.count, top1: correct / ds.count };
  });
  const ma = points.reduce((s, p) => s + p.a, 0) / points.length;
  const ml = points.reduce((s, p) => s + p.loss, 0) / points.length;
  const slope =
    points.reduce((s, p) => s + (p.a - ma) * (p.loss - ml), 0) / points.reduce((s, p) => s + (p.a - ma) ** 2, 0);
  return { points, slope };
}

/**
 * Loss and accuracy along w = alpha x `to` + (1 - alpha) x `from` (thesis Fig. 5.2a); the model's weights are restored.
 * The end points are copied before the walk, so `from` or `to` may be the model's own variables.
 */
export function interpolationProfile(
  model: Model,
  ds: ImageDataset,
  o: {
    from: ReadonlyMap<string, tf.Tensor>;
    to: ReadonlyMap<string, tf.Tensor>;
    alphas: readonly number[];
    normalize?: ChannelStats;
  },
): Array<{ alpha: number; loss: number; top1: number }> {
  const all = model.params.all();
  for (const p of all)
    if (!o.from.has(p.name) || !o.to.has(p.name))
      throw new ConfigError('interpolation', p.name, `a parameter present in both end points of ${model.name}`);
  if (!Array.isArray(o.alphas) || o.alphas.length === 0 || o.alphas.some((a) => !Number.isFinite(a)))
    throw new ConfigError('interpolation.alphas', o.alphas, 'a non-empty list of finite numbers');
  const saved = all.map((p) => tf.clone(p.variable));
  const from = all.map((p) => tf.clone(o.from.get(p.name) as tf.Tensor));
  const to = all.map((p) => tf.clone(o.to.get(p.name) as tf.Tensor));
  try {
    return o.alphas.map((alpha) => {
      all.forEach((p, i) =>
        tf.tidy(() =>
          p.variable.assign(tf.add(tf.mul(to[i] as tf.Tensor, alpha), tf.mul(from[i] as tf.Tensor, 1 - alpha))),
        ),
      );
      const r = datasetLoss(model, ds, { normalize: o.normalize });
      return { alpha, loss: r.loss, top1: r.top1 };
    });
  } finally {
    all.forEach((p, i) => p.variable.assign(saved[i] as tf.Tensor));
    tf.dispose([...saved, ...from, ...to]);
  }
}

/**
 * A random direction normalised per filter (Li et al., "filter normalization", used by the thesis's Fig. 5.5): Gaussian,
 * each filter (last axis of a weight of rank >= 2) rescaled to its weight's filter norm; 1-D parameters (biases,
 * batch norm) get zero. Fresh tensors by parameter name.
 */
export function filterNormalizedDirection(model: Model, seed: number): Map<string, tf.Tensor> {
  return new Map(
    trainable(model).map((p, i) => [
      p.name,
      tf.tidy(() => {
        if (p.variable.rank < 2) return tf.zerosLike(p.variable);
        const d = tf.randomNormal(p.variable.shape, 0, 1, 'float32', tfSeed((seed * 7919 + i) >>> 0));
        const axes = Array.from({ length: p.variable.rank - 1 }, (_, k) => k);
        const dn = tf.sqrt(tf.sum(tf.square(d), axes, true));
        const wn = tf.sqrt(tf.sum(tf.square(p.variable), axes, true));
        return tf.mul(d, tf.divNoNan(wn, dn));
      }),
    ]),
  );
}

/** Loss and accuracy at w + alpha d for each alpha (thesis Fig. 5.5's 1-D profiles); the weights are restored. */
export function directionProfile(
  model: Model,
  ds: ImageDataset,
  o: { direction: ReadonlyMap<string, tf.Tensor>; alphas: readonly number[]; normalize?: ChannelStats },
): Array<{ alpha: number; loss: number; top1: number }> {
  const params = trainable(model);
  const saved = params.map((p) => tf.clone(p.variable));
  try {
    return o.alphas.map((alpha) => {
      params.forEach((p, i) =>
        tf.tidy(() =>
          p.variable.assign(
            o.direction.has(p.name)
              ? tf.add(saved[i] as tf.Tensor, tf.mul(o.direction.get(p.name) as tf.Tensor, alpha))
              : (saved[i] as tf.Tensor),
          ),
        ),
      );
      const r = datasetLoss(model, ds, { normalize: o.normalize });
      return { alpha, loss: r.loss, top1: r.top1 };
    });
  } finally {
    params.forEach((p, i) => p.variable.assign(saved[i] as tf.Tensor));
    tf.dispose(saved);
  }
}
