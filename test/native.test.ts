import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { maxPool2d, oneDnnStatus, registerOneDnnKernels, unregisterOneDnnKernels } from '../lib/src/backend/onednn';
import { setFusedOps } from '../lib/src/backend/native-ops';
import { relu, runBatchNorm } from '../lib/src/models/ops';
import { ParamStore } from '../lib/src/models/params';
import { cifarResNet } from '../lib/src/models/resnet';
import { pool2d } from '../lib/src/models/sequential';
import { cifarNet, mobileNetV2 } from '../lib/src/models/small';
import { quantize } from '../lib/src/quant/quantizers';
import { dorefaActivation, dorefaGradient, fixedPoint } from '../lib/src/quant/schemes';
import { defaultQuantConfig, quantConv2d } from '../lib/src/quant/layers';
import { fwbw } from '../lib/src/quant/precision';

beforeAll(async () => {
  const b = await initBackend({ backend: 'tensorflow' });
  expect(b.kernels?.kernels).toEqual([
    'Conv2D',
    'DepthwiseConv2dNative',
    'Conv2DBackpropInput',
    'Conv2DBackpropFilter',
  ]);
});
afterAll(() => {
  registerOneDnnKernels();
  setFusedOps(true);
});

const rel = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(
    () =>
      (tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number) /
      Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0] as number),
  );

/** Forward output and both gradients of a conv2d under the kernels currently registered. */
function convAll(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: 'same' | 'valid'): tf.Tensor[] {
  const dy = tf.tidy(() => tf.randomNormal(tf.conv2d(x, w, stride, pad).shape, 0, 1, 'float32', 9));
  const f = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), dy));
  const [gx, gw] = tf.grads(f)([x, w]);
  return [tf.conv2d(x, w, stride, pad), gx as tf.Tensor, gw as tf.Tensor];
}

describe('oneDNN convolutions against the stock TensorFlow kernels', () => {
  const cases: Array<[[number, number, number, number], [number, number, number, number], number, 'same' | 'valid']> = [
    [[7, 8, 8, 4], [1, 1, 4, 6], 2, 'same'], // strided 1x1 projection, odd batch
    [[25, 8, 8, 4], [1, 1, 4, 6], 2, 'same'],
    [[25, 9, 9, 3], [3, 3, 3, 5], 1, 'same'],
    [[7, 10, 10, 4], [3, 3, 4, 8], 2, 'same'],
    [[3, 12, 12, 2], [5, 5, 2, 3], 1, 'valid'],
    [[5, 11, 11, 3], [3, 3, 3, 4], 2, 'valid'],
  ];
  it.each(cases)('x %j, w %j, stride %i, %s: forward and both gradients agree', (xs, ws, stride, pad) => {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal(ws, 0, 1, 'float32', 2) as tf.Tensor4D;
    const mine = convAll(x, w, stride, pad);
    unregisterOneDnnKernels();
    const stock = convAll(x, w, stride, pad);
    registerOneDnnKernels();
    expect(oneDnnStatus()?.kernels.length).toBe(4);
    mine.forEach((t, i) => expect(rel(t, stock[i] as tf.Tensor)).toBeLessThan(1e-5));
    tf.dispose([x, w, ...mine, ...stock]);
  });
});

describe('oneDNN depthwise forward against the stock kernel', () => {
  it.each([
    [[7, 9, 9, 6], 3, 1, 'same'],
    [[5, 8, 8, 4], 3, 2, 'same'],
    [[3, 10, 10, 5], 3, 2, 'valid'],
  ] as Array<[[number, number, number, number], number, number, 'same' | 'valid']>)(
    'x %j, k %i, stride %i, %s',
    (xs, k, stride, pad) => {
      const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([k, k, xs[3], 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      const mine = tf.depthwiseConv2d(x, w, stride, pad);
      unregisterOneDnnKernels();
      const stock = tf.depthwiseConv2d(x, w, stride, pad);
      registerOneDnnKernels();
      expect(rel(mine, stock)).toBeLessThan(1e-5);
      tf.dispose([x, w, mine, stock]);
    },
  );
});

/** Value and input gradient of `pool` on x against the fixed upstream gradient dy. */
function poolAll(pool: (v: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D, dy: tf.Tensor): tf.Tensor[] {
  return [pool(x), tf.grad((v: tf.Tensor) => tf.sum(tf.mul(pool(v as tf.Tensor4D), dy)))(x)];
}

describe('oneDNN max pooling (workspace forward, gradient through it)', () => {
  it('is registered, and maxPool2d matches the stock kernels: equal values, gradients within 1e-5', () => {
    expect(oneDnnStatus()?.ops).toEqual(['MaxPool']);
    const cases: Array<[[number, number, number, number], number, number, 'valid' | 'same']> = [
      [[7, 32, 32, 8], 3, 2, 'same'], // CifarNet's first pooling, odd batch
      [[5, 33, 33, 4], 3, 2, 'valid'],
      [[3, 24, 24, 6], 2, 2, 'valid'], // LeNet's
    ];
    for (const [xs, size, stride, pad] of cases) {
      const x = tf.randomNormal(xs, 0, 1, 'float32', 11) as tf.Tensor4D;
      const dy = tf.randomNormal(tf.maxPool(x, size, stride, pad).shape, 0, 1, 'float32', 12);
      const mine = poolAll((v) => maxPool2d(v, size, stride, pad), x, dy);
      const stock = poolAll((v) => tf.maxPool(v, size, stride, pad), x, dy);
      expect(Array.from((mine[0] as tf.Tensor).dataSync())).toEqual(Array.from((stock[0] as tf.Tensor).dataSync()));
      expect(rel(mine[1] as tf.Tensor, stock[1] as tf.Tensor)).toBeLessThan(1e-5);
      // The gradient is not the zero tensor: every window's maximum receives its upstream value.
      expect(tf.sum(tf.abs(mine[1] as tf.Tensor)).dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([x, dy, ...mine, ...stock]);
    }
  });

  it('falls back to tf.maxPool when the oneDNN kernels are unregistered', () => {
    unregisterOneDnnKernels();
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 13) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 14);
    const mine = poolAll((v) => maxPool2d(v, 3, 2, 'valid'), x, dy);
    const stock = poolAll((v) => tf.maxPool(v, 3, 2, 'valid'), x, dy);
    registerOneDnnKernels();
    mine.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from((stock[i] as tf.Tensor).dataSync())));
    tf.dispose([x, dy, ...mine, ...stock]);
  });

  it.each([
    [8, 3, 2, 'max'],
    [10, 3, 2, 'max'],
    [7, 2, 2, 'max'],
    [10, 5, 3, 'max'], // SAME would give 4 outputs, ceil mode 3: padded explicitly
    [9, 3, 2, 'max'], // no padding needed
    [8, 3, 2, 'avg'],
  ] as Array<[number, number, number, 'max' | 'avg']>)(
    'Caffe ceil-mode pooling of %i pixels, window %i, stride %i (%s) equals pooling the padded input',
    (n, size, stride, kind) => {
      const x = tf.randomNormal([3, n, n, 4], 0, 1, 'float32', 15) as tf.Tensor4D;
      const pad = (n - size) % stride === 0 ? 0 : stride - ((n - size) % stride);
      const reference = (v: tf.Tensor4D) => {
        const p = tf.pad(
          v,
          [
            [0, 0],
            [0, pad],
            [0, pad],
            [0, 0],
          ],
          kind === 'max' ? -1e9 : 0,
        );
        return kind === 'max' ? tf.maxPool(p, size, stride, 'valid') : tf.avgPool(p, size, stride, 'valid');
      };
      const out = Math.ceil((n - size) / stride) + 1;
      const dy = tf.randomNormal([3, out, out, 4], 0, 1, 'float32', 16);
      const mine = poolAll((v) => pool2d(v, { op: 'pool', kind, size, stride, ceil: true }), x, dy);
      const ref = poolAll(reference, x, dy);
      expect(mine[0]?.shape).toEqual([3, out, out, 4]);
      expect(Array.from((mine[0] as tf.Tensor).dataSync())).toEqual(Array.from((ref[0] as tf.Tensor).dataSync()));
      expect(rel(mine[1] as tf.Tensor, ref[1] as tf.Tensor)).toBeLessThan(1e-5);
      tf.dispose([x, dy, ...mine, ...ref]);
    },
  );

  it('a CifarNet training step leaves no tensor behind (the workspace is released with the tape)', () => {
    const m = cifarNet({ seed: 3 });
    const params = [...m.params.trainable().values()];
    const x = tf.randomNormal([6, 32, 32, 3], 0, 1, 'float32', 17);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true })) as tf.Scalar,
          params,
        );
        return [value, ...Object.values(grads)];
      });
    tf.dispose(step());
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(step());
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    m.params.dispose();
  });
});

describe('fused batch norm and ReLU gradient', () => {
  it('batch norm: output, input/scale/shift gradients and running statistics match the plain-op version', () => {
    const run = (fused: boolean) => {
      setFusedOps(fused);
      const store = new ParamStore(3);
      store.constant('bn/gamma', [5], 1, 'bn-scale');
      store.constant('bn/beta', [5], 0, 'bn-shift');
      store.constant('bn/mean', [5], 0, 'bn-stat');
      store.constant('bn/var', [5], 1, 'bn-stat');
      store.get('bn/gamma').assign(tf.tensor1d([0.5, 1, 1.5, 2, -1]));
      store.get('bn/beta').assign(tf.tensor1d([0.1, 0, -0.2, 0.3, 1]));
      store.get('bn/mean').assign(tf.tensor1d([0.2, 0.1, 0, -0.1, 0.5]));
      const x = tf.variable(tf.randomNormal([7, 3, 3, 5], 2, 3, 'float32', 4));
      const dy = tf.randomNormal([7, 3, 3, 5], 0, 1, 'float32', 5);
      const { value, grads } = tf.variableGrads(
        () =>
          tf.sum(
            tf.mul(runBatchNorm(store, 'bn', x as unknown as tf.Tensor4D, { training: true, bnMomentum: 0.8 }), dy),
          ),
        [x, store.get('bn/gamma'), store.get('bn/beta')],
      );
      const out = [value, ...Object.values(grads)];
      const stats = [store.get('bn/mean').clone(), store.get('bn/var').clone()];
      x.dispose();
      store.dispose();
      return [...out, ...stats];
    };
    const fused = run(true);
    const plain = run(false);
    fused.forEach((t, i) => expect(rel(t, plain[i] as tf.Tensor)).toBeLessThan(2e-5));
  });

  it('ReLU gradient by ReluGrad equals autodiff of tf.relu', () => {
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 6);
    const dy = tf.randomNormal([4, 6], 0, 1, 'float32', 7);
    setFusedOps(true);
    const a = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(relu(v), dy)))(x);
    const b = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), dy)))(x);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  });
});

describe('batch norm folded into the convolution at evaluation', () => {
  it.each([
    ['ResNet-14 (with strided 1x1 projections)', () => cifarResNet({ depth: 14, seed: 2, widths: [8, 16, 16] })],
    ['MobileNetV2 x0.25 (depthwise layers are not folded)', () => mobileNetV2({ seed: 2, widthMultiplier: 0.25 })],
  ])('%s: evaluation outputs equal conv + batch norm', (_name, build) => {
    const m = build();
    for (const p of m.params.all()) {
      if (p.role === 'bn-stat')
        p.variable.assign(
          p.name.endsWith('/var')
            ? tf.randomUniform(p.variable.shape, 0.5, 2, 'float32', 3)
            : tf.randomNormal(p.variable.shape, 0, 0.3, 'float32', 4),
        );
      if (p.role === 'bn-scale' || p.role === 'bn-shift')
        p.variable.assign(tf.randomNormal(p.variable.shape, p.role === 'bn-scale' ? 1 : 0, 0.2, 'float32', 5));
    }
    const x = tf.randomNormal([5, 32, 32, 3], 0, 1, 'float32', 6);
    setFusedOps(true);
    const folded = tf.tidy(() => m.apply(x, { training: false }));
    setFusedOps(false);
    const plain = tf.tidy(() => m.apply(x, { training: false }));
    setFusedOps(true);
    expect(rel(folded, plain)).toBeLessThan(1e-4);
    m.params.dispose();
  });

  it('folding removes every normalisation kernel of a ResNet evaluation pass', async () => {
    const m = cifarResNet({ depth: 8, seed: 3, widths: [4, 8, 8] });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7);
    const kernels = async () =>
      (await tf.profile(() => tf.tidy(() => m.apply(x, { training: false })))).kernels.map((k) => k.name);
    setFusedOps(false);
    const plain = await kernels();
    setFusedOps(true);
    const folded = await kernels();
    expect(plain.filter((k) => k === 'FusedBatchNorm').length).toBe(9);
    expect(folded.filter((k) => k === 'FusedBatchNorm').length).toBe(0);
    m.params.dispose();
  });
});

describe('fused fake quantization', () => {
  const x = tf.randomNormal([16, 8, 8, 6], 0, 1, 'float32', 11);
  const compare = (opts: Parameters<typeof quantize>[1]) => {
    setFusedOps(false);
    const a = quantize(x, opts);
    setFusedOps(true);
    const b = quantize(x, opts);
    const step = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
    const differing = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(a, b), 'float32')).dataSync()[0] as number);
    return { a, b, step, differing };
  };

  it.each(['tensor', 'channel', 'sample-mean'] as const)(
    'nearest rounding, %s ranges: the same grid, codes equal but for float ties',
    (range) => {
      const { a, step, differing } = compare({ bits: 8, range });
      const quantum =
        tf.tidy(() => {
          const levels = tf.div(tf.abs(a), 1);
          return tf.max(levels).dataSync()[0] as number;
        }) / 127;
      expect(differing / x.size).toBeLessThan(1e-3);
      expect(step).toBeLessThanOrEqual(quantum * 1.0001 + 1e-7);
    },
  );

  it('stochastic rounding (SBM default: sample-mean ranges) draws the same noise: the same codes but for float ties', () => {
    const { step, differing } = compare({ bits: 8, range: 'sample-mean', rounding: 'stochastic', seed: 13 });
    expect(differing / x.size).toBeLessThan(1e-3);
    expect(step).toBeLessThan(0.1);
  });

  const onBothPaths = async (f: () => tf.Tensor) => {
    const run = async (fused: boolean) => {
      setFusedOps(fused);
      let out: tf.Tensor | undefined;
      const prof = await tf.profile(() => {
        out = f();
        return out;
      });
      return { out: out as tf.Tensor, kernels: prof.kernels.map((k) => k.name) };
    };
    const plain = await run(false);
    const fused = await run(true);
    const diff = tf.tidy(() => tf.abs(tf.sub(plain.out, fused.out)));
    const differing = tf.tidy(() => tf.sum(tf.cast(tf.greater(diff, 1e-6), 'float32')).dataSync()[0] as number);
    const worst = tf.tidy(() => tf.max(diff).dataSync()[0] as number);
    return { plain, fused, differing, worst };
  };

  it.each([
    ['tensor', 'nearest'],
    ['channel', 'nearest'],
    ['tensor', 'stochastic'],
    ['sample-mean', 'stochastic'],
  ] as const)(
    'asymmetric grids (%s ranges, %s rounding): one fused kernel, the same codes but for float ties',
    async (range, rounding) => {
      const { plain, fused, differing, worst } = await onBothPaths(() =>
        quantize(x, { bits: 8, mode: 'asymmetric', range, rounding, seed: 21 }),
      );
      expect(plain.kernels).toContain(rounding === 'nearest' ? 'Round' : 'Floor');
      expect(fused.kernels).not.toContain('ClipByValue');
      expect(fused.kernels.length).toBeLessThan(plain.kernels.length);
      // One grid step of the widest range is at most (max - min) / 255 < 0.04 for these values.
      expect(differing / x.size).toBeLessThan(1e-3);
      expect(worst).toBeLessThan(0.04);
      const codes = tf.tidy(() => {
        const lo = tf.min(x, range === 'channel' ? [0, 1, 2] : undefined, true);
        const hi = tf.max(x, range === 'channel' ? [0, 1, 2] : undefined, true);
        return tf.div(tf.sub(fused.out, lo), tf.div(tf.sub(hi, lo), 255));
      });
      if (range !== 'sample-mean') {
        // On the grid lo + k (hi - lo) / 255, k = 0 .. 255.
        const c = codes.dataSync();
        let off = 0;
        for (const v of c) off = Math.max(off, Math.abs(v - Math.round(v)));
        expect(off).toBeLessThan(2e-3);
        expect(Math.min(...c)).toBeGreaterThan(-1e-3);
        expect(Math.max(...c)).toBeLessThan(255 + 1e-3);
      }
    },
  );

  it("DoReFa's activation quantizer and WAGE's fixed point (nearest, stochastic) run as one fixed-range kernel with the same values", async () => {
    const cases: Array<[string, () => tf.Tensor]> = [
      ['dorefa', () => dorefaActivation(x, 4)],
      ['wage nearest', () => fixedPoint(tf.mul(x, 0.4), 8, 'nearest')],
      ['wage stochastic', () => fixedPoint(tf.mul(x, 0.4), 6, 'stochastic', 9)],
      ['dorefa gradient', () => dorefaGradient(x, 6, 17)],
    ];
    for (const [name, f] of cases) {
      const { plain, fused, differing, worst } = await onBothPaths(f);
      expect(fused.kernels, name).not.toContain('ClipByValue');
      expect(plain.kernels, name).toContain('ClipByValue');
      expect(differing / x.size, name).toBeLessThan(1e-3);
      expect(worst, name).toBeLessThan(
        name === 'dorefa' ? 1 / 15 + 1e-6 : name === 'dorefa gradient' ? 0.5 : 1 / 32 + 1e-6,
      );
      // Same values up to float round-off everywhere but at ties.
      const close = tf.tidy(
        () =>
          tf.sum(tf.cast(tf.lessEqual(tf.abs(tf.sub(plain.out, fused.out)), 1e-6), 'float32')).dataSync()[0] as number,
      );
      expect(close / x.size, name).toBeGreaterThan(0.999);
    }
  });

  it('stochastic rounding stays unbiased and seeded on the fused path', () => {
    setFusedOps(true);
    const v = tf.fill([20000], 0.3 * (2 / 127));
    let mean = 0;
    for (let s = 1; s <= 40; s++)
      mean +=
        tf.tidy(
          () =>
            tf
              .mean(quantize(v, { bits: 8, fixedRange: [-2, 2], rounding: 'stochastic', seed: s }))
              .dataSync()[0] as number,
        ) / 40;
    expect(Math.abs(mean / (0.3 * (2 / 127)) - 1)).toBeLessThan(0.02);
    const a = quantize(v, { bits: 8, fixedRange: [-2, 2], rounding: 'stochastic', seed: 5 });
    const b = quantize(v, { bits: 8, fixedRange: [-2, 2], rounding: 'stochastic', seed: 5 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  });

  it('a quantized conv (FW-8/BW-8, SBM ranges, stochastic gradients) gives the same outputs and gradients on both paths', () => {
    const xi = tf.randomNormal([6, 8, 8, 4], 0, 1, 'float32', 14) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 4, 5], 0, 0.3, 'float32', 15) as tf.Tensor4D;
    const run = (fused: boolean) => {
      setFusedOps(fused);
      const cfg = { ...defaultQuantConfig(7), training: true };
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.square(quantConv2d(a as tf.Tensor4D, b as tf.Tensor4D, { strides: 1, pad: 'same' }, fwbw(8, 8), cfg)),
        );
      const y = quantConv2d(xi, w, { strides: 1, pad: 'same' }, fwbw(8, 8), {
        ...defaultQuantConfig(7),
        training: true,
      });
      return [y, ...tf.grads(f)([xi, w])];
    };
    const fused = run(true);
    const plain = run(false);
    fused.forEach((t, i) => expect(rel(t, plain[i] as tf.Tensor)).toBeLessThan(0.02));
  });
});
