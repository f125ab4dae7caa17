import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { channelStats } from '../lib/src/data/pipeline';
import { mlp } from '../lib/src/models/small';
import { cifarResNet } from '../lib/src/models/resnet';
import type { Model } from '../lib/src/models/spec';
import { createOptimizer } from '../lib/src/train/optimizers';
import { lrAt } from '../lib/src/train/schedules';
import { DivergenceError, train, type ImageTrainConfig } from '../lib/src/train/trainer';
import { recordValues } from '../lib/src/models/records';
import type { Technique } from '../lib/src/train/technique';
import { EnergyLedger } from '../lib/src/cost/ledger';
import { fwbw } from '../lib/src/quant/precision';
import { tempDir } from './helpers';

const data = syntheticCifar(200, 1);
const stats = channelStats(data);
const small = (seed = 3): Model => mlp({ inputShape: [32, 32, 3], hidden: [16], seed });
const base = (model: Model, extra: Partial<ImageTrainConfig> = {}): ImageTrainConfig => ({
  model,
  train: data,
  batchSize: 20,
  epochs: 3,
  lr: 0.01,
  optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
  schedule: { kind: 'steps', milestones: [0.5, 0.75] },
  seed: 11,
  normalize: stats,
  ...extra,
});

async function flat(m: Model): Promise<number[]> {
  const s = await m.params.snapshot();
  return Object.values(s).flatMap((v) => Array.from(recordValues(v)));
}

describe('schedules and optimizers', () => {
  it('step, poly and cosine schedules scale with the run length', () => {
    const s = { kind: 'steps', milestones: [0.5, 0.75] } as const;
    expect([0, 49, 50, 75, 99].map((t) => lrAt(s, 1, t, 100))).toEqual(
      [1, 1, 0.1, 0.1 * 0.1, 0.1 * 0.1].map((v) => expect.closeTo(v, 12)) as unknown as number[],
    );
    expect(lrAt({ kind: 'poly', power: 2 }, 1, 50, 100)).toBeCloseTo(0.25, 12);
    expect(lrAt({ kind: 'cosine' }, 1, 100, 100)).toBeCloseTo(0, 12);
    expect(lrAt({ kind: 'constant', warmup: 4 }, 1, 1, 100)).toBeCloseTo(0.5, 12);
  });

  it('SGD with momentum and weight decay follows v = m v + g + wd w; w -= lr v', async () => {
    await initBackend({ backend: 'cpu' });
    const w = tf.variable(tf.tensor1d([1, -2]));
    const opt = createOptimizer({ kind: 'sgd', momentum: 0.5, weightDecay: 0.1 });
    const params = new Map([['w', w]]);
    opt.apply(params, new Map([['w', tf.tensor1d([1, 1])]]), 0.1);
    // v = [1 + 0.1, 1 - 0.2] = [1.1, 0.8]; w = [1 - 0.11, -2 - 0.08]
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.89, 6), expect.closeTo(-2.08, 6)]);
    opt.apply(params, new Map([['w', tf.tensor1d([0, 0])]]), 0.1);
    // v = 0.5 [1.1, 0.8] + 0.1 w = [0.55 + 0.089, 0.4 - 0.208]
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.89 - 0.0639, 6), expect.closeTo(-2.08 - 0.0192, 6)]);
    const s = tf.variable(tf.tensor1d([1, 1]));
    createOptimizer({ kind: 'signsgd' }).apply(new Map([['s', s]]), new Map([['s', tf.tensor1d([0.001, -5])]]), 0.5);
    expect(Array.from(s.dataSync())).toEqual([0.5, 1.5]);
    // Weight decay is a separate term of the signSGD update: w -= lr (sign(g) + wd w).
    const d = tf.variable(tf.tensor1d([1, -2]));
    createOptimizer({ kind: 'signsgd', weightDecay: 0.1 }).apply(
      new Map([['d', d]]),
      new Map([['d', tf.tensor1d([0.001, -5])]]),
      0.5,
    );
    expect(Array.from(d.dataSync())).toEqual([expect.closeTo(0.45, 6), expect.closeTo(-1.4, 6)]);
    expect(() => createOptimizer({ kind: 'sgd', momentum: 1.5 })).toThrowError(/optimizer.momentum = 1.5 is invalid/);
  });
});

describe('trainer', () => {
  it('learns on the pure-JS backend within seconds (loss falls)', async () => {
    await initBackend({ backend: 'cpu' });
    const before = tf.memory().numTensors;
    const m = small();
    const r = await train(base(m, { epochs: 4 }));
    expect(r.iterations).toBe(40);
    expect(r.history[3]!.trainLoss).toBeLessThan(r.history[0]!.trainLoss);
    m.params.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects invalid configuration before training, naming the field', async () => {
    const m = small();
    await expect(train(base(m, { lr: -1 }))).rejects.toThrowError(
      /lr = -1 is invalid: expected a positive learning rate/,
    );
    await expect(train(base(m, { schedule: { kind: 'exp' } as never }))).rejects.toThrowError(
      /schedule.kind = "exp" is invalid: expected constant, steps, poly, cosine/,
    );
    await expect(train(base(m, { precision: { ...fwbw(8, 8), gradWeight: 40 } }))).rejects.toThrowError(
      /precision.gradWeight = 40/,
    );
    await expect(train(base(m, { batchSize: 0 }))).rejects.toThrowError(/batchSize = 0/);
    await expect(train(base(m, { augment: 'mirror' as never }))).rejects.toThrowError(/augment = "mirror" is invalid/);
    m.params.dispose();
  });

  it.each([[true], ['flip' as const]])(
    'a resumed run reaches bit-identical parameters (cpu backend, augment %s)',
    async (augment) => {
      await initBackend({ backend: 'cpu' });
      const a = small();
      await train(base(a, { augment, ledger: new EnergyLedger() }));
      const file = path.join(tempDir(), 'ck.json');
      const b = small();
      const partial = await train(base(b, { augment, checkpoint: { file, every: 4 }, stopAfter: 13 }));
      expect(partial.stopped).toBe('stopAfter');
      const c = small();
      const resumed = await train(base(c, { augment, checkpoint: { file, every: 4, resume: true } }));
      expect(resumed.iterations).toBe(30);
      expect(await flat(c)).toEqual(await flat(a));
      // The augmentation reaches the steps: the same run with another augmentation ends elsewhere.
      const d = small();
      await train(base(d, { augment: augment === true ? 'flip' : false }));
      expect(await flat(d)).not.toEqual(await flat(a));
      [a, b, c, d].forEach((m) => m.params.dispose());
    },
  );

  it('a resumed quantized ResNet run is bit-identical on the native backend', async () => {
    await initBackend({ backend: 'tensorflow' });
    const cfg = (m: Model, extra: Partial<ImageTrainConfig>) =>
      base(m, { epochs: 1, batchSize: 25, precision: fwbw(8, 8), ...extra });
    const a = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 2 });
    await train(cfg(a, {}));
    const file = path.join(tempDir(), 'ck.json');
    const b = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 2 });
    await train(cfg(b, { checkpoint: { file, every: 3 }, stopAfter: 5 }));
    const c = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 2 });
    await train(cfg(c, { checkpoint: { file, every: 3, resume: true } }));
    expect(await flat(c)).toEqual(await flat(a));
    [a, b, c].forEach((m) => m.params.dispose());
  });

  it('stops on a NaN loss with a clear message and keeps the last good checkpoint', async () => {
    await initBackend({ backend: 'cpu' });
    const file = path.join(tempDir(), 'ck.json');
    const poison: Technique = { name: 'poison', lossTerm: (i) => (i.iteration === 6 ? tf.scalar(NaN) : undefined) };
    const m = small();
    const err = await train(base(m, { techniques: [poison], checkpoint: { file, every: 5 } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as Error).message).toMatch(
      /diverged at iteration 6: loss is NaN; the step was not applied; the last good checkpoint is .*ck\.json/,
    );
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { position: { iteration: number } };
    expect(saved.position.iteration).toBe(5);
    m.params.dispose();
  });

  it('techniques: skipped mini-batches are neither trained nor charged; gradient transforms apply in order', async () => {
    await initBackend({ backend: 'cpu' });
    const order: string[] = [];
    const skipOdd: Technique = {
      name: 'skip-odd',
      trainFraction: 0.5,
      shouldTrain: (i) => i.batchesSeen % 2 === 0,
    } as Technique & { trainFraction: number };
    const t1: Technique = {
      name: 't1',
      transformGradients: (g) => {
        order.push('t1');
        return g;
      },
    };
    const t2: Technique = {
      name: 't2',
      transformGradients: (g) => {
        order.push('t2');
        return g;
      },
      afterUpdate: () => void order.push('after'),
    };
    const ledger = new EnergyLedger();
    const m = small();
    const r = await train(base(m, { epochs: 2, techniques: [skipOdd, t1, t2], ledger }));
    expect(r.batchesSeen).toBe(20);
    expect(r.iterations).toBe(10);
    expect(ledger.totals().iterations).toBe(10);
    expect(ledger.totals().macs.forward).toBe(10 * 20 * (3072 * 16 + 16 * 10));
    expect(order.slice(0, 3)).toEqual(['t1', 't2', 'after']);
    m.params.dispose();
  });

  it('writes a JSON-lines run log and SWA averages the late weights', async () => {
    await initBackend({ backend: 'cpu' });
    const log = path.join(tempDir(), 'run.jsonl');
    const m = small();
    await train(base(m, { runLog: log, logEvery: 5, swa: { start: 0.5, every: 1 } }));
    const lines = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; loss?: number; lr?: number });
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(6);
    expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(3);
    expect(lines[0]).toMatchObject({ type: 'step', iteration: 5 });
    m.params.dispose();
  });
});
