import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { createRng } from '../lib/src/random';
import { cifarNet, lenet5 } from '../lib/src/models/small';
import {
  filterProjection,
  filterRank,
  lowRankBasis,
  modelFilterRanks,
  recombine,
  type HostTensor,
} from '../lib/src/models/low-rank';
import { maskStructure, removeStructure } from '../lib/src/models/surgery';
import { lowerRankAtAccuracy } from '../lib/src/studies/force';
import {
  filterRows,
  forceGradient,
  forcePotential,
  forceRegularization,
  forceStrength,
} from '../lib/src/techniques/force-regularization';
import type { StepInfo } from '../lib/src/train/technique';

beforeAll(async () => {
  await initBackend();
});

const rows = (t: tf.Tensor) => t.arraySync() as number[][];
/** A [1, 1, d, n] bank whose filter c is column c of `m` [d][n]. */
const bank = (m: number[][]): HostTensor => ({
  shape: [1, 1, m.length, m[0]!.length],
  data: Float32Array.from(m.flat()),
});
const randomBank = (seed: string, shape: [number, number, number, number]): HostTensor => {
  const rng = createRng(seed);
  return { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) };
};
const frob = (a: HostTensor, b: HostTensor) => Math.sqrt(a.data.reduce((s, x, i) => s + (x - b.data[i]!) ** 2, 0));

describe('Force Regularization (thesis Eq. 3.2-3.5)', () => {
  it('matches a hand-worked two-filter case for both forces and both scalers', () => {
    // W_1 = (1, 0), W_2 = (0, 2): w_1 = (1, 0), w_2 = (0, 1). l2: f_21 = (-1, 1); its part perpendicular to w_1 is (0, 1), times ||W_1|| = 1.
    // f_12 = (1, -1); perpendicular to w_2: (1, 0), times ||W_2|| = 2 -> (2, 0). The l1 force is the same direction over sqrt(2).
    const W = tf.tensor2d([
      [1, 0],
      [0, 2],
    ]);
    expect(rows(forceGradient(W, { force: 'l2' }))).toEqual([
      [0, 1],
      [2, 0],
    ]);
    const l1 = rows(forceGradient(W, { force: 'l1' }));
    expect(l1[0]![1]).toBeCloseTo(1 / Math.SQRT2, 6);
    expect(l1[1]![0]).toBeCloseTo(2 / Math.SQRT2, 6);
    expect(Math.abs(l1[0]![0]!) + Math.abs(l1[1]![1]!)).toBeLessThan(1e-7);
    // Scaled by 1 / ||W_i|| instead (Table 3.1's other row): filter 2 gets (1/2, 0).
    expect(rows(forceGradient(W, { force: 'l2', scaler: 'inverse-norm' }))).toEqual([
      [0, 1],
      [0.5, 0],
    ]);
    // A zero filter neither moves nor pulls.
    const Z = tf.tensor2d([
      [1, 0],
      [0, 0],
      [0, 3],
    ]);
    const z = rows(forceGradient(Z, { force: 'l2' }));
    expect(z[1]).toEqual([0, 0]);
    expect(z[0]).toEqual([0, 1]);
  });

  it('Theorem 1: the force gradient is the negative gradient of Eq. (3.6) / (3.12) rescaled by ||W_i||^2 / 2 (random filters)', () => {
    const rng = createRng('theorem1');
    const W = tf.tensor2d(
      Array.from({ length: 6 }, () => Array.from({ length: 9 }, () => rng.normal() * (0.5 + rng.next()))),
    );
    const norms = rows(tf.sqrt(tf.sum(tf.square(W), 1, true))).map((r) => r[0]!);
    for (const force of ['l2', 'l1'] as const) {
      const negGrad = rows(tf.neg(tf.grad((x: tf.Tensor) => forcePotential(x as tf.Tensor2D, force))(W)));
      const delta = rows(forceGradient(W, { force }));
      // float32 on both sides: relative tolerance 1e-3 of the largest component.
      const tol = 1e-3 * Math.max(...delta.flat().map(Math.abs));
      delta.forEach((row, i) =>
        row.forEach((v, k) => expect(Math.abs(v - (norms[i]! ** 2 / 2) * negGrad[i]![k]!)).toBeLessThan(tol)),
      );
      // With the 1/||W_i|| scaler the rescaling is the constant 1/2: the exact gradient direction and size up to 2.
      const inv = rows(forceGradient(W, { force, scaler: 'inverse-norm' }));
      const tolInv = 1e-3 * Math.max(...inv.flat().map(Math.abs));
      inv.forEach((row, i) => row.forEach((v, k) => expect(Math.abs(v - negGrad[i]![k]! / 2)).toBeLessThan(tolInv)));
    }
  });

  it('forceStrength: lambda_s from an angle, the filter count and the run (constant lr 0.1, 100 steps, momentum 0.9 -> steady step lambda)', () => {
    // 100 steady steps of 0.1 x lambda / 0.1 = lambda each, times N = 64: 2 rad needs lambda = 2 / 6400.
    expect(
      forceStrength({ angle: 2, filters: 64, lr: 0.1, iterations: 100, momentum: 0.9, schedule: { kind: 'constant' } }),
    ).toBeCloseTo(2 / 6400, 12);
    expect(() =>
      forceStrength({ angle: 2, filters: 1, lr: 0.1, iterations: 100, momentum: 0.9, schedule: { kind: 'constant' } }),
    ).toThrowError(/forceStrength.filters = 1/);
  });

  it('the force is perpendicular to each filter: it turns filters without changing their lengths to first order', () => {
    const W = tf.tensor2d(randomBank('perp', [1, 1, 8, 5]).data, [5, 8]);
    const d = forceGradient(W, { force: 'l1' });
    for (const v of Array.from(tf.sum(tf.mul(d, W), 1).dataSync())) expect(Math.abs(v)).toBeLessThan(1e-5);
  });

  it('as a technique: the gradient becomes g - lambda x Delta W in the conv layout; pure force steps lower the potential and the rank', () => {
    const m = lenet5({ seed: 3 });
    const fr = forceRegularization({ model: m, lambda: 0.5, layers: (l) => l.name === 'conv2' });
    expect(fr.layers).toEqual(['conv2']);
    const w = m.params.get('conv2/w');
    const g = tf.onesLike(w);
    const out = fr.transformGradients!(
      new Map([
        ['conv2/w', g],
        ['conv1/w', tf.onesLike(m.params.get('conv1/w'))],
      ]),
      {} as StepInfo,
    );
    const expected = tf.sub(g, tf.mul(tf.reshape(tf.transpose(forceGradient(filterRows(w))), w.shape), 0.5));
    expect(tf.max(tf.abs(tf.sub(out.get('conv2/w')!, expected))).dataSync()[0]).toBeLessThan(1e-6);
    // conv1 is not coordinated: its gradient passes through untouched.
    expect(Array.from(out.get('conv1/w')!.dataSync()).every((v) => v === 1)).toBe(true);
    // Pure regularizer descent on conv2's filters: potential down, rank (5% PCA error) down.
    const before = {
      potential: fr.potentials()[0]!.potential,
      rank: modelFilterRanks(m, { layers: (l) => l.name === 'conv2' })[0]!.rank,
    };
    const v = m.params.get('conv2/w') as tf.Variable;
    for (let i = 0; i < 60; i++) {
      const step = fr.transformGradients!(new Map([['conv2/w', tf.zerosLike(v)]]), {} as StepInfo).get('conv2/w')!;
      v.assign(tf.sub(v, tf.mul(step, 0.002)));
    }
    const after = {
      potential: fr.potentials()[0]!.potential,
      rank: modelFilterRanks(m, { layers: (l) => l.name === 'conv2' })[0]!.rank,
    };
    expect(after.potential).toBeLessThan(before.potential);
    expect(after.rank).toBeLessThan(before.rank);
    expect(() => forceRegularization({ model: m, lambda: -1 })).toThrowError(/forceRegularization.lambda = -1/);
    expect(() => forceRegularization({ model: m, lambda: 1, force: 'l3' as never })).toThrowError(
      /forceRegularization.force = "l3"/,
    );
    expect(() => forceRegularization({ model: m, lambda: 1, layers: () => false })).toThrowError(
      /forceRegularization.layers/,
    );
    m.params.dispose();
  });
});

describe('rank and low-rank approximation (thesis Sec. 3.1, 3.3.2, Table 3.3)', () => {
  it('filterRank: e_M / e_0 from the eigenvalues of W W^T, and the smallest M within 5%', () => {
    // Orthogonal filters with singular values 3, 2, 1, 0.1: eigenvalues 9, 4, 1, 0.01 (sum 14.01).
    const r = filterRank(
      bank([
        [3, 0, 0, 0],
        [0, 2, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 0.1],
      ]),
    );
    expect(r.errorShare[0]).toBe(1);
    expect(r.errorShare[1]).toBeCloseTo(5.01 / 14.01, 6);
    expect(r.errorShare[2]).toBeCloseTo(1.01 / 14.01, 6);
    expect(r.errorShare[3]).toBeCloseTo(0.01 / 14.01, 6);
    expect(r.rank).toBe(3);
    expect(r.rankRatio).toBe(3 / 4);
    expect(
      filterRank(
        bank([
          [3, 0, 0, 0],
          [0, 2, 0, 0],
          [0, 0, 1, 0],
          [0, 0, 0, 0.1],
        ]),
        { maxErrorShare: 0.08 },
      ).rank,
    ).toBe(2);
    // Constructed rank-3 filters (20 filters of 3x3x4 = 36 values each): rank 3 at any bound, whatever the mixing.
    const rng = createRng('rank3');
    const A = Array.from({ length: 36 }, () => Array.from({ length: 3 }, () => rng.normal()));
    const B = Array.from({ length: 3 }, () => Array.from({ length: 20 }, () => rng.normal()));
    const low = {
      shape: [3, 3, 4, 20],
      data: Float32Array.from(A.flatMap((a) => B[0]!.map((_, c) => a.reduce((s, x, j) => s + x * B[j]![c]!, 0)))),
    };
    expect(filterRank(low, { maxErrorShare: 1e-6 }).rank).toBe(3);
    expect(() => filterRank(low, { maxErrorShare: 1 })).toThrowError(/maxErrorShare = 1/);
  });

  it('every method reproduces the bank at full rank; SVD is never worse than PCA or k-means at equal rank; k-means is exact on scaled copies of M directions', () => {
    const w = randomBank('lra', [3, 3, 2, 6]);
    for (const method of ['svd', 'pca', 'kmeans'] as const) {
      const { basis, coefficients } = lowRankBasis(w, { rank: 6, method });
      expect(basis.shape).toEqual([3, 3, 2, 6]);
      expect(frob(recombine(basis, coefficients), w)).toBeLessThan(1e-4);
    }
    for (const m of [1, 2, 3, 4]) {
      const err = (method: 'svd' | 'pca' | 'kmeans') => {
        const d = lowRankBasis(w, { rank: m, method, seed: 2 });
        return frob(recombine(d.basis, d.coefficients), w);
      };
      expect(err('svd')).toBeLessThanOrEqual(err('pca') + 1e-5);
      expect(err('svd')).toBeLessThanOrEqual(err('kmeans') + 1e-5);
    }
    // PCA at rank M: the mean filter is the first basis filter.
    const p = lowRankBasis(w, { rank: 2, method: 'pca' });
    for (let r = 0; r < 18; r++)
      expect(p.basis.data[r * 2]).toBeCloseTo(
        Array.from({ length: 6 }, (_, c) => w.data[r * 6 + c]!).reduce((a, x) => a + x, 0) / 6,
        5,
      );
    // Filters that are positive multiples of two directions: k-means of their unit vectors finds the two directions,
    // and each filter is its scale times its centroid, so 2 clusters reconstruct them exactly.
    const u = [1, 2, 0, -1];
    const v = [0, 1, 3, 1];
    const scales = [
      [2, 0],
      [1, 0],
      [0, 0.5],
      [3, 0],
      [0, 2],
    ];
    const copies = bank(u.map((_, r) => scales.map(([a, b]) => a! * u[r]! + b! * v[r]!)));
    const k = lowRankBasis(copies, { rank: 2, method: 'kmeans', seed: 1 });
    expect(frob(recombine(k.basis, k.coefficients), copies)).toBeLessThan(1e-5);
    // One cluster cannot: the error is that of projecting on the better single direction.
    const k1 = lowRankBasis(copies, { rank: 1, method: 'kmeans', seed: 1 });
    expect(frob(recombine(k1.basis, k1.coefficients), copies)).toBeGreaterThan(0.5);
    expect(() => lowRankBasis(w, { rank: 7, method: 'kmeans' })).toThrowError(
      /basis.conv = 7 is invalid: expected a rank in 1..6/,
    );
    expect(() => lowRankBasis(w, { rank: 2, method: 'tucker' as never })).toThrowError(/basis.conv.method = "tucker"/);
  });

  it("filterProjection (Fig. 3.1's picture): scaled copies of two directions fall in two clusters at two points", () => {
    const u = [1, 2, 0, -1];
    const v = [0, 1, 3, 1];
    const scales = [
      [2, 0],
      [1, 0],
      [5, 0],
      [0, 0.5],
      [0, 2],
      [0, 3],
    ];
    const p = filterProjection(bank(u.map((_, r) => scales.map(([a, b]) => a! * u[r]! + b! * v[r]!))), {
      clusters: 2,
      seed: 4,
    });
    expect(new Set(p.slice(0, 3).map((q) => q.cluster)).size).toBe(1);
    expect(new Set(p.slice(3).map((q) => q.cluster)).size).toBe(1);
    expect(p[0]!.cluster).not.toBe(p[3]!.cluster);
    // Normalised, the copies coincide; the two points are symmetric about the mean (first principal direction).
    for (const q of [p[1]!, p[2]!]) expect(Math.hypot(q.x - p[0]!.x, q.y - p[0]!.y)).toBeLessThan(1e-9);
    expect(p[0]!.x).toBeCloseTo(-p[3]!.x, 9);
    expect(() =>
      filterProjection(
        bank([
          [1, 2],
          [3, 4],
        ]),
        { clusters: 3 },
      ),
    ).toThrowError(/filterProjection.clusters = 3/);
  });

  it('model surgery with a PCA or k-means basis computes what the masked model computes, and charges the two small layers', () => {
    for (const method of ['pca', 'kmeans'] as const) {
      const big = cifarNet({ seed: 4 });
      const removal = { basis: { conv2: { rank: 7, method, seed: 3 } } };
      const small = removeStructure(big, removal);
      maskStructure(big, removal);
      const x = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 5);
      const d = tf
        .max(tf.abs(tf.sub(big.apply(x, { training: false }), small.apply(x, { training: false }))))
        .dataSync()[0]!;
      const scale = tf.max(tf.abs(big.apply(x, { training: false }))).dataSync()[0]!;
      expect(d).toBeLessThan(1e-4 * Math.max(1, scale));
      const conv2 = big.layers.find((l) => l.name === 'conv2')!;
      const [oh, ow, n] = conv2.outShape as [number, number, number];
      const decomposed = small.layers.filter((l) => l.name.startsWith('conv2')).reduce((a, l) => a + l.macs, 0);
      // M basis filters of 5x5x32 and a 1x1 recombination to N: O(M C H W H'W' + N M H'W') (Sec. 3.1).
      expect(decomposed).toBe(oh * ow * (7 * 5 * 5 * 32 + n * 7));
      small.params.dispose();
      big.params.dispose();
      x.dispose();
    }
  });
});

describe('SSL on a decomposed network (thesis Sec. 3.3.4, Fig. 3.7b)', () => {
  it('shape groups of the basis filters and filter groups of the 1x1 recombination', async () => {
    const { structuredSparsity } = await import('../lib/src/techniques/ssl');
    const m = removeStructure(cifarNet({ seed: 2 }), { basis: { conv2: 7 } });
    const ssl = structuredSparsity({
      model: m,
      threshold: 0,
      terms: [
        { structure: 'shape', lambda: 0.1, layers: (l) => l.name === 'conv2/basis' },
        { structure: 'filter', lambda: 0.1, layers: (l) => l.name === 'conv2' },
      ],
    });
    expect(ssl.groupCounts()).toEqual([
      { layer: 'conv2/basis', structure: 'shape', groups: 5 * 5 * 32, zero: 0 },
      { layer: 'conv2', structure: 'filter', groups: 32, zero: 0 },
    ]);
    const g = ssl.transformGradients!(
      new Map([
        ['conv2/basis/w', tf.zerosLike(m.params.get('conv2/basis/w'))],
        ['conv2/w', tf.zerosLike(m.params.get('conv2/w'))],
      ]),
      {} as StepInfo,
    );
    // The regularization gradient of the 1x1's filter groups: lambda x w / ||w|| per output filter.
    const w = m.params.get('conv2/w');
    const expected = tf.mul(tf.div(w, tf.sqrt(tf.add(tf.sum(tf.square(w), [0, 1, 2], true), 1e-8))), 0.1);
    expect(tf.max(tf.abs(tf.sub(g.get('conv2/w')!, expected))).dataSync()[0]).toBeLessThan(1e-6);
    ssl.dispose?.();
    m.params.dispose();
  });
});

describe('Force Regularization regime and arms', () => {
  it("Table 3.4's theoretical speedups follow from AlexNet's layer settings and the thesis's ranks (paper configuration)", async () => {
    const { ALEXNET_TABLE_3_4, alexnetTheoreticalSpeedups } = await import('../lib/src/studies/force');
    for (const row of ALEXNET_TABLE_3_4) {
      const s = alexnetTheoreticalSpeedups(row);
      expect(Math.round(s.none * 100) / 100).toBe(row.theoreticalNone);
      expect(Math.round(s.l2 * 100) / 100).toBe(row.theoreticalL2);
    }
  });

  it('regimes: the ConvNet of notebook 30 at lite (shared baseline), the same base lr for the force arms (Sec. 3.3.1)', async () => {
    const { forceRegime } = await import('../lib/src/studies/force');
    const { convnetRegime } = await import('../lib/src/studies/sparsity');
    const f = forceRegime('lite');
    const c = convnetRegime('lite');
    expect(f).toMatchObject({
      trainCount: c.trainCount,
      batchSize: c.batchSize,
      baselineEpochs: c.baselineEpochs,
      lr: c.lr,
      fineTuneLr: c.lr,
      seeds: 3,
      maxErrorShare: 0.05,
    });
    expect(forceRegime('paper').angles.l2.length).toBeGreaterThan(1);
    // Fig. 3.5's lite sweep, and Fig. 3.7b's SSL on a swept angle's decomposed network at every scale.
    expect(f.angles.l2).toEqual([1, 3, 10, 30]);
    for (const scale of ['smoke', 'lite', 'paper'] as const) {
      const r = forceRegime(scale);
      expect(r.ssl).toBeDefined();
      expect(r.angles.l2).toContain(r.ssl!.angle);
      expect(r.ssl!.lambdas.length).toBeGreaterThan(0);
    }
    expect(f.ssl).toEqual({ angle: 3, lambdas: [0.003, 0.01], threshold: 1e-3 });
  });

  it('a force arm stores ranks and the three decompositions; lambda 0 is the control; the decomposed arm trains the SVD model at those ranks', async () => {
    const { forceRegime, forceArms } = await import('../lib/src/studies/force');
    const { syntheticCifar } = await import('../lib/src/data/synthetic');
    const { runArm } = await import('../lib/src/experiments/arm');
    const { tempDir } = await import('./helpers');
    const regime = { ...forceRegime('smoke'), trainCount: 64, batchSize: 32 };
    const data = { train: syntheticCifar(64, 1), test: syntheticCifar(32, 2) };
    const arms = forceArms(regime, data, { kind: 'cifarnet', options: {} });
    const cache = { dir: tempDir(), fresh: false };
    const baseline = arms.baseline(0);
    await runArm(baseline, { cache });
    const lambda = arms.lambdaFor(30);
    // 30 rad over 2 iterations of cosine from 0.01 (sum 0.01 x (1 + 1/2)... = 0.015), momentum 0.9, 64 filters.
    expect(lambda).toBeCloseTo((30 * 0.1) / (0.015 * 64), 9);
    const sp = arms.forced(0, baseline, { force: 'l2', scaler: 'norm', lambda }, 'l2');
    const o = await runArm(sp, { cache });
    const an = o.analysis!;
    expect(an.ranks.map((r) => r.layer)).toEqual(['conv1', 'conv2', 'conv3']);
    expect(an.ranks.every((r) => r.rank >= 1 && r.rank <= r.filters)).toBe(true);
    expect(an.lra.map((x) => x.method)).toEqual(['svd', 'pca', 'kmeans']);
    for (const x of an.lra)
      expect(Number.isNaN(x.top1) ? x.macsRatio === 1 : x.top1 >= 0 && x.top1 <= 1 && x.macsRatio < 1).toBe(true);
    const control = await runArm(arms.forced(0, baseline, { force: 'l2', scaler: 'norm', lambda: 0 }, 'control'), {
      cache,
    });
    expect(control.techniqueStats['force-regularization']).toBeUndefined();
    // The decomposed arm at rank 4 everywhere (a smoke model is near full rank, where decomposing saves nothing and
    // the arm is skipped): SVD basis layers, timed against the original.
    expect(
      arms.decomposed(0, sp, { ...an, ranks: an.ranks.map((r) => ({ ...r, rank: r.filters })) }, 'none'),
    ).toBeUndefined();
    const low = { ...an, ranks: an.ranks.map((r) => ({ ...r, rank: 4 })) };
    const dec = await runArm(arms.decomposed(0, sp, low, 'decomposed')!, { cache });
    const ca = dec.analysis!;
    expect(ca.macs.filter((m) => m.layer.endsWith('/basis')).map((m) => m.layer)).toEqual([
      'conv1/basis',
      'conv2/basis',
      'conv3/basis',
    ]);
    expect(ca.inference.map((x) => x.batch)).toEqual([1, 64]);
    // SSL on the decomposed network: shape groups of each basis layer, filter groups of each 1x1 recombination.
    const sp2 = arms.sparsified(0, sp, low, { lambda: 0.05, threshold: 1e-3 }, 'l2 + SSL')!;
    // It trains as long as the decomposed arm, so the two differ only by the group Lasso.
    expect(sp2.recipe.epochs).toBe(regime.decomposedEpochs);
    const ssl = await runArm(sp2, { cache });
    const groups = ssl.analysis!.groups!;
    expect(groups.map((g) => `${g.layer}:${g.structure}`)).toEqual([
      'conv1/basis:shape',
      'conv2/basis:shape',
      'conv3/basis:shape',
      'conv1:filter',
      'conv2:filter',
      'conv3:filter',
    ]);
    expect(groups.find((g) => g.layer === 'conv2/basis')!.groups).toBe(5 * 5 * 32);
    expect(groups.find((g) => g.layer === 'conv3')!.groups).toBe(64);
  });
});

describe('rank judged together with accuracy (Table 3.2)', () => {
  const ref = [0.5, 0.5, 0.5];
  const plus = (d: number[]) => ref.map((v, i) => v + d[i]!);
  const rank = { a: plus([-0.1, -0.12, -0.11]), b: ref };
  it('held only when the rank interval lies below 0 and the top-1 interval above -margin', () => {
    // Rank differences -0.11 +- 4.303 x 0.01 / sqrt(3) = [-0.1348, -0.0852]; top-1 0 +- 0.0025.
    const kept = lowerRankAtAccuracy({ rank, top1: { a: plus([0.001, -0.001, 0]), b: ref }, margin: 0.005 });
    expect(kept.rank!.hi).toBeCloseTo(-0.11 + (4.302653 * 0.01) / Math.sqrt(3), 5);
    expect(kept.top1!.lo).toBeCloseTo(-(4.302653 * 0.001) / Math.sqrt(3), 5);
    expect(kept.outcome).toBe(true);
    // The rank collapse of a force that costs 30 points: not held, however low the rank.
    expect(lowerRankAtAccuracy({ rank, top1: { a: plus([-0.3, -0.31, -0.29]), b: ref }, margin: 0.005 }).outcome).toBe(
      false,
    );
    // Top-1 -0.01 +- 0.0248 straddles -0.005: inconclusive.
    expect(lowerRankAtAccuracy({ rank, top1: { a: plus([0, -0.01, -0.02]), b: ref }, margin: 0.005 }).outcome).toBe(
      'inconclusive',
    );
    // A rank that did not fall: not held, whatever the accuracy.
    const flat = { a: plus([0.05, 0.06, 0.07]), b: ref };
    expect(
      lowerRankAtAccuracy({ rank: flat, top1: { a: plus([0.001, -0.001, 0]), b: ref }, margin: 0.005 }).outcome,
    ).toBe(false);
  });

  it('no verdict from one pair; a negative margin is refused', () => {
    const one = lowerRankAtAccuracy({ rank: { a: [0.2], b: [0.5] }, top1: { a: [0.8], b: [0.8] }, margin: 0.005 });
    expect(one.outcome).toBeUndefined();
    expect(one.rank).toBeUndefined();
    expect(() => lowerRankAtAccuracy({ rank, top1: rank, margin: -0.01 })).toThrowError(
      /lowerRankAtAccuracy.margin = -0.01 is invalid: expected a non-negative accuracy loss/,
    );
  });
});
