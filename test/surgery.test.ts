import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { cifarResNet } from '../lib/src/models/resnet';
import { cifarNet, lenet5, mlp } from '../lib/src/models/small';
import { lstmLanguageModel } from '../lib/src/models/lstm';
import { basisDecomposition, maskStructure, removeStructure, type StructureRemoval } from '../lib/src/models/surgery';
import { forwardMacs, type Model } from '../lib/src/models/spec';
import { createRng } from '../lib/src/random';

beforeAll(async () => {
  await initBackend({});
});

/** Random BN statistics and biases so that equivalence does not rest on zeros. */
function randomize(model: Model, seed: number): void {
  const rng = createRng(`randomize/${seed}`);
  for (const p of model.params.all()) {
    const n = p.variable.size;
    const v = Float32Array.from({ length: n }, () =>
      p.name.endsWith('/var')
        ? 0.5 + rng.next()
        : p.role === 'weight'
          ? (rng.next() - 0.5) * 0.4
          : (rng.next() - 0.5) * 0.6,
    );
    p.variable.assign(tf.tensor(v, p.variable.shape));
  }
}

function pick(rng: ReturnType<typeof createRng>, n: number, k: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, k).sort((a, b) => a - b);
}

/** Output of the masked original against the surgically reduced model, in evaluation mode. */
function equivalence(
  build: () => Model,
  removal: (m: Model) => StructureRemoval,
  input: tf.Tensor,
  seed = 1,
): { diff: number; scale: number; small: Model; big: Model } {
  const big = build();
  randomize(big, seed);
  const r = removal(big);
  const small = removeStructure(big, r);
  maskStructure(big, r);
  const [a, b] = tf.tidy(() => [big.apply(input, { training: false }), small.apply(input, { training: false })]) as [
    tf.Tensor,
    tf.Tensor,
  ];
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
  const scale = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0] as number);
  tf.dispose([a, b]);
  return { diff, scale, small, big };
}

describe('model surgery: the smaller model equals the masked original', () => {
  const img = (h: number, c: number, n = 5) => tf.randomNormal([n, h, h, c], 0, 1, 'float32', 3);

  it('LeNet-5: conv filters, input channels, fibres and FC neurons (random choices)', () => {
    const rng = createRng('lenet');
    const x = img(28, 1);
    for (let trial = 0; trial < 2; trial++) {
      const { diff, scale, small, big } = equivalence(
        () => lenet5({ seed: trial }),
        () => ({
          filters: { conv1: pick(rng, 20, 6) },
          channels: { conv2: pick(rng, 20, 3) },
          fibres: { conv2: pick(rng, 5 * 5 * 20, 300) },
          neurons: { ip1: pick(rng, 500, 200) },
        }),
        x,
      );
      expect(diff).toBeLessThan(1e-4 * Math.max(1, scale));
      // conv1 keeps at most 14 filters (6 removed plus up to 3 dead ones); ip1 keeps 300 neurons.
      const c1 = small.layers.find((l) => l.name === 'conv1')!;
      expect(c1.outShape[2]).toBeLessThanOrEqual(14);
      expect(small.layers.find((l) => l.name === 'ip1')!.outShape[0]).toBe(300);
      const c2 = small.layers.find((l) => l.name === 'conv2')!;
      expect(c2.fibres).toBeDefined();
      expect(c2.macs).toBe(8 * 8 * 50 * c2.fibres!.kept.length);
      expect(forwardMacs(small)).toBeLessThan(forwardMacs(big));
      small.params.dispose();
      big.params.dispose();
    }
    x.dispose();
  });

  it('CifarNet: filters of every conv, fibres and a basis decomposition (Caffe ceil pooling, flattened FC rows)', () => {
    const rng = createRng('cifarnet');
    const x = img(32, 3, 3);
    const { diff, scale, small, big } = equivalence(
      () => cifarNet({ seed: 2 }),
      () => ({
        filters: { conv1: pick(rng, 32, 5), conv3: pick(rng, 64, 20) },
        fibres: { conv1: pick(rng, 75, 30) },
        basis: { conv2: 7 },
      }),
      x,
    );
    expect(diff).toBeLessThan(1e-4 * Math.max(1, scale));
    const conv2 = small.layers.find((l) => l.name === 'conv2')!;
    expect(conv2.basis?.outShape).toEqual([16, 16, 7]);
    expect(conv2.basis?.macs).toBe(16 * 16 * 7 * 25 * 27);
    expect(conv2.macs).toBe(16 * 16 * 32 * 7);
    expect(small.layers.find((l) => l.name === 'ip1')!.inShape).toEqual([4 * 4 * 44]);
    small.params.dispose();
    big.params.dispose();
    x.dispose();
  });

  it('MLP: hidden neurons', () => {
    const x = tf.randomNormal([4, 6, 6, 1], 0, 1, 'float32', 5);
    const { diff, small, big } = equivalence(
      () => mlp({ inputShape: [6, 6, 1], hidden: [20, 12], seed: 1 }),
      () => ({ neurons: { fc1: [0, 3, 19], fc2: [5] } }),
      x,
    );
    expect(diff).toBeLessThan(1e-5);
    expect(small.layers.map((l) => l.outShape[0])).toEqual([17, 11, 10]);
    small.params.dispose();
    big.params.dispose();
    x.dispose();
  });

  it('ResNet-14: inner filters, whole blocks, fibres of a strided conv and a basis; BN statistics random', () => {
    const rng = createRng('resnet');
    const x = img(32, 3, 4);
    const { diff, scale, small, big } = equivalence(
      () => cifarResNet({ depth: 14, seed: 3 }),
      () => ({
        filters: { 'stage1/block1/conv1': pick(rng, 16, 5), 'stage3/block1/conv1': pick(rng, 64, 30) },
        channels: { 'stage2/block2/conv2': pick(rng, 32, 4) },
        blocks: ['stage1/block2'],
        fibres: { 'stage2/block1/conv1': pick(rng, 9 * 16, 60) },
        basis: { 'stage3/block2/conv2': 10 },
      }),
      x,
    );
    expect(diff).toBeLessThan(1e-3 * Math.max(1, scale));
    expect(small.blocks.map((b) => b.name)).not.toContain('stage1/block2');
    expect(small.layers.find((l) => l.name === 'stage1/block1/conv1')!.outShape[2]).toBe(11);
    expect(small.layers.find((l) => l.name === 'stage2/block2/conv1')!.outShape[2]).toBe(28);
    expect(small.layers.find((l) => l.name === 'stage2/block1/conv1')!.fibres!.kept.length).toBe(9 * 16 - 60);
    expect(forwardMacs(small)).toBeLessThan(forwardMacs(big));
    small.params.dispose();
    big.params.dispose();
    x.dispose();
  });

  it('ResNet-14: transition blocks (SSL depth) keep their projection shortcut alone; MACs drop by their convolutions', () => {
    const x = img(32, 3, 4);
    const { diff, scale, small, big } = equivalence(
      () => cifarResNet({ depth: 14, seed: 5 }),
      () => ({ blocks: ['stage2/block1', 'stage3/block2'] }),
      x,
    );
    expect(diff).toBeLessThan(1e-4 * Math.max(1, scale));
    expect(small.blocks.map((b) => b.name)).toEqual([
      'stage1/block1',
      'stage1/block2',
      'stage2/block2',
      'stage3/block1',
    ]);
    // The projection of stage2/block1 stays (1x1, 16 -> 32, stride 2, on a 16x16 output): 16 * 16 * 16 * 32 MACs.
    const proj = small.layers.find((l) => l.name === 'stage2/block1/proj')!;
    expect(proj.macs).toBe(16 * 16 * 16 * 32);
    expect(small.layers.some((l) => l.name.startsWith('stage2/block1/conv'))).toBe(false);
    const removedConvs = big.layers
      .filter((l) => /^(stage2\/block1|stage3\/block2)\/conv/.test(l.name))
      .reduce((a, l) => a + l.macs, 0);
    expect(forwardMacs(big) - forwardMacs(small)).toBe(removedConvs);
    small.params.dispose();
    big.params.dispose();
    x.dispose();
  });

  it('LSTM language model: hidden units of both layers (carried state starts at zero)', () => {
    const build = () => lstmLanguageModel({ vocabSize: 30, embedding: 8, hidden: [12, 10], steps: 5, seed: 4 });
    const ids = tf.tensor2d(
      Array.from({ length: 15 }, (_, i) => (i * 7) % 30),
      [3, 5],
      'int32',
    );
    const { diff, small, big } = equivalence(build, () => ({ hiddenUnits: { lstm1: [1, 4, 11], lstm2: [0, 9] } }), ids);
    expect(diff).toBeLessThan(1e-5);
    expect(small.layers.find((l) => l.name === 'lstm1')!.weightCount).toBe((8 + 9) * 4 * 9);
    expect(small.layers.find((l) => l.name === 'lstm2')!.macs).toBe(5 * (9 + 8) * 4 * 8);
    small.params.dispose();
    big.params.dispose();
    ids.dispose();
  });

  it('basis decomposition at full rank reproduces the filters; rank is checked', () => {
    const w = { shape: [3, 3, 2, 4], data: Float32Array.from({ length: 72 }, (_, i) => Math.sin(i)) };
    const { basis, coefficients } = basisDecomposition(w, 4);
    for (let r = 0; r < 18; r++)
      for (let c = 0; c < 4; c++) {
        let v = 0;
        for (let j = 0; j < 4; j++) v += basis.data[r * 4 + j]! * coefficients.data[j * 4 + c]!;
        expect(v).toBeCloseTo(w.data[r * 4 + c]!, 5);
      }
    expect(() => basisDecomposition(w, 5, 'conv9')).toThrowError(/basis.conv9 = 5 is invalid: expected a rank in 1..4/);
  });

  it('rejects what it cannot do, naming the field', () => {
    const m = cifarResNet({ depth: 8 });
    expect(() => removeStructure(m, { filters: { 'stage1/block1/conv2': [0] } })).toThrowError(
      /removal.filters = "stage1\/block1\/conv2" is invalid: expected filters of a block's conv1/,
    );
    expect(() => removeStructure(m, { blocks: ['stage4/block1'] })).toThrowError(
      /removal.blocks = "stage4\/block1" is invalid: expected a block of ResNet-8/,
    );
    expect(() => removeStructure(m, { filtres: {} } as unknown as StructureRemoval)).toThrowError(
      /removal.filtres = \{\} is invalid: expected no such option/,
    );
    const l = lenet5();
    expect(() => removeStructure(l, { neurons: { ip2: [1] } })).toThrowError(
      /removal.neurons.ip2 .* no neurons of the output layer/,
    );
    expect(() => removeStructure(l, { channels: { conv1: [0] } })).toThrowError(
      /removal.channels.conv1 .* fed by another convolution/,
    );
    expect(() => removeStructure(l, { filters: { conv1: [20] } })).toThrowError(
      /removal.filters.conv1 = \[20\] is invalid: expected distinct indices in \[0, 20\)/,
    );
    m.params.dispose();
    l.params.dispose();
  });
});
