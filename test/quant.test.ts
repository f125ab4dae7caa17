import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { mostSignificantBits, quantize, roundingNoise, ternarize } from '../lib/src/quant/quantizers';
import { defaultQuantConfig, quantConv2d, quantMatMul } from '../lib/src/quant/layers';
import { FP32, fwbw, parsePrecision, formatPrecision } from '../lib/src/quant/precision';
import { quantStats } from '../lib/src/quant/stats';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const vals = (t: tf.Tensor) => Array.from(t.dataSync());

describe('precision settings', () => {
  it('parses FracTrain notation and rejects bad widths before any work', () => {
    expect(parsePrecision('FW-8/BW-16')).toEqual({
      weight: 8,
      activation: 8,
      gradError: 16,
      gradWeight: 16,
      activationWeightGrad: 8,
    });
    expect(formatPrecision(fwbw(4, 6))).toBe('FW-4/BW-6');
    expect(formatPrecision(FP32)).toBe('FP32');
    expect(() => parsePrecision('FW-0/BW-8')).toThrowError(
      /FW bits = 0 is invalid: expected an integer bit width in 1\.\.32/,
    );
    expect(() => fwbw(8, 33)).toThrowError(/BW bits = 33/);
    expect(() => parsePrecision('int8')).toThrowError(/precision = "int8"/);
  });
});

describe('quantizers', () => {
  it('symmetric b-bit grid: at most 2^b - 1 levels, the max maps to itself, step = max / (2^(b-1) - 1)', () => {
    const x = tf.linspace(-3, 2, 1001);
    const q = quantize(x, { bits: 3 });
    const levels = new Set(vals(q).map((v) => v.toFixed(5)));
    expect(levels.size).toBeLessThanOrEqual(7);
    expect(Math.min(...vals(q))).toBeCloseTo(-3, 5);
    const step = 3 / 3;
    for (const v of vals(q)) expect(Math.abs(v / step - Math.round(v / step))).toBeLessThan(1e-5);
  });

  it('asymmetric grid spans [min, max] with 2^b levels', () => {
    const q = quantize(tf.linspace(1, 2, 500), { bits: 2, mode: 'asymmetric' });
    expect([...new Set(vals(q).map((v) => v.toFixed(4)))].sort()).toEqual(['1.0000', '1.3333', '1.6667', '2.0000']);
  });

  it("per-channel ranges use each output channel's own maximum", () => {
    const w = tf.tensor2d([
      [1, 100],
      [0.5, 50],
    ]);
    const perChannel = vals(quantize(w, { bits: 8, range: 'channel' }));
    const perTensor = vals(quantize(w, { bits: 8, range: 'tensor' }));
    // Each channel's maximum is on its own grid; with one range for the tensor, 1 falls between levels of step 100/127.
    expect(perChannel[0]).toBeCloseTo(1, 6);
    expect(perChannel[1]).toBeCloseTo(100, 4);
    expect(perTensor[0]).toBeCloseTo(100 / 127, 5);
    expect(Math.abs(perChannel[2]! - 0.5)).toBeLessThanOrEqual(0.5 / 127 + 1e-7);
  });

  it('sample-mean ranges average per-sample maxima and clip beyond them', () => {
    const x = tf.tensor2d([
      [1, -1],
      [3, 0],
    ]);
    const q = quantize(x, { bits: 4, range: 'sample-mean' });
    // per-sample max |x|: 1 and 3, mean 2: the value 3 is clipped to 2.
    expect(Math.max(...vals(q))).toBeCloseTo(2, 5);
  });

  it('stochastic rounding is unbiased in expectation and deterministic under a seed', () => {
    const x = tf.fill([2000], 0.3 * (2 / 127));
    const grid = { bits: 8, fixedRange: [-2, 2] as const, rounding: 'stochastic' as const };
    let mean = 0;
    const runs = 50;
    for (let s = 0; s < runs; s++) mean += tf.mean(quantize(x, { ...grid, seed: s + 1 })).dataSync()[0]! / runs;
    expect(mean / (0.3 * (2 / 127))).toBeCloseTo(1, 1);
    expect(vals(quantize(x, { ...grid, seed: 9 }))).toEqual(vals(quantize(x, { ...grid, seed: 9 })));
    const u = vals(roundingNoise([10000], 3));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((a, b) => a + b, 0) / u.length).toBeCloseTo(0.5, 1);
  });

  it('nearest and truncation differ as expected; 32 bits is the identity', () => {
    const x = tf.tensor1d([0.74, -0.74]);
    expect(vals(quantize(x, { bits: 3, fixedRange: [-3, 3] }))).toEqual([1, -1]);
    expect(vals(quantize(x, { bits: 3, fixedRange: [-3, 3], rounding: 'truncate' }))).toEqual([0, -0]);
    expect(vals(quantize(x, { bits: 32 }))).toEqual(vals(x));
  });

  it('MSB extraction keeps the top k of b bits', () => {
    // 4-bit symmetric grid: levels -7..7 scaled by max/7 = 1; top 2 bits keep multiples of 4.
    const x = tf.tensor1d([7, 6, 5, 3, -6]);
    expect(vals(mostSignificantBits(x, 4, 2))).toEqual([4, 4, 4, 0, -4]);
    expect(vals(mostSignificantBits(x, 4, 4))).toEqual([7, 6, 5, 3, -6]);
    expect(() => mostSignificantBits(x, 4, 5)).toThrowError(/msb bits = 5/);
    // The four-op truncation equals the two-stage definition (round to the bits-bit code, then drop the low bits).
    const r = tf.randomNormal([2000], 0, 1, 'float32', 11);
    for (const [bits, k] of [
      [8, 4],
      [16, 10],
      [8, 1],
      [8, 8],
    ] as const) {
      const levels = 2 ** (bits - 1) - 1;
      const a = Array.from(r.dataSync()),
        m = Math.max(...a.map(Math.abs)),
        scale = m / levels,
        step = 2 ** (bits - k);
      const ref = a.map((v) => Math.sign(v) * Math.floor(Math.floor(Math.abs(v) / scale + 0.5) / step) * step * scale);
      const got = Array.from(mostSignificantBits(r, bits, k).dataSync());
      const mismatched = got.filter((v, i) => Math.abs(v - ref[i]!) > 1e-6 * m).length;
      expect(mismatched).toBe(0);
    }
  });

  it('ternarization is unbiased and takes values in {-s, 0, s}', () => {
    const g = tf.tensor1d([0.5, -0.25, 1, 0]);
    let acc = tf.zeros([4]);
    const runs = 400;
    for (let s = 0; s < runs; s++) {
      const t = ternarize(g, s + 1);
      for (const v of vals(t)) expect([0, 1, -1]).toContain(v);
      acc = tf.add(acc, t);
    }
    vals(tf.div(acc, runs)).forEach((v, i) => expect(v).toBeCloseTo(vals(g)[i]!, 1));
  });

  it('statistics: SNR, clip rate and zero fraction', () => {
    const x = tf.tensor1d([1, 2, 3, 0]);
    const s = quantStats(x, tf.tensor1d([1, 2, 2, 0]), 0.5);
    expect(s.snrDb).toBeCloseTo(10 * Math.log10(14 / 1), 5);
    expect(s.clipRate).toBe(0.25);
    expect(s.zeroFraction).toBe(0.25);
  });
});

describe('quantized layers (straight-through estimator)', () => {
  const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 12) as tf.Tensor4D;
  const dy = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 13) as tf.Tensor4D;

  it('at 32 bits the quantized conv equals the float conv in value and gradients', () => {
    const cfg = defaultQuantConfig(1);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(quantConv2d(a as tf.Tensor4D, b as tf.Tensor4D, { strides: 2, pad: 'same' }, FP32, cfg), dy));
    const r = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), dy));
    const [gx, gw] = tf.grads(f)([x, w]);
    const [rx, rw] = tf.grads(r)([x, w]);
    vals(gx!).forEach((v, i) => expect(v).toBeCloseTo(vals(rx!)[i]!, 4));
    vals(gw!).forEach((v, i) => expect(v).toBeCloseTo(vals(rw!)[i]!, 4));
  });

  it('forward uses quantized weights and activations; backward quantizes the output gradient (nearest rounding, tensor ranges)', () => {
    const cfg = {
      ...defaultQuantConfig(1),
      gradientRounding: 'nearest' as const,
      activationRange: 'tensor' as const,
      weightRange: 'tensor' as const,
    };
    const p = fwbw(4, 6);
    const q = (t: tf.Tensor, bits: number) => quantize(t, { bits, range: 'tensor' });
    const y = quantConv2d(x, w, { strides: 2, pad: 'same' }, p, cfg);
    const ref = tf.conv2d(q(x, 4) as tf.Tensor4D, q(w, 4) as tf.Tensor4D, 2, 'same');
    vals(y).forEach((v, i) => expect(v).toBeCloseTo(vals(ref)[i]!, 4));
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(quantConv2d(a as tf.Tensor4D, b as tf.Tensor4D, { strides: 2, pad: 'same' }, p, cfg), dy)),
    )([x, w]);
    const dyq = q(dy, 6) as tf.Tensor4D;
    const rx = tf.conv2dTranspose(dyq, q(w, 4) as tf.Tensor4D, x.shape, 2, 'same');
    const rw = tf.grad((b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(q(x, 4) as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), dyq)),
    )(w);
    vals(gx!).forEach((v, i) => expect(v).toBeCloseTo(vals(rx)[i]!, 3));
    vals(gw!).forEach((v, i) => expect(v).toBeCloseTo(vals(rw)[i]!, 3));
  });

  it('quantized matmul gradients match the reference on a small case', () => {
    const cfg = {
      ...defaultQuantConfig(1),
      gradientRounding: 'nearest' as const,
      activationRange: 'tensor' as const,
      weightRange: 'tensor' as const,
    };
    const a = tf.randomNormal([3, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
    const b = tf.randomNormal([5, 2], 0, 1, 'float32', 2) as tf.Tensor2D;
    const g = tf.randomNormal([3, 2], 0, 1, 'float32', 3);
    const p = fwbw(8, 8);
    const [ga, gb] = tf.grads((u: tf.Tensor, v: tf.Tensor) =>
      tf.sum(tf.mul(quantMatMul(u as tf.Tensor2D, v as tf.Tensor2D, p, cfg), g)),
    )([a, b]);
    const q = (t: tf.Tensor) => quantize(t, { bits: 8, range: 'tensor' }) as tf.Tensor2D;
    vals(ga!).forEach((v, i) => expect(v).toBeCloseTo(vals(tf.matMul(q(g), q(b), false, true))[i]!, 4));
    vals(gb!).forEach((v, i) => expect(v).toBeCloseTo(vals(tf.matMul(q(a), q(g), true, false))[i]!, 4));
  });
});

describe('output-gradient ranges', () => {
  it("by default the error is quantized over the batch's extreme |dy| (nothing clipped); 'sample-mean' clips", async () => {
    const { checkQuantOptions } = await import('../lib/src/quant/layers');
    const eye = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    // Example 0's gradient is 8, example 1's is 1: the averaged per-example range is (8 + 1) / 2 = 4.5.
    const dy = tf.tensor2d([
      [8, 0],
      [1, 0],
    ]);
    const inputGradient = (cfg: ReturnType<typeof defaultQuantConfig>) =>
      vals(
        tf.grad((u: tf.Tensor) => tf.sum(tf.mul(quantMatMul(u as tf.Tensor2D, eye, fwbw(8, 8), cfg), dy)))(eye.clone()),
      );
    const nearest = { ...defaultQuantConfig(1), gradientRounding: 'nearest' as const };
    const extreme = inputGradient(nearest);
    expect(extreme[0]).toBeCloseTo(8, 5);
    expect(extreme[2]).toBeCloseTo((Math.round((1 * 127) / 8) * 8) / 127, 5);
    const averaged = inputGradient({ ...nearest, gradientRange: 'sample-mean' });
    expect(averaged[0]).toBeCloseTo(4.5, 5);
    expect(() => checkQuantOptions({ gradientRange: 'batch' as never })).toThrowError(
      /quant.gradientRange = "?batch"? is invalid.*tensor, channel, sample-mean/,
    );
  });
});

describe('running ranges and per-layer statistics', () => {
  it('training updates running activation ranges; evaluation quantizes with them', async () => {
    const { RunningRanges } = await import('../lib/src/quant/layers');
    const { cifarResNet } = await import('../lib/src/models/resnet');
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const ranges = new RunningRanges(0.5);
    const quant = { ...defaultQuantConfig(1), ranges };
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 2);
    tf.tidy(() => void m.apply(x, { training: true, quant, precision: () => fwbw(4, 8) }));
    const snap = ranges.snapshot();
    expect(Object.keys(snap)).toContain('conv1');
    expect(snap.conv1).toBeGreaterThan(0);
    // In evaluation, a layer input of 10x the training scale is clipped at the running range.
    const evalOut = tf.tidy(() =>
      m.apply(tf.mul(x, 10), { training: false, quant, precision: () => fwbw(4, 8) }).arraySync(),
    );
    expect(ranges.snapshot()).toEqual(snap);
    const dynamicOut = tf.tidy(() =>
      m
        .apply(tf.mul(x, 10), { training: false, quant: defaultQuantConfig(1), precision: () => fwbw(4, 8) })
        .arraySync(),
    );
    expect(evalOut).toHaveLength(4);
    expect(evalOut).not.toEqual(dynamicOut);
    ranges.dispose();
    m.params.dispose();
  });

  it('per-layer SNR falls as bits fall', async () => {
    const { layerQuantStats } = await import('../lib/src/analysis/layer-quant-stats');
    const { cifarResNet } = await import('../lib/src/models/resnet');
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 2);
    const s8 = layerQuantStats(m, x, () => fwbw(8, 8));
    const s4 = layerQuantStats(m, x, () => fwbw(4, 8));
    expect(s8.map((s) => s.layer)).toEqual(m.layers.map((l) => l.name));
    s8.forEach((s, i) => {
      expect(s.weights.snrDb).toBeGreaterThan(s4[i]!.weights.snrDb);
      expect(s.activations.snrDb).toBeGreaterThan(s4[i]!.activations.snrDb);
    });
    // Post-ReLU inputs have many zeros.
    expect(s8[1]!.activations.zeroFraction).toBeGreaterThan(0.2);
    m.params.dispose();
  });
});
