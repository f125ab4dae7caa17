import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { cifarResNet } from '../lib/src/models/resnet';
import { cifarNet, lenet5, mlp, mobileNetV2 } from '../lib/src/models/small';
import { lstmLanguageModel } from '../lib/src/models/lstm';
import { forwardMacs } from '../lib/src/models/spec';
import { subsample } from '../lib/src/models/ops';
import { ConfigError } from '../lib/src/errors';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

describe('CIFAR ResNets', () => {
  it('ResNet-20 has the published size: 0.27 M parameters, 40.8 M forward MACs per image', () => {
    const m = cifarResNet({ depth: 20 });
    // Hand count: conv1 3*3*3*16; stage 1: 6 convs 3*3*16*16; stage 2: 3*3*16*32 + 5 x 3*3*32*32 + 1x1 16*32;
    // stage 3: 3*3*32*64 + 5 x 3*3*64*64 + 1x1 32*64; BN: 2 per conv (19 3x3 + 2 projections); fc 64*10 + 10.
    const convW = 432 + 6 * 2304 + (4608 + 5 * 9216 + 512) + (18432 + 5 * 36864 + 2048);
    const bn = 2 * (16 + 6 * 16 + 6 * 32 + 32 + 6 * 64 + 64);
    expect(m.params.count()).toBe(convW + bn + 650);
    expect(m.params.count()).toBe(272474);
    // MACs: 32x32 maps at 16 channels, 16x16 at 32, 8x8 at 64.
    const macs = 1024 * 432 + 6 * 1024 * 2304 + 256 * (4608 + 5 * 9216 + 512) + 64 * (18432 + 5 * 36864 + 2048) + 640;
    expect(forwardMacs(m)).toBe(macs);
    expect(m.blocks).toHaveLength(9);
    expect(m.blocks.filter((b) => b.skippable)).toHaveLength(7);
    m.params.dispose();
  });

  it('produces logits of the right shape and rejects depths that are not 6n+2', () => {
    const m = cifarResNet({ depth: 8, numClasses: 100 });
    const y = tf.tidy(() => m.apply(tf.zeros([2, 32, 32, 3]), { training: false }).shape);
    expect(y).toEqual([2, 100]);
    expect(() => cifarResNet({ depth: 21 })).toThrowError(/depth = 21 is invalid: expected 6n \+ 2/);
    m.params.dispose();
  });

  it('same seed gives the same initial weights; another seed does not', async () => {
    const a = cifarResNet({ depth: 8, seed: 4 });
    const b = cifarResNet({ depth: 8, seed: 4 });
    const c = cifarResNet({ depth: 8, seed: 5 });
    const w = async (m: typeof a) => Array.from(await m.params.get('stage2/block1/conv1/w').data()).slice(0, 20);
    expect(await w(a)).toEqual(await w(b));
    expect(await w(a)).not.toEqual(await w(c));
    [a, b, c].forEach((m) => m.params.dispose());
  });

  it('skippable transitions: every block of a ResNet-8 can be skipped; a skipped input takes ReLU(BN(projection)) alone', () => {
    const m = cifarResNet({ depth: 8, seed: 1, widths: [4, 8, 8], skippableTransitions: true });
    expect(m.blocks.map((b) => b.skippable)).toEqual([true, true, true]);
    const b2 = m.blocks[1]!;
    const proj = m.layers.find((l) => l.name === 'stage2/block1/proj')!;
    expect(b2.skipSavedMacs).toBe(b2.macs - proj.macs);
    expect(m.blocks[0]!.skipSavedMacs).toBe(m.blocks[0]!.macs);
    const x = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 6);
    const seen: Array<[string, number]> = [];
    const [got, want] = tf.tidy(() => {
      let into: tf.Tensor4D | undefined;
      let out: tf.Tensor4D | undefined;
      m.apply(x, {
        training: false,
        blockPlan: (b, xi) => {
          if (b.name !== 'stage2/block1') return undefined;
          into = tf.keep(xi.clone());
          return { groups: [] };
        },
        observe: (l, _i, _o) => {
          if (l.name === 'stage3/block1/conv1') out = tf.keep(_i.clone() as tf.Tensor4D);
        },
        onExecute: (e) => seen.push([e.layer.name, e.examples]),
      });
      // The skipped block's output is ReLU of the projection shortcut with its batch norm (inference statistics).
      const conv = tf.conv2d(into!, m.params.get('stage2/block1/proj/w') as tf.Tensor4D, 2, 'same');
      const mean = m.params.get('stage2/block1/proj-bn/mean'),
        variance = m.params.get('stage2/block1/proj-bn/var');
      const bn = tf.add(
        tf.mul(
          tf.div(tf.sub(conv, mean), tf.sqrt(tf.add(variance, 1e-5))),
          m.params.get('stage2/block1/proj-bn/gamma'),
        ),
        m.params.get('stage2/block1/proj-bn/beta'),
      );
      return [out!, tf.relu(bn)];
    });
    expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-4);
    expect(seen.filter(([n]) => n.startsWith('stage2/block1/conv'))).toHaveLength(0);
    expect(seen.filter(([n]) => n === 'stage2/block1/proj')).toEqual([['stage2/block1/proj', 3]]);
    expect(cifarResNet({ depth: 8, seed: 1, widths: [4, 8, 8] }).blocks.map((b) => b.skippable)).toEqual([
      true,
      false,
      false,
    ]);
    tf.dispose([x, got, want]);
    m.params.dispose();
  });

  it('a block plan that skips inputs runs the block only on the others, and skipped inputs pass unchanged', () => {
    const m = cifarResNet({ depth: 8, seed: 1, widths: [4, 8, 8] });
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 3);
    const executed: Array<[string, number]> = [];
    const out = tf.tidy(() => {
      const full = m.apply(x, { training: false });
      const planned = m.apply(x, {
        training: false,
        blockPlan: (b) => (b.skippable ? { groups: [{ indices: Int32Array.from([0, 2]) }] } : undefined),
        onExecute: (e) => executed.push([e.layer.name, e.examples]),
      });
      return [full.arraySync(), planned.arraySync()] as number[][][];
    });
    // ResNet-8 has one block per stage; only stage 1's block is skippable.
    expect(executed.filter(([n]) => n.startsWith('stage1/'))).toEqual([
      ['stage1/block1/conv1', 2],
      ['stage1/block1/conv2', 2],
    ]);
    expect(executed.find(([n]) => n === 'stage2/block1/conv1')?.[1]).toBe(4);
    const [full, planned] = out as [number[][], number[][]];
    expect(planned[0]![0]).toBeCloseTo(full[0]![0]!, 4);
    expect(planned[1]![0]).not.toBeCloseTo(full[1]![0]!, 4);
    m.params.dispose();
    x.dispose();
  });
});

describe('strided 1x1 projections', () => {
  it('subsampling then a stride-1 conv equals the strided 1x1 conv, for even and odd sizes', () => {
    for (const size of [8, 7]) {
      const x = tf.randomNormal([3, size, size, 2], 0, 1, 'float32', size) as tf.Tensor4D;
      const w = tf.randomNormal([1, 1, 2, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const a = tf.conv2d(x, w, 2, 'same').arraySync();
      const b = tf.conv2d(subsample(x, 2), w, 1, 'valid').arraySync();
      expect(b).toEqual(a);
    }
  });

  it('a ResNet with projections trains at batch sizes 7 and 25 on the native backend (tfjs-node crashed there)', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    for (const batch of [7, 25]) {
      const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', batch);
      for (let i = 0; i < 3; i++) {
        const g = tf.variableGrads(
          () => tf.mean(m.apply(x, { training: true })) as tf.Scalar,
          [...m.params.trainable().values()],
        );
        expect(Number.isFinite(g.value.dataSync()[0])).toBe(true);
        tf.dispose([g.value, ...Object.values(g.grads)]);
      }
      x.dispose();
    }
    m.params.dispose();
  });
});

describe('other models', () => {
  it('LeNet-5 (Caffe) has 431,080 parameters and 2.29 M forward MACs', () => {
    const m = lenet5();
    expect(m.params.count()).toBe(500 + 20 + 25000 + 50 + 400000 + 500 + 5000 + 10);
    expect(forwardMacs(m)).toBe(24 * 24 * 20 * 25 + 8 * 8 * 50 * 500 + 800 * 500 + 5000);
    expect(tf.tidy(() => m.apply(tf.zeros([3, 28, 28, 1]), { training: false }).shape)).toEqual([3, 10]);
    m.params.dispose();
  });

  it('CifarNet (conv 32-32-64, Caffe ceil pooling 32-16-8-4) has 89,578 parameters', () => {
    const m = cifarNet();
    expect(m.params.count()).toBe(2432 + 25632 + 51264 + 4 * 4 * 64 * 10 + 10);
    expect(tf.tidy(() => m.apply(tf.zeros([2, 32, 32, 3]), { training: false }).shape)).toEqual([2, 10]);
    m.params.dispose();
  });

  it('MobileNetV2 for 32x32 has about 2.24 M parameters and trains through depthwise convolutions', () => {
    const m = mobileNetV2();
    expect(m.params.count()).toBeGreaterThan(2.2e6);
    expect(m.params.count()).toBeLessThan(2.3e6);
    const g = tf.tidy(() => {
      const w = m.params.get('stage2/block1/dw/w');
      const grads = tf.variableGrads(
        () => tf.mean(m.apply(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1), { training: true })) as tf.Scalar,
        [w],
      );
      return tf.norm(grads.grads[w.name]!).dataSync()[0] as number;
    });
    expect(g).toBeGreaterThan(0);
    m.params.dispose();
  });

  it('MLP validates its sizes', () => {
    expect(() => mlp({ inputShape: [4], hidden: [0] })).toThrowError(ConfigError);
    const m = mlp({ inputShape: [2, 2], hidden: [3], numClasses: 2 });
    expect(m.params.count()).toBe(4 * 3 + 3 + 3 * 2 + 2);
    m.params.dispose();
  });

  it('LSTM LM has the gate layout of Eq. 2.4 and carries state', () => {
    const m = lstmLanguageModel({ vocabSize: 20, embedding: 6, hidden: [5, 4], steps: 3 });
    expect(m.params.get('lstm1/wx').shape).toEqual([6, 20]);
    expect(m.params.get('lstm1/wh').shape).toEqual([5, 20]);
    expect(m.params.get('lstm2/wx').shape).toEqual([5, 16]);
    expect(m.layers.find((l) => l.name === 'lstm1')?.macs).toBe(3 * (6 + 5) * 20);
    const ids = tf.tensor2d(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [2, 3],
      'int32',
    );
    const { logits, state } = m.applyWithState(ids, m.zeroState(2), { training: false });
    expect(logits.shape).toEqual([6, 20]);
    expect(state.h.map((h) => h.shape)).toEqual([
      [2, 5],
      [2, 4],
    ]);
    m.params.dispose();
  });
});

describe('language-model evaluation', () => {
  it('batchify, BPTT windows and perplexity of an untrained model near the vocabulary size', async () => {
    const { batchify, bpttWindows, evaluatePerplexity } = await import('../lib/src/train/language-model');
    const ids = Int32Array.from({ length: 103 }, (_, i) => i % 7);
    const b = batchify(ids, 4);
    expect([b.rows, b.length]).toEqual([4, 25]);
    const windows = [...bpttWindows(b, 10)];
    expect(windows.map((w) => w.steps)).toEqual([10, 10, 4]);
    expect(windows[0]!.target[0]).toBe(b.data[1]);
    const m = lstmLanguageModel({ vocabSize: 7, embedding: 4, hidden: [6], steps: 10, initRange: 0.01 });
    const r = evaluatePerplexity(m, ids, { batch: 4, steps: 10 });
    expect(r.tokens).toBe(4 * 24);
    expect(r.perplexity).toBeGreaterThan(6.5);
    expect(r.perplexity).toBeLessThan(7.5);
    m.params.dispose();
  });
});
