import { describe, expect, it } from 'vitest';
import { regimeIterations, regimeSpec } from '../lib/src/studies/regime';
import { e2trainRegime } from '../lib/src/studies/e2train';
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
  it('an arm at energy ratio r trains r of the iterations; the cache key covers the regime and the arm', () => {
    const r = { ...e2trainRegime('smoke'), trainCount: 64 };
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(20, 2) };
    const full = regimeSpec(r, data, { arm: 'SMB', seed: 0, cacheKey: {} });
    const part = regimeSpec(r, data, { arm: 'SMB r=0.5', seed: 0, ratio: 0.5, cacheKey: {} });
    expect(full.iterations).toBe(2);
    expect(part.iterations).toBe(1);
    expect(full.evalEvery).toBe(1);
    expect(full.cacheKey).toEqual({ regime: { depth: 8, widths: [4, 8, 16], weightDecay: 5e-4 } });
    expect(
      regimeSpec(r, data, { arm: 'x', seed: 0, cacheKey: { techniques: [{ smd: { p: 0.5 } }] } }).cacheKey,
    ).toMatchObject({ techniques: [{ smd: { p: 0.5 } }] });
    expect(() => regimeSpec(r, data, { arm: 'x', seed: 0, ratio: 1.5, cacheKey: {} })).toThrowError(
      /arm x ratio = 1.5 is invalid/,
    );
    expect(() => regimeSpec(e2trainRegime('smoke'), data, { arm: 'x', seed: 0, cacheKey: {} })).toThrowError(
      /regime train set = 64 is invalid: expected 320 images/,
    );
  });
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
