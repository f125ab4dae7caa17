import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { cifarResNet } from '../lib/src/models/resnet';
import type { Model } from '../lib/src/models/spec';
import { recordValues } from '../lib/src/models/records';
import { ghostBatchGradients, ghostBatches } from '../lib/src/techniques/ghost-batch';
import { smoothOut } from '../lib/src/techniques/smoothout';
import type { GradientProblem, GradientResult, StepInfo } from '../lib/src/train/technique';
import type { TaskBatch } from '../lib/src/train/task';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

/** A gradient problem over a fixed batch of a model (training-mode forward, cross-entropy), shards consecutive. */
function problemOf(model: Model, x: tf.Tensor4D, y: tf.Tensor1D): GradientProblem {
  const params = model.params.trainable();
  const names = new Map([...params].map(([k, v]) => [v.name, k]));
  const batch: TaskBatch = { x, y, examples: x.shape[0] };
  return {
    batch,
    params,
    shards(n) {
      const out: TaskBatch[] = [];
      let start = 0;
      for (let i = 0; i < n; i++) {
        const k = Math.floor(batch.examples / n) + (i < batch.examples % n ? 1 : 0);
        out.push({ x: tf.slice(x, [start], [k]), y: tf.slice(y, [start], [k]), examples: k });
        start += k;
      }
      return out;
    },
    gradients(part = batch): GradientResult {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(part.y as tf.Tensor1D, 10),
            model.apply(part.x, { training: true }),
          ) as tf.Scalar,
        [...params.values()],
      );
      return { loss: value, grads: new Map(Object.entries(grads).map(([k, g]) => [names.get(k) as string, g])) };
    },
  };
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

describe('ghost batches', () => {
  const x = tf.randomNormal([10, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'int32');

  it('average the gradients of consecutive ghost batches weighted by their sizes; batch norm sees each alone', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 4, 4], seed: 1 });
    const snapshot = m.params.recordsSync();
    const p = problemOf(m, x, y);
    const ghost = ghostBatchGradients(p, 4);
    // 10 examples in ghost batches of at most 4: 3 shards of 4, 3 and 3 examples.
    m.params.restore(snapshot);
    const parts = p.shards(3);
    expect(parts.map((s) => s.examples)).toEqual([4, 3, 3]);
    const each = parts.map((s) => {
      m.params.restore(snapshot);
      return p.gradients(s);
    });
    m.params.restore(snapshot);
    const whole = p.gradients();
    let checked = 0;
    for (const [name, g] of ghost.grads) {
      const expected = tf.addN(
        each.map((r, i) => tf.mul(r.grads.get(name) as tf.Tensor, (parts[i] as TaskBatch).examples / 10)),
      );
      expect(maxDiff(g, expected), name).toBeLessThan(1e-5);
      checked += 1;
    }
    expect(checked).toBe(m.params.trainable().size);
    // Batch norm over ghost batches is not batch norm over the batch: the gradients differ.
    expect(maxDiff(ghost.grads.get('conv1/w') as tf.Tensor, whole.grads.get('conv1/w') as tf.Tensor)).toBeGreaterThan(
      1e-4,
    );
    // A ghost size of the whole batch or more is the plain gradient.
    m.params.restore(snapshot);
    const one = ghostBatchGradients(p, 10);
    for (const [name, g] of one.grads) expect(maxDiff(g, whole.grads.get(name) as tf.Tensor), name).toBeLessThan(1e-6);
    expect(() => ghostBatches({ size: 0 })).toThrowError(/ghostBatches.size = 0 is invalid/);
    m.params.dispose();
  });

  it("SmoothOut with ghost batches draws a noise per ghost batch and removes it after that batch's gradient", () => {
    const m = cifarResNet({ depth: 8, widths: [4, 4, 4], seed: 2 });
    const so = smoothOut({ model: m, a: 0.05, seed: 9, ghostBatch: 5 });
    const snapshot = m.params.recordsSync();
    const p = problemOf(m, x, y);
    const r = so.computeGradients!(p, { iteration: 3 } as StepInfo) as GradientResult;
    // The weights are back where they were (de-noised).
    for (const [name, v] of m.params.trainable())
      expect(Array.from(v.dataSync())).toEqual(Array.from(recordValues(snapshot[name]!)));
    // Expected: half the gradient of each half at its own perturbed weights.
    const expected = [0, 1].map((shard) => {
      m.params.restore(snapshot);
      const theta = so.noiseAt(3, shard);
      for (const [name, v] of m.params.trainable())
        if (theta.has(name)) v.assign(tf.add(v, theta.get(name) as tf.Tensor));
      return p.gradients(p.shards(2)[shard]);
    });
    for (const [name, g] of r.grads) {
      const e = tf.add(
        tf.mul(expected[0]!.grads.get(name) as tf.Tensor, 0.5),
        tf.mul(expected[1]!.grads.get(name) as tf.Tensor, 0.5),
      );
      expect(maxDiff(g, e), name).toBeLessThan(1e-5);
    }
    m.params.dispose();
  });
});

describe('ghost batch norm as an arm technique', () => {
  it("an arm with { kind: 'ghost' } trains with ghost batches (other weights than the plain arm) and is keyed apart", async () => {
    const { runArm, armDescription } = await import('../lib/src/experiments/arm');
    const { syntheticCifar } = await import('../lib/src/data/synthetic');
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(32, 2) };
    const arm = (ghost: boolean) => ({
      ...{ label: ghost ? 'ghost' : 'plain', seed: 0, data, analysis: 'weights' as const },
      model: { kind: 'resnet' as const, options: { depth: 8, widths: [4, 8, 8] as [number, number, number] } },
      recipe: {
        ...{ batchSize: 32, iterations: 3, lr: 0.05, optimizer: { kind: 'sgd' as const, momentum: 0.9 } },
        ...{ schedule: { kind: 'constant' as const }, augment: 'none' as const, input: 'standardize' as const },
      },
      techniques: ghost ? [{ kind: 'ghost' as const, options: { size: 8 } }] : [],
    });
    const [g, p] = [await runArm(arm(true), { cache: false }), await runArm(arm(false), { cache: false })];
    const w = (o: typeof g) =>
      Array.from(recordValues((o.analysis as Record<string, { shape: number[]; data: string }>)['conv1/w']!));
    expect(w(g)).not.toEqual(w(p));
    expect(JSON.stringify(armDescription(arm(true)))).not.toBe(JSON.stringify(armDescription(arm(false))));
  });
});
