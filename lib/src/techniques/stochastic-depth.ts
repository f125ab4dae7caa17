import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { createRng, type Rng, type RngState } from '../random';
import type { StateValue } from '../models/records';
import type { BlockPlan, BlockSpec, Model } from '../models/spec';
import type { Technique } from '../train/technique';

/** Survival probability of skippable block `l` (1-based) of `L` with the linear decay rule: 1 - (l / L)(1 - pL). */
export function survivalProbability(l: number, L: number, pL: number): number {
  return 1 - (l / L) * (1 - pL);
}

/** The p_L whose expected skip ratio over the model's skippable blocks is `skipRatio`. */
export function pLForSkipRatio(model: Pick<Model, 'blocks'>, skipRatio: number): number {
  const L = model.blocks.filter((b) => b.skippable).length;
  if (L === 0) throw new ConfigError('model', 'no skippable blocks', 'a residual model');
  const meanFrac = Array.from({ length: L }, (_, i) => (i + 1) / L).reduce((a, b) => a + b, 0) / L;
  const pL = 1 - skipRatio / meanFrac;
  if (!(pL >= 0 && pL <= 1))
    throw new ConfigError('skipRatio', skipRatio, `at most ${meanFrac.toFixed(3)} for linear decay over ${L} blocks`);
  return pL;
}

/** Stochastic depth as a technique. */
export interface StochasticDepth extends Technique {
  /** Expected fraction of skippable-block executions skipped. */
  readonly expectedSkipRatio: number;
  /** Evaluation plan: every block runs with its residual branch scaled by its survival probability. */
  evalPlan(block: BlockSpec, x: tf.Tensor4D): BlockPlan | undefined;
  counts(): { executed: number; skipped: number };
}

/**
 * Stochastic depth (Huang et al. 2016) with linear decay: in each training mini-batch, skippable
 * block l of L survives with probability 1 - (l/L)(1 - pL), for the whole batch; a dropped block is
 * the identity in forward and backward passes. At test time residual branches are scaled by their
 * survival probability ({@link StochasticDepth.evalPlan}).
 */
export function stochasticDepth(options: { model: Pick<Model, 'blocks'>; pL: number; seed: number }): StochasticDepth {
  const { pL } = options;
  if (!(pL >= 0 && pL <= 1)) throw new ConfigError('sd.pL', pL, 'a probability in [0, 1]');
  const skippable = options.model.blocks.filter((b) => b.skippable).map((b) => b.name);
  const L = skippable.length;
  const survival = new Map(skippable.map((n, i) => [n, survivalProbability(i + 1, L, pL)]));
  let rng: Rng = createRng(`sd/${options.seed}`);
  let executed = 0;
  let skipped = 0;
  const expected = L ? [...survival.values()].reduce((a, s) => a + (1 - s), 0) / L : 0;
  return {
    name: 'stochastic-depth',
    expectedSkipRatio: expected,
    blockPlan(block) {
      const s = survival.get(block.name);
      if (s === undefined) return undefined;
      if (rng.next() < s) {
        executed += 1;
        return undefined;
      }
      skipped += 1;
      return { groups: [] };
    },
    evalPlan(block, x) {
      const s = survival.get(block.name);
      return s === undefined
        ? undefined
        : { groups: [{ indices: Int32Array.from({ length: x.shape[0] }, (_, i) => i), residualScale: s }] };
    },
    counts: () => ({ executed, skipped }),
    stats: () => ({ skipRatio: executed + skipped ? skipped / (executed + skipped) : 0 }),
    state: (): StateValue => ({ rng: rng.state(), executed, skipped }),
    restore(s: StateValue) {
      const st = s as unknown as { rng: RngState; executed: number; skipped: number };
      rng = createRng(`sd/${options.seed}`, st.rng);
      executed = st.executed;
      skipped = st.skipped;
    },
  };
}
