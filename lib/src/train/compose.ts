import { ConfigError } from '../errors';
import type { BlockPlan, BlockSpec, LayerSpec } from '../models/spec';
import { minPrecision, type LayerPrecision } from '../quant/precision';
import type * as tf from '@tensorflow/tfjs-core';
import type { StepInfo, Technique } from './technique';

/**
 * Rejects technique combinations whose settings would otherwise override each other, naming both:
 * - two techniques that set layer precision, unless both combine by `'min'` (see {@link Technique.precisionCombine});
 * - an `'exclusive'` precision technique together with a run-wide default precision;
 * - two techniques that set per-input block plans (whose decisions and statistics assume their own plan runs);
 * - two techniques that replace the gradient computation.
 */
export function checkComposition(techniques: readonly Technique[], defaultPrecision: LayerPrecision | undefined): void {
  const setters = techniques.filter((t) => t.precision);
  for (let i = 0; i < setters.length; i++) {
    for (let j = i + 1; j < setters.length; j++) {
      const a = setters[i] as Technique;
      const b = setters[j] as Technique;
      if ((a.precisionCombine ?? 'exclusive') !== 'min' || (b.precisionCombine ?? 'exclusive') !== 'min') {
        const excl = (a.precisionCombine ?? 'exclusive') !== 'min' ? a : b;
        throw new ConfigError(
          'techniques',
          [a.name, b.name],
          `at most one technique setting layer precision when one of them is exclusive (${excl.name}'s precision has its own meaning and cannot be capped)`,
        );
      }
    }
  }
  const exclusive = setters.find((t) => (t.precisionCombine ?? 'exclusive') !== 'min');
  if (exclusive && defaultPrecision) {
    throw new ConfigError(
      'precision',
      defaultPrecision,
      `unset: technique ${exclusive.name} sets every layer's precision itself`,
    );
  }
  const planners = techniques.filter((t) => t.blockPlan);
  if (planners.length > 1) {
    throw new ConfigError(
      'techniques',
      planners.map((t) => t.name),
      'at most one technique that sets per-input block plans (their decisions and statistics assume their own plan runs)',
    );
  }
  const replacers = techniques.filter((t) => t.computeGradients);
  if (replacers.length > 1) {
    throw new ConfigError(
      'techniques',
      replacers.map((t) => t.name),
      'at most one technique that replaces the gradient computation',
    );
  }
}

/**
 * The precision of a layer in a step: the run default, capped field by field by every `'min'` technique, or the
 * exclusive technique's precision (the only one, by {@link checkComposition}).
 */
export function composePrecision(
  techniques: readonly Technique[],
  defaultPrecision: LayerPrecision | undefined,
  info: StepInfo,
): (layer: LayerSpec) => LayerPrecision | undefined {
  const setters = techniques.filter((t) => t.precision);
  if (setters.length === 0) return () => defaultPrecision;
  return (layer) => {
    let p = defaultPrecision;
    for (const t of setters) {
      const q = t.precision?.(layer, info);
      if (!q) continue;
      p = (t.precisionCombine ?? 'exclusive') === 'min' ? minPrecision(p, q) : q;
    }
    return p;
  };
}

/** The block-plan hook of a step (at most one technique sets plans, by {@link checkComposition}). */
export function composeBlockPlan(
  techniques: readonly Technique[],
  info: StepInfo,
): ((block: BlockSpec, x: tf.Tensor4D) => BlockPlan | undefined) | undefined {
  const planner = techniques.find((t) => t.blockPlan);
  return planner ? (block, x) => planner.blockPlan?.(block, x, info) : undefined;
}
