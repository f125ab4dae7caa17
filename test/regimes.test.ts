import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { armDescription, runArm } from '../lib/src/experiments/arm';
import { armKey } from '../lib/src/experiments/run-cache';
import { e2trainArms, e2trainRegime } from '../lib/src/studies/e2train';
import { fractrainArms } from '../lib/src/studies/fractrain';
import { regimeArm, regimeIterations } from '../lib/src/studies/regime';
import { tempDir } from './helpers';
import { syntheticCifar } from '../lib/src/data/synthetic';

describe('E²-Train regime', () => {
  it('lite: whole CIFAR-10 training set, 10 epochs of 390 full batches of 128, cosine from 0.1, 3 seeds', () => {
    const r = e2trainRegime('lite');
    expect([r.trainCount, r.testCount, r.batchSize, r.epochs, r.lr, r.seeds]).toEqual([50000, 10000, 128, 10, 0.1, 3]);
    expect(regimeIterations(r)).toBe(3900);
    expect(e2trainRegime('lite', 5).seeds).toBe(5);
    expect(e2trainRegime('smoke', 5).seeds).toBe(1);
    expect(() => e2trainRegime('lite', 0)).toThrowError(/seeds = 0 is invalid/);
  });
  it('paper: ResNet-74, 64k iterations of 128', () => {
    const r = e2trainRegime('paper');
    expect(r.depth).toBe(74);
    expect(regimeIterations(r)).toBe(64000);
    expect(r.weightDecay).toBe(1e-4);
  });
  it('an arm at energy ratio r trains r of the iterations; its key is derived from its description, not its label', () => {
    const r = { ...e2trainRegime('smoke'), trainCount: 64 };
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(20, 2) };
    const full = regimeArm(r, data, { label: 'SMB', seed: 0 });
    const part = regimeArm(r, data, { label: 'SMB r=0.5', seed: 0, ratio: 0.5 });
    expect(full.recipe.iterations).toBe(2);
    expect(part.recipe.iterations).toBe(1);
    expect(full.recipe.evalEvery).toBe(1);
    expect(full.recipe.augment).toBe('pad-crop-flip');
    expect(full.model).toEqual({ kind: 'resnet', options: { depth: 8, widths: [4, 8, 16] } });
    expect(full.recipe.optimizer).toEqual({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 });
    const key = (a: Parameters<typeof armDescription>[0]) => armKey(armDescription(a));
    expect(key(regimeArm(r, data, { label: 'another label', seed: 0 }))).toBe(key(full));
    expect(key(part)).not.toBe(key(full));
    expect(key(regimeArm(r, data, { label: 'SMB', seed: 1 }))).not.toBe(key(full));
    expect(key(e2trainArms.smd(r, data, 0, 1, 'SMD'))).not.toBe(key(full));
    expect(() => regimeArm(r, data, { label: 'x', seed: 0, ratio: 1.5 })).toThrowError(/arm x ratio = 1.5 is invalid/);
    expect(() => regimeArm(e2trainRegime('smoke'), data, { label: 'x', seed: 0 })).toThrowError(
      /regime train set = 64 is invalid: expected 320 images/,
    );
  });

  it('the shared SGD baseline of notebooks 10-13, 20-21 and 30b is one cache entry', async () => {
    const r = { ...e2trainRegime('smoke'), trainCount: 64, testCount: 20, epochs: 1 };
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(20, 2) };
    // Every notebook that compares with the baseline asks for it through the one description.
    for (const nb of [
      '10-e2train-smd',
      '11-e2train-slu',
      '12-e2train-psg',
      '13-e2train-combined',
      '30b-ssl-resnet-depth',
    ]) {
      const cells = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'notebooks', `${nb}.ipynb`), 'utf8')) as {
        cells: Array<{ cell_type: string; source: string[] }>;
      };
      const code = cells.cells
        .filter((c) => c.cell_type === 'code')
        .map((c) => c.source.join(''))
        .join('\n');
      expect(code, nb).toMatch(/(e2train|fractrain)Arms\.sgd\(/);
    }
    expect(armDescription(fractrainArms.sgd(r, data, 0, 'x'))).toEqual(
      armDescription(e2trainArms.sgd(r, data, 0, 'y')),
    );
    // Run under two labels against one cache: the second is a hit.
    await initBackend({ backend: 'cpu' });
    const dir = tempDir();
    const cache = { dir, fresh: false };
    const first = await runArm(e2trainArms.sgd(r, data, 0, 'SGD (SMB r=1)'), { cache });
    const second = await runArm(fractrainArms.sgd(r, data, 0, 'baseline (E²-Train SGD arm)'), { cache });
    expect([first.cache, second.cache]).toEqual(['miss', 'hit']);
    expect(second.arm).toBe('baseline (E²-Train SGD arm)');
    expect(second.top1).toBe(first.top1);
    expect(Object.keys(second.analysis ?? {}).length).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    fs.rmSync(dir, { recursive: true, force: true });
    // A ResNet run on the pure-JS backend: seconds alone, 25 s with two lite runs on the 2 cores.
  }, 90_000);
});

describe('loadStudyData (the notebooks data step)', () => {
  it('balanced subsets from the seed and fork names, whole sets when the counts cover them, the same images for the same request', async () => {
    const { loadStudyData } = await import('../lib/src/data/load');
    const { tempDir } = await import('./helpers');
    const settings = { dataDir: tempDir(), dataMirror: undefined, allowDownload: false, seed: 0 };
    const a = await loadStudyData('synthetic', { trainCount: 200, testCount: 100 }, settings, {
      seed: 3,
      syntheticCount: 500,
    });
    const b = await loadStudyData('synthetic', { trainCount: 200, testCount: 100 }, settings, {
      seed: 3,
      syntheticCount: 500,
    });
    expect(a.train.count).toBe(200);
    expect(a.test.count).toBe(100);
    // Balanced: 20 of each of the 10 classes.
    const perClass = new Array(10).fill(0);
    for (const y of a.train.labels) perClass[y] += 1;
    expect(perClass).toEqual(new Array(10).fill(20));
    expect(Buffer.compare(Buffer.from(a.train.images.buffer), Buffer.from(b.train.images.buffer))).toBe(0);
    // Other fork names draw other subsets; counts at least the set's size keep it whole.
    const c = await loadStudyData('synthetic', { trainCount: 200, testCount: 100 }, settings, {
      seed: 3,
      names: ['cifar-train', 'cifar-test'],
      syntheticCount: 500,
    });
    expect(Buffer.compare(Buffer.from(a.train.images.buffer), Buffer.from(c.train.images.buffer))).not.toBe(0);
    const whole = await loadStudyData('synthetic', { trainCount: 500, testCount: 500 }, settings, {
      seed: 3,
      syntheticCount: 500,
    });
    expect(whole.train).toBe(whole.full.train);
    await expect(
      loadStudyData('synthetic', { trainCount: 0, testCount: 10 }, settings, { seed: 3, syntheticCount: 500 }),
    ).rejects.toThrowError(/trainCount = 0/);
  });
});
