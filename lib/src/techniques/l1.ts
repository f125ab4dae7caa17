import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { LayerSpec, Model } from '../models/spec';
import type { StateValue } from '../train/state';
import type { Technique } from '../train/technique';

/** Options of {@link l1Sparsity}. */
export interface L1Options {
  readonly model: Model;
  /** Weight of the l1 penalty lambda x sum |w| (its gradient lambda x sign(w) is added in the transform stage). */
  readonly lambda: number;
  /** Weights whose magnitude falls below this after an update are set to exact zeros and stay zero (default 1e-4; 0: off). */
  readonly threshold?: number;
  /** Layers regularized (default: every conv, dense and LSTM layer). */
  readonly layers?: (layer: LayerSpec) => boolean;
}

/** Non-structured sparsity as a technique. */
export interface L1Sparsity extends Technique {
  /** Per layer weight: the share of exact zeros (host reads; call between steps). */
  zeroShare(): Array<{ layer: string; param: string; weights: number; zero: number }>;
}

/**
 * The non-structured baseline of the thesis (Sec. 2.2): l1 regularization of every weight and pruning of small
 * weights to exact zeros after each update (a pruned weight stays zero). Zeros are scattered, so dense kernels run
 * them at full cost; the notebooks time this against the structured (SSL) compaction.
 */
export function l1Sparsity(options: L1Options): L1Sparsity {
  checkKeys(options, ['model', 'lambda', 'threshold', 'layers'], 'l1');
  const { model } = options;
  if (!(Number.isFinite(options.lambda) && options.lambda >= 0)) throw new ConfigError('l1.lambda', options.lambda, 'a non-negative number');
  const threshold = options.threshold ?? 1e-4;
  if (!(Number.isFinite(threshold) && threshold >= 0)) throw new ConfigError('l1.threshold', threshold, 'a non-negative number');
  const pick = options.layers ?? (() => true);
  const targets = model.layers
    .filter((l) => (l.kind === 'conv' || l.kind === 'dense' || l.kind === 'lstm' || l.kind === 'depthwise') && pick(l))
    .flatMap((l) => [l.weight, ...(l.extraWeights ?? [])].map((param) => ({ layer: l.name, param })));
  if (targets.length === 0) throw new ConfigError('l1.layers', 'none', `at least one conv, dense or LSTM layer of ${model.name}`);
  const masks = new Map<string, tf.Variable>();
  const v = (p: string) => model.params.get(p) as tf.Variable;
  return {
    name: 'l1',
    transformGradients(grads) {
      if (options.lambda === 0) return grads;
      const out = new Map(grads);
      for (const { param } of targets) {
        const g = grads.get(param);
        if (g) out.set(param, tf.tidy(() => tf.add(g, tf.mul(tf.sign(v(param)), options.lambda))));
      }
      return out;
    },
    afterUpdate() {
      if (threshold === 0) return;
      tf.tidy(() => {
        for (const { param } of targets) {
          let m = masks.get(param);
          if (!m) {
            m = tf.keep(tf.variable(tf.onesLike(v(param)), false));
            masks.set(param, m);
          }
          const alive = tf.mul(m, tf.cast(tf.greaterEqual(tf.abs(v(param)), threshold), 'float32'));
          m.assign(alive);
          v(param).assign(tf.add(tf.mul(v(param), alive), 0));
        }
      });
    },
    zeroShare() {
      return targets.map(({ layer, param }) => {
        const d = v(param).dataSync();
        let zero = 0;
        for (const x of d) if (x === 0) zero += 1;
        return { layer, param, weights: d.length, zero };
      });
    },
    stats() {
      let n = 0;
      let z = 0;
      for (const { param } of targets) {
        const d = v(param).dataSync();
        n += d.length;
        for (const x of d) if (x === 0) z += 1;
      }
      return { zeroShare: n ? z / n : 0 };
    },
    state: (): StateValue => ({ masks: [...masks.entries()].map(([p, m]) => [p, Array.from(m.dataSync())]) }) as unknown as StateValue,
    restore(s: StateValue) {
      const st = s as unknown as { masks: Array<[string, number[]]> };
      for (const [p, values] of st.masks) {
        const shape = v(p).shape;
        let m = masks.get(p);
        if (!m) {
          m = tf.variable(tf.ones(shape), false);
          masks.set(p, m);
        }
        const mm = m;
        tf.tidy(() => mm.assign(tf.tensor(values, shape)));
      }
    },
    dispose() {
      for (const m of masks.values()) m.dispose();
      masks.clear();
    },
  };
}
