import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { mostSignificantBits } from '../lib/src/quant/quantizers';
import { signPredictionCounts, psgOperands } from '../lib/src/techniques/psg-bound';
import { predictiveSignGradient } from '../lib/src/techniques/psg';
import { cifarResNet } from '../lib/src/models/resnet';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

describe('Eq. (3) of PSG on measured operands', () => {
  it('dense: failures and the per-entry bound term against a loop over the entries', () => {
    const x = tf.randomNormal([16, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
    const dy = tf.randomNormal([16, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const [r] = signPredictionCounts([{ layer: 'fc', x, dy, geometry: { kind: 'dense' } }], {
      grid: [[3, 6]],
      beta: 0.05,
    });
    const xs = tf.div(x, tf.max(tf.abs(x)));
    const gs = tf.div(dy, tf.max(tf.abs(dy)));
    const X = xs.arraySync() as number[][],
      G = gs.arraySync() as number[][];
    const XQ = mostSignificantBits(xs, 8, 3).arraySync() as number[][],
      GQ = mostSignificantBits(gs, 16, 6).arraySync() as number[][];
    const entry = (a: number[][], b: number[][], k: number, m: number) =>
      a.reduce((s, row, n) => s + row[k]! * b[n]![m]!, 0);
    let maxM = 0;
    for (let k = 0; k < 5; k++) for (let m = 0; m < 3; m++) maxM = Math.max(maxM, Math.abs(entry(XQ, GQ, k, m)));
    const tau = 0.05 * maxM;
    let failures = 0,
      bound = 0;
    const dx2 = 2 ** -4,
      dg2 = 2 ** -10;
    for (let k = 0; k < 5; k++)
      for (let m = 0; m < 3; m++) {
        const gw = entry(X, G, k, m),
          gm = entry(XQ, GQ, k, m);
        if (Math.abs(gm) >= tau && Math.sign(gm) !== Math.sign(gw)) failures++;
        const d = X.reduce(
          (s, row, n) => s + row[k]! * (G[n]![m]! - GQ[n]![m]!) + (row[k]! - XQ[n]![k]!) * G[n]![m]!,
          0,
        );
        const sg = G.reduce((s, row) => s + row[m]! ** 2, 0),
          sx = X.reduce((s, row) => s + row[k]! ** 2, 0);
        bound += (dx2 * sg + dg2 * sx) / (24 * (d + tau) ** 2);
      }
    expect(r!.weights).toBe(15);
    expect(r!.failures).toBe(failures);
    expect(r!.boundSum / bound).toBeCloseTo(1, 3);
    tf.dispose([x, dy, xs, gs]);
  });

  it('a 1x1 convolution counts exactly as the dense layer over its positions', () => {
    const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const opts = {
      grid: [
        [2, 4],
        [4, 10],
      ] as Array<[number, number]>,
      beta: 0.05,
    };
    const conv = signPredictionCounts(
      [
        {
          layer: 'c',
          x,
          dy,
          geometry: { kind: 'conv', attrs: { strides: 1, pad: 'same' }, filterShape: [1, 1, 4, 2] },
        },
      ],
      opts,
    );
    const dense = signPredictionCounts(
      [{ layer: 'c', x: tf.reshape(x, [18, 4]), dy: tf.reshape(dy, [18, 2]), geometry: { kind: 'dense' } }],
      opts,
    );
    expect(conv.map((c) => c.failures)).toEqual(dense.map((c) => c.failures));
    conv.forEach((c, i) => expect(c.boundSum / dense[i]!.boundSum).toBeCloseTo(1, 4));
    expect(() => signPredictionCounts([], { grid: [[9, 4]], beta: 0.05 })).toThrowError(/grid xMsb = 9 is invalid/);
    tf.dispose([x, dy]);
  });

  it('collects the operands of every conv and dense layer from one PSG backward pass', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 5);
    const ops = psgOperands(m, predictiveSignGradient(), x, tf.tensor1d([0, 1, 2, 3], 'int32'), 1);
    expect(ops.map((o) => o.layer).sort()).toEqual(
      m.layers
        .filter((l) => l.kind === 'conv' || l.kind === 'dense')
        .map((l) => l.name)
        .sort(),
    );
    for (const o of ops) tf.dispose([o.x, o.dy]);
    x.dispose();
    m.params.dispose();
  });
});
