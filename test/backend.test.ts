import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, parseBackendName } from '../lib/src/backend/select';
import { conv2dFilterGradient } from '../lib/src/backend/wasm-grad';
import { ConfigError } from '../lib/src/errors';

describe('backend selection', () => {
  it('rejects an unknown ECOTRAIN_BACKEND before doing anything', async () => {
    expect(() => parseBackendName('gpu')).toThrowError(ConfigError);
    await expect(initBackend({ env: { ECOTRAIN_BACKEND: 'gpu' } })).rejects.toThrowError(
      /ECOTRAIN_BACKEND = "gpu" is invalid: expected one of tensorflow, wasm, cpu/,
    );
  });

  it('honours a forced backend and warns loudly for the pure-JS one', async () => {
    const info = await initBackend({ backend: 'cpu' });
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.warning).toMatch(/pure-JS cpu backend/);
  });

  it('runs on the native tensorflow backend (built by npm run setup, which npm test runs first)', async () => {
    const info = await initBackend({ backend: 'tensorflow' });
    expect(info.name).toBe('tensorflow');
    expect(info.warning).toBeUndefined();
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
  });

  it('wasm backend trains convolutions (filter gradient registered)', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info.name).toBe('wasm');
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const g = tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x, f as tf.Tensor4D, 2, 'same')))(w);
    const wasm = await g.data();
    await initBackend({ backend: 'cpu' });
    const ref = tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x, f as tf.Tensor4D, 2, 'same')))(w);
    const cpu = await ref.data();
    cpu.forEach((v, i) => expect(wasm[i]).toBeCloseTo(v, 3));
  });
});

describe('conv2d filter gradient as a dilated convolution', () => {
  const cases: Array<
    [string, number, 'same' | 'valid', [number, number, number, number], [number, number, number, number]]
  > = [
    ['stride 1 same', 1, 'same', [2, 7, 7, 3], [3, 3, 3, 5]],
    ['stride 2 same', 2, 'same', [3, 8, 8, 2], [3, 3, 2, 4]],
    ['stride 2 valid', 2, 'valid', [2, 9, 9, 3], [3, 3, 3, 2]],
    ['1x1 stride 2', 2, 'valid', [2, 8, 8, 4], [1, 1, 4, 6]],
  ];
  it.each(cases)('matches tfjs Conv2DBackpropFilter: %s', async (_name, stride, pad, xs, ws) => {
    await initBackend({ backend: 'cpu' });
    const x = tf.randomNormal(xs, 0, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomNormal(ws, 0, 1, 'float32', 4) as tf.Tensor4D;
    const dy = tf.randomNormal(tf.conv2d(x, w, stride, pad).shape, 0, 1, 'float32', 5) as tf.Tensor4D;
    const ref = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, stride, pad), dy)))(w);
    const mine = conv2dFilterGradient(x, dy, ws as [number, number, number, number], {
      strides: stride,
      pad,
      dilations: 1,
      dimRoundingMode: undefined,
    });
    expect(mine.shape).toEqual(ws);
    const a = await mine.data();
    const b = await ref.data();
    b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 3));
  });
});
