import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../models/spec';
import { defaultQuantConfig, type QuantConfig } from '../quant/layers';
import type { LayerPrecision } from '../quant/precision';
import { createOptimizer, type OptimizerConfig } from '../train/optimizers';
import { tfSeed } from '../random';

/** A training step of an image model on a fixed random batch, for throughput measurements. */
export interface BenchStep {
  /** One full step: forward, loss, gradients, optimizer update, and the loss read back. */
  run(precision?: LayerPrecision): void;
  readonly batch: number;
  dispose(): void;
}

/**
 * A training step of `model` on a fixed random batch (normal inputs, cyclic labels): forward at the given
 * precision (FW/BW fake quantization with the SBM defaults), softmax cross-entropy, gradients, an optimizer
 * update (default SGD, momentum 0.9, weight decay 5e-4) and one host read of the loss: what the trainer does per
 * step, without data loading and accounting. `quant` adds simulator settings (e.g. PSG's predictor mode).
 */
export function benchStep(
  model: Model,
  options: {
    batch: number;
    optimizer?: OptimizerConfig;
    lr?: number;
    seed?: number;
    quant?: Partial<Omit<QuantConfig, 'nextSeed'>>;
  },
): BenchStep {
  const params = model.params.trainable();
  const opt = createOptimizer(options.optimizer ?? { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.randomNormal([options.batch, ...model.inputShape], 0, 1, 'float32', tfSeed(options.seed ?? 1));
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: options.batch }, (_, i) => i % model.numClasses),
      'int32',
    ),
    model.numClasses,
  );
  let seed = 0;
  return {
    batch: options.batch,
    run(p) {
      const quant = { ...defaultQuantConfig(0), ...(options.quant ?? {}), nextSeed: () => ++seed };
      const { value, grads } = tf.variableGrads(
        () =>
          tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true, quant, precision: () => p })) as tf.Scalar,
        [...params.values()],
      );
      opt.apply(
        params,
        new Map([...params.entries()].map(([n, v]) => [n, grads[v.name] as tf.Tensor])),
        options.lr ?? 0.05,
      );
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    },
    dispose() {
      opt.dispose();
      tf.dispose([x, y]);
    },
  };
}

/** Wall times (ms) of `n` calls of `f` after `warmup` untimed calls. */
export function stepTimes(f: () => void, n: number, warmup = 2): number[] {
  for (let i = 0; i < warmup; i++) f();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    f();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Kernel time (ms) and launches of one call of `f`, per kernel, most time first (tfjs' profiler). */
export async function kernelProfile(f: () => void): Promise<Array<{ kernel: string; ms: number; launches: number }>> {
  f();
  const prof = await tf.profile(f);
  const by = new Map<string, { ms: number; launches: number }>();
  for (const k of prof.kernels) {
    const e = by.get(k.name) ?? { ms: 0, launches: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.launches += 1;
    by.set(k.name, e);
  }
  return [...by.entries()]
    .map(([kernel, e]) => ({ kernel, ms: e.ms, launches: e.launches }))
    .sort((a, b) => b.ms - a.ms);
}

/**
 * Inference wall time of `model` (ms per forward pass, median of `repeats` timed passes after `warmup`) on a fixed
 * random batch of `batch` inputs, with the result read back (what a deployed model pays per call). For language
 * models pass `input` (token ids).
 */
export function inferenceTime(
  model: import('../models/spec').Model,
  options: { batch: number; repeats?: number; warmup?: number; input?: () => tf.Tensor; seed?: number },
): { medianMs: number; times: number[] } {
  if (!Number.isInteger(options.batch) || options.batch < 1)
    throw new RangeError(`inferenceTime: batch = ${options.batch}, expected a positive integer`);
  const x = options.input
    ? options.input()
    : tf.randomNormal([options.batch, ...model.inputShape], 0, 1, 'float32', tfSeed(options.seed ?? 1));
  const run = () => {
    const y = tf.tidy(() => model.apply(x, { training: false }));
    y.dataSync();
    y.dispose();
  };
  const times = stepTimes(run, options.repeats ?? 20, options.warmup ?? 3);
  x.dispose();
  return { medianMs: median(times), times };
}
