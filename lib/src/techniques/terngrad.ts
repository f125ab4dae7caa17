import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import { createRng } from '../random';
import type { GradientProblem, GradientResult, StepInfo, Technique } from '../train/technique';
import type { Model } from '../models/spec';
import { ternaryParts } from '../quant/quantizers';

/**
 * Gradient clipping of Eq. (4.21): every element beyond c sigma (sigma the standard deviation of the elements of `g`)
 * is set to sign(g) c sigma. Returns a new tensor.
 */
export function clipGradient(g: tf.Tensor, c: number): tf.Tensor {
  if (!(Number.isFinite(c) && c > 0))
    throw new ConfigError('clip', c, 'a positive multiple of the standard deviation (the thesis: 2.5)');
  return tf.tidy(() => {
    const { variance } = tf.moments(g);
    const bound = tf.mul(tf.sqrt(variance), c);
    return tf.minimum(tf.maximum(g, tf.neg(bound)), bound);
  });
}

/** The seed of worker `worker`'s Bernoulli draws for `param` at `iteration` (the same in simulated and real workers). */
export function ternGradSeed(seed: number, iteration: number, worker: number, param: string): number {
  return Math.floor(createRng(`terngrad/${seed}/${iteration}/${worker}/${param}`).next() * 2 ** 31);
}

/**
 * One worker's side of a TernGrad step before the exchange: its gradients clipped (Eq. 4.21, unless `clip` is null)
 * and its scalers, per tensor (layer-wise) or one over all its tensors; tensors the caller owns.
 */
export function workerScalers(
  grads: ReadonlyMap<string, tf.Tensor>,
  names: readonly string[],
  o: { clip: number | null; layerWise: boolean },
): { clipped: Map<string, tf.Tensor>; scalers: Map<string, tf.Scalar> } {
  const clipped = new Map(
    names.map((p) => [
      p,
      o.clip === null ? tf.clone(grads.get(p) as tf.Tensor) : clipGradient(grads.get(p) as tf.Tensor, o.clip),
    ]),
  );
  if (o.layerWise)
    return {
      clipped,
      scalers: new Map(names.map((p) => [p, tf.tidy(() => tf.max(tf.abs(clipped.get(p) as tf.Tensor)) as tf.Scalar)])),
    };
  const all = tf.tidy(
    () => tf.max(tf.stack(names.map((p) => tf.max(tf.abs(clipped.get(p) as tf.Tensor))))) as tf.Scalar,
  );
  const scalers = new Map(names.map((p) => [p, tf.clone(all)]));
  all.dispose();
  return { clipped, scalers };
}

/** Options of {@link ternGrad}. */
export interface TernGradOptions {
  /** Workers N: the mini-batch is cut into N equal shards, one per worker (the batch size must be a multiple of N). */
  readonly workers: number;
  /** Seed of the Bernoulli draws (per step, worker and parameter). */
  readonly seed: number;
  /** `false`: the workers' float gradients are averaged (the data-parallel baseline with the same sharding). */
  readonly ternary?: boolean;
  /** Clipping at c sigma before ternarizing (Eq. 4.21; default 2.5; `null`: none, Table 4.2's "noclip"). */
  readonly clip?: number | null;
  /** Layer-wise ternarizing: one scaler per parameter tensor (default true); false: one scaler over all of a worker's gradients. */
  readonly layerWise?: boolean;
  /** Scaler sharing (Eq. 4.4): every worker uses the largest worker scaler (default true). */
  readonly scalerSharing?: boolean;
  /** Parameters whose gradients stay float (the thesis keeps the last layer float for large models). */
  readonly floatParams?: (param: string) => boolean;
  /**
   * L2 weight decay inside each worker's gradient, before clipping and ternarizing: g + lambda w for the conv and dense
   * weights (parameters named `.../w`), as the authors' TensorFlow code does (wenwei202/terngrad
   * `inception/inception_train.py`: the tower gradient of the total loss, cross-entropy plus slim's weight-decay
   * regularizers on conv and fc weights, is what `stochastical_binarize_gradients` ternarizes). Leave the optimizer's
   * own weight decay at 0 with it. Default 0: decay is the optimizer's, after the average.
   */
  readonly weightDecay?: number;
}

/** Bits sent per step, by direction, as packed on a wire and at the entropy bound. */
export interface TernGradTraffic {
  /** Worker-to-server bits of one worker: 2 bits per ternary element plus 32 per scaler, 32 per float element. */
  readonly upBitsPerWorker: number;
  /** Server-to-worker bits to one worker: ceil(log2(2N+1)) bits per averaged element plus a 32-bit scaler per tensor with scaler sharing; 32 per element without it, and for float parameters. */
  readonly downBitsPerWorker: number;
  /** Scaler sharing's 2N floats per ternarized tensor (worker scalers up, the maximum down), in bits. */
  readonly sharingBits: number;
  /** The same at the entropy bound (log2 3 up, log2(2N+1) down). */
  readonly upBitsBound: number;
  readonly downBitsBound: number;
  /** 32-bit floats both ways, for comparison (per worker). */
  readonly floatBitsPerWorker: number;
}

/** TernGrad as a technique (see {@link ternGrad}). */
export interface TernGrad extends Technique {
  /** The simulated workers' gradient stage (synchronous). */
  computeGradients(problem: GradientProblem, info: StepInfo): GradientResult;
  /** Bits per step for parameter tensors of these sizes (see {@link TernGradTraffic}). */
  traffic(sizes: ReadonlyMap<string, number>): TernGradTraffic;
  /** Over the trained steps: the share of zeros among the ternary elements the workers sent (Fig. 4.4c; host read). */
  zeroShare(): number;
}

/**
 * TernGrad (Wen, thesis ch. 4, Algorithm 1) with N simulated workers in one process, through the gradient stage's
 * seam: each worker computes the gradient of its shard of the mini-batch, clips it (Eq. 4.21) and ternarizes it
 * layer-wise (Eq. 4.1-4.3) with the shared scaler (Eq. 4.4); the server averages the N ternary gradients and every
 * worker applies the same average to its local copy of the parameters (parameter localization: one copy here, since
 * all copies start from one seed and apply the same update). With scaler sharing, each averaged tensor takes at most
 * 2N + 1 levels. `ternary: false` averages float gradients instead (the baseline).
 */
export function ternGrad(options: TernGradOptions): TernGrad {
  checkKeys(
    options,
    ['workers', 'seed', 'ternary', 'clip', 'layerWise', 'scalerSharing', 'floatParams', 'weightDecay'],
    'ternGrad',
  );
  const decay = options.weightDecay ?? 0;
  if (typeof decay !== 'number' || !(Number.isFinite(decay) && decay >= 0))
    throw new ConfigError('ternGrad.weightDecay', decay, 'a non-negative number');
  const n = options.workers;
  if (!(Number.isInteger(n) && n >= 1)) throw new ConfigError('ternGrad.workers', n, 'a positive integer');
  if (!Number.isInteger(options.seed)) throw new ConfigError('ternGrad.seed', options.seed, 'an integer');
  const clip = options.clip === undefined ? 2.5 : options.clip;
  if (clip !== null && !(Number.isFinite(clip) && clip > 0))
    throw new ConfigError('ternGrad.clip', clip, 'a positive number or null (no clipping)');
  const ternary = options.ternary ?? true;
  const layerWise = options.layerWise ?? true;
  const sharing = options.scalerSharing ?? true;
  const isFloat = options.floatParams ?? (() => false);
  const drawSeed = (iteration: number, worker: number, param: string) =>
    ternGradSeed(options.seed, iteration, worker, param);
  const zeros = tf.variable(tf.scalar(0), false);
  const elements = tf.variable(tf.scalar(0), false);

  return {
    name: 'terngrad',
    computeGradients(problem, info): GradientResult {
      if (problem.batch.examples % n !== 0)
        throw new ConfigError(
          'ternGrad batch',
          problem.batch.examples,
          `a multiple of the ${n} workers (equal shards)`,
        );
      const shards = problem.shards(n);
      const results = shards.map((part) => {
        const r = problem.gradients(part);
        if (decay === 0) return r;
        // Each worker's gradient of its total loss: the decay term of every conv and dense weight added before anything else.
        const grads = new Map(
          [...r.grads].map(([name, g]) => {
            const w = problem.params.get(name);
            if (!name.endsWith('/w') || !w) return [name, g] as const;
            const d = tf.tidy(() => tf.add(g, tf.mul(w, decay)));
            g.dispose();
            return [name, d] as const;
          }),
        );
        return { loss: r.loss, grads };
      });
      try {
        const out = new Map<string, tf.Tensor>();
        const loss = tf.tidy(() => {
          const names = [...(results[0] as GradientResult).grads.keys()];
          const mean = tf.div(tf.addN(results.map((r) => r.loss)), n) as tf.Scalar;
          if (!ternary) {
            for (const name of names)
              out.set(name, tf.keep(tf.div(tf.addN(results.map((r) => r.grads.get(name) as tf.Tensor)), n)));
            return mean;
          }
          const tern = names.filter((p) => !isFloat(p));
          // Per worker: clipped gradients and scalers (per tensor, or one over all of its tensors); then shared (max over workers).
          const sides = results.map((r) => workerScalers(r.grads, tern, { clip, layerWise }));
          const clipped = sides.map((w) => w.clipped);
          const scalersOf = sides.map((w) => w.scalers);
          let zeroCount: tf.Tensor = tf.scalar(0);
          let elementCount = 0;
          for (const p of tern) {
            const shared = sharing
              ? (tf.max(tf.stack(scalersOf.map((s) => s.get(p) as tf.Scalar))) as tf.Scalar)
              : undefined;
            const parts = clipped.map((g, i) => {
              const s = shared ?? (scalersOf[i]?.get(p) as tf.Scalar);
              const t = ternaryParts(g.get(p) as tf.Tensor, drawSeed(info.iteration, i, p), s);
              zeroCount = tf.add(zeroCount, tf.sum(tf.cast(tf.equal(t.ternary, 0), 'float32')));
              elementCount += t.ternary.size;
              return t;
            });
            // With a shared scaler the server sums levels (exact small integers) and the average is k s / N: the same
            // arithmetic a worker process does with the level sums it receives. Without, sum_i s_i t_i / N in worker order.
            out.set(
              p,
              tf.keep(
                shared
                  ? tf.div(tf.mul(tf.addN(parts.map((t) => t.ternary)), shared), n)
                  : tf.div(tf.addN(parts.map((t) => tf.mul(t.ternary, t.scaler))), n),
              ),
            );
          }
          for (const p of names)
            if (isFloat(p)) out.set(p, tf.keep(tf.div(tf.addN(results.map((r) => r.grads.get(p) as tf.Tensor)), n)));
          zeros.assign(tf.add(zeros, zeroCount));
          elements.assign(tf.add(elements, elementCount));
          return mean;
        });
        return { loss, grads: out };
      } finally {
        for (const r of results) tf.dispose([r.loss, ...r.grads.values()]);
      }
    },
    traffic(sizes) {
      let up = 0;
      let down = 0;
      let upBound = 0;
      let downBound = 0;
      let sharingBits = 0;
      let float = 0;
      const levels = 2 * n + 1;
      for (const [p, size] of sizes) {
        float += 32 * size;
        if (!ternary || isFloat(p)) {
          up += 32 * size;
          down += 32 * size;
          upBound += 32 * size;
          downBound += 32 * size;
          continue;
        }
        up += 2 * size + 32;
        upBound += Math.log2(3) * size + 32;
        if (sharing) {
          down += Math.ceil(Math.log2(levels)) * size + 32;
          downBound += Math.log2(levels) * size + 32;
          sharingBits += 2 * n * 32;
        } else {
          down += 32 * size;
          downBound += 32 * size;
        }
      }
      return {
        upBitsPerWorker: up,
        downBitsPerWorker: down,
        sharingBits,
        upBitsBound: upBound,
        downBitsBound: downBound,
        floatBitsPerWorker: float,
      };
    },
    zeroShare: () => tf.tidy(() => tf.divNoNan(zeros, elements).dataSync()[0] as number),
    stats() {
      return { zeroShare: this.zeroShare() };
    },
    state: () => ({ zeros: zeros.dataSync()[0] as number, elements: elements.dataSync()[0] as number }),
    restore(st) {
      const v = st as { zeros: number; elements: number };
      zeros.assign(tf.scalar(v.zeros));
      elements.assign(tf.scalar(v.elements));
    },
    dispose() {
      zeros.dispose();
      elements.dispose();
    },
  };
}

/**
 * The gradients of one parameter through TernGrad's pipeline on one mini-batch (thesis Fig. 4.2): worker 0's original
 * gradient, the same clipped, worker 0's ternary gradient (s t) and the average over the `workers` shards, for the mean
 * softmax cross-entropy of `model` on images `x` and labels `y` (the batch is cut into equal shards). Host arrays.
 */
export function ternGradSnapshot(o: {
  model: Model;
  x: tf.Tensor;
  y: tf.Tensor;
  workers: number;
  seed: number;
  param: string;
  clip: number | null;
  iteration?: number;
}): { original: Float32Array; clipped: Float32Array; ternary: Float32Array; averaged: Float32Array } {
  const n = o.workers;
  const examples = o.x.shape[0] as number;
  if (!(Number.isInteger(n) && n >= 1 && examples % n === 0))
    throw new ConfigError('ternGradSnapshot.workers', n, `a divisor of the ${examples} examples`);
  if (!o.model.params.has(o.param))
    throw new ConfigError('ternGradSnapshot.param', o.param, `a parameter of ${o.model.name}`);
  const v = o.model.params.get(o.param) as tf.Variable;
  const per = examples / n;
  const grads = Array.from({ length: n }, (_, i) =>
    tf.tidy(() => {
      const xi = tf.slice(o.x, i * per, per);
      const yi = tf.slice(o.y, i * per, per);
      const { value, grads: g } = tf.variableGrads(
        () =>
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(tf.cast(yi, 'int32'), o.model.numClasses),
            o.model.apply(xi, { training: true }) as tf.Tensor2D,
          ) as tf.Scalar,
        [v],
      );
      value.dispose();
      return g[v.name] as tf.Tensor;
    }),
  );
  const sides = grads.map((g) => workerScalers(new Map([[o.param, g]]), [o.param], { clip: o.clip, layerWise: true }));
  const out = tf.tidy(() => {
    const shared = tf.max(tf.stack(sides.map((s) => s.scalers.get(o.param) as tf.Scalar))) as tf.Scalar;
    const parts = sides.map((s, i) =>
      ternaryParts(s.clipped.get(o.param) as tf.Tensor, ternGradSeed(o.seed, o.iteration ?? 0, i, o.param), shared),
    );
    const averaged = tf.div(tf.mul(tf.addN(parts.map((p) => p.ternary)), shared), n);
    return [
      grads[0] as tf.Tensor,
      sides[0]?.clipped.get(o.param) as tf.Tensor,
      tf.mul((parts[0] as { ternary: tf.Tensor }).ternary, shared),
      averaged,
    ].map((t) => Float32Array.from(t.dataSync()));
  });
  tf.dispose([...grads, ...sides.flatMap((s) => [...s.clipped.values(), ...s.scalers.values()])]);
  return {
    original: out[0] as Float32Array,
    clipped: out[1] as Float32Array,
    ternary: out[2] as Float32Array,
    averaged: out[3] as Float32Array,
  };
}
