import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { LayerSpec, Model } from '../models/spec';
import type { StateValue } from '../models/records';
import type { Technique } from '../train/technique';
import { StickyMasks, keepWhere } from './sticky-zeros';

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
  if (!(Number.isFinite(options.lambda) && options.lambda >= 0))
    throw new ConfigError('l1.lambda', options.lambda, 'a non-negative number');
  const threshold = options.threshold ?? 1e-4;
  if (!(Number.isFinite(threshold) && threshold >= 0))
    throw new ConfigError('l1.threshold', threshold, 'a non-negative number');
  const pick = options.layers ?? (() => true);
  const targets = model.layers
    .filter((l) => (l.kind === 'conv' || l.kind === 'dense' || l.kind === 'lstm' || l.kind === 'depthwise') && pick(l))
    .flatMap((l) => [l.weight, ...(l.extraWeights ?? [])].map((param) => ({ layer: l.name, param })));
  if (targets.length === 0)
    throw new ConfigError('l1.layers', 'none', `at least one conv, dense or LSTM layer of ${model.name}`);
  const masks = new StickyMasks<string>();
  const v = (p: string) => model.params.get(p) as tf.Variable;
  const zeroShare = () =>
    targets.map(({ layer, param }) => {
      const d = v(param).dataSync();
      let zero = 0;
      for (const x of d) if (x === 0) zero += 1;
      return { layer, param, weights: d.length, zero };
    });
  return {
    name: 'l1',
    transformGradients(grads) {
      if (options.lambda === 0) return grads;
      const out = new Map(grads);
      for (const { param } of targets) {
        const g = grads.get(param);
        if (g)
          out.set(
            param,
            tf.tidy(() => tf.add(g, tf.mul(tf.sign(v(param)), options.lambda))),
          );
      }
      return out;
    },
    afterUpdate() {
      if (threshold === 0) return;
      tf.tidy(() => {
        for (const { param } of targets)
          keepWhere(v(param), masks.update(param, tf.cast(tf.greaterEqual(tf.abs(v(param)), threshold), 'float32')));
      });
    },
    zeroShare,
    stats() {
      const z = zeroShare();
      const n = z.reduce((a, x) => a + x.weights, 0);
      return { zeroShare: n ? z.reduce((a, x) => a + x.zero, 0) / n : 0 };
    },
    state: (): StateValue => ({ masks: masks.state((p) => p) }) as unknown as StateValue,
    restore(s: StateValue) {
      masks.restore((s as unknown as { masks: Array<[string, number[], number[]]> }).masks, (p) => p as string);
    },
    dispose: () => masks.dispose(),
  };
}
