import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { channelStats } from '../lib/src/data/pipeline';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { recordValues } from '../lib/src/models/records';
import { mlp } from '../lib/src/models/small';
import type { Model } from '../lib/src/models/spec';
import { earlyStopping } from '../lib/src/train/early-stopping';
import type { EpochRecord, TrainCallback, TrainLoop } from '../lib/src/train/loop';
import { type ImageTrainConfig, train } from '../lib/src/train/trainer';
import { tempDir } from './helpers';

const data = syntheticCifar(120, 2);
const validation = syntheticCifar(40, 3);
const stats = channelStats(data);
const small = (seed = 3): Model => mlp({ inputShape: [32, 32, 3], hidden: [8], seed });
const config = (model: Model, extra: Partial<ImageTrainConfig> = {}): ImageTrainConfig => ({
  model,
  train: data,
  validation,
  batchSize: 20,
  epochs: 5,
  lr: 0.05,
  optimizer: { kind: 'sgd', momentum: 0.9 },
  schedule: { kind: 'cosine' },
  seed: 5,
  normalize: stats,
  ...extra,
});

async function flat(m: Model): Promise<number[]> {
  const s = await m.params.snapshot();
  return Object.values(s).flatMap((v) => Array.from(recordValues(v)));
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

describe('early stopping as a unit of the training loop', () => {
  it('stops after `patience` epochs without improvement, restores the best weights, and resumes from its state', () => {
    const m = mlp({ inputShape: [3], hidden: [2], seed: 1 });
    const w = m.params.get(m.layers[0]!.weight) as tf.Variable;
    const loop = { model: m, config: { validation: {} }, invalidate: () => undefined } as unknown as TrainLoop;
    const es = earlyStopping({ patience: 2 });
    const epoch = (unit: TrainCallback, loss: number, value: number) => {
      w.assign(tf.fill(w.shape, value));
      return unit.onEpochEnd!(loop, { validation: { loss, top1: 0 } } as EpochRecord);
    };
    expect(es.onStart!(loop)).toBeUndefined();
    expect(epoch(es, 3, 1)).toBeUndefined();
    expect(epoch(es, 2, 2)).toBeUndefined(); // best: epoch 1, weights all 2
    const saved = es.state!();
    expect(epoch(es, 2.5, 3)).toBeUndefined();
    expect(es.stoppedAt()).toBeUndefined();
    expect(epoch(es, 2.1, 4)).toEqual({ stop: 'early-stopping' }); // two epochs without improvement
    expect(es.stoppedAt()).toBe(1);
    expect(Array.from(w.dataSync()).every((v) => v === 2)).toBe(true);
    expect(es.losses).toEqual([3, 2, 2.5, 2.1]);
    expect(es.stats()).toEqual({ bestEpoch: 1, stoppedAt: 1 });
    // A run that resumes after the stop ends at once.
    const after = earlyStopping({ patience: 2 });
    after.restore!(es.state!());
    expect(after.onStart!(loop)).toEqual({ stop: 'early-stopping' });
    // A run resumed from the state after epoch 1 makes the same decision.
    const again = earlyStopping({ patience: 2 });
    again.restore!(saved);
    expect(epoch(again, 2.5, 3)).toBeUndefined();
    expect(epoch(again, 2.1, 4)).toEqual({ stop: 'early-stopping' });
    expect(again.stoppedAt()).toBe(1);
    expect(Array.from(w.dataSync()).every((v) => v === 2)).toBe(true);
    expect(() => earlyStopping({ patience: 0 })).toThrowError(/earlyStopping.patience = 0/);
    const noValidation = { model: m, config: {} } as unknown as TrainLoop;
    expect(() => earlyStopping().onStart!(noValidation)).toThrowError(/validation set/);
    for (const u of [es, after, again]) u.dispose?.();
    m.params.dispose();
  });

  it('ends the loop: no batch is drawn after the stop, and the model holds the best epoch', async () => {
    // minDelta 1e9: epoch 0 is the best and epoch 1 is not better, so patience 1 stops after epoch 1.
    const m = small();
    const es = earlyStopping({ patience: 1, minDelta: 1e9 });
    const r = await train(config(m, { callbacks: [es] }));
    expect(r.stopped).toBe('early-stopping');
    expect(r.history.map((h) => h.epoch)).toEqual([0, 1]);
    expect(r.batchesSeen).toBe(2 * (data.count / 20));
    expect(r.iterations).toBe(12);
    expect(r.final?.loss).toBeCloseTo(r.history[0]!.validation!.loss, 6);
    expect(es.stoppedAt()).toBe(0);
    es.dispose?.();
    m.params.dispose();
  });

  it('a run resumed from the checkpoint written after the stop ends at once with the same model', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'run.ckpt.json');
    const m = small();
    const es = earlyStopping({ patience: 1, minDelta: 1e9 });
    const r = await train(config(m, { callbacks: [es], checkpoint: { file, every: 5 } }));
    expect(fs.existsSync(file)).toBe(true);
    const m2 = small(9);
    const es2 = earlyStopping({ patience: 1, minDelta: 1e9 });
    const again = await train(config(m2, { callbacks: [es2], checkpoint: { file, every: 5, resume: true } }));
    expect(again.stopped).toBe('early-stopping');
    expect(again.history).toHaveLength(2);
    expect(again.batchesSeen).toBe(r.batchesSeen);
    expect(await flat(m2)).toEqual(await flat(m));
    for (const u of [es, es2]) u.dispose?.();
    m.params.dispose();
    m2.params.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('training-loop units', () => {
  it('run in order on each hook, and a unit that returns a stop ends the run', async () => {
    const calls: string[] = [];
    const unit = (name: string, stopAt?: number): TrainCallback => ({
      name,
      onStart: () => {
        calls.push(`${name}:start`);
        return undefined;
      },
      onStep: (loop) => {
        calls.push(`${name}:step${loop.position.iteration}`);
        return loop.position.iteration === stopAt ? { stop: 'stopAfter' } : undefined;
      },
      onEnd: (_loop, end) => {
        calls.push(`${name}:end:${'stop' in end ? end.stop : 'diverged'}`);
        return undefined;
      },
    });
    const m = small();
    const r = await train(config(m, { validation: undefined, callbacks: [unit('a'), unit('b', 2)] }));
    expect(r.stopped).toBe('stopAfter');
    expect(r.iterations).toBe(2);
    expect(calls).toEqual([
      'a:start',
      'b:start',
      'a:step1',
      'b:step1',
      'a:step2',
      'b:step2',
      'a:end:stopAfter',
      'b:end:stopAfter',
    ]);
    m.params.dispose();
  });

  it('units are checked before any work: names present and distinct', async () => {
    const m = small();
    await expect(train(config(m, { callbacks: [{ name: 'x' }, { name: 'x' }] }))).rejects.toThrowError(
      /callbacks = "x".*distinct unit names/,
    );
    await expect(train(config(m, { callbacks: {} as never }))).rejects.toThrowError(/callbacks/);
    m.params.dispose();
  });

  it('evaluates the validation set once per model state: the curve point, the epoch record and the final evaluation share it', async () => {
    const m = small();
    let passes = 0;
    const apply = m.apply.bind(m);
    (m as { apply: typeof m.apply }).apply = (x, ctx) => {
      if (!ctx.training) passes += 1;
      return apply(x, ctx);
    };
    // 6 iterations an epoch, 2 epochs, a curve point every 3 iterations: points at 3 and 9 are fresh evaluations, and
    // each epoch's end (6, 12) is evaluated once for its curve point, its record and, at 12, the final result.
    const r = await train(config(m, { epochs: 2, evalEvery: 3 }));
    expect(r.curve.map((p) => p.iteration)).toEqual([3, 6, 9, 12]);
    expect(r.history.map((h) => h.validation?.loss)).toEqual([r.curve[1]!.loss, r.curve[3]!.loss]);
    expect(r.final?.loss).toBe(r.curve[3]!.loss);
    expect(passes).toBe(4);
    m.params.dispose();
  });

  it('the loop leaves no tensor behind', async () => {
    const m = small();
    const before = tf.memory().numTensors;
    const es = earlyStopping({ patience: 1, minDelta: 1e9 });
    await train(config(m, { callbacks: [es], swa: { start: 0.5, every: 1 }, evalEvery: 3 }));
    es.dispose?.();
    expect(tf.memory().numTensors).toBe(before);
    m.params.dispose();
  });
});
