import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  augmentationDraws,
  augmentationOf,
  augmentPadCropFlip,
  balancedSubset,
  batches,
  channelStats,
  storedAugmentation,
  trainValidationSplit,
} from '../lib/src/data/pipeline';
import { classCounts } from '../lib/src/data/image-dataset';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { createRng } from '../lib/src/random';
import { ConfigError } from '../lib/src/errors';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('synthetic CIFAR-shaped data', () => {
  it('is deterministic under a seed and class-dependent', () => {
    const a = syntheticCifar(40, 7);
    const b = syntheticCifar(40, 7);
    const c = syntheticCifar(40, 8);
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    expect(Buffer.from(a.images).equals(Buffer.from(c.images))).toBe(false);
    expect(a.origin).toBe('synthetic');
    // Mean colour differs between classes 0 and 1.
    const mean = (cls: number) => {
      let s = 0;
      let n = 0;
      a.labels.forEach((l, i) => {
        if (l === cls)
          for (let p = 0; p < 3072; p += 3) {
            s += a.images[i * 3072 + p] as number;
            n++;
          }
      });
      return s / n;
    };
    expect(Math.abs(mean(0) - mean(1))).toBeGreaterThan(5);
  });
});

describe('subsets and splits', () => {
  const ds = syntheticCifar(200, 1);
  it('balanced subsets have equal classes and are seeded', () => {
    const s1 = balancedSubset(ds, 50, createRng(3));
    const s2 = balancedSubset(ds, 50, createRng(3));
    expect(classCounts(s1)).toEqual([5, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
    expect(Array.from(s1.labels)).toEqual(Array.from(s2.labels));
    expect(classCounts(balancedSubset(ds, 23, createRng(1)))).toEqual([3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
  });
  it('rejects impossible sizes with a clear error', () => {
    expect(() => balancedSubset(ds, 0, createRng(1))).toThrowError(ConfigError);
    expect(() => balancedSubset(ds, 201, createRng(1))).toThrowError(
      /subset size = 201 is invalid: expected an integer in 1\.\.200/,
    );
  });
  it('train/validation split is disjoint, complete and balanced', () => {
    const { train, validation } = trainValidationSplit(ds, 40, createRng(2));
    expect(train.count + validation.count).toBe(200);
    expect(classCounts(validation)).toEqual(new Array(10).fill(4));
  });
});

describe('augmentation and batching', () => {
  it('pad-crop-flip keeps shape, is seeded, and zero-pads shifted borders', () => {
    const src = new Uint8Array(2 * 8 * 8 * 3).fill(200);
    const d1 = new Uint8Array(src.length);
    const d2 = new Uint8Array(src.length);
    augmentPadCropFlip(src, d1, 2, 8, 8, 3, createRng(5));
    augmentPadCropFlip(src, d2, 2, 8, 8, 3, createRng(5));
    expect(Array.from(d1)).toEqual(Array.from(d2));
    expect(d1.every((v) => v === 0 || v === 200)).toBe(true);
  });
  it('a shift of zero with no flip is the identity', () => {
    const src = Uint8Array.from({ length: 4 * 4 * 1 }, (_, i) => i + 1);
    const dst = new Uint8Array(src.length);
    augmentPadCropFlip(src, dst, 1, 4, 4, 1, createRng(0), 0);
    const flipped = Array.from({ length: 16 }, (_, i) => src[Math.floor(i / 4) * 4 + (3 - (i % 4))]);
    expect([Array.from(src), flipped]).toContainEqual(Array.from(dst));
  });
  it('flips-only draws no shift and flips about half the images; none draws nothing; pad-crop-flip shifts', () => {
    const f = augmentationDraws('flip', 400, createRng('f')) as Int8Array;
    const flips = Array.from({ length: 400 }, (_, i) => f[3 * i + 2]);
    expect(
      Array.from({ length: 400 }, (_, i) => [f[3 * i], f[3 * i + 1]])
        .flat()
        .every((v) => v === 0),
    ).toBe(true);
    expect(flips.every((v) => v === 0 || v === 1)).toBe(true);
    const flipped = flips.filter((v) => v === 1).length;
    expect(flipped).toBeGreaterThan(160);
    expect(flipped).toBeLessThan(240);
    expect(augmentationDraws('none', 400, createRng('f'))).toBeUndefined();
    const p = augmentationDraws('pad-crop-flip', 400, createRng('f')) as Int8Array;
    const shifts = Array.from({ length: 800 }, (_, i) => p[3 * Math.floor(i / 2) + (i % 2)] as number);
    expect(Math.max(...shifts)).toBe(4);
    expect(Math.min(...shifts)).toBe(-4);
  });
  it('flips-only batches hold each image as it is or mirrored, both kinds seen', () => {
    const ds = syntheticCifar(64, 9);
    const size = 32 * 32 * 3;
    let mirrored = 0;
    let same = 0;
    for (const b of batches(ds, { batchSize: 32, rng: createRng(2), augment: 'flip' })) {
      const px = b.x.dataSync();
      b.indices.forEach((j, i) => {
        const at = (r: number, q: number, k: number) =>
          Math.round((px[i * size + (r * 32 + q) * 3 + k] as number) * 255);
        const src = (r: number, q: number, k: number) => ds.images[j * size + (r * 32 + q) * 3 + k] as number;
        // Every pixel (row r, column q, channel k) equals the source's at the same column, or at the mirrored one.
        const matches = (mirror: boolean) =>
          Array.from({ length: size }, (_, t) => [Math.floor(t / 96), Math.floor(t / 3) % 32, t % 3] as const).every(
            ([r, q, k]) => at(r, q, k) === src(r, mirror ? 31 - q : q, k),
          );
        const isSame = matches(false);
        const isMirror = matches(true);
        expect(isSame || isMirror).toBe(true);
        if (isSame && !isMirror) same++;
        if (isMirror && !isSame) mirrored++;
      });
      tf.dispose([b.x, b.y]);
    }
    expect(mirrored).toBeGreaterThan(10);
    expect(same).toBeGreaterThan(10);
  });
  it('augmentation options: booleans map to pad-crop-flip and none, anything else is an error naming it', () => {
    expect(augmentationOf(true)).toBe('pad-crop-flip');
    expect(augmentationOf(false)).toBe('none');
    expect(augmentationOf('flip')).toBe('flip');
    expect(() => augmentationOf('mirror' as never)).toThrowError(
      /augment = "mirror" is invalid: expected true, false, 'none', 'flip' or 'pad-crop-flip'/,
    );
    expect(() => augmentationOf('mirror' as never)).toThrowError(ConfigError);
    expect(() =>
      batches(syntheticCifar(8, 1), { batchSize: 4, rng: createRng(0), augment: 'crop' as never }).next(),
    ).toThrowError(/augment = "crop"/);
    expect([storedAugmentation('none'), storedAugmentation('pad-crop-flip'), storedAugmentation('flip')]).toEqual([
      false,
      true,
      'flip',
    ]);
  });
  it('batches cover the epoch once, normalise per channel and free their tensors', () => {
    const ds = syntheticCifar(50, 3);
    const stats = channelStats(ds);
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    for (const b of batches(ds, { batchSize: 16, rng: createRng(1), normalize: stats })) {
      expect(b.x.shape.slice(1)).toEqual([32, 32, 3]);
      seen.push(...b.indices);
      if (seen.length === 16) {
        const m = tf.tidy(() => tf.mean(b.x, [0, 1, 2]).dataSync());
        expect(Math.abs(m[0] as number)).toBeLessThan(0.5);
      }
      tf.dispose([b.x, b.y]);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('batch prefetching on a worker thread', () => {
  it('assembles the same pixels as pad-crop-flip plus normalisation, on the worker and inline', async () => {
    const { BatchPrefetcher } = await import('../lib/src/data/prefetch');
    const { augmentPadCropFlip, assembleBatch, drawAugmentation, pixelAffine } = await import(
      '../lib/src/data/pipeline'
    );
    const { syntheticCifar } = await import('../lib/src/data/synthetic');
    const { createRng } = await import('../lib/src/random');
    const ds = syntheticCifar(40, 3);
    const stats = { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] };
    const indices = Int32Array.from([5, 0, 39, 12, 7]);
    const augment = drawAugmentation(5, createRng('draws'));
    const size = 32 * 32 * 3;
    const raw = new Uint8Array(5 * size);
    indices.forEach((j, i) => raw.set(ds.images.subarray(j * size, (j + 1) * size), i * size));
    const aug = new Uint8Array(raw.length);
    augmentPadCropFlip(raw, aug, 5, 32, 32, 3, createRng('draws'));
    const expected = Float32Array.from(aug, (v, i) => (v / 255 - stats.mean[i % 3]!) / stats.std[i % 3]!);
    const p = new BatchPrefetcher(ds, stats);
    const [a, b] = await Promise.all([p.request({ indices, augment }), p.request({ indices })]);
    await p.close();
    a.pixels.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
    expect(Array.from(a.labels)).toEqual(Array.from(indices, (j) => ds.labels[j]));
    expect(b.pixels[0]).toBeCloseTo((ds.images[5 * size]! / 255 - 0.4) / 0.2, 4);
    const { scale, shift } = pixelAffine(stats, 3);
    expect(Array.from(assembleBatch(ds.images, ds.labels, 32, 32, 3, indices, augment, scale, shift).pixels)).toEqual(
      Array.from(a.pixels),
    );
  });
});
