import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { cifarResNet } from '../lib/src/models/resnet';
import { lenet5, mlp } from '../lib/src/models/small';
import { maskStructure, removeStructure } from '../lib/src/models/surgery';
import { train } from '../lib/src/train/trainer';
import { groupNorms, sslGroupAxes, structuredSparsity } from '../lib/src/techniques/ssl';
import type { StepInfo } from '../lib/src/train/technique';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const info = {} as StepInfo;

describe('SSL groups (thesis Eq. 2.2-2.3)', () => {
  it('group counts and membership per structure against hand enumeration', () => {
    // A conv weight [kh, kw, cin, cout] = [3, 3, 2, 4] with w[i, j, c, n] = 1000 i + 100 j + 10 c + n.
    const vals: number[] = [];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        for (let c = 0; c < 2; c++) for (let n = 0; n < 4; n++) vals.push(1000 * i + 100 * j + 10 * c + n);
    const w = tf.tensor4d(vals, [3, 3, 2, 4]);
    const norm2 = (axes: number[]) => Array.from(tf.square(groupNorms(w, axes, 0)).dataSync());
    const sumsq = (pred: (i: number, j: number, c: number, n: number) => boolean) => {
      let s = 0;
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++)
          for (let c = 0; c < 2; c++)
            for (let n = 0; n < 4; n++) if (pred(i, j, c, n)) s += (1000 * i + 100 * j + 10 * c + n) ** 2;
      return s;
    };
    const filters = norm2(sslGroupAxes('conv', 'filter'));
    expect(filters).toHaveLength(4);
    filters.forEach((v, n) => expect(v / sumsq((_i, _j, _c, m) => m === n)).toBeCloseTo(1, 5));
    const channels = norm2(sslGroupAxes('conv', 'channel'));
    expect(channels).toHaveLength(2);
    channels.forEach((v, c) => expect(v / sumsq((_i, _j, d) => d === c)).toBeCloseTo(1, 5));
    const shapes = norm2(sslGroupAxes('conv', 'shape'));
    expect(shapes).toHaveLength(18);
    // Fibre (i, j, c) at flat index (i * 3 + j) * 2 + c, the numbering of model surgery.
    expect(shapes[(2 * 3 + 1) * 2 + 1]! / sumsq((i, j, c) => i === 2 && j === 1 && c === 1)).toBeCloseTo(1, 5);
    const f2d = norm2(sslGroupAxes('conv', 'filter2d'));
    expect(f2d).toHaveLength(8);
    expect(f2d[1 * 4 + 3]! / sumsq((_i, _j, c, n) => c === 1 && n === 3)).toBeCloseTo(1, 5);
    const d = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    Array.from(tf.square(groupNorms(d, sslGroupAxes('dense', 'neuron'), 0)).dataSync()).forEach((v, i) =>
      expect(v).toBeCloseTo([17, 29, 45][i]!, 4),
    );
    Array.from(tf.square(groupNorms(d, sslGroupAxes('dense', 'input'), 0)).dataSync()).forEach((v, i) =>
      expect(v).toBeCloseTo([14, 77][i]!, 4),
    );
    expect(() => sslGroupAxes('dense', 'filter')).toThrowError(/one of neuron, input for a dense layer/);
  });

  it('the regularization gradient equals autodiff of lambda x sum of group norms (with epsilon), for several structures and depth', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 3 });
    const eps = 1e-6;
    const ssl = structuredSparsity({
      model: m,
      epsilon: eps,
      terms: [
        { structure: 'filter', lambda: 0.3 },
        { structure: 'shape', lambda: 0.2 },
        { structure: 'depth', lambda: 0.5 },
        { structure: 'neuron', lambda: 0.1 },
      ],
    });
    const params = m.params.trainable();
    const zeros = new Map([...params].map(([k, v]) => [k, tf.zerosLike(v)]));
    const reg = ssl.transformGradients!(zeros, info);
    // Reference: the penalty written out and differentiated by tfjs.
    const penalty = () => {
      let p = tf.scalar(0);
      for (const l of m.layers) {
        const w = params.get(l.weight)!;
        if (l.kind === 'conv') {
          p = p.add(tf.sum(tf.sqrt(tf.add(tf.sum(tf.square(w), [0, 1, 2]), eps))).mul(0.3));
          p = p.add(tf.sum(tf.sqrt(tf.add(tf.sum(tf.square(w), [3]), eps))).mul(0.2));
        } else p = p.add(tf.sum(tf.sqrt(tf.add(tf.sum(tf.square(w), [0]), eps))).mul(0.1));
      }
      for (const b of m.blocks) {
        const ws = b.layers
          .filter((n) => !n.endsWith('/proj'))
          .map((n) => params.get(m.layers.find((l) => l.name === n)!.weight)!);
        p = p.add(tf.sqrt(tf.add(tf.addN(ws.map((w) => tf.sum(tf.square(w)))), eps)).mul(0.5));
      }
      return p as tf.Scalar;
    };
    const { grads, value } = tf.variableGrads(penalty, [...params.values()]);
    expect(ssl.penalty()).toBeCloseTo(value.dataSync()[0] as number, 3);
    for (const [name, v] of params) {
      const ref = grads[v.name];
      if (!m.layers.some((l) => l.weight === name)) continue;
      const got = reg.get(name)!;
      expect(tf.max(tf.abs(tf.sub(got, ref!))).dataSync()[0]).toBeLessThan(1e-5);
    }
    ssl.dispose?.();
    m.params.dispose();
  });
});

describe('SSL thresholding and compaction', () => {
  it('groups below the threshold become exact zeros and stay zero through momentum; compaction equals the masked model', async () => {
    const m = lenet5({ inputShape: [32, 32, 3], seed: 2 });
    // Shrink half of conv2's filters (norm about 1.4 -> 1e-7): after the first update their norms are still far below the
    // threshold 0.1 (the others stay near 1.4), so thresholding removes them; momentum would move them again if the
    // zeros were not kept.
    const w2 = m.params.get('conv2/w') as tf.Variable;
    w2.assign(tf.mul(w2, tf.concat([tf.fill([1, 1, 1, 25], 1e-7), tf.ones([1, 1, 1, 25])], 3).reshape([1, 1, 1, 50])));
    const ssl = structuredSparsity({
      model: m,
      threshold: 0.1,
      terms: [
        { structure: 'filter', lambda: 1e-4 },
        { structure: 'neuron', lambda: 1e-4, layers: (l) => l.name === 'ip1' },
      ],
    });
    await train({
      model: m,
      train: syntheticCifar(32, 5),
      batchSize: 8,
      epochs: 2,
      lr: 0.005,
      optimizer: { kind: 'sgd', momentum: 0.9 },
      schedule: { kind: 'constant' },
      seed: 4,
      techniques: [ssl],
    });
    const counts = ssl.groupCounts();
    const conv2 = counts.find((c) => c.layer === 'conv2' && c.structure === 'filter')!;
    expect(conv2.groups).toBe(50);
    expect(conv2.zero).toBe(25);
    // Exact zeros (not small numbers), and the biases of zeroed filters too.
    const w = (await (m.params.get('conv2/w') as tf.Variable).array()) as number[][][][];
    const b = Array.from((m.params.get('conv2/b') as tf.Variable).dataSync());
    for (let n = 0; n < 25; n++) {
      expect(w.every((r) => r.every((s) => s.every((c) => c[n] === 0)))).toBe(true);
      expect(b[n]).toBe(0);
    }
    // Compaction: the smaller dense model computes what the masked sparse model computes.
    const removal = ssl.removal();
    expect(removal.filters?.conv2?.length).toBe(conv2.zero);
    const small = removeStructure(m, removal);
    maskStructure(m, removal);
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 9);
    const ya = m.apply(x, { training: false });
    const yb = small.apply(x, { training: false });
    expect(tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0]).toBeLessThan(1e-4);
    expect(small.layers.find((l) => l.name === 'conv2')!.macs).toBeLessThan(
      m.layers.find((l) => l.name === 'conv2')!.macs,
    );
    ssl.dispose?.();
    small.params.dispose();
    m.params.dispose();
  });

  it('depth: one group per residual block (the convolutions between shortcuts, projections excluded); zeroed blocks, transitions included, compact to a shallower ResNet', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 3 });
    for (const n of [
      'stage1/block1/conv1/w',
      'stage1/block1/conv2/w',
      'stage2/block1/conv1/w',
      'stage2/block1/conv2/w',
    ])
      (m.params.get(n) as tf.Variable).assign(tf.mul(m.params.get(n), 1e-7));
    const projBefore = Array.from(m.params.get('stage2/block1/proj/w').dataSync());
    // A block's norm covers its two convolutions (not the projection): sqrt(epsilon + sum of squares).
    const sq = (n: string) => Array.from(m.params.get(n).dataSync()).reduce((x, v) => x + v * v, 0);
    const probe = structuredSparsity({ model: m, threshold: 0, terms: [{ structure: 'depth', lambda: 0 }] });
    expect(probe.normsByGroup()[2]!.layer).toBe('stage3/block1');
    expect(probe.normsByGroup()[2]!.norms[0]).toBeCloseTo(
      Math.sqrt(1e-8 + sq('stage3/block1/conv1/w') + sq('stage3/block1/conv2/w')),
      4,
    );
    probe.dispose?.();
    const ssl = structuredSparsity({ model: m, threshold: 1e-3, terms: [{ structure: 'depth', lambda: 0 }] });
    ssl.afterUpdate!(info, new Map());
    expect(ssl.groupCounts()).toEqual([
      { layer: 'stage1/block1', structure: 'depth', groups: 1, zero: 1 },
      { layer: 'stage2/block1', structure: 'depth', groups: 1, zero: 1 },
      { layer: 'stage3/block1', structure: 'depth', groups: 1, zero: 0 },
    ]);
    expect(Array.from(m.params.get('stage2/block1/conv2/w').dataSync()).every((v) => Object.is(v, 0))).toBe(true);
    // The projection shortcut is not in the group and keeps its weights.
    expect(Array.from(m.params.get('stage2/block1/proj/w').dataSync())).toEqual(projBefore);
    const removal = ssl.removal();
    expect(removal.blocks).toEqual(['stage1/block1', 'stage2/block1']);
    const small = removeStructure(m, removal);
    maskStructure(m, removal);
    expect(small.blocks.map((b) => b.name)).toEqual(['stage3/block1']);
    const x = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 9);
    expect(
      tf.max(tf.abs(tf.sub(m.apply(x, { training: false }), small.apply(x, { training: false })))).dataSync()[0],
    ).toBeLessThan(1e-5);
    ssl.dispose?.();
    small.params.dispose();
    m.params.dispose();
  });

  it('a removed group stays removed: weights pushed back by the optimizer after removal are zeroed again', () => {
    const m = mlp({ inputShape: [6], hidden: [4], seed: 1 });
    const ssl = structuredSparsity({ model: m, threshold: 0.05, terms: [{ structure: 'neuron', lambda: 0 }] });
    const w = m.params.get(m.layers[0]!.weight) as tf.Variable;
    w.assign(tf.mul(w, tf.tensor2d([[1e-3, 1, 1, 1]])));
    ssl.afterUpdate!(info, new Map());
    expect(Array.from(tf.slice(w, [0, 0], [6, 1]).dataSync()).every((v) => Object.is(v, 0))).toBe(true);
    // An update (momentum, say) moves the removed neuron's weights far above the threshold: the next post-update zeroes them.
    w.assign(tf.add(w, tf.tensor2d([[1, 0, 0, 0]])));
    ssl.afterUpdate!(info, new Map());
    expect(Array.from(tf.slice(w, [0, 0], [6, 1]).dataSync()).every((v) => Object.is(v, 0))).toBe(true);
    expect(ssl.groupCounts().find((c) => c.layer === m.layers[0]!.name)?.zero).toBe(1);
    // The mask is checkpointed: a restored technique keeps the neuron removed.
    const again = structuredSparsity({ model: m, threshold: 0.05, terms: [{ structure: 'neuron', lambda: 0 }] });
    again.restore!(ssl.state!());
    w.assign(tf.add(w, tf.tensor2d([[1, 0, 0, 0]])));
    again.afterUpdate!(info, new Map());
    expect(Array.from(tf.slice(w, [0, 0], [6, 1]).dataSync()).every((v) => Object.is(v, 0))).toBe(true);
    ssl.dispose?.();
    again.dispose?.();
    m.params.dispose();
  });

  it('refuses a structure the model lacks and bad settings, before training', () => {
    const m = mlp({ inputShape: [8], hidden: [4] });
    expect(() => structuredSparsity({ model: m, terms: [{ structure: 'filter', lambda: 1 }] })).toThrowError(
      /ssl.terms\[0\]/,
    );
    expect(() => structuredSparsity({ model: m, terms: [{ structure: 'neuron', lambda: -1 }] })).toThrowError(
      /ssl.terms\[0\].lambda = -1/,
    );
    expect(() => structuredSparsity({ model: m, terms: [] })).toThrowError(/ssl.terms/);
    expect(() =>
      structuredSparsity({ model: m, threshold: -1, terms: [{ structure: 'neuron', lambda: 1 }] }),
    ).toThrowError(/ssl.threshold = -1/);
    m.params.dispose();
  });
});

describe('ISS for stacked LSTMs (thesis Sec. 2.3)', () => {
  it("group sizes by the formula, and the thesis's 2 x 1500 model with a 10,000-word vocabulary", async () => {
    const { issGroupSizes } = await import('../lib/src/techniques/iss');
    // Layer 1 of a [6, 5] stack with embedding 3 and vocabulary 7: 4x3 (input columns) + 4x6 (recurrent columns) + 4x6 - 4
    // (recurrent row less the 4 entries already counted) + 4x5 (next layer's input row) = 12 + 24 + 20 + 20 = 76.
    expect(issGroupSizes({ vocabSize: 7, embedding: 3, hidden: [6, 5] })).toEqual([
      { layer: 'lstm1', units: 6, groupSize: 76 },
      { layer: 'lstm2', units: 5, groupSize: 4 * 6 + 4 * 5 + 4 * 5 - 4 + 7 },
    ]);
    expect(issGroupSizes({ vocabSize: 10000, embedding: 1500, hidden: [1500, 1500] }).map((g) => g.groupSize)).toEqual([
      23996, 27996,
    ]);
    // The thesis's 24,000 and 28,000 count the 4 weights in both unit k's recurrent row and its gate columns twice.
    expect(
      issGroupSizes({ vocabSize: 10000, embedding: 1500, hidden: [1500, 1500] }, 'twice').map((g) => g.groupSize),
    ).toEqual([24000, 28000]);
  });

  it("overlap 'twice' (the authors' group norm) adds the 4 shared recurrent weights' squares once more to each unit's norm", async () => {
    const { intrinsicSparseStructures } = await import('../lib/src/techniques/iss');
    const { lstmLanguageModel } = await import('../lib/src/models/lstm');
    const m = lstmLanguageModel({ vocabSize: 7, embedding: 3, hidden: [6, 5], steps: 4, seed: 2 });
    const once = intrinsicSparseStructures({ model: m, lambda: 1, epsilon: 1e-12 }).unitNorms();
    const twice = intrinsicSparseStructures({ model: m, lambda: 1, epsilon: 1e-12, overlap: 'twice' }).unitNorms();
    for (const [l, H] of [
      [1, 6],
      [2, 5],
    ] as const) {
      const wh = m.params.get(`lstm${l}/wh`).arraySync() as number[][];
      for (let k = 0; k < H; k++) {
        let shared = 0;
        for (let g = 0; g < 4; g++) shared += (wh[k]![g * H + k] as number) ** 2;
        const a = once[l - 1]!.norms[k]!;
        const b = twice[l - 1]!.norms[k]!;
        expect(b * b - a * a).toBeCloseTo(shared, 5);
      }
    }
    expect(() => intrinsicSparseStructures({ model: m, lambda: 1, overlap: 'thrice' as 'once' })).toThrowError(
      /iss.overlap = "thrice" is invalid/,
    );
    m.params.dispose();
  });

  it("the penalty is lambda x sum of the norms of the union of each unit's rows and columns; its gradient matches autodiff of a hand-built mask version", async () => {
    const { intrinsicSparseStructures } = await import('../lib/src/techniques/iss');
    const { lstmLanguageModel } = await import('../lib/src/models/lstm');
    const m = lstmLanguageModel({ vocabSize: 7, embedding: 3, hidden: [6, 5], steps: 4, seed: 2 });
    const iss = intrinsicSparseStructures({ model: m, lambda: 0.7, epsilon: 1e-6 });
    const H = [6, 5];
    const names = ['lstm1/wx', 'lstm1/wh', 'lstm2/wx', 'lstm2/wh', 'output/w'];
    const vars = names.map((n) => m.params.get(n) as tf.Variable);
    // Hand-built membership masks: unit k of layer l owns columns {g H + k} of wx and wh, row k of wh, and row k of the next matrix.
    const memberMasks = (l: number, k: number) => {
      const h = H[l - 1]!;
      const col = (rows: number) =>
        tf.tensor2d(
          Array.from({ length: rows * 4 * h }, (_, i) => ((i % (4 * h)) % h === k ? 1 : 0)),
          [rows, 4 * h],
        );
      const wx = col(l === 1 ? 3 : H[0]!);
      const whCols = col(h);
      const whRow = tf.tensor2d(
        Array.from({ length: h * 4 * h }, (_, i) => (Math.floor(i / (4 * h)) === k ? 1 : 0)),
        [h, 4 * h],
      );
      const wh = tf.minimum(tf.add(whCols, whRow), 1);
      const nextCols = l === 1 ? 4 * H[1]! : 7;
      const next = tf.tensor2d(
        Array.from({ length: h * nextCols }, (_, i) => (Math.floor(i / nextCols) === k ? 1 : 0)),
        [h, nextCols],
      );
      return { wx, wh, next };
    };
    const penalty = () => {
      const terms: tf.Tensor[] = [];
      for (const l of [1, 2]) {
        for (let k = 0; k < H[l - 1]!; k++) {
          const mm = memberMasks(l, k);
          const wx = m.params.get(`lstm${l}/wx`);
          const wh = m.params.get(`lstm${l}/wh`);
          const next = m.params.get(l === 1 ? 'lstm2/wx' : 'output/w');
          terms.push(
            tf.sqrt(
              tf.add(
                tf.addN([
                  tf.sum(tf.mul(tf.square(wx), mm.wx)),
                  tf.sum(tf.mul(tf.square(wh), mm.wh)),
                  tf.sum(tf.mul(tf.square(next), mm.next)),
                ]),
                1e-6,
              ),
            ),
          );
        }
      }
      return tf.mul(tf.addN(terms), 0.7) as tf.Scalar;
    };
    const { value, grads } = tf.variableGrads(penalty, vars);
    expect(iss.penalty()).toBeCloseTo(value.dataSync()[0] as number, 4);
    const reg = iss.transformGradients!(new Map(names.map((n, i) => [n, tf.zerosLike(vars[i]!)])), {} as StepInfo);
    names.forEach((n, i) =>
      expect(tf.max(tf.abs(tf.sub(reg.get(n)!, grads[vars[i]!.name]!))).dataSync()[0]).toBeLessThan(1e-5),
    );
    iss.dispose?.();
    m.params.dispose();
  });

  it('thresholding removes whole units (exact zeros, biases too); compaction to smaller hidden sizes computes the same logits', async () => {
    const { intrinsicSparseStructures } = await import('../lib/src/techniques/iss');
    const { lstmLanguageModel } = await import('../lib/src/models/lstm');
    const m = lstmLanguageModel({ vocabSize: 7, embedding: 3, hidden: [6, 5], steps: 4, seed: 2 });
    // Shrink units 1 and 4 of lstm1 (their columns, recurrent row and row of lstm2/wx) far below the threshold.
    const shrink = (name: string, f: tf.Tensor) =>
      (m.params.get(name) as tf.Variable).assign(tf.mul(m.params.get(name), f));
    const keepUnits = tf.tensor1d([1, 1e-6, 1, 1, 1e-6, 1]);
    shrink('lstm1/wx', tf.tile(keepUnits, [4]));
    shrink('lstm1/wh', tf.mul(tf.tile(keepUnits, [4]), tf.reshape(keepUnits, [6, 1])));
    shrink('lstm2/wx', tf.reshape(keepUnits, [6, 1]));
    const iss = intrinsicSparseStructures({ model: m, lambda: 0, threshold: 1e-3 });
    iss.afterUpdate!({} as StepInfo, new Map());
    expect(iss.unitCounts()).toEqual([
      { layer: 'lstm1', units: 6, zero: 2 },
      { layer: 'lstm2', units: 5, zero: 0 },
    ]);
    // Unit norms: sqrt(epsilon) for the removed units, above the threshold for the others.
    const n1 = iss.unitNorms()[0]!.norms;
    expect(n1.map((v, k) => (v < 1e-3 ? k : -1)).filter((k) => k >= 0)).toEqual([1, 4]);
    const b = Array.from(m.params.get('lstm1/b').dataSync());
    for (const g of [0, 1, 2, 3]) for (const k of [1, 4]) expect(Object.is(b[g * 6 + k], 0)).toBe(true);
    const removal = iss.removal();
    expect(removal).toEqual({ hiddenUnits: { lstm1: [1, 4] } });
    const small = removeStructure(m, removal);
    const arch = small.architecture;
    expect(arch?.family === 'lstm' ? arch.options.hidden : undefined).toEqual([4, 5]);
    const ids = tf.tensor2d(
      [
        [1, 2, 3, 4],
        [6, 5, 0, 2],
      ],
      [2, 4],
      'int32',
    );
    const d = tf
      .max(tf.abs(tf.sub(m.apply(ids, { training: false }), small.apply(ids, { training: false }))))
      .dataSync()[0]!;
    expect(d).toBeLessThan(1e-5);
    iss.dispose?.();
    small.params.dispose();
    m.params.dispose();
  });
  it("thresholdOn 'weight' (the thesis's tau): small regularized weights become zeros each mini-batch, not for good; a unit goes when its whole group is zero", async () => {
    const { intrinsicSparseStructures } = await import('../lib/src/techniques/iss');
    const { lstmLanguageModel } = await import('../lib/src/models/lstm');
    const m = lstmLanguageModel({ vocabSize: 7, embedding: 3, hidden: [6, 5], steps: 4, seed: 2 });
    const wx = m.params.get('lstm1/wx') as tf.Variable;
    // Entry (0, 0) of lstm1/wx below tau, the rest as initialised (|w| far above 1e-6 but one): only it is zeroed.
    const init = wx.arraySync() as number[][];
    wx.assign(tf.tensor2d(init.map((row, r) => row.map((x, c) => (r === 0 && c === 0 ? 5e-7 : x)))));
    const emb = Array.from(m.params.get('embedding').dataSync());
    const iss = intrinsicSparseStructures({ model: m, lambda: 0, threshold: 1e-6, thresholdOn: 'weight' });
    iss.afterUpdate!({} as StepInfo, new Map());
    const after = wx.arraySync() as number[][];
    expect(Object.is(after[0]![0], 0)).toBe(true);
    const changed = after
      .flatMap((row, r) => row.map((x, c) => (x !== init[r]![c] ? [r, c] : null)))
      .filter((x) => x !== null);
    expect(changed).toEqual([[0, 0]]);
    // Not sticky: an update that moves it back is kept.
    wx.assign(tf.tensor2d(after.map((row, r) => row.map((x, c) => (r === 0 && c === 0 ? 0.3 : x)))));
    iss.afterUpdate!({} as StepInfo, new Map());
    expect((wx.arraySync() as number[][])[0]![0]).toBeCloseTo(0.3, 6);
    // The embedding is not regularized (the thesis leaves it dense).
    expect(Array.from(m.params.get('embedding').dataSync())).toEqual(emb);
    // A whole group below tau: the unit is all zero and removed.
    const shrink = (name: string, f: tf.Tensor) =>
      (m.params.get(name) as tf.Variable).assign(tf.mul(m.params.get(name), f));
    const unit3 = tf.tensor1d([1, 1, 1, 1e-9, 1, 1]);
    shrink('lstm1/wx', tf.tile(unit3, [4]));
    shrink('lstm1/wh', tf.mul(tf.tile(unit3, [4]), tf.reshape(unit3, [6, 1])));
    shrink('lstm2/wx', tf.reshape(unit3, [6, 1]));
    iss.afterUpdate!({} as StepInfo, new Map());
    expect(iss.removal()).toEqual({ hiddenUnits: { lstm1: [3] } });
    expect(() => intrinsicSparseStructures({ model: m, lambda: 0, thresholdOn: 'unit' as never })).toThrowError(
      /iss.thresholdOn = "unit"/,
    );
    iss.dispose?.();
    m.params.dispose();
  });

  it('issProfile counts all-zero ISS components, the zero share of the ISS weights, and the expectation for scattered zeros', async () => {
    const { issProfile } = await import('../lib/src/techniques/iss');
    const { lstmLanguageModel } = await import('../lib/src/models/lstm');
    const m = lstmLanguageModel({ vocabSize: 7, embedding: 3, hidden: [6, 5], steps: 4, seed: 2 });
    const set = (name: string, f: (r: number, c: number, x: number) => number) => {
      const a = m.params.get(name).arraySync() as number[][];
      (m.params.get(name) as tf.Variable).assign(tf.tensor2d(a.map((row, r) => row.map((x, c) => f(r, c, x)))));
    };
    // Unit 2 of lstm1: zero its 4 columns of wx and wh, its row of wh and its row of lstm2/wx (76 weights).
    set('lstm1/wx', (_r, c, x) => (c % 6 === 2 ? 0 : x));
    set('lstm1/wh', (r, c, x) => (c % 6 === 2 || r === 2 ? 0 : x));
    set('lstm2/wx', (r, _c, x) => (r === 2 ? 0 : x));
    // Scattered zeros that do not complete a group: one weight of unit 3's row of lstm2/wx, one recurrent weight of lstm2.
    set('lstm2/wx', (r, c, x) => (r === 3 && c === 0 ? 0 : x));
    set('lstm2/wh', (r, c, x) => (r === 0 && c === 1 ? 0 : x));
    const p = issProfile(m);
    // lstm1's ISS weights: wx 3x24, wh 6x24, lstm2/wx 6x20 = 72 + 144 + 120 = 336; zeros 76 + 1.
    expect(p[0]).toMatchObject({
      layer: 'lstm1',
      units: 6,
      zeroUnits: 1,
      weights: 336,
      zeroWeights: 77,
      groupSize: 76,
    });
    expect(p[0]!.log10ExpectedIfIndependent).toBeCloseTo(Math.log10(6) + 76 * Math.log10(77 / 336), 10);
    // lstm2's ISS weights: lstm2/wx 6x20, wh 5x20, output 5x7 = 120 + 100 + 35 = 255; zeros: row 2 of lstm2/wx (20), and the two scattered ones.
    expect(p[1]).toMatchObject({ layer: 'lstm2', units: 5, zeroUnits: 0, weights: 255, zeroWeights: 22 });
    // A unit whose only non-zero weight is its recurrent self-connection (on wh's diagonal) is alive.
    set('lstm2/wx', (_r, c, x) => (c % 5 === 4 ? 0 : x));
    set('lstm2/wh', (r, c, x) => (r === 4 && c !== 4 ? 0 : c % 5 === 4 && !(r === 4 && c === 4) ? 0 : x));
    set('output/w', (r, _c, x) => (r === 4 ? 0 : x));
    expect(issProfile(m)[1]!.zeroUnits).toBe(0);
    set('lstm2/wh', (r, c, x) => (r === 4 && c === 4 ? 0 : x));
    expect(issProfile(m)[1]!.zeroUnits).toBe(1);
    expect(() => issProfile({ ...m, architecture: undefined })).toThrow(/issProfile.model/);
    m.params.dispose();
  });
});

describe('the non-structured l1 baseline', () => {
  it('adds lambda x sign(w) to the gradient; prunes weights below the threshold to exact zeros that stay zero', async () => {
    const { l1Sparsity } = await import('../lib/src/techniques/l1');
    const m = mlp({ inputShape: [4], hidden: [3], seed: 5 });
    const l1 = l1Sparsity({ model: m, lambda: 0.25, threshold: 0.2 });
    const wName = m.layers[0]!.weight;
    const w = m.params.get(wName) as tf.Variable;
    const g = l1.transformGradients!(new Map([[wName, tf.zerosLike(w)]]), info).get(wName)!;
    expect(Array.from(g.dataSync())).toEqual(Array.from(w.dataSync()).map((x) => 0.25 * Math.sign(x)));
    w.assign(
      tf.tensor2d([
        [0.1, -0.5, 0.3],
        [-0.05, 0.9, -0.19],
        [0.25, 0, 1],
        [0.2, -0.21, 0.01],
      ]),
    );
    l1.afterUpdate!(info, new Map());
    expect(Array.from(w.dataSync()).map((x) => Number(x.toFixed(2)))).toEqual([
      0, -0.5, 0.3, 0, 0.9, 0, 0.25, 0, 1, 0.2, -0.21, 0,
    ]);
    // A pruned weight pushed back (by momentum, say) is pruned again.
    w.assign(tf.add(w, tf.fill([4, 3], 1.5)));
    l1.afterUpdate!(info, new Map());
    const d = Array.from(w.dataSync());
    for (const i of [0, 3, 5, 7, 11]) expect(Object.is(d[i], 0)).toBe(true);
    expect(l1.zeroShare().find((z) => z.param === wName)).toEqual({
      layer: m.layers[0]!.name,
      param: wName,
      weights: 12,
      zero: 5,
    });
    expect(() => l1Sparsity({ model: m, lambda: -1 })).toThrowError(/l1.lambda = -1/);
    l1.dispose?.();
    m.params.dispose();
  });

  it('inferenceTime times repeated forward passes of a fixed batch and refuses a bad batch', async () => {
    const { inferenceTime } = await import('../lib/src/analysis/perf');
    const m = lenet5({ seed: 1 });
    const t = inferenceTime(m, { batch: 2, repeats: 3, warmup: 1 });
    expect(t.times).toHaveLength(3);
    expect(t.medianMs).toBe([...t.times].sort((a, b) => a - b)[1]);
    expect(() => inferenceTime(m, { batch: 0 })).toThrowError(/batch = 0/);
    m.params.dispose();
  });
});

describe('sparsity arms (baseline, SSL fine-tuning, compacted fine-tuning)', () => {
  it('chain through the cache: the compacted arm trains the smaller model and times it against the masked original', async () => {
    const { lenetRegime, sparsityArms } = await import('../lib/src/studies/sparsity');
    const { runArm, buildModel } = await import('../lib/src/experiments/arm');
    const { tempDir } = await import('./helpers');
    const regime = lenetRegime('smoke');
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(32, 2) };
    const model = { kind: 'lenet5' as const, options: { inputShape: [32, 32, 3] as const } };
    // Twenty iterations of SSL fine-tuning (one batch of 64 per epoch).
    const arms = sparsityArms({ ...regime, trainCount: 64, sparseEpochs: 20 }, data, model);
    const cache = { dir: tempDir(), fresh: false };
    const base = await runArm(arms.baseline(0), { cache });
    // Baseline weights with conv1's first 10 filters shrunk by 1e-3 (norms about 1e-3, the others about 1.4): a mild
    // group Lasso and the threshold 0.05 remove exactly those 10.
    const probe = buildModel(model, 0, base.analysis);
    const w1 = probe.params.get('conv1/w') as tf.Variable;
    w1.assign(tf.mul(w1, tf.concat([tf.fill([10], 1e-3), tf.ones([10])]).reshape([1, 1, 1, 20])));
    const weights = probe.params.recordsSync();
    probe.params.dispose();
    const terms = [{ structure: 'filter' as const, lambda: 0.5, layers: { names: ['conv1'] } }];
    const sp = arms.ssl(0, { weights }, { terms, threshold: 0.05 }, 'SSL');
    const sparse = await runArm(sp, { cache });
    const an = sparse.analysis!;
    const zero = an.groups!.find((g) => g.layer === 'conv1')!.zero;
    expect(zero).toBe(10);
    expect(an.removal.filters?.conv1).toHaveLength(zero);
    const compact = await runArm(arms.compacted(0, sp, 'compacted'), { cache });
    const ca = compact.analysis!;
    const conv1 = ca.macs.find((x) => x.layer === 'conv1')!;
    expect(conv1.macs / conv1.originalMacs).toBeCloseTo((20 - zero) / 20, 9);
    expect(ca.inference.map((x) => x.batch)).toEqual([1, 64]);
    expect(ca.inference.every((x) => x.compactedMs > 0 && x.originalMs > 0)).toBe(true);
    // The second request of the SSL arm is a cache hit with the same removal.
    const again = await runArm(sp, { cache });
    expect(again.cache).toBe('hit');
    expect(again.analysis?.removal).toEqual(an.removal);
  });
});

describe('sparsity regimes', () => {
  it('LeNet/MNIST and ConvNet/CIFAR-10 regimes: whole data sets at lite, three seeds, settings refused when bad', async () => {
    const { lenetRegime, convnetRegime } = await import('../lib/src/studies/sparsity');
    expect(lenetRegime('lite')).toMatchObject({ trainCount: 60000, testCount: 10000, batchSize: 64, seeds: 3 });
    // The baseline runs Caffe's LeNet schedule length at lite and paper: 10,000 iterations of 64, fractional epochs
    // turned into iterations by sparsityArms.
    const { sparsityArms } = await import('../lib/src/studies/sparsity');
    // Only the spec is built (nothing trains), so a small set standing in for MNIST's 60,000 images will do.
    const mnistLike = { train: { ...syntheticCifar(16, 1), count: 60000 }, test: syntheticCifar(16, 2) };
    const lenetModel = { kind: 'lenet5' as const, options: { inputShape: [32, 32, 3] as const } };
    for (const sc of ['lite', 'paper'] as const) {
      const b = sparsityArms(lenetRegime(sc), mnistLike, lenetModel).baseline(0);
      expect(b.recipe.iterations).toBe(10000);
      expect(b.recipe.epochs).toBeUndefined();
    }
    const smokeBase = sparsityArms(
      lenetRegime('smoke'),
      { train: { ...syntheticCifar(16, 1), count: 512 }, test: syntheticCifar(16, 2) },
      lenetModel,
    ).baseline(0).recipe;
    expect(smokeBase).toMatchObject({ epochs: 1 });
    expect(smokeBase.iterations).toBeUndefined();
    expect(convnetRegime('lite')).toMatchObject({
      trainCount: 50000,
      testCount: 10000,
      batchSize: 100,
      baselineEpochs: 12,
      seeds: 3,
    });
    // Caffe's cifar10_full: 60,000 iterations of 100 = 120 epochs.
    expect((convnetRegime('paper').baselineEpochs * 50000) / 100).toBe(60000);
    expect(lenetRegime('smoke', 5).seeds).toBe(1);
    expect(() => convnetRegime('lite', 0)).toThrowError(/seeds = 0/);
    expect(() => lenetRegime('huge' as never)).toThrowError(/scale = "huge"/);
    const { resnetDepthRegime } = await import('../lib/src/studies/sparsity');
    const { issRegime } = await import('../lib/src/studies/iss');
    // The thesis's stacked LSTM (Sec. 2.3.3, Table 2.5) as the paper configuration.
    expect(issRegime('paper')).toMatchObject({
      hidden: [1500, 1500],
      embedding: 1500,
      vocabulary: 10000,
      maxEpochs: 55,
      issEpochs: 55,
      issFrom: 'scratch',
      corpus: 'ptb',
      threshold: { on: 'weight', tau: 1e-4 },
      l1: { lambda: 1e-4 },
    });
    expect(1 - issRegime('paper').dropout).toBeCloseTo(0.35, 12);
    expect(1 - issRegime('paper').issDropout).toBeCloseTo(0.6, 12);
    expect(issRegime('lite')).toMatchObject({
      hidden: [200, 200],
      corpus: 'ptb-valid-90/10',
      seeds: 3,
      issFrom: 'baseline',
    });
    // Lite sweeps between the first run's strengths (rho 0.5: no unit removed; rho 1: a whole layer) and keeps the thesis's l1 lambda.
    expect(issRegime('lite').rhos).toEqual([0.6, 0.7, 0.8, 0.9]);
    expect(issRegime('lite').l1).toEqual({ lambda: issRegime('paper').l1.lambda, threshold: 1e-4 });
    expect(issRegime('lite', 5).seeds).toBe(5);
    const { groupLassoStrength } = await import('../lib/src/techniques/ssl');
    // Constant lr 0.1 over 100 iterations, momentum 0.9: steady steps 0.1 x lambda / 0.1 = lambda; 100 lambda = rho x norm.
    const g = groupLassoStrength({
      norm: 2,
      rho: 3,
      lr: 0.1,
      iterations: 100,
      momentum: 0.9,
      schedule: { kind: 'constant' },
    });
    expect(g.lambda).toBeCloseTo(0.06, 12);
    expect(g.threshold).toBeCloseTo(0.06, 12);
    // Cosine over 4 iterations: the cosines of 0, pi/4, pi/2, 3pi/4 sum to 1, so lr x (1 + cos(pi t / 4)) / 2 sums to 0.5 x 5 / 2 = 1.25.
    expect(
      groupLassoStrength({ norm: 1, rho: 1, lr: 0.5, iterations: 4, momentum: 0, schedule: { kind: 'cosine' } }).lambda,
    ).toBeCloseTo(1 / 1.25, 12);
    expect(() =>
      groupLassoStrength({ norm: 0, rho: 1, lr: 0.1, iterations: 4, momentum: 0, schedule: { kind: 'constant' } }),
    ).toThrowError(/groupLassoStrength.norm = 0/);
    expect(() =>
      groupLassoStrength({ norm: 1, rho: 1, lr: 0.1, iterations: 4, momentum: 1, schedule: { kind: 'constant' } }),
    ).toThrowError(/groupLassoStrength.momentum = 1/);
    const { e2trainRegime } = await import('../lib/src/studies/e2train');
    // Fig. 2.7's lite regime fine-tunes E²-Train's lite baseline (same data, batch and schedule length), with augmentation.
    const d = resnetDepthRegime('lite');
    const e = e2trainRegime('lite');
    expect(d).toMatchObject({
      trainCount: e.trainCount,
      batchSize: e.batchSize,
      baselineEpochs: e.epochs,
      lr: 0.1,
      fineTuneLr: 0.01,
      augment: true,
      depth: 8,
      widths: [16, 32, 64],
      seeds: 3,
    });
    // paper: the thesis's ResNet-20 on He et al.'s 64k iterations of 128.
    expect(resnetDepthRegime('paper')).toMatchObject({ depth: 20, weightDecay: 1e-4 });
    expect(resnetDepthRegime('paper').baselineEpochs * 390).toBeCloseTo(64000, 6);
  });
});

describe('ISS on characters (held-out strength choice)', () => {
  it("issCharRegime: tinyshakespeare 90/5/5, the baseline's own optimizer for the baseline and the direct design only; ISS from scratch takes no initial weights", async () => {
    const { issArms, issCharRegime, issRegime } = await import('../lib/src/studies/iss');
    const lite = issCharRegime('lite');
    expect(lite).toMatchObject({ corpus: 'tinyshakespeare-char-90/5/5', hidden: [200, 200], bptt: 50, batchSize: 64 });
    expect(lite.baseline).toEqual({ optimizer: { kind: 'adam' }, lr: 0.002 });
    expect(issCharRegime('lite', 5).seeds).toBe(5);
    // paper: the thesis's ISS protocol on this corpus.
    expect(issCharRegime('paper')).toMatchObject({
      ...issRegime('paper'),
      corpus: 'tinyshakespeare-char-90/5/5',
      vocabulary: 'corpus',
    });
    const data = { tokens: true as const, train: new Int32Array(4000), validation: new Int32Array(100) };
    const arms = issArms(lite, data, 65);
    const base = arms.baseline(0);
    expect([base.recipe.optimizer, base.recipe.lr]).toEqual([{ kind: 'adam' }, 0.002]);
    expect([arms.direct(0, [100, 50], 1).recipe.optimizer, arms.direct(0, [100, 50], 1).recipe.lr]).toEqual([
      { kind: 'adam' },
      0.002,
    ]);
    const iss = arms.iss(0, base, { rho: 1, lambda: 0.01, threshold: 0.01 });
    expect([iss.recipe.optimizer, iss.recipe.lr, iss.init]).toEqual([{ kind: 'sgd' }, 1, base]);
    expect([arms.l1(0, base).recipe.optimizer, arms.l1(0, base).recipe.lr]).toEqual([{ kind: 'sgd' }, 1]);
    // Without `baseline` (PTB's regimes) every arm is plain SGD at lr; ISS from scratch starts from no weights.
    const ptb = issArms(issRegime('paper'), data, 65);
    expect(ptb.baseline(0).recipe.optimizer).toEqual({ kind: 'sgd' });
    expect(ptb.iss(0, ptb.baseline(0), { rho: 1, lambda: 0.01, threshold: 1e-4 }).init).toBeUndefined();
  });

  it("issCharCorpus: the character vocabulary, the text split 90/5/5 and each part cut to the plan's counts", async () => {
    const { issCharCorpus, issCharRegime, issRegime } = await import('../lib/src/studies/iss');
    const text = 'abcdefghij'.repeat(10);
    const all = issCharCorpus(text, { ...issCharRegime('lite') });
    expect(all.vocab.tokens).toHaveLength(10);
    expect([all.train.length, all.validation.length, all.test.length]).toEqual([90, 5, 5]);
    // The 91st character ('a', id 0) opens the validation part; the test part runs to the end.
    expect([all.validation[0], all.test[4]]).toEqual([0, 9]);
    const cut = issCharCorpus(text, { ...issCharRegime('lite'), words: [7, 3, 0] });
    expect([cut.train.length, cut.validation.length, cut.test.length]).toEqual([7, 3, 5]);
    expect(() => issCharCorpus(text, issRegime('lite'))).toThrowError(/plan.corpus = ptb-valid-90\/10/);
  });

  it('issStrength: lambda = rho x median norm / (sum of the cosine rates of the ISS steps); the threshold is the steady step or tau', async () => {
    const { issCharRegime, issRegime, issStrength, issMedianUnitNorm, issArms } = await import(
      '../lib/src/studies/iss'
    );
    const plan = { ...issCharRegime('smoke'), batchSize: 2, bptt: 5, issEpochs: 1 };
    // 40 tokens / (2 x 5) = 4 steps; cosine over 4 steps from lr 1 sums to 2.5 (see groupLassoStrength's test).
    const g = issStrength(plan, { medianNorm: 2, trainTokens: 40, rho: 1 });
    expect(g.lambda).toBeCloseTo(2 / 2.5, 12);
    expect(g.threshold).toBeCloseTo(2 / 2.5, 12);
    // At lr 0.5 the sum halves and lambda doubles; the steady step lr x lambda stays.
    const h = issStrength(plan, { medianNorm: 2, trainTokens: 40, rho: 1, lr: 0.5 });
    expect(h.lambda).toBeCloseTo(4 / 2.5, 12);
    expect(h.threshold).toBeCloseTo(2 / 2.5, 12);
    expect(
      issStrength({ ...plan, threshold: { on: 'weight', tau: 1e-4 } }, { medianNorm: 2, trainTokens: 40, rho: 1 })
        .threshold,
    ).toBe(1e-4);
    // The median unit norm: the smaller of the layers' medians, read from the weights.
    const desc = issArms(
      issRegime('smoke'),
      { tokens: true, train: new Int32Array(10), validation: new Int32Array(10) },
      12,
    ).model([4, 3]);
    const { buildModel } = await import('../lib/src/experiments/arm');
    const { intrinsicSparseStructures } = await import('../lib/src/techniques/iss');
    const m = buildModel(desc, 7);
    const norms = intrinsicSparseStructures({ model: m, lambda: 0 })
      .unitNorms()
      .map((u) => [...u.norms].sort((a, b) => a - b));
    const weights = m.params.recordsSync();
    m.params.dispose();
    // Medians: index floor(4 / 2) = 2 of lstm1's 4 sorted norms, index 1 of lstm2's 3.
    expect(issMedianUnitNorm(desc, 7, weights)).toBeCloseTo(
      Math.min(norms[0]?.[2] as number, norms[1]?.[1] as number),
      6,
    );
  });

  it('issCompactionError: the compacted model computes the masked model; issUnitNorms counts the removed units', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const { issArms, issRegime, issCompactionError, issUnitNorms } = await import('../lib/src/studies/iss');
    const { buildModel } = await import('../lib/src/experiments/arm');
    const { maskStructure } = await import('../lib/src/models/surgery');
    const small0 = issArms(
      issRegime('smoke'),
      { tokens: true, train: new Int32Array(10), validation: new Int32Array(10) },
      12,
    ).model([5, 4]);
    // Weights of order 1, so that a unit left unmasked changes the logits visibly.
    const desc = { kind: 'lstm' as const, options: { ...(small0.options as object), initRange: 1 } } as typeof small0;
    const m = buildModel(desc, 3);
    const weights = m.params.recordsSync();
    const removal = { hiddenUnits: { lstm1: [0, 3], lstm2: [1] } };
    maskStructure(m, removal);
    const masked = m.params.recordsSync();
    m.params.dispose();
    const ids = tf.tensor2d(
      [1, 5, 7, 2, 11, 0, 3, 3, 9, 4, 6, 8, 10, 2, 1, 0, 5, 5, 7, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0],
      [2, 16],
      'int32',
    );
    const before = tf.memory().numTensors;
    const err = issCompactionError(desc, 3, weights, removal, ids);
    expect(tf.memory().numTensors).toBe(before);
    expect(err).toBeLessThan(1e-4);
    // Unmasked, the full model differs from the compacted one: the identity needs the mask (checks the check).
    const { removeStructure } = await import('../lib/src/models/surgery');
    const full = buildModel(desc, 3, weights);
    const small = removeStructure(full, removal);
    const gap = tf.tidy(
      () =>
        tf
          .max(tf.abs(tf.sub(full.apply(ids, { training: false }), small.apply(ids, { training: false }))))
          .dataSync()[0] as number,
    );
    full.params.dispose();
    small.params.dispose();
    ids.dispose();
    expect(gap).toBeGreaterThan(1e-2);
    const norms = issUnitNorms(desc, 3, masked);
    expect(norms.map((u) => [u.layer, u.units, u.zero])).toEqual([
      ['lstm1', 5, 2],
      ['lstm2', 4, 1],
    ]);
    // A zeroed unit's norm is sqrt(epsilon) = 1e-4.
    expect(norms[0]?.norms[0]).toBeCloseTo(1e-4, 8);
  });

  it('chooseIssStrength: fewest units left within the tolerance of the baseline, else the best partial removal; never a run that emptied a layer', async () => {
    const { chooseIssStrength } = await import('../lib/src/studies/iss');
    const row = (rho: number, zero: [number, number], validationPpl: number) => ({
      rho,
      lr: 1,
      units: [
        { units: 10, zero: zero[0] },
        { units: 10, zero: zero[1] },
      ],
      validationPpl,
    });
    const none = row(0.5, [0, 0], 5.0);
    const some = row(1, [3, 1], 5.08); // 16 left, 1.6% above 5
    const more = row(1.5, [6, 2], 5.1); // 12 left, 2% above: on the bound
    const most = row(2, [8, 4], 5.3); // 8 left, 6% above
    const empty = row(3, [10, 5], 5.0); // a layer emptied
    const c = chooseIssStrength([none, some, more, most, empty], 5, 0.02);
    expect(c.chosen).toBe(more);
    expect(c.reason).toContain('fewest units left (12) among 2 run(s)');
    // Tighter tolerance: only `some` is within 1.6%.
    expect(chooseIssStrength([none, some, more, most, empty], 5, 0.016).chosen).toBe(some);
    // None within: the lowest validation perplexity among partial removals.
    expect(chooseIssStrength([none, some, more, most], 4, 0.02).chosen).toBe(some);
    expect(chooseIssStrength([none, empty], 5).chosen).toBeUndefined();
    expect(() => chooseIssStrength([some], 0)).toThrowError(/baselineValidationPpl = 0/);
    expect(() => chooseIssStrength([some], 5, -1)).toThrowError(/tolerance = -1/);
  });
});
