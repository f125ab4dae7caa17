import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { ternaryParts } from '../lib/src/quant/quantizers';
import { clipGradient, ternGrad } from '../lib/src/techniques/terngrad';
import type { GradientProblem, GradientResult, StepInfo } from '../lib/src/train/technique';
import type { TaskBatch } from '../lib/src/train/task';

beforeAll(async () => {
  await initBackend();
});

const vals = (t: tf.Tensor) => Array.from(t.dataSync());
const info = (iteration: number) => ({ iteration }) as StepInfo;

/** A gradient problem whose shard i has the gradients `perShard[i]` (and loss i + 1); `full` is the whole batch's. */
function mockProblem(
  examples: number,
  perShard: Array<Record<string, number[]>>,
  full?: Record<string, number[]>,
): GradientProblem {
  const batch = { x: tf.zeros([examples, 1]), y: tf.zeros([examples]), examples } as TaskBatch;
  const result = (g: Record<string, number[]>, loss: number): GradientResult => ({
    loss: tf.scalar(loss),
    grads: new Map(Object.entries(g).map(([k, v]) => [k, tf.tensor1d(v)])),
  });
  const shards: TaskBatch[] = [];
  return {
    batch,
    params: new Map(),
    shards(n) {
      for (let i = 0; i < n; i++)
        shards.push({ x: tf.zeros([examples / n, 1]), y: tf.zeros([examples / n]), examples: examples / n });
      return shards;
    },
    gradients(part) {
      if (!part || part === batch) return result(full ?? {}, 0);
      const i = shards.indexOf(part);
      return result(perShard[i] as Record<string, number[]>, i + 1);
    },
  };
}

describe('TernGrad ternarization and clipping (thesis Eq. 4.1-4.3, 4.21)', () => {
  it('ternary values in {-1, 0, 1}, scaler max |g|; unbiased within a 4-sigma bound over 2,000 draws', () => {
    const g = tf.tensor1d([0.5, -0.25, 1, 0, -0.9, 0.05]);
    const R = 2000;
    let acc = tf.zeros([6]);
    for (let s = 0; s < R; s++) {
      const t = ternaryParts(g, 1000 + s);
      if (s === 0) {
        expect(t.scaler.dataSync()[0]).toBe(1);
        for (const v of vals(t.ternary)) expect([-1, 0, 1]).toContain(v);
      }
      acc = tf.add(acc, tf.mul(t.ternary, t.scaler));
    }
    const mean = vals(tf.div(acc, R));
    // Var(s t_k) = s |g_k| - g_k^2; the mean of R draws is within 4 standard errors of g_k (or exact where the variance is 0).
    vals(g).forEach((gk, k) => {
      const sd = Math.sqrt(Math.max(0, Math.abs(gk) - gk * gk) / R);
      expect(Math.abs(mean[k]! - gk)).toBeLessThanOrEqual(4 * sd + 1e-7);
    });
    // The element equal to the scaler is always +-s; a zero is always 0.
    expect(mean[2]).toBe(1);
    expect(mean[3]).toBe(0);
  });

  it('a shared scaler larger than max |g| keeps the expectation (probabilities |g| / s)', () => {
    const g = tf.tensor1d([0.2, -0.1]);
    const s = tf.scalar(0.8);
    let acc = tf.zeros([2]);
    for (let i = 0; i < 2000; i++) acc = tf.add(acc, tf.mul(ternaryParts(g, i, s).ternary, 0.8));
    const m = vals(tf.div(acc, 2000));
    expect(Math.abs(m[0]! - 0.2)).toBeLessThan(4 * Math.sqrt((0.8 * 0.2 - 0.04) / 2000));
    expect(Math.abs(m[1]! + 0.1)).toBeLessThan(4 * Math.sqrt((0.8 * 0.1 - 0.01) / 2000));
  });

  it('clipping at c sigma: a hand case', () => {
    // mean 2.8, variance ((1.8^2) x 4 + 7.2^2) / 5 = 12.96, sigma 3.6; c = 2.5 clips at 9.
    expect(vals(clipGradient(tf.tensor1d([1, 1, 1, 1, 10]), 2.5))).toEqual([1, 1, 1, 1, 9]);
    // The bound is symmetric about zero (|g_i| <= c sigma), sigma about the mean: [1 x 4, -10] has sigma 4.4 and bound 11.
    expect(vals(clipGradient(tf.tensor1d([-1, -1, -1, -1, -10]), 2.5)).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([
      -1, -1, -1, -1, -9,
    ]);
    expect(vals(clipGradient(tf.tensor1d([1, 1, 1, 1, -10]), 2.5))).toEqual([1, 1, 1, 1, -10]);
    expect(() => clipGradient(tf.tensor1d([1]), 0)).toThrowError(/clip = 0/);
  });
});

describe('TernGrad workers (Algorithm 1, Eq. 4.4)', () => {
  const shardGrads = [
    { w: [0.3, -0.1, 0.05, 0.2, -0.4], b: [0.01, -0.02] },
    { w: [-0.2, 0.1, 0.6, -0.05, 0.1], b: [0.03, 0.0] },
    { w: [0.1, 0.1, -0.1, 0.1, -0.1], b: [-0.05, 0.02] },
    { w: [0.0, 0.25, -0.3, 0.15, 0.05], b: [0.0, 0.04] },
  ];

  it('with scaler sharing every averaged tensor takes at most 2N + 1 levels, multiples of s / N', () => {
    const tg = ternGrad({ workers: 4, seed: 1, clip: null });
    for (let it = 0; it < 20; it++) {
      const r = tg.computeGradients!(mockProblem(8, shardGrads), info(it));
      for (const [name, g] of r.grads) {
        const s = Math.max(...shardGrads.map((x) => Math.max(...(x as Record<string, number[]>)[name]!.map(Math.abs))));
        for (const v of vals(g)) {
          const k = (v * 4) / s;
          expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-5);
          expect(Math.abs(Math.round(k))).toBeLessThanOrEqual(4);
        }
      }
      // The loss is the mean of the shards' (1, 2, 3, 4).
      expect(r.loss.dataSync()[0]).toBe(2.5);
    }
    tg.dispose?.();
  });

  it('without sharing, levels of different workers mix (more than 2N + 1 values can appear)', () => {
    const tg = ternGrad({ workers: 4, seed: 1, clip: null, scalerSharing: false });
    const seen = new Set<number>();
    for (let it = 0; it < 60; it++)
      for (const v of vals(tg.computeGradients!(mockProblem(8, shardGrads), info(it)).grads.get('w')!))
        seen.add(Math.round(v * 1e6));
    expect(seen.size).toBeGreaterThan(9);
  });

  it('float mode averages the workers; layer-wise off uses one scaler per worker; float parameters pass as floats; draws are seeded', () => {
    const f = ternGrad({ workers: 4, seed: 1, ternary: false });
    const r = f.computeGradients!(mockProblem(8, shardGrads), info(0));
    vals(r.grads.get('w')!).forEach((v, k) =>
      expect(v).toBeCloseTo(shardGrads.reduce((a, x) => a + x.w[k]!, 0) / 4, 6),
    );
    // One scaler over w and b: b's entries (|b| <= 0.05 against max |w| = 0.6) become 0 or +-0.6 / 4 steps.
    const g = ternGrad({ workers: 4, seed: 1, clip: null, layerWise: false });
    for (let it = 0; it < 10; it++)
      for (const v of vals(g.computeGradients!(mockProblem(8, shardGrads), info(it)).grads.get('b')!)) {
        const k = (v * 4) / 0.6;
        expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-5);
      }
    const fl = ternGrad({ workers: 4, seed: 1, clip: null, floatParams: (p) => p === 'b' });
    vals(fl.computeGradients!(mockProblem(8, shardGrads), info(0)).grads.get('b')!).forEach((v, k) =>
      expect(v).toBeCloseTo(shardGrads.reduce((a, x) => a + x.b[k]!, 0) / 4, 6),
    );
    // Same seed and iteration: the same draws; another iteration: other draws.
    const a = ternGrad({ workers: 4, seed: 7 });
    const b = ternGrad({ workers: 4, seed: 7 });
    const w = (t: ReturnType<typeof ternGrad>, it: number) =>
      vals(t.computeGradients!(mockProblem(8, shardGrads), info(it)).grads.get('w')!);
    expect(w(a, 3)).toEqual(w(b, 3));
    const differs = [4, 5, 6, 7, 8].some((it) => w(a, it).join() !== w(b, 3).join());
    expect(differs).toBe(true);
    expect(() => ternGrad({ workers: 4, seed: 1 }).computeGradients!(mockProblem(6, shardGrads), info(0))).toThrowError(
      /ternGrad batch = 6 is invalid: expected a multiple of the 4 workers/,
    );
    expect(() => ternGrad({ workers: 0, seed: 1 })).toThrowError(/ternGrad.workers = 0/);
    expect(() => ternGrad({ workers: 2, seed: 1, clip: -1 })).toThrowError(/ternGrad.clip = -1/);
  });

  it('counts the share of zeros it sent, and bits per step by hand', () => {
    const tg = ternGrad({ workers: 4, seed: 2, clip: null });
    tg.computeGradients!(mockProblem(8, shardGrads), info(0));
    const z = tg.zeroShare();
    expect(z).toBeGreaterThan(0);
    expect(z).toBeLessThan(1);
    // Tensors of 100 and 10 elements, N = 4: up 2 x 110 + 2 x 32; down ceil(log2 9) = 4 bits: 4 x 110 + 2 x 32; sharing 2 x 4 x 32 per tensor.
    const t = tg.traffic(
      new Map([
        ['a', 100],
        ['b', 10],
      ]),
    );
    expect(t).toMatchObject({
      upBitsPerWorker: 284,
      downBitsPerWorker: 504,
      sharingBits: 512,
      floatBitsPerWorker: 3520,
    });
    expect(t.upBitsBound).toBeCloseTo(Math.log2(3) * 110 + 64, 9);
    expect(t.downBitsBound).toBeCloseTo(Math.log2(9) * 110 + 64, 9);
    const noShare = ternGrad({ workers: 4, seed: 2, scalerSharing: false }).traffic(new Map([['a', 100]]));
    expect(noShare.downBitsPerWorker).toBe(3200);
    tg.dispose?.();
  });
});

describe("weight decay inside the ternarized gradient (the authors' TensorFlow code)", () => {
  const g = [
    { 'fc/w': [0.3, -0.1, 0.05], 'fc/b': [0.01, -0.02] },
    { 'fc/w': [-0.2, 0.1, 0.6], 'fc/b': [0.03, 0.0] },
  ];
  const w = [2, -3, 0.5];
  const problem = () => {
    const p = mockProblem(4, g);
    return { ...p, params: new Map([['fc/w', tf.variable(tf.tensor1d(w))]]) } as GradientProblem;
  };
  it('each worker sends g + lambda w for conv and dense weights (names .../w), biases untouched', () => {
    const f = ternGrad({ workers: 2, seed: 1, ternary: false, weightDecay: 0.1 });
    const r = f.computeGradients!(problem(), info(0));
    vals(r.grads.get('fc/w')!).forEach((v, k) =>
      expect(v).toBeCloseTo((g[0]!['fc/w']![k]! + g[1]!['fc/w']![k]!) / 2 + 0.1 * w[k]!, 6),
    );
    vals(r.grads.get('fc/b')!).forEach((v, k) =>
      expect(v).toBeCloseTo((g[0]!['fc/b']![k]! + g[1]!['fc/b']![k]!) / 2, 6),
    );
  });
  it('the shared scaler is the largest |g + lambda w| of the workers, so the decay is ternarized with the gradient', () => {
    const t = ternGrad({ workers: 2, seed: 3, clip: null, weightDecay: 0.1 });
    // Worker gradients with decay: [0.5, -0.4, 0.1] and [0, -0.2, 0.65]; s = 0.65.
    for (let it = 0; it < 10; it++)
      for (const v of vals(t.computeGradients!(problem(), info(it)).grads.get('fc/w')!)) {
        const k = (v * 2) / 0.65;
        expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-5);
      }
    expect(() => ternGrad({ workers: 2, seed: 1, weightDecay: -1 })).toThrowError(
      /ternGrad.weightDecay = -1 is invalid/,
    );
  });
});

describe('the performance model of Appendix B (Eq. B.1-B.4)', () => {
  it('strong and weak scaling against hand-computed cases', async () => {
    const { strongScaling, weakScaling, communicationSeconds, gradientBytes } = await import(
      '../lib/src/cost/cluster-model'
    );
    // 2 machines of 4 GPUs, 10 GB/s inside a machine, 1 Gbps Ethernet (1.25e8 B/s) with 0.1 ms latency; an AlexNet-sized
    // float gradient (61M parameters = 244 MB), K = 256, profiled T(1,1,K) = 0.5 s.
    const cluster = {
      gpusPerMachine: 4,
      machines: 2,
      gpuBandwidth: 1e10,
      cpuGpuBandwidth: 1e10,
      networkBandwidth: 1.25e8,
      networkLatency: 1e-4,
    };
    const g = gradientBytes(61_000_000, 32);
    expect(g).toBe(244e6);
    // T_comm = 244e6/1e10 x log2 4 + 244e6/1e10 + (1e-4 + 244e6/1.25e8) x log2 2 = 0.0488 + 0.0244 + 1.9521 = 2.0253.
    expect(communicationSeconds(cluster, g)).toBeCloseTo(0.0488 + 0.0244 + 0.0001 + 1.952, 10);
    const s = strongScaling({ cluster, batch: 256, gradientBytes: g, singleGpuSeconds: 0.5 });
    // (0.5 - 0.0244) / 8 + 2.0253.
    expect(s.computeSeconds).toBeCloseTo((0.5 - 0.0244) / 8, 12);
    expect(s.seconds).toBeCloseTo((0.5 - 0.0244) / 8 + 2.0253, 10);
    expect(s.throughput).toBeCloseTo(256 / s.seconds, 10);
    const w = weakScaling({ cluster, batch: 256, gradientBytes: g, singleGpuSeconds: 0.5 });
    // B.3's last line: T(1,1,K) + |g|/C_gwd log2 i + (C_ncost + |g|/C_nwd) log2 j = 0.5 + 0.0488 + 1.9521.
    expect(w.seconds).toBeCloseTo(0.5 + 0.0488 + 1.9521, 10);
    expect(w.throughput).toBeCloseTo((8 * 256) / w.seconds, 8);
    // TernGrad: 2 bits per element plus one scaler per tensor; the profiled transfer stays the float one.
    const tern = strongScaling({
      cluster,
      batch: 256,
      gradientBytes: gradientBytes(61_000_000, 2, 16),
      singleGpuSeconds: 0.5,
      profiledTransferBytes: g,
    });
    expect(tern.throughput).toBeGreaterThan(s.throughput);
    expect(tern.communicationSeconds).toBeCloseTo(communicationSeconds(cluster, (61_000_000 * 2 + 32 * 16) / 8), 12);
    // One GPU: no communication terms but the CPU-GPU transfer; strong time = T(1,1,K).
    const one = strongScaling({
      cluster: { ...cluster, gpusPerMachine: 1, machines: 1 },
      batch: 256,
      gradientBytes: g,
      singleGpuSeconds: 0.5,
    });
    expect(one.seconds).toBeCloseTo(0.5, 12);
    expect(() =>
      strongScaling({ cluster: { ...cluster, machines: 0 }, batch: 256, gradientBytes: g, singleGpuSeconds: 0.5 }),
    ).toThrowError(/cluster.machines = 0/);
  });
});

describe('TernGrad in the trainer (the gradient seam)', () => {
  it('float workers on equal shards reproduce single-worker training; ternary training runs with a flat tensor count', async () => {
    const { train } = await import('../lib/src/train/trainer');
    const { mlp } = await import('../lib/src/models/small');
    const { syntheticCifar } = await import('../lib/src/data/synthetic');
    const data = syntheticCifar(32, 3);
    const run = async (techniques: ReturnType<typeof ternGrad>[]) => {
      const m = mlp({ inputShape: [32, 32, 3], hidden: [16], seed: 5 });
      await train({
        model: m,
        train: data,
        batchSize: 8,
        epochs: 1,
        lr: 0.05,
        optimizer: { kind: 'sgd', momentum: 0.9 },
        schedule: { kind: 'constant' },
        seed: 2,
        techniques,
      });
      const w = Array.from(m.params.get(m.layers[0]!.weight).dataSync());
      m.params.dispose();
      return w;
    };
    const plain = await run([]);
    const float4 = await run([ternGrad({ workers: 4, seed: 1, ternary: false })]);
    // The mean of four shard means is the batch mean (float32 sums in another order).
    expect(Math.max(...plain.map((v, i) => Math.abs(v - float4[i]!)))).toBeLessThan(1e-5);
    const tg = ternGrad({ workers: 2, seed: 1 });
    const before = tf.memory().numTensors;
    const tern = await run([tg]);
    expect(tf.memory().numTensors).toBe(before);
    expect(tern.every(Number.isFinite)).toBe(true);
    expect(Math.max(...plain.map((v, i) => Math.abs(v - tern[i]!)))).toBeGreaterThan(0);
    expect(tg.zeroShare()).toBeGreaterThan(0.5);
    tg.dispose?.();
  });
});

describe('wire formats (2-bit ternary, ceil(log2(2N+1))-bit level sums)', () => {
  it('round-trip every value at awkward lengths; sizes match the accounting; bad input is refused', async () => {
    const { packTernary, unpackTernary, packLevels, unpackLevels, levelBits } = await import(
      '../lib/src/distributed/wire'
    );
    for (const len of [1, 3, 4, 5, 17]) {
      const t = Array.from({ length: len }, (_, i) => ((i * 7) % 3) - 1);
      const bytes = packTernary(t);
      expect(bytes.length).toBe(Math.ceil((2 * len) / 8));
      expect(Array.from(unpackTernary(bytes, len))).toEqual(t);
    }
    expect(levelBits(1)).toBe(2);
    expect(levelBits(4)).toBe(4);
    expect(levelBits(64)).toBe(8);
    for (const n of [1, 2, 3, 4, 7, 64]) {
      const k = Array.from({ length: 2 * n + 1 }, (_, i) => i - n);
      const bytes = packLevels(k, n);
      expect(bytes.length).toBe(Math.ceil((k.length * levelBits(n)) / 8));
      expect(Array.from(unpackLevels(bytes, k.length, n))).toEqual(k);
    }
    expect(() => packTernary([0, 2])).toThrowError(/ternary\[1\] = 2/);
    expect(() => packLevels([5], 4)).toThrowError(/levels\[0\] = 5 is invalid: expected an integer in -4..4/);
    expect(() => unpackTernary(new Uint8Array([0xff]), 4)).toThrowError(/not a packed ternary vector/);
    expect(() => unpackLevels(new Uint8Array(3), 4, 4)).toThrowError(/levels.bytes = 3/);
  });
});

describe("Fig. 4.2's snapshot and the TernGrad arms", () => {
  it('snapshot: clipped within c sigma, worker ternary in {-s, 0, s}, average on multiples of s / N', async () => {
    const { ternGradSnapshot } = await import('../lib/src/techniques/terngrad');
    const { mlp } = await import('../lib/src/models/small');
    const m = mlp({ inputShape: [8], hidden: [6], seed: 1 });
    const x = tf.randomNormal([8, 8], 0, 1, 'float32', 3);
    const y = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32');
    const s = ternGradSnapshot({ model: m, x, y, workers: 4, seed: 2, param: m.layers[0]!.weight, clip: 2.5 });
    expect(s.original.length).toBe(48);
    const mean = s.original.reduce((a, v) => a + v, 0) / 48;
    const sigma = Math.sqrt(s.original.reduce((a, v) => a + (v - mean) ** 2, 0) / 48);
    expect(Math.max(...s.clipped.map(Math.abs))).toBeLessThanOrEqual(2.5 * sigma + 1e-7);
    const scaler = Math.max(...s.ternary.map(Math.abs));
    expect(scaler).toBeGreaterThan(0);
    for (const v of s.ternary) expect([0, scaler].includes(Math.abs(v))).toBe(true);
    for (const v of s.averaged) {
      const k = (v * 4) / scaler;
      expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-4);
    }
    expect(() =>
      ternGradSnapshot({ model: m, x, y, workers: 3, seed: 2, param: m.layers[0]!.weight, clip: null }),
    ).toThrowError(/ternGradSnapshot.workers = 3/);
    m.params.dispose();
  });

  it('arms: a fixed total batch (Fig. 4.3) or a fixed batch per worker with iterations scaled (Table 4.1); paper settings', async () => {
    const { terngradRegime, terngradArm } = await import('../lib/src/studies/terngrad');
    const { buildTechnique } = await import('../lib/src/experiments/arm');
    const { syntheticCifar } = await import('../lib/src/data/synthetic');
    const p = terngradRegime('paper');
    expect(p.lenet).toMatchObject({ batch: 64, iterations: 10000, workers: [1, 2, 4, 8, 16, 32, 64] });
    expect(p.lenet.optimizers.map((o) => o.lr)).toEqual([0.01, 0.1]);
    // lite: Fig. 4.3's two optimizers, vanilla SGD (no momentum, from 0.1) with TernGrad at 2 workers only; its spec
    // carries its own rate and optimizer and a cache key of its own.
    const liteLenet = terngradRegime('lite').lenet;
    expect(liteLenet.optimizers.map((o) => [o.name, o.lr, o.workers ?? liteLenet.workers])).toEqual([
      ['momentum SGD', 0.01, [2, 4]],
      ['vanilla SGD', 0.1, [2]],
    ]);
    expect(p.cifarnet).toMatchObject({ batch: 64, batchPerWorker: true, iterations: 300000 });
    expect(p.cifarnet!.optimizers[0]!.lr).toBe(0.0002);
    // lite: Table 4.1 at 2 workers of 50 for 12 epochs of the whole CIFAR-10 (100 x 6,000 = 12 x 50,000 images).
    const lite = terngradRegime('lite').cifarnet!;
    expect(lite).toMatchObject({
      trainCount: 50000,
      testCount: 10000,
      batch: 50,
      batchPerWorker: true,
      iterations: 6000,
      workers: [2],
    });
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(16, 2) };
    const model = { kind: 'mlp' as const, options: { inputShape: [32, 32, 3], hidden: [4] } };
    const lt = terngradArm(lite, data, model, 0, {
      ...{ label: 'f', optimizer: 0, workers: 2, ternary: false, clip: 2.5, scalerSharing: true },
    }).recipe;
    expect([lt.batchSize, lt.iterations, lt.lr, lt.schedule]).toEqual([100, 6000, 0.01, { kind: 'cosine' }]);
    expect(lt.optimizer).toEqual({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 });
    // The authors' order: the optimizer's decay moves into each worker's gradient, before ternarizing.
    const inside = terngradArm(lite, data, model, 0, {
      ...{ label: 'd', optimizer: 0, workers: 2, ternary: true, clip: 2.5, scalerSharing: true, decayInside: true },
    });
    expect(inside.recipe.optimizer).toEqual({ kind: 'sgd', momentum: 0.9, weightDecay: 0 });
    expect(inside.techniques[0]?.options).toMatchObject({ weightDecay: 5e-4 });
    const arm = { label: 'x', optimizer: 0, workers: 16, ternary: true, clip: 2.5, scalerSharing: true };
    // Table 4.1's rows: 16 workers, 2,048 images, 18,750 iterations.
    const t = terngradArm(p.cifarnet!, data, model, 0, arm).recipe;
    // A diverging arm (no clipping can diverge) is reported, not a failed notebook.
    expect(t.divergence).toEqual({ action: 'stop' });
    expect(t.batchSize).toBe(2048);
    expect(t.iterations).toBe(18750);
    // Without rows, a batch per worker: 16 x 64 = 1,024 images, 300,000 x 2 / 16 = 37,500 iterations (the same epochs).
    const u = terngradArm({ ...p.cifarnet!, rows: undefined }, data, model, 0, arm).recipe;
    expect(u.batchSize).toBe(1024);
    expect(u.iterations).toBe(37500);
    expect(() => terngradArm(p.cifarnet!, data, model, 0, { ...arm, workers: 4 })).toThrowError(
      /arm.workers = 4 is invalid: expected one of the study's rows \(2, 16 workers\)/,
    );
    const l = terngradArm(p.lenet, data, model, 0, { ...arm, workers: 8 });
    expect(l.recipe.batchSize).toBe(64);
    expect(l.recipe.iterations).toBe(10000);
    expect(terngradArm(p.lenet, data, model, 0, { ...arm, workers: 1, ternary: false }).techniques).toEqual([]);
    const v = terngradArm(terngradRegime('lite').lenet, data, model, 0, { ...arm, workers: 2, optimizer: 1 }).recipe;
    expect([v.lr, v.optimizer, v.input]).toEqual([0.1, { kind: 'sgd', momentum: 0, weightDecay: 5e-4 }, 'unit-range']);
    expect(
      terngradArm(terngradRegime('lite').lenet, data, model, 0, { ...arm, workers: 2, optimizer: 0 }).recipe.input,
    ).toBe('standardize');
    // Table 4.2's ablation: layer-wise scalers by default, one scaler over all tensors on request (another description).
    expect(l.techniques[0]?.options).toMatchObject({ layerWise: true, clip: 2.5, scalerSharing: true });
    const one = terngradArm(p.lenet, data, model, 0, { ...arm, workers: 4, clip: null, layerWise: false });
    expect(one.techniques[0]?.options).toMatchObject({ layerWise: false });
    // The arm's option reaches the technique: with one scaler over all tensors (max |g| = 0.6 over w and b), every
    // averaged bias element is a multiple of 0.6 / 4; layer-wise, the bias's own scaler (0.05) gives multiples of 0.0125.
    const shards = [
      { w: [0.3, -0.1, 0.05, 0.2, -0.4], b: [0.01, -0.02] },
      { w: [-0.2, 0.1, 0.6, -0.05, 0.1], b: [0.03, 0.0] },
      { w: [0.1, 0.1, -0.1, 0.1, -0.1], b: [-0.05, 0.02] },
      { w: [0.0, 0.25, -0.3, 0.15, 0.05], b: [0.0, 0.04] },
    ];
    const biasValues = (spec: typeof one) => {
      const tg = buildTechnique(
        spec.techniques[0]!,
        undefined as never,
        3,
      ) as import('../lib/src/techniques/terngrad').TernGrad;
      const out: number[] = [];
      for (let it = 0; it < 30; it++)
        out.push(...vals(tg.computeGradients(mockProblem(8, shards), info(it)).grads.get('b')!));
      tg.dispose?.();
      return out;
    };
    const global = biasValues(one);
    expect(global.every((v) => Math.abs(v / 0.15 - Math.round(v / 0.15)) < 1e-5)).toBe(true);
    const layer = biasValues(terngradArm(p.lenet, data, model, 0, { ...arm, workers: 4, clip: null }));
    expect(layer.every((v) => Math.abs(v) <= 0.05 + 1e-7)).toBe(true);
    expect(layer.some((v) => v !== 0 && Math.abs(v / 0.15 - Math.round(v / 0.15)) > 1e-3)).toBe(true);
    expect(() => terngradArm(p.lenet, data, model, 0, { ...arm, workers: 7 })).toThrowError(
      /arm.workers = 7 is invalid: expected a divisor of the batch 64/,
    );
  });
});
