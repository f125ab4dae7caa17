import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import {
  accuracyWithinBudget,
  armSummary,
  ladderRows,
  meanAccuracyCurve,
  pairedBySeed,
  top1,
} from '../lib/src/experiments/curves';
import type { RunOutcome } from '../lib/src/experiments/run';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { channelStats } from '../lib/src/data/pipeline';
import { cifarResNet } from '../lib/src/models/resnet';
import { selectiveLayerUpdate } from '../lib/src/techniques/slu';
import { sluGateReport } from '../lib/src/techniques/slu-report';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const pt = (iteration: number, energyJ: number, top1: number) => ({
  iteration,
  energyJ,
  top1,
  effectiveMacs: 0,
  loss: 0,
});
const run = (arm: string, seed: number, top1: number, curve = [pt(10, 1, 0.2), pt(20, 2, 0.4)]) =>
  ({ arm, seed, top1, accuracyCurve: curve }) as unknown as RunOutcome;

describe('accuracy against energy (Fig. 5 helpers)', () => {
  it('averages the k-th evaluation over seeds, up to the shortest curve', () => {
    const c = meanAccuracyCurve([
      run('a', 0, 0, [pt(10, 1, 0.2), pt(20, 2, 0.4), pt(30, 3, 0.5)]),
      run('a', 1, 0, [pt(10, 3, 0.4), pt(20, 4, 0.6)]),
    ]);
    expect(c).toHaveLength(2);
    expect(c[0]!.energyJ).toBeCloseTo(2, 12);
    expect(c[1]!.top1.mean).toBeCloseTo(0.5, 12);
    expect(c[1]!.top1.n).toBe(2);
    expect(meanAccuracyCurve([])).toEqual([]);
  });
  it('accuracy within a budget is the last evaluation at or below it; none when the first costs more', () => {
    const curve = [pt(10, 1, 0.2), pt(20, 2, 0.4), pt(30, 3, 0.5)];
    expect(accuracyWithinBudget(curve, 2.5)?.top1).toBe(0.4);
    expect(accuracyWithinBudget(curve, 2)?.iteration).toBe(20);
    expect(accuracyWithinBudget(curve, 0.5)).toBeUndefined();
    expect(() => accuracyWithinBudget(curve, NaN)).toThrowError(/budgetJ = NaN is invalid/);
  });
  it('pairs two arms by seed, keeping only shared seeds', () => {
    const runs = [run('a', 2, 0.5), run('a', 0, 0.3), run('b', 0, 0.1), run('b', 1, 0.9), run('b', 2, 0.2)];
    expect(pairedBySeed(runs, 'a', 'b', (o) => o.top1)).toEqual({ seeds: [0, 2], a: [0.3, 0.5], b: [0.1, 0.2] });
    expect(() => pairedBySeed([...runs, run('a', 0, 0.7)], 'a', 'b', (o) => o.top1)).toThrowError(
      /arm "a" has two runs with seed 0/,
    );
  });
});

describe('per-arm summaries', () => {
  const run = (arm: string, seed: number, acc: number, energyJ: number, cache: RunOutcome['cache']): RunOutcome => ({
    ...{ arm, seed, top1: acc, testLoss: 1, iterations: 10 * (seed + 1), batchesSeen: 20, energyJ, effectiveMacs: 100 },
    ...{ macs: 200, forwardMacs: 50, overheadMacs: 5, seconds: 60 * (seed + 1), history: [], techniqueStats: {} },
    ...{ energyCurve: [], cache },
  });
  it("average an arm's runs: top-1 with its t interval, ledger means, minutes, cache statuses; other arms ignored", () => {
    const os = [run('a', 0, 0.5, 2, 'hit'), run('a', 1, 0.7, 4, 'miss'), run('b', 0, 0.1, 100, 'miss')];
    const s = armSummary(os, 'a');
    expect([s.runs, s.energyJ, s.iterations, s.minutes, s.cache]).toEqual([2, 3, 15, 1.5, 'hit,miss']);
    expect(s.top1.mean).toBeCloseTo(0.6, 12);
    // t(0.975, 1) = 12.706; std 0.1414; half-width 12.706 x 0.1414 / sqrt(2) = 1.2706.
    expect(s.top1.hi - s.top1.mean).toBeCloseTo(1.2706, 3);
    expect(Number.isNaN(s.acceleratorEnergyJ)).toBe(true);
    expect(os.map(top1)).toEqual([0.5, 0.7, 0.1]);
    expect(() => armSummary(os, 'c')).toThrowError(/no run of arm "c"/);
  });
});

describe('SLU gate report', () => {
  it('p distribution, skip per block and class, and input dependence of constant gates', () => {
    const m = cifarResNet({ depth: 14, widths: [4, 8, 8], seed: 1 });
    const data = syntheticCifar(30, 2);
    const slu = selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, initialBias: Math.log(0.3 / 0.7) });
    slu.gateParams.get('out/w').assign(tf.zeros([10, 1])); // p = 0.3 everywhere: every input skips every block
    const r = sluGateReport(slu, data, channelStats(data), { batchSize: 8 });
    const blocks = m.blocks.filter((b) => b.skippable).length;
    expect(r.blocks).toHaveLength(blocks);
    expect(r.testSkip).toBe(1);
    expect(r.minorityShare).toBe(0);
    for (const b of r.blocks) {
      expect(b.pMean).toBeCloseTo(0.3, 5);
      expect(b.histogram.reduce((a, v) => a + v, 0)).toBe(30);
      expect(b.histogram[2]! + b.histogram[3]!).toBe(30); // p = 0.3 up to float rounding: the bins either side of 0.3
    }
    expect(r.perClass).toHaveLength(blocks);
    expect(r.perClass[0]).toHaveLength(10);
    expect(r.perClass[0]!.filter((v) => Number.isFinite(v)).every((v) => v === 1)).toBe(true);
    // An input-dependent gate: the output weight makes p vary with the input, so some decisions differ.
    slu.gateParams.get('out/w').assign(tf.fill([10, 1], 40));
    slu.gateParams.get('out/b').assign(tf.zeros([1]));
    const r2 = sluGateReport(slu, data, channelStats(data), { batchSize: 8 });
    expect(r2.blocks.some((b) => b.pStd > 0)).toBe(true);
    slu.gateParams.dispose();
    m.params.dispose();
  });
});

describe('compacted-model speedup', () => {
  it('is the original forward time over the compacted one at a batch; NaN where not measured', async () => {
    const { compactSpeedup } = await import('../lib/src/experiments/analyses');
    const o = { analysis: { macs: [], inference: [{ batch: 1, compactedMs: 2, originalMs: 5 }] } };
    expect(compactSpeedup(o, 1)).toBe(2.5);
    expect(compactSpeedup(o, 64)).toBeNaN();
    expect(compactSpeedup(undefined, 1)).toBeNaN();
  });
});

describe('ladderRows', () => {
  const run = (arm: string, seed: number, acc: number, last: number, loss: number): RunOutcome =>
    ({
      ...{ arm, seed, top1: acc, testLoss: 1, iterations: 10, batchesSeen: 10, energyJ: 1, effectiveMacs: 1, macs: 1 },
      ...{ forwardMacs: 1, overheadMacs: 0, seconds: 120, techniqueStats: {}, energyCurve: [] },
      history: [{ epoch: 1, iteration: 10, trainLoss: loss, lr: 0, techniques: {} }],
      accuracyCurve: [
        { iteration: 5, energyJ: 0, effectiveMacs: 0, top1: 0.1, loss: 2 },
        { iteration: 10, energyJ: 1, effectiveMacs: 1, top1: last, loss: 1 },
      ],
    }) as RunOutcome;
  it('each rung against the one before, paired by seed, with its interval from two pairs on', () => {
    const outcomes = [
      run('A', 0, 0.8, 0.79, 0.6),
      run('A', 1, 0.7, 0.69, 0.7),
      run('B', 0, 0.5, 0.6, 1.2),
      run('B', 1, 0.6, 0.62, 1.0),
      run('C', 1, 0.55, 0.5, 1.1),
    ];
    const rows = ladderRows(
      [
        { rung: 'a', arm: 'A' },
        { rung: 'b', arm: 'B' },
        { rung: 'c', arm: 'C' },
      ],
      outcomes,
    );
    expect(rows[0]).toMatchObject({ seeds: 2, pairs: 0, minutes: 2 });
    expect(rows[0]?.top1).toBeCloseTo(0.75, 12);
    expect(rows[0]?.deltaTop1).toBeNaN();
    // B - A per seed: -0.3, -0.1 -> mean -0.2, t interval with 1 df: -0.2 +- 12.706 x 0.1.
    expect(rows[1]?.deltaTop1).toBeCloseTo(-0.2, 12);
    expect(rows[1]?.interval?.lo).toBeCloseTo(-0.2 - 12.706 * 0.1, 3);
    expect(rows[1]?.lastEvaluationTop1).toBeCloseTo(0.61, 12);
    expect(rows[1]?.finalTrainLoss).toBeCloseTo(1.1, 12);
    // C shares only seed 1 with B: one pair, no interval.
    expect(rows[2]).toMatchObject({ pairs: 1, seeds: 1 });
    expect(rows[2]?.deltaTop1).toBeCloseTo(-0.05, 12);
    expect(rows[2]?.interval).toBeUndefined();
    expect(() => ladderRows([{ rung: 'd', arm: 'D' }], outcomes)).toThrowError(/no run of arm "D"/);
  });
});
