import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import {
  dorefaActivation,
  dorefaGradient,
  dorefaWeight,
  dorefaWeightSlope,
  fixedPoint,
  quantizeUnit,
  sbmQuant,
  shiftScale,
  wageError,
  wageGradient,
} from '../lib/src/quant/schemes';
import { checkQuantOptions, defaultQuantConfig, quantMatMul } from '../lib/src/quant/layers';
import { fwbw } from '../lib/src/quant/precision';
import { quantize } from '../lib/src/quant/quantizers';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const vals = (t: tf.Tensor) => Array.from(t.dataSync());

describe('DoReFa quantizers (Zhou et al. 2016)', () => {
  it('quantize_k rounds to multiples of 1 / (2^k - 1) (Eq. 5)', () => {
    // k = 2: grid 0, 1/3, 2/3, 1.
    expect(vals(quantizeUnit(tf.tensor1d([0, 0.1, 0.2, 0.5, 0.9, 1]), 2))).toEqual(
      [0, 0, 1 / 3, 2 / 3, 1, 1].map(Math.fround),
    );
  });

  it('weights: 2 quantize_k(tanh(w) / (2 max|tanh w|) + 1/2) - 1 (Eq. 9), hand-computed at k = 2', () => {
    const w = [0.5, -0.25, 0.1, 0];
    const t = w.map(Math.tanh);
    const m = Math.max(...t.map(Math.abs));
    const expected = t.map((v) => 2 * (Math.round(3 * (v / (2 * m) + 0.5)) / 3) - 1);
    // tanh(0.5) maps to 1, tanh(-0.25) to -1/3, tanh(0.1) to 1/3, 0 to 1/3 (round(1.5) = 2 in JS; ties have measure zero).
    const got = vals(dorefaWeight(tf.tensor1d(w), 2));
    expect(got[0]).toBeCloseTo(expected[0] as number, 6);
    expect(got[1]).toBeCloseTo(expected[1] as number, 6);
    expect(got[2]).toBeCloseTo(expected[2] as number, 6);
    expect(got[0]).toBeCloseTo(1, 6);
    expect(got[1]).toBeCloseTo(-1 / 3, 6);
    // The slope of the tanh transform: (1 - tanh^2 w) / max|tanh w|.
    const slope = vals(dorefaWeightSlope(tf.tensor1d([0.5, 0])));
    expect(slope[0]).toBeCloseTo((1 - Math.tanh(0.5) ** 2) / Math.tanh(0.5), 5);
    expect(slope[1]).toBeCloseTo(1 / Math.tanh(0.5), 5);
  });

  it('activations are clipped to [0, 1] before quantize_k', () => {
    expect(vals(dorefaActivation(tf.tensor1d([-1, 0.3, 0.6, 2]), 1))).toEqual([0, 0, 1, 1]);
    expect(vals(dorefaActivation(tf.tensor1d([0.3]), 2))[0]).toBeCloseTo(1 / 3, 6);
  });

  it('gradients: one range per example, stochastic rounding on 2^k - 1 steps, unbiased (Eq. 12)', () => {
    const g = tf.tensor2d([
      [0.2, -0.1, 0.05, 0],
      [4, -2, 1, 3],
    ]);
    const q = dorefaGradient(g, 2, 7);
    const r = q.arraySync() as number[][];
    // Example 0: m = 0.2, grid 2m (j/3 - 1/2) = {-0.2, -0.0667, 0.0667, 0.2}; example 1: m = 4, {-4, -1.333, 1.333, 4}.
    for (const v of r[0] as number[])
      expect([-0.2, -0.2 / 3, 0.2 / 3, 0.2].some((u) => Math.abs(u - v) < 1e-6)).toBe(true);
    for (const v of r[1] as number[]) expect([-4, -4 / 3, 4 / 3, 4].some((u) => Math.abs(u - v) < 1e-5)).toBe(true);
    expect(r[1]?.[0]).toBeCloseTo(4, 5);
    // Unbiased: the mean over many seeds approaches the input.
    const x = tf.fill([1, 2000], 0.05);
    const withMax = tf.concat([x, tf.tensor2d([[0.2]])], 1);
    let mean = 0;
    for (let s = 1; s <= 20; s++)
      mean +=
        vals(dorefaGradient(withMax, 2, s))
          .slice(0, 2000)
          .reduce((a, b) => a + b, 0) /
        2000 /
        20;
    expect(mean).toBeCloseTo(0.05, 2);
  });
});

describe('WAGE / WAGEUBN quantizers (Wu et al. 2018; Yang et al. 2019)', () => {
  it('fixed point C(Q(x, k)): step 1 / 2^(k-1), clipped to [-1 + step, 1 - step]', () => {
    // k = 3: step 0.25, range [-0.75, 0.75].
    expect(vals(fixedPoint(tf.tensor1d([0.1, 0.13, -0.4, 0.9, -2]), 3))).toEqual([0, 0.25, -0.5, 0.75, -0.75]);
  });

  it('the shift scale is the power of two nearest max|x| (log scale), 1 for zeros', () => {
    expect(vals(shiftScale(tf.tensor1d([0.3, -0.1])))).toEqual([0.25]);
    expect(vals(shiftScale(tf.tensor1d([-3, 1])))).toEqual([4]);
    expect(vals(shiftScale(tf.zeros([3])))).toEqual([1]);
  });

  it('errors: R(e) C(Q(e / R(e), k)); gradients the same grid with stochastic rounding', () => {
    // max|e| = 0.3 -> R = 0.25; e / R = [1.2, -0.4, 0.1]; k = 3 -> [0.75, -0.5, 0] -> x 0.25.
    expect(vals(wageError(tf.tensor1d([0.3, -0.1, 0.025]), 3))).toEqual([0.1875, -0.125, 0]);
    const g = wageGradient(tf.tensor1d([0.3, -0.1, 0.025]), 3, 11);
    for (const v of vals(g)) expect(Math.abs(v / 0.0625 - Math.round(v / 0.0625))).toBeLessThan(1e-6);
  });
});

describe('SBM ranges (Banner et al. 2018; FracTrain code)', () => {
  it("'code' (default) takes the batch's extreme range for activations and gradients and per-channel weight ranges; 'averaged' the per-sample mean", () => {
    expect(sbmQuant()).toMatchObject({
      mode: 'asymmetric',
      activationRange: 'tensor',
      weightRange: 'channel',
      gradientRounding: 'stochastic',
      forwardRounding: 'nearest',
    });
    expect(sbmQuant('averaged')).toMatchObject({ activationRange: 'sample-mean', weightRange: 'tensor' });
    expect(() => sbmQuant('mean' as never)).toThrowError(
      /sbm ranges = "mean" is invalid: expected 'code' or 'averaged'/,
    );
  });

  it("a sample with large gradients: 'code' keeps every entry within half a step, 'averaged' clips that sample", () => {
    // 8 samples of 16 entries in [-1, 1], one sample 50x larger (the few high-loss examples that carry the gradient).
    const rows = Array.from({ length: 8 }, (_, i) =>
      Array.from({ length: 16 }, (_, j) => Math.sin(1 + i * 16 + j) * (i === 3 ? 50 : 1)),
    );
    const g = tf.tensor2d(rows);
    const err = (range: 'tensor' | 'sample-mean') => {
      const q = quantize(g, { bits: 8, mode: 'asymmetric', range, rounding: 'nearest' });
      const e = vals(tf.abs(tf.sub(q, g)));
      q.dispose();
      return e;
    };
    const flat = rows.flat();
    const step = (Math.max(...flat) - Math.min(...flat)) / 255;
    expect(Math.max(...err(sbmQuant().activationRange as 'tensor'))).toBeLessThanOrEqual(step / 2 + 1e-5);
    const averaged = err(sbmQuant('averaged').activationRange as 'sample-mean');
    // The outlier sample's entries beyond the averaged range (about [-7, 7]) are cut to it: errors of tens.
    expect(Math.max(...averaged.slice(3 * 16, 4 * 16))).toBeGreaterThan(30);
    g.dispose();
  });
});

describe('schemes in the quantized layers', () => {
  it('a dense layer under each scheme: forward on its grid, its weight gradient through the scheme', () => {
    const x = tf.tensor2d([
      [0.2, 0.7],
      [0.9, 0.1],
    ]);
    const w = tf.tensor2d([
      [0.3, -0.2],
      [0.1, 0.4],
    ]);
    const p = fwbw(2, 8);
    const run = (scheme: 'sbm' | 'dorefa' | 'wageubn') => {
      const cfg = { ...defaultQuantConfig(1), scheme };
      const f = (wv: tf.Tensor) => tf.sum(quantMatMul(x, wv as tf.Tensor2D, p, cfg));
      return { y: vals(quantMatMul(x, w, p, cfg)), dw: vals(tf.grad(f)(w)) };
    };
    const dorefa = run('dorefa');
    // DoReFa at FW-2: x -> quantize_2(clip(x)) = [1/3, 2/3; 1, 0]; w -> 2 quantize_2(...) - 1.
    const xq = [
      [1 / 3, 2 / 3],
      [1, 0],
    ];
    const t = [0.3, -0.2, 0.1, 0.4].map(Math.tanh);
    const m = Math.max(...t.map(Math.abs));
    const wq = t.map((v) => 2 * (Math.round(3 * (v / (2 * m) + 0.5)) / 3) - 1);
    const y00 = (xq[0]![0] as number) * (wq[0] as number) + (xq[0]![1] as number) * (wq[2] as number);
    expect(dorefa.y[0]).toBeCloseTo(y00, 5);
    // Weight gradient of sum(y): xq^T 1 (an 8-bit-quantized all-ones gradient is exact), times the tanh slope.
    const slope = t.map((v) => (1 - v * v) / m);
    expect(dorefa.dw[0]).toBeCloseTo((1 / 3 + 1) * (slope[0] as number), 4);
    const wage = run('wageubn');
    // WAGE at FW-2: step 1/2, range [-0.5, 0.5]; x -> [0, 0.5; 0.5, 0] (0.2 -> 0, 0.7 -> 0.5 clipped, 0.9 -> 0.5, 0.1 -> 0).
    // w -> [0.5 (0.3 rounds to 0.5), 0; 0, 0.5]; y = x w.
    expect(wage.y).toEqual([0, 0.25, 0.25, 0]);
    const sbm = run('sbm');
    expect(sbm.y).not.toEqual(wage.y);
  });

  it("the network's input is quantized on a symmetric grid over max|x| under DoReFa and WAGEUBN (not clipped to their unit ranges)", () => {
    const x = tf.tensor2d([[2, -3]]);
    const w = tf.tensor2d([[0.5], [0.25]]);
    for (const scheme of ['dorefa', 'wageubn'] as const) {
      const wq = vals(scheme === 'dorefa' ? dorefaWeight(w, 8) : fixedPoint(w, 8));
      const first = vals(quantMatMul(x, w, fwbw(8, 8), { ...defaultQuantConfig(1), scheme, first: true }))[0] as number;
      // An 8-bit symmetric grid over max|x| = 3 keeps -3 exactly and 2 within half a step (3/254).
      const x0 = Math.round((2 * 127) / 3) * (3 / 127);
      expect(first).toBeCloseTo(x0 * (wq[0] as number) - 3 * (wq[1] as number), 4);
      // An inner layer's input is clipped to the scheme's range: DoReFa [0, 1] -> (1, 0); WAGE (-1, 1) -> (127/128, -127/128).
      const inner = vals(quantMatMul(x, w, fwbw(8, 8), { ...defaultQuantConfig(1), scheme }))[0] as number;
      const c = scheme === 'dorefa' ? [1, 0] : [127 / 128, -127 / 128];
      expect(inner).toBeCloseTo((c[0] as number) * (wq[0] as number) + (c[1] as number) * (wq[1] as number), 5);
    }
  });

  it('rejects an unknown scheme, running ranges with asymmetric grids, and PSG with another scheme', async () => {
    expect(() => checkQuantOptions({ scheme: 'int8' as never })).toThrowError(
      /quant.scheme = "int8".*sbm, dorefa, wageubn/,
    );
    expect(() => checkQuantOptions({ ...sbmQuant(), ranges: {} as never })).toThrowError(/quant.ranges/);
    const { psgRule } = await import('../lib/src/techniques/psg');
    expect(() => checkQuantOptions({ scheme: 'dorefa', weightGradientRule: psgRule({ beta: 0.1 }) })).toThrowError(
      /quant.scheme/,
    );
    expect(() => checkQuantOptions(sbmQuant())).not.toThrow();
  });
});
