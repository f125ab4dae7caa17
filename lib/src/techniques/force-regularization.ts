import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { LayerSpec, Model } from '../models/spec';
import type { Technique } from '../train/technique';
import { lrAt, type LrSchedule } from '../train/schedules';

/** The pairwise attractive force f(w_j - w_i) of Eq. (3.4) (`'l2'`: w_j - w_i) or Eq. (3.5) (`'l1'`: its unit vector). */
export type ForceKind = 'l2' | 'l1';

/** How the force step of filter i is scaled: by ||W_i|| (Eq. 3.2, the thesis's choice), by 1 / ||W_i|| (Table 3.1's other row), or not. */
export type ForceScaler = 'norm' | 'inverse-norm' | 'none';

/** Options of {@link forceRegularization}. */
export interface ForceRegularizationOptions {
  readonly model: Model;
  /** lambda_s of Eq. (3.3). */
  readonly lambda: number;
  readonly force?: ForceKind;
  readonly scaler?: ForceScaler;
  /** Layers whose filters are coordinated (default: every conv layer stored densely). */
  readonly layers?: (layer: LayerSpec) => boolean;
  /** Norms below this count as zero: such a filter has no direction and gets no force (default 1e-12). */
  readonly epsilon?: number;
}

function unitRows(W: tf.Tensor2D, epsilon: number): { w: tf.Tensor2D; norms: tf.Tensor2D; alive: tf.Tensor2D } {
  const norms = tf.sqrt(tf.sum(tf.square(W), 1, true)) as tf.Tensor2D;
  const alive = tf.cast(tf.greater(norms, epsilon), 'float32') as tf.Tensor2D;
  const w = tf.mul(tf.divNoNan(W, norms), alive) as tf.Tensor2D;
  return { w, norms, alive };
}

/**
 * The Force Regularization gradient of Eq. (3.2) for the N filters given as the rows of `W` [N, D]:
 * Delta W_i = s_i sum_j (f_ji - (f_ji . w_i) w_i), with w_i = W_i / ||W_i||, f_ji = f(w_j - w_i) and s_i the scaler. The
 * update of Eq. (3.3) subtracts lambda_s x Delta W from the data-loss gradient. The l2 force sums in O(N D)
 * (sum_j f_ji = sum_j w_j - N w_i); the l1 force needs the N x N distances. Filters with zero norm get no force and exert none.
 */
export function forceGradient(
  W: tf.Tensor2D,
  options: { force?: ForceKind; scaler?: ForceScaler; epsilon?: number } = {},
): tf.Tensor2D {
  const force = options.force ?? 'l2';
  const scaler = options.scaler ?? 'norm';
  const epsilon = options.epsilon ?? 1e-12;
  return tf.tidy(() => {
    const { w, norms, alive } = unitRows(W, epsilon);
    let F: tf.Tensor2D;
    if (force === 'l2') {
      const n = tf.sum(alive);
      F = tf.sub(tf.sum(w, 0, true), tf.mul(w, n)) as tf.Tensor2D;
    } else {
      const g = tf.matMul(w, w, false, true);
      const sq = tf.sum(tf.square(w), 1, true);
      const d = tf.sqrt(tf.relu(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(g, 2))));
      // 1 / ||w_j - w_i|| for distinct live filters (a coincident pair exerts no force: its direction is undefined).
      const pairAlive = tf.matMul(alive, alive, false, true);
      const A = tf.mul(tf.divNoNan(tf.scalar(1), d), tf.mul(pairAlive, tf.cast(tf.greater(d, 1e-12), 'float32')));
      F = tf.sub(tf.matMul(A, w), tf.mul(tf.sum(A, 1, true), w)) as tf.Tensor2D;
    }
    const tangential = tf.sub(F, tf.mul(tf.sum(tf.mul(F, w), 1, true), w));
    const s =
      scaler === 'norm' ? norms : scaler === 'inverse-norm' ? tf.divNoNan(tf.scalar(1), norms) : tf.onesLike(norms);
    return tf.mul(tf.mul(tangential, s), alive) as tf.Tensor2D;
  });
}

/**
 * The potential whose negative gradient has Force Regularization's direction (Theorem 1): Eq. (3.6),
 * 1/2 sum_i sum_j ||w_j - w_i||^2 for the l2 force, and Eq. (3.12), sum_i sum_j ||w_j - w_i||, for the l1 force, over the
 * normalised rows of `W` [N, D]. Differentiable (tf), for the Theorem 1 check and for monitoring.
 */
export function forcePotential(W: tf.Tensor2D, force: ForceKind = 'l2'): tf.Scalar {
  return tf.tidy(() => {
    const w = tf.div(W, tf.sqrt(tf.sum(tf.square(W), 1, true)));
    const diff = tf.sub(tf.expandDims(w, 0), tf.expandDims(w, 1));
    const sq = tf.sum(tf.square(diff), 2);
    // The l1 potential's diagonal terms are sqrt(0): add a tiny epsilon inside so autodiff stays finite there.
    return (force === 'l2' ? tf.mul(tf.sum(sq), 0.5) : tf.sum(tf.sqrt(tf.add(sq, 1e-20)))) as tf.Scalar;
  });
}

/** The filters of a conv [kh, kw, cin, N] or dense [in, N] weight as the rows of an [N, D] matrix. */
export function filterRows(weight: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const n = weight.shape[weight.rank - 1] as number;
    return tf.transpose(tf.reshape(weight, [-1, n])) as tf.Tensor2D;
  });
}

/** Force Regularization as a technique (see {@link forceRegularization}). */
export interface ForceRegularization extends Technique {
  /** The coordinated layers. */
  readonly layers: readonly string[];
  /** Per coordinated layer: the potential (Eq. 3.6 or 3.12) at the current weights (host reads; call between steps). */
  potentials(): Array<{ layer: string; potential: number }>;
}

/**
 * Force Regularization (Wen, thesis Sec. 3.2, Eq. 3.2-3.5): in the transform stage, every coordinated layer's gradient
 * becomes g - lambda_s x Delta W (Eq. 3.3), which spins its normalised filters towards each other so that they lie
 * in a lower-rank space; the data-loss gradient keeps them discriminative. Weight decay, if any, is the optimizer's.
 */
export function forceRegularization(options: ForceRegularizationOptions): ForceRegularization {
  checkKeys(options, ['model', 'lambda', 'force', 'scaler', 'layers', 'epsilon'], 'forceRegularization');
  const { model } = options;
  if (!(Number.isFinite(options.lambda) && options.lambda >= 0))
    throw new ConfigError('forceRegularization.lambda', options.lambda, 'a non-negative number');
  const force = options.force ?? 'l2';
  if (force !== 'l2' && force !== 'l1') throw new ConfigError('forceRegularization.force', force, "'l2' or 'l1'");
  const scaler = options.scaler ?? 'norm';
  if (!['norm', 'inverse-norm', 'none'].includes(scaler))
    throw new ConfigError('forceRegularization.scaler', scaler, "'norm', 'inverse-norm' or 'none'");
  const epsilon = options.epsilon ?? 1e-12;
  if (!(Number.isFinite(epsilon) && epsilon > 0))
    throw new ConfigError('forceRegularization.epsilon', epsilon, 'a positive number');
  const pick = options.layers ?? ((l: LayerSpec) => l.kind === 'conv');
  const layers = model.layers.filter((l) => (l.kind === 'conv' || l.kind === 'dense') && pick(l));
  for (const l of layers)
    if (l.fibres || l.basis)
      throw new ConfigError(
        'forceRegularization.layers',
        l.name,
        'a layer stored densely (not fibre-lowered or basis-decomposed)',
      );
  if (layers.length === 0)
    throw new ConfigError('forceRegularization.layers', 'none', `at least one conv or dense layer of ${model.name}`);
  const weight = (l: LayerSpec) => model.params.get(l.weight);
  return {
    name: 'force-regularization',
    layers: layers.map((l) => l.name),
    transformGradients(grads) {
      if (options.lambda === 0) return grads;
      const out = new Map(grads);
      for (const l of layers) {
        const g = grads.get(l.weight);
        if (!g) continue;
        out.set(
          l.weight,
          tf.tidy(() => {
            const W = weight(l);
            const delta = forceGradient(filterRows(W), { force, scaler, epsilon });
            return tf.sub(g, tf.mul(tf.reshape(tf.transpose(delta), W.shape), options.lambda));
          }),
        );
      }
      return out;
    },
    potentials: () =>
      layers.map((l) => ({
        layer: l.name,
        potential: tf.tidy(() => forcePotential(filterRows(weight(l)), force).dataSync()[0] as number),
      })),
    stats() {
      const p = this.potentials();
      return { potential: p.reduce((a, x) => a + x.potential, 0) };
    },
  };
}

/**
 * A Force Regularization strength stated as an angle: the lambda_s at which a filter pulled by all `filters` - 1 others
 * in one direction (the largest tangential force, |sum_j f_ji| <= N) would turn `angle` radians over a run of
 * `iterations` of `schedule` from `lr` with SGD `momentum` (steady-state step amplified by 1 / (1 - momentum)). Real
 * forces largely cancel while filters are spread out, so the turn is far smaller; the angle is a scale, not a
 * prediction. The thesis selects lambda_s by cross-validation and lists values only for AlexNet (Fig. 3.5).
 */
export function forceStrength(o: {
  angle: number;
  filters: number;
  lr: number;
  iterations: number;
  momentum: number;
  schedule: LrSchedule;
}): number {
  if (!(Number.isFinite(o.angle) && o.angle >= 0))
    throw new ConfigError('forceStrength.angle', o.angle, 'a non-negative angle in radians');
  if (!(Number.isInteger(o.filters) && o.filters >= 2))
    throw new ConfigError('forceStrength.filters', o.filters, 'at least 2 filters');
  if (!(Number.isInteger(o.iterations) && o.iterations > 0))
    throw new ConfigError('forceStrength.iterations', o.iterations, 'a positive integer');
  if (!(Number.isFinite(o.momentum) && o.momentum >= 0 && o.momentum < 1))
    throw new ConfigError('forceStrength.momentum', o.momentum, 'a momentum in [0, 1)');
  if (!(Number.isFinite(o.lr) && o.lr > 0)) throw new ConfigError('forceStrength.lr', o.lr, 'a positive learning rate');
  let lrSum = 0;
  for (let t = 0; t < o.iterations; t++) lrSum += lrAt(o.schedule, o.lr, t, o.iterations);
  return (o.angle * (1 - o.momentum)) / (lrSum * o.filters);
}
