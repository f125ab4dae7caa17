import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { channelStats } from '../lib/src/data/pipeline';
import { loadImageDataset } from '../lib/src/data/load';
import { mlp } from '../lib/src/models/small';
import { cifarResNet } from '../lib/src/models/resnet';
import { lstmLanguageModel } from '../lib/src/models/lstm';
import type { LayerExecution, Model } from '../lib/src/models/spec';
import { fwbw, type LayerPrecision } from '../lib/src/quant/precision';
import { train, DivergenceError, type ImageTrainConfig, type LanguageModelTrainConfig } from '../lib/src/train/trainer';
import type { Technique } from '../lib/src/train/technique';
import { encodeFloats, recordValues } from '../lib/src/models/records';
import { evaluatePerplexity } from '../lib/src/train/language-model';
import { predictiveSignGradient } from '../lib/src/techniques/psg';
import { selectiveLayerUpdate } from '../lib/src/techniques/slu';
import { stochasticDepth } from '../lib/src/techniques/stochastic-depth';
import { stochasticMiniBatchDropping } from '../lib/src/techniques/smd';
import { tempDir } from './helpers';

const data = syntheticCifar(160, 2);
const stats = channelStats(data);
const base = (model: Model, extra: Partial<ImageTrainConfig> = {}): ImageTrainConfig => ({
  model,
  train: data,
  batchSize: 16,
  epochs: 1,
  lr: 0.05,
  optimizer: { kind: 'sgd', momentum: 0.9 },
  schedule: { kind: 'constant' },
  seed: 4,
  normalize: stats,
  ...extra,
});

async function values(m: Model): Promise<Float32Array[]> {
  return Object.values(await m.params.snapshot()).map((r) => recordValues(r));
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, j) => (d = Math.max(d, Math.abs(v - (b[i] as Float32Array)[j]!)))));
  return d;
}

beforeAll(async () => {
  await initBackend({});
});

describe('step pipeline seams', () => {
  it('gradient replacement: two simulated workers on their shards, averaged, equal the plain gradient', async () => {
    const before = tf.memory().numTensors;
    const m1 = mlp({ inputShape: [32, 32, 3], hidden: [12], seed: 1 });
    const m2 = mlp({ inputShape: [32, 32, 3], hidden: [12], seed: 1 });
    let calls = 0;
    const workers: Technique = {
      name: 'two-workers',
      computeGradients(problem) {
        calls += 1;
        const parts = problem.shards(2).map((s) => problem.gradients(s));
        const grads = new Map(
          [...parts[0]!.grads.keys()].map((k) => [
            k,
            tf.tidy(() => tf.div(tf.add(parts[0]!.grads.get(k)!, parts[1]!.grads.get(k)!), 2)),
          ]),
        );
        const loss = tf.tidy(() => tf.div(tf.add(parts[0]!.loss, parts[1]!.loss), 2)) as tf.Scalar;
        for (const p of parts) tf.dispose([p.loss, ...p.grads.values()]);
        return { loss, grads };
      },
    };
    const r1 = await train(base(m1));
    const r2 = await train(base(m2, { techniques: [workers] }));
    expect(calls).toBe(10);
    expect(r2.history[0]!.trainLoss).toBeCloseTo(r1.history[0]!.trainLoss, 4);
    expect(maxAbsDiff(await values(m1), await values(m2))).toBeLessThan(1e-4);
    m1.params.dispose();
    m2.params.dispose();
    // The shards the step made are freed with it.
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an asynchronous gradient replacement (a worker waiting on a server) is awaited; its shards are freed when it settles', async () => {
    const before = tf.memory().numTensors;
    const m1 = mlp({ inputShape: [32, 32, 3], hidden: [12], seed: 1 });
    const m2 = mlp({ inputShape: [32, 32, 3], hidden: [12], seed: 1 });
    const worker: Technique = {
      name: 'async-worker',
      async computeGradients(problem) {
        const parts = problem.shards(2);
        // A reply from elsewhere arrives later: the shards must still be alive when it does.
        await new Promise((resolve) => setTimeout(resolve, 2));
        const r = parts.map((s) => problem.gradients(s));
        const grads = new Map(
          [...r[0]!.grads.keys()].map((k) => [
            k,
            tf.tidy(() => tf.div(tf.add(r[0]!.grads.get(k)!, r[1]!.grads.get(k)!), 2)),
          ]),
        );
        const loss = tf.tidy(() => tf.div(tf.add(r[0]!.loss, r[1]!.loss), 2)) as tf.Scalar;
        for (const p of r) tf.dispose([p.loss, ...p.grads.values()]);
        return { loss, grads };
      },
    };
    await train(base(m1));
    await train(base(m2, { techniques: [worker] }));
    expect(maxAbsDiff(await values(m1), await values(m2))).toBeLessThan(1e-4);
    m1.params.dispose();
    m2.params.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('perturb before the forward pass, restore exactly after the backward pass (before the update)', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 2 });
    const before = await values(m);
    const seen: number[] = [];
    const noisy: Technique = {
      name: 'perturb',
      perturb(params) {
        const saved = new Map([...params].map(([k, v]) => [k, tf.clone(v)]));
        for (const v of params.values()) v.assign(tf.tidy(() => tf.add(v, 0.5)));
        return () => {
          for (const [k, v] of params) v.assign(saved.get(k)!);
          tf.dispose([...saved.values()]);
        };
      },
      // Zero gradients: the update leaves the weights where the restore put them.
      transformGradients(g) {
        seen.push(tf.tidy(() => tf.sum(tf.abs(g.get('fc1/w')!)).dataSync()[0]!));
        return new Map([...g].map(([k, v]) => [k, tf.zerosLike(v)]));
      },
    };
    await train(base(m, { techniques: [noisy], optimizer: { kind: 'sgd' } }));
    expect(seen.length).toBe(10);
    expect(seen.every((s) => s > 0)).toBe(true);
    expect(maxAbsDiff(before, await values(m))).toBe(0);
    m.params.dispose();
  });

  it('post-update thresholding leaves exact zeros after every update', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 3 });
    const zerosAfter: number[] = [];
    const threshold: Technique = {
      name: 'threshold',
      afterUpdate(_info, params) {
        const w = params.get('fc1/w')!;
        w.assign(tf.tidy(() => tf.where(tf.less(tf.abs(w), 0.01), tf.zerosLike(w), w)));
      },
      afterStep: () =>
        void zerosAfter.push(
          tf.tidy(() => tf.sum(tf.cast(tf.equal(m.params.get('fc1/w'), 0), 'float32')).dataSync()[0]!),
        ),
    };
    await train(base(m, { techniques: [threshold] }));
    const w = m.params.get('fc1/w').dataSync();
    expect(Array.from(w).every((v) => v === 0 || Math.abs(v) >= 0.01)).toBe(true);
    expect(zerosAfter.every((z) => z > 0)).toBe(true);
    m.params.dispose();
  });
});

describe('composition rules', () => {
  const cap = (name: string, p: LayerPrecision): Technique => ({ name, precisionCombine: 'min', precision: () => p });

  it('two capping techniques combine field by field by the minimum, with the run default', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 4 });
    const recorded: Array<LayerPrecision | undefined> = [];
    const ledgerSpy = {
      onExecute: (e: LayerExecution) => void recorded.push(e.precision),
      endIteration: () => undefined,
      totals: () => ({ effectiveMacs: 0, energy: { total: 0 } }),
    };
    await train(
      base(m, {
        precision: fwbw(16, 16),
        techniques: [
          cap('pfq', fwbw(8, 32)),
          cap('dfq', { weight: 32, activation: 6, gradError: 12, gradWeight: 32, activationWeightGrad: 32 }),
        ],
        ledger: ledgerSpy as never,
        iterations: 1,
      }),
    );
    expect(recorded[0]).toEqual({ weight: 8, activation: 6, gradError: 12, gradWeight: 16, activationWeightGrad: 8 });
    m.params.dispose();
  });

  it('rejects conflicting techniques naming both, before any work', async () => {
    const r = cifarResNet({ depth: 8 });
    const psg = predictiveSignGradient();
    await expect(train(base(r, { techniques: [psg, cap('pfq', fwbw(8, 8))] }))).rejects.toThrowError(
      /techniques = \["psg","pfq"\] is invalid: .*psg's precision has its own meaning/,
    );
    await expect(train(base(r, { techniques: [psg], precision: fwbw(8, 8) }))).rejects.toThrowError(
      /precision = .* unset: technique psg sets every layer's precision itself/,
    );
    const slu = selectiveLayerUpdate({ model: r, alpha: 0.1, seed: 0 });
    const sd = stochasticDepth({ model: r, pL: 0.5, seed: 0 });
    await expect(train(base(r, { techniques: [slu, sd] }))).rejects.toThrowError(
      /techniques = \["slu","stochastic-depth"\] is invalid: expected at most one technique that sets per-input block plans/,
    );
    const g = (name: string): Technique => ({ name, computeGradients: (p) => p.gradients() });
    await expect(train(base(r, { techniques: [g('a'), g('b')] }))).rejects.toThrowError(
      /techniques = \["a","b"\] .* at most one technique that replaces the gradient computation/,
    );
    slu.dispose?.();
    r.params.dispose();
  });
});

describe('language-model training', () => {
  // A tiny corpus with structure: repeated words over a 12-symbol alphabet.
  const words = ['abc', 'abd', 'efg', 'hij', 'kla', 'bbe'];
  const stream = (n: number, seed: number) => {
    const out: number[] = [];
    let s = seed;
    while (out.length < n) {
      s = (s * 1103515245 + 12345) % 2147483648;
      for (const ch of words[s % words.length]!) out.push(ch.charCodeAt(0) - 97);
    }
    return Int32Array.from(out.slice(0, n));
  };
  const trainIds = stream(2400, 1);
  const validIds = stream(600, 2);
  const lm = () => lstmLanguageModel({ vocabSize: 12, embedding: 8, hidden: [24], steps: 10, seed: 5, dropout: 0.1 });
  const cfg = (model: Model, extra: Partial<LanguageModelTrainConfig> = {}): LanguageModelTrainConfig => ({
    task: 'language-model',
    model,
    train: trainIds,
    validation: validIds,
    bptt: 10,
    batchSize: 8,
    epochs: 3,
    lr: 0.01,
    optimizer: { kind: 'adam' },
    schedule: { kind: 'steps', milestones: [0.67], factor: 0.5 },
    clipNorm: 5,
    seed: 9,
    ...extra,
  });

  it('truncated BPTT with dropout and clipping lowers validation perplexity', async () => {
    const m = lm();
    const before = evaluatePerplexity(m as never, validIds, { batch: 10, steps: 10 });
    const r = await train(cfg(m));
    expect(r.iterations).toBe(3 * 30);
    expect(r.final?.perplexity).toBeDefined();
    // Measured: 12.0 (untrained, vocabulary 12) -> 2.44.
    expect(r.final!.perplexity!).toBeLessThan(0.3 * before.perplexity);
    expect(r.history[2]!.trainLoss).toBeLessThan(r.history[0]!.trainLoss);
    m.params.dispose();
  });

  it('resumes bit-identically mid-epoch (carried state, dropout seeds and clipping)', async () => {
    const file = path.join(tempDir(), 'lm.json');
    const a = lm();
    await train(cfg(a, { epochs: 2 }));
    const b = lm();
    const r1 = await train(cfg(b, { epochs: 2, checkpoint: { file, every: 7 }, stopAfter: 37 }));
    expect(r1.stopped).toBe('stopAfter');
    b.params.dispose();
    const c = lm();
    await train(cfg(c, { epochs: 2, checkpoint: { file, every: 7, resume: true } }));
    expect(maxAbsDiff(await values(a), await values(c))).toBe(0);
    a.params.dispose();
    c.params.dispose();
  });
});

describe('a trainer that never saves a broken model', () => {
  const resnet = () => cifarResNet({ depth: 8, seed: 1, widths: [4, 8, 8] });
  const finite = (m: Model) => m.params.all().every((p) => Array.from(p.variable.dataSync()).every(Number.isFinite));

  it('lr 1e12: the failed step leaves finite statistics, and every checkpoint written is finite', async () => {
    const file = path.join(tempDir(), 'ck.json');
    const m = resnet();
    const err = await train(base(m, { lr: 1e12, checkpoint: { file, every: 1 }, epochs: 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    const stat = m.params.all().filter((p) => p.role === 'bn-stat');
    expect(stat.every((p) => Array.from(p.variable.dataSync()).every(Number.isFinite))).toBe(true);
    if (fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        params: Record<string, { shape: number[]; data: string }>;
      };
      expect(Object.values(saved.params).every((r) => Array.from(recordValues(r)).every(Number.isFinite))).toBe(true);
      expect((err as Error).message).toContain(`last good checkpoint is ${file}`);
    } else {
      expect((err as Error).message).toContain(`no checkpoint was written yet (configured: ${file})`);
    }
    m.params.dispose();
  });

  it("the last good checkpoint is one whose weights a later step's loss confirmed; a broken one is never named", async () => {
    const file = path.join(tempDir(), 'ck.json');
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 7 });
    // After its 5th step the weights are blown up (finite, x 1e4): the 6th step's loss, computed on them, explodes.
    const blowUp: Technique = {
      name: 'blow-up',
      afterStep: (i) => {
        if (i.iteration === 5)
          for (const p of i.model.params.all()) if (p.trainable) p.variable.assign(tf.mul(p.variable, 1e4));
      },
    };
    const err = await train(base(m, { techniques: [blowUp], checkpoint: { file, every: 1 } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      position: { iteration: number };
      params: Record<string, { shape: number[]; data: string }>;
    };
    // The checkpoint before the blow-up: its weights are the trained ones, not x 1e4.
    expect(saved.position.iteration).toBe((err as DivergenceError).iteration - 1);
    expect((err as Error).message).toContain(`last good checkpoint is ${file} (iteration ${saved.position.iteration})`);
    const largest = Math.max(
      ...Object.values(saved.params).map((r) => Math.max(...Array.from(recordValues(r), Math.abs))),
    );
    expect(largest).toBeLessThan(10);
    expect(fs.existsSync(`${file}.pending`)).toBe(true);
    m.params.dispose();
    // A checkpoint holding a NaN is refused on resume, naming the parameter.
    const bad = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      params: Record<string, { shape: number[]; data: string }>;
    };
    const first = Object.keys(bad.params)[0] as string;
    const values = recordValues(bad.params[first]!);
    values[0] = Number.NaN;
    bad.params[first] = { ...bad.params[first]!, data: encodeFloats(values) };
    fs.writeFileSync(file, JSON.stringify(bad));
    const m2 = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 7 });
    await expect(
      train(base(m2, { techniques: [blowUp], checkpoint: { file, every: 1, resume: true } })),
    ).rejects.toThrowError(new RegExp(`parameter ${first} holds NaN or infinity`));
    m2.params.dispose();
  });

  it('a loss that explodes in the first iterations is caught at once, not averaged into the reference', async () => {
    const { DivergenceGuard } = await import('../lib/src/train/guard');
    const g = new DivergenceGuard({ lossFloor: Math.log(10) });
    expect(g.check(2.81, 0)).toBeUndefined();
    g.record(2.81);
    expect(g.check(3.3e4, 0)).toMatch(/exceeds 10 x its starting value 2\.810/);
  });

  it('lr 1e3 and 1e6 stop as diverged (recorded in the run log) instead of completing at chance', async () => {
    for (const lr of [1e3, 1e6]) {
      const log = path.join(tempDir(), 'run.jsonl');
      const m = resnet();
      const r = await train(base(m, { lr, epochs: 4, runLog: log, divergence: { action: 'stop' } }));
      expect(r.stopped).toBe('diverged');
      expect(r.divergence?.reason).toMatch(/not finite|loss is|exceeds/);
      expect(finite(m) || r.divergence!.reason.length > 0).toBe(true);
      expect(
        m.params
          .all()
          .filter((p) => p.role === 'bn-stat')
          .every((p) => Array.from(p.variable.dataSync()).every(Number.isFinite)),
      ).toBe(true);
      const lines = fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string });
      expect(lines[lines.length - 1]!.type).toBe('diverged');
      m.params.dispose();
    }
  });

  it('a loss far above its start stops the run (configurable factor)', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 7 });
    const spike: Technique = { name: 'spike', lossTerm: (i) => (i.iteration === 6 ? tf.scalar(1000) : undefined) };
    const r = await train(base(m, { techniques: [spike], divergence: { window: 3, lossFactor: 20, action: 'stop' } }));
    expect(r.stopped).toBe('diverged');
    expect(r.divergence?.iteration).toBe(6);
    expect(r.divergence?.reason).toMatch(/exceeds 20 x its starting value/);
    m.params.dispose();
  });

  it('fine-tuning a converged model: the reference is at least ln(classes), so an ordinary batch is not divergence', async () => {
    const { DivergenceGuard } = await import('../lib/src/train/guard');
    // Starting loss 0.0076 (a converged LeNet fine-tuned): a batch at 0.115 is 15x the start but far below 10 x ln(10).
    const g = new DivergenceGuard({ window: 3, lossFloor: Math.log(10) });
    for (const l of [0.007, 0.008, 0.0078]) g.record(l);
    expect(g.check(0.115, 0)).toBeUndefined();
    expect(g.check(10 * Math.log(10) + 0.01, 0)).toMatch(/exceeds 10 x its starting value 2.303/);
    // Without a floor the same batch would count as divergence (the behaviour before the floor).
    const bare = new DivergenceGuard({ window: 3 });
    for (const l of [0.007, 0.008, 0.0078]) bare.record(l);
    expect(bare.check(0.115, 0)).toMatch(/exceeds 10 x/);
    // The trainer sets the floor from the model's classes: a converged-looking start does not stop a normal run.
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 7 });
    const tiny: Technique = {
      name: 'tiny-start',
      lossTerm: (i) => (i.iteration < 3 ? tf.scalar(-0.999 * 2.3) : undefined),
    };
    const r = await train(base(m, { techniques: [tiny], divergence: { window: 3, action: 'stop' } }));
    expect(r.stopped).toBe('completed');
    m.params.dispose();
  });

  it('refuses to resume a different run: another subset, SMD seed, normalisation, clipping, rounding, divergence, SWA', async () => {
    const file = path.join(tempDir(), 'ck.json');
    const smd = (seed: number) => stochasticMiniBatchDropping({ p: 0.3, seed });
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8], seed: 7 });
    const run = (extra: Partial<ImageTrainConfig>) =>
      train(base(m, { techniques: [smd(1)], checkpoint: { file, every: 2, resume: true }, stopAfter: 3, ...extra }));
    await run({});
    expect(fs.existsSync(file)).toBe(true);
    // The same name and size, one pixel different (as another subset drawn with another seed would be).
    const images = Uint8Array.from(data.images);
    images[0] = (images[0]! + 1) % 256;
    const cases: Array<[Partial<ImageTrainConfig>, string]> = [
      [{ train: { ...data, images } }, 'data'],
      [{ techniques: [smd(2)] }, 'techniques'],
      [{ normalize: { mean: [0, 0, 0], std: [1, 1, 1] } }, 'normalize'],
      [{ clipNorm: 5 }, 'clipNorm'],
      [{ quant: { gradientRounding: 'nearest' } }, 'quant'],
      [{ divergence: { lossFactor: 50 } }, 'divergence'],
      [{ swa: { start: 0.5, every: 1 } }, 'swa'],
    ];
    for (const [extra, field] of cases)
      await expect(run(extra)).rejects.toThrowError(new RegExp(`it was written with ${field} = `));
    // The same run resumes.
    await expect(run({ stopAfter: 4 })).resolves.toBeDefined();
    m.params.dispose();
  });

  it('refuses to resume a checkpoint of a different run, naming the field; keeps technique statistics', async () => {
    const file = path.join(tempDir(), 'ck.json');
    const m = resnet();
    const psg = predictiveSignGradient();
    await train(
      base(m, {
        techniques: [psg],
        optimizer: { kind: 'signsgd' },
        lr: 0.01,
        checkpoint: { file, every: 4 },
        stopAfter: 4,
      }),
    );
    const recorded = psg.history.length;
    expect(recorded).toBeGreaterThan(0);
    const psg2 = predictiveSignGradient();
    await train(
      base(m, {
        techniques: [psg2],
        optimizer: { kind: 'signsgd' },
        lr: 0.01,
        checkpoint: { file, every: 4, resume: true },
        stopAfter: 5,
      }),
    );
    expect(psg2.history.length).toBe(recorded + psg2.history.filter((h) => h.iteration === 4).length);
    expect(psg2.history.slice(0, recorded)).toEqual(psg.history);
    await expect(
      train(
        base(m, {
          batchSize: 8,
          techniques: [predictiveSignGradient()],
          optimizer: { kind: 'signsgd' },
          lr: 0.01,
          checkpoint: { file, every: 4, resume: true },
        }),
      ),
    ).rejects.toThrowError(/written with batchSize = 16, this run has batchSize = 8/);
    await expect(
      train(
        base(m, {
          train: syntheticCifar(200, 2),
          techniques: [predictiveSignGradient()],
          optimizer: { kind: 'signsgd' },
          lr: 0.01,
          checkpoint: { file, every: 4, resume: true },
        }),
      ),
    ).rejects.toThrowError(/written with datasetSize = 160, this run has datasetSize = 200/);
    await expect(
      train(
        base(m, {
          epochs: 3,
          techniques: [predictiveSignGradient()],
          optimizer: { kind: 'signsgd' },
          lr: 0.01,
          checkpoint: { file, every: 4, resume: true },
        }),
      ),
    ).rejects.toThrowError(/written with epochs = 1, this run has epochs = 3/);
    m.params.dispose();
  });

  it('names a truncated or empty checkpoint file; removes temporaries of a killed writer', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ck.json');
    const m = mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
    fs.writeFileSync(file, '{"version": 2, "run": {"ta');
    await expect(train(base(m, { checkpoint: { file, every: 5, resume: true } }))).rejects.toThrowError(
      new RegExp(`checkpoint ${file.replace(/[/.]/g, '\\$&')} is not a complete checkpoint .*delete it`),
    );
    fs.writeFileSync(file, '');
    await expect(train(base(m, { checkpoint: { file, every: 5, resume: true } }))).rejects.toThrowError(
      /is not a complete checkpoint \(0 bytes/,
    );
    fs.rmSync(file);
    // A writer killed mid-write leaves <file>.<pid>.<hex>.tmp; pid 2^22 + 1 is above Linux's pid limit, so never running.
    const stale = `${file}.${2 ** 22 + 1}.deadbeef.tmp`;
    fs.writeFileSync(stale, 'partial');
    await train(base(m, { checkpoint: { file, every: 5 } }));
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(['ck.json']);
    m.params.dispose();
  });

  it('rejects bad configuration before any work, naming field, value and what is allowed', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
    const bad = (c: object) => train({ ...base(m), ...c } as ImageTrainConfig);
    await expect(bad({ optimizer: undefined })).rejects.toThrowError(
      /optimizer = undefined is invalid: expected an optimizer/,
    );
    await expect(bad({ schedule: undefined })).rejects.toThrowError(
      /schedule = undefined is invalid: expected a learning-rate schedule/,
    );
    await expect(bad({ lr: NaN })).rejects.toThrowError(/lr = NaN is invalid/);
    await expect(bad({ lrate: 0.1 })).rejects.toThrowError(/config.lrate = 0.1 is invalid: expected no such option/);
    await expect(bad({ quant: { rounding: 'nearest' } })).rejects.toThrowError(
      /quant.rounding = "nearest" is invalid: expected no such option/,
    );
    await expect(bad({ quant: { gradientRounding: 'up' } })).rejects.toThrowError(
      /quant.gradientRounding = "up" is invalid: expected nearest, stochastic, truncate/,
    );
    await expect(bad({ optimizer: { kind: 'sgd', momentun: 0.9 } })).rejects.toThrowError(
      /optimizer.momentun = 0.9 is invalid/,
    );
    await expect(bad({ schedule: { kind: 'cosine', milestones: [0.5] } })).rejects.toThrowError(
      /schedule.milestones .* no such option/,
    );
    expect(() => cifarResNet({ depth: 8, widths: [16, 0, 64] })).toThrowError(
      /widths = \[16,0,64\] is invalid: expected three positive integer stage widths/,
    );
    expect(() => cifarResNet({ depth: 8, numClasses: 0 })).toThrowError(
      /numClasses = 0 is invalid: expected an integer number of classes >= 2/,
    );
    expect(() => mlp({ inputShape: [4], hidden: [3], numClasses: 0 })).toThrowError(/numClasses = 0 is invalid/);
    expect(() => cifarResNet({ depth: 8, width: 16 } as never)).toThrowError(
      /resnet.width = 16 is invalid: expected no such option/,
    );
    const settings = { dataDir: tempDir(), dataMirror: undefined, allowDownload: false, seed: 0 };
    await expect(loadImageDataset('cifar-10' as never, 'train', settings)).rejects.toThrowError(
      /dataset = "cifar-10" is invalid: expected cifar10, cifar100, mnist, synthetic/,
    );
    await expect(loadImageDataset('cifar10', 'val' as never, settings)).rejects.toThrowError(
      /split = "val" is invalid: expected 'train' or 'test'/,
    );
    m.params.dispose();
  });
});
