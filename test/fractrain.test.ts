import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { cifarResNet } from '../lib/src/models/resnet';
import { train } from '../lib/src/train/trainer';
import { EnergyLedger } from '../lib/src/cost/ledger';
import { bitFusionStep } from '../lib/src/cost/bitfusion';
import { effectiveStepMacs, trainingCost } from '../lib/src/cost/macs';
import { LossDiffIndicator } from '../lib/src/techniques/loss-indicator';
import {
  StageClock,
  formatPrecisionSchedule,
  parsePrecisionSchedule,
  progressiveFractionalQuantization,
} from '../lib/src/techniques/pfq';
import { dynamicFractionalQuantization, fracTrain } from '../lib/src/techniques/dfq';
import { selectiveLayerUpdate } from '../lib/src/techniques/slu';
import { predictiveSignGradient } from '../lib/src/techniques/psg';
import { fwbw } from '../lib/src/quant/precision';
import { sbmQuant } from '../lib/src/quant/schemes';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const data = syntheticCifar(64, 3);

describe("PFQ's loss-difference indicator (Algorithm 1)", () => {
  it('switches when every normalized difference over the window is below epsilon, then decays epsilon and restarts the window (hand-computed)', () => {
    const ind = new LossDiffIndicator({ epsilon: 0.05, alpha: 0.3 });
    const losses = [2.0, 1.0, 0.9, 0.88, 0.87, 0.86, 0.86, 0.86];
    const turns = losses.map((l) => ind.push(l));
    // Period 5: window [2, 1, 0.9, 0.88, 0.87], scale 1.13, max diff 1.13 / 1.13 = 1.0. Period 6: scale 6.51 / 6,
    // max diff 0.14 / 1.085 = 0.129. Period 7: scale 7.37 / 7 = 1.0529, window [0.9 .. 0.86], max diff 0.04 / 1.0529 = 0.038 < 0.05.
    expect(turns).toEqual([false, false, false, false, false, false, true, false]);
    expect(ind.history[4]?.maxDiff).toBeCloseTo(1.0, 6);
    expect(ind.history[5]?.maxDiff).toBeCloseTo(0.14 / (6.51 / 6), 6);
    expect(ind.history[6]?.maxDiff).toBeCloseTo(0.04 / (7.37 / 7), 6);
    expect(ind.epsilon()).toBeCloseTo(0.015, 12);
    // The window restarted: the next judgement needs five new periods.
    expect(ind.history[7]?.maxDiff).toBeUndefined();
  });

  it('a flat curve switches every window; a NaN loss never switches; bad settings are refused', () => {
    const ind = new LossDiffIndicator({ epsilon: 0.05, alpha: 0.3, window: 3 });
    const turns = Array.from({ length: 9 }, () => ind.push(1));
    expect(turns.map((t, i) => (t ? i + 1 : 0)).filter(Boolean)).toEqual([3, 6, 9]);
    expect(ind.epsilon()).toBeCloseTo(0.05 * 0.3 ** 3, 12);
    const nan = new LossDiffIndicator({ epsilon: 0.05, alpha: 0.3 });
    expect([1, 1, 1, 1, Number.NaN, 1].map((l) => nan.push(l))).toEqual([false, false, false, false, false, false]);
    expect(() => new LossDiffIndicator({ epsilon: 0, alpha: 0.3 })).toThrowError(/indicator.epsilon = 0/);
    expect(() => new LossDiffIndicator({ epsilon: 0.05, alpha: 1.5 })).toThrowError(/indicator.alpha = 1.5/);
  });

  it('the stage clock averages the loss over each period, switches on the indicator, and forces the last stage at finalBy', () => {
    const clock = new StageClock(4, {
      kind: 'indicator',
      epsilon: 0.05,
      alpha: 0.3,
      periodIterations: 2,
      window: 2,
      finalBy: 9,
    });
    // Periods of two iterations with mean losses 2, 1 (|2 - 1| / 1.5 = 0.67: no), 1 (|1 - 1| / 1.333 = 0: turning point at
    // iteration 6), then 1 (window restarted); iteration 9 is finalBy.
    const losses = [2.5, 1.5, 1, 1, 1, 1, 0.5, 1.5, 1, 1];
    losses.forEach((l, i) => clock.afterStep(i + 1, l));
    expect(clock.periods().map((p) => p.loss)).toEqual([2, 1, 1, 1]);
    expect(clock.switches).toEqual([
      { stage: 1, iteration: 6, cause: 'indicator' },
      { stage: 3, iteration: 9, cause: 'final-by' },
    ]);
    const fixed = new StageClock(3, { kind: 'fixed', at: [3, 5] });
    const stages: number[] = [];
    for (let i = 1; i <= 6; i++) {
      stages.push(fixed.stage());
      fixed.afterStep(i, 1);
    }
    expect(stages).toEqual([0, 0, 0, 1, 1, 2]);
  });
});

describe('PFQ', () => {
  it('parses and formats the paper notation; refuses bad schedules and switching rules before training', () => {
    const s = parsePrecisionSchedule('FW(3,4,6,8)/BW(6,6,8,8)');
    expect(s.map((p) => [p.weight, p.gradError])).toEqual([
      [3, 6],
      [4, 6],
      [6, 8],
      [8, 8],
    ]);
    expect(formatPrecisionSchedule(s)).toBe('FW(3,4,6,8)/BW(6,6,8,8)');
    expect(() => parsePrecisionSchedule('FW(3,4)/BW(6)')).toThrowError(/as many FW as BW/);
    expect(() =>
      progressiveFractionalQuantization({ schedule: s, switching: { kind: 'fixed', at: [5, 3, 9] } }),
    ).toThrowError(/pfq.switching.at/);
    expect(() =>
      progressiveFractionalQuantization({
        schedule: s,
        switching: { kind: 'indicator', epsilon: 0.05, alpha: 0.3, periodIterations: 0 },
      }),
    ).toThrowError(/periodIterations = 0/);
  });

  it('trains each stage at its precision: the ledger charges exactly the effective MACs of each stage', async () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8] });
    const pfq = progressiveFractionalQuantization({
      schedule: 'FW(3,4,6,8)/BW(6,6,8,8)',
      switching: { kind: 'fixed', at: [1, 2, 3] },
    });
    const ledger = new EnergyLedger();
    const r = await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 1,
      lr: 0.05,
      optimizer: { kind: 'sgd', momentum: 0.9 },
      schedule: { kind: 'constant' },
      seed: 2,
      techniques: [pfq],
      ledger,
      quant: sbmQuant(),
    });
    expect(r.iterations).toBe(4);
    expect(pfq.stageHistory).toEqual([0, 1, 2, 3]);
    const perIteration = pfq.stages.map((p) => trainingCost(m, { iterations: 1, batchSize: 16 }, p).effective.total);
    expect(ledger.totals().effectiveMacs).toBeCloseTo(
      perIteration.reduce((a, b) => a + b, 0),
      3,
    );
    // The accelerator model's energy: brick operations of the three products of every layer at each stage's precision.
    const accel = pfq.stages.reduce(
      (a, p) => a + m.layers.reduce((b, l) => b + bitFusionStep(l, 16, p).energyPJ * 1e-12, 0),
      0,
    );
    expect(ledger.totals().acceleratorEnergy / accel).toBeCloseTo(1, 9);
    // A stage costs MACs x a/32 x b/32 per product: FW-3/BW-6 forward = MACs x 3 x 3 / 1024.
    const l = m.layers[1]!;
    expect(effectiveStepMacs(l, fwbw(3, 6)).forward).toBe((l.macs * 9) / 1024);
    expect(effectiveStepMacs(l, fwbw(3, 6)).weightGrad).toBe((l.macs * 18) / 1024);
    m.params.dispose();
  });
});

describe('DFQ and FracTrain', () => {
  const model = () => cifarResNet({ depth: 8, widths: [4, 8, 8], skippableTransitions: true });

  it('gates: one output per option; skip offered only where a block can be skipped; options above the full precision refused', () => {
    const m = model();
    const d = dynamicFractionalQuantization({
      model: m,
      options: 'FW(4,6,8)/BW(6,8,8)',
      targetCp: 3,
      beta: 1,
      seed: 1,
    });
    expect(d.labels).toEqual(['skip', 'FW-4/BW-6', 'FW-6/BW-8', 'FW-8/BW-8']);
    expect(d.gateParams.get('out/w')?.shape).toEqual([10, 4]);
    // An option sets weights and activations to its FW bits (Eq. 1's "executed with k bits"); `weightBits` fixes the weights instead.
    expect(d.precisions.slice(1).map((p) => p?.weight)).toEqual([4, 6, 8]);
    const fixedW = dynamicFractionalQuantization({
      model: m,
      options: 'FW(4,6,8)/BW(6,8,8)',
      targetCp: 3,
      beta: 1,
      seed: 1,
      weightBits: 8,
    });
    expect(fixedW.precisions.slice(1).map((p) => [p?.weight, p?.activation])).toEqual([
      [8, 4],
      [8, 6],
      [8, 8],
    ]);
    fixedW.dispose?.();
    expect(() =>
      dynamicFractionalQuantization({ model: m, options: 'FW(4,8,6)/BW(6,8,16)', targetCp: 3, beta: 1, seed: 1 }),
    ).toThrowError(/dfq.options\[1\]/);
    expect(() =>
      dynamicFractionalQuantization({ model: m, options: 'FW(4,8)/BW(6,8)', targetCp: [1, 2], beta: 1, seed: 1 }),
    ).toThrowError(/dfq.switching/);
    expect(() =>
      dynamicFractionalQuantization({ model: m, options: 'FW(4,8)/BW(6,8)', targetCp: 0, beta: 1, seed: 1 }),
    ).toThrowError(/dfq.targetCp = 0/);
    // Option costs of a block: the sum of its layers' effective MACs at the option; skipping a transition block costs its projection.
    const b = m.blocks[1]!;
    const layers = b.layers.map((n) => m.layers.find((l) => l.name === n)!);
    const sum = (p: ReturnType<typeof fwbw>) =>
      layers.reduce((a, l) => {
        const e = effectiveStepMacs(l, p);
        return a + e.forward + e.inputGrad + e.weightGrad;
      }, 0);
    expect(d.costs.perBlock.get(b.name)?.[1]).toBeCloseTo(sum(fwbw(4, 6)), 6);
    const proj = layers.find((l) => l.name.endsWith('/proj'))!;
    const pe = effectiveStepMacs(proj, fwbw(8, 8));
    expect(d.costs.perBlock.get(b.name)?.[0]).toBeCloseTo(pe.forward + pe.inputGrad + pe.weightGrad, 6);
    d.dispose?.();
    m.params.dispose();
  });

  it("each input's block runs at its chosen option; cp is the step's effective MACs over float32, equal to the ledger's; beta's sign follows the target", async () => {
    const m = model();
    const d = dynamicFractionalQuantization({
      model: m,
      options: 'FW(4,6,8)/BW(6,8,8)',
      targetCp: 3,
      beta: 0.5,
      seed: 4,
    });
    const ledger = new EnergyLedger();
    const r = await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 2,
      lr: 0.05,
      optimizer: { kind: 'sgd', momentum: 0.9 },
      schedule: { kind: 'constant' },
      seed: 3,
      techniques: [d],
      ledger,
      quant: sbmQuant(),
    });
    expect(r.iterations).toBe(8);
    expect(d.cpHistory).toHaveLength(8);
    const t = ledger.totals();
    // Exact identity: the ledger's effective MACs less the gate overhead = sum over steps of cp x examples x float32 MACs.
    const fromCp = d.cpHistory.reduce((a, cp) => a + (cp / 100) * 16 * d.costs.float32, 0);
    expect((t.effectiveMacs - t.macs.overhead) / fromCp).toBeCloseTo(1, 9);
    expect(t.macs.overhead).toBe(8 * 3 * d.gateMacsPerInput * 16);
    // The counts cover every input of every block, every step.
    for (const c of d.optionCounts()) expect(c.counts.reduce((a, b) => a + b, 0)).toBe(8 * 16);
    // Sign of beta: +1 at or above the target, -1 below.
    d.cpHistory.forEach((cp, i) => expect(d.signHistory[i]).toBe(cp >= 3 ? 1 : -1));
    // Inference choices agree with the evaluation plan's groups, and are one option per input.
    const x = tf.tensor4d(data.images.slice(0, 8 * 3072), [8, 32, 32, 3]).div(255) as tf.Tensor4D;
    const ch = d.choices(x, { quant: { ...sbmQuant(), nextSeed: () => 1 } });
    expect([...ch.keys()]).toEqual(m.blocks.map((b) => b.name));
    for (const v of ch.values()) expect(v.every((k) => k >= 0 && k < 4)).toBe(true);
    x.dispose();
    d.dispose?.();
    m.params.dispose();
  });

  it("'gumbel' sampling draws each input's option from the gate's softmax, seeded; inference keeps the argmax", async () => {
    const run = async (seed: number) => {
      const m = model();
      const d = dynamicFractionalQuantization({
        model: m,
        options: 'FW(4,8)/BW(6,8)',
        targetCp: 3,
        beta: 0.5,
        seed,
        sampling: 'gumbel',
        temperature: 0.5,
        initialBias: [0, 0, 0],
      });
      await train({
        model: m,
        train: data,
        batchSize: 16,
        epochs: 1,
        lr: 0.05,
        optimizer: { kind: 'sgd' },
        schedule: { kind: 'constant' },
        seed: 3,
        techniques: [d],
        quant: sbmQuant(),
      });
      const counts = d.optionCounts();
      d.dispose?.();
      m.params.dispose();
      return { cp: [...d.cpHistory], counts };
    };
    const a = await run(7);
    expect(a).toEqual(await run(7));
    // Near-uniform gates: a draw picks several options within a block (argmax would give every input the same one).
    expect(a.counts.some((c) => c.counts.filter((v) => v > 0).length >= 2)).toBe(true);
    expect(() =>
      dynamicFractionalQuantization({
        model: model(),
        options: 'FW(4,8)/BW(6,8)',
        targetCp: 3,
        beta: 1,
        seed: 1,
        temperature: 0.5,
      }),
    ).toThrowError(/dfq.temperature = 0.5/);
    expect(() =>
      dynamicFractionalQuantization({
        model: model(),
        options: 'FW(4,8)/BW(6,8)',
        targetCp: 3,
        beta: 1,
        seed: 1,
        sampling: 'top' as never,
      }),
    ).toThrowError(/dfq.sampling/);
  });

  it('the cost term pushes the gates toward cheaper options when cp is above the target', async () => {
    const m = model();
    // Start at the full option everywhere (cp about 6.25% plus the outside layers), target 1%: beta > 0 every step.
    const d = dynamicFractionalQuantization({
      model: m,
      options: 'FW(4,8)/BW(6,8)',
      targetCp: 1,
      beta: 50,
      seed: 5,
      initialBias: [0, 0, 3],
    });
    await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 6,
      lr: 0.05,
      optimizer: { kind: 'sgd', momentum: 0.9 },
      schedule: { kind: 'constant' },
      seed: 3,
      techniques: [d],
      quant: sbmQuant(),
    });
    expect(d.signHistory[0]).toBe(1);
    expect(d.cpHistory[d.cpHistory.length - 1]).toBeLessThan(d.cpHistory[0] as number);
    d.dispose?.();
    m.params.dispose();
  });

  it('FracTrain steps its target cp at the switch points; DFQ composes with PFQ-style caps but not with SLU or PSG', async () => {
    const m = model();
    const f = fracTrain({
      model: m,
      options: 'FW(4,8)/BW(6,8)',
      targetCp: [1.5, 2, 2.5, 3],
      switching: { kind: 'fixed', at: [2, 4, 6] },
      beta: 0.5,
      seed: 6,
    });
    expect(f.name).toBe('fractrain');
    await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 2,
      lr: 0.05,
      optimizer: { kind: 'sgd' },
      schedule: { kind: 'constant' },
      seed: 3,
      techniques: [f],
      quant: sbmQuant(),
    });
    expect(f.targetHistory).toEqual([1.5, 1.5, 2, 2, 2.5, 2.5, 3, 3]);
    expect(f.switches.map((s) => s.iteration)).toEqual([2, 4, 6]);
    const slu = selectiveLayerUpdate({ model: m, alpha: 0.1, seed: 1 });
    await expect(
      train({
        model: m,
        train: data,
        batchSize: 16,
        epochs: 1,
        lr: 0.05,
        optimizer: { kind: 'sgd' },
        schedule: { kind: 'constant' },
        seed: 3,
        techniques: [f, slu],
      }),
    ).rejects.toThrowError(/per-input block plans/);
    const psg = predictiveSignGradient({ beta: 0.05 });
    await expect(
      train({
        model: m,
        train: data,
        batchSize: 16,
        epochs: 1,
        lr: 0.05,
        optimizer: { kind: 'sgd' },
        schedule: { kind: 'constant' },
        seed: 3,
        techniques: [f, psg],
      }),
    ).rejects.toThrowError(/exclusive/);
    f.dispose?.();
    slu.dispose?.();
    m.params.dispose();
  });
});

describe('FracTrain paper configuration and the lite regime', () => {
  it("the paper's settings: PFQ schedules end at their static baseline's precision; FW-8/BW-8 costs 6.25% of float32; the lite indicator maps 160 epochs onto the run", async () => {
    const { FRACTRAIN_PAPER, fractrainSwitching, fractrainArms } = await import('../lib/src/studies/fractrain');
    const { e2trainRegime } = await import('../lib/src/studies/e2train');
    const { regimeIterations } = await import('../lib/src/studies/regime');
    const { parsePrecision } = await import('../lib/src/quant/precision');
    for (const s of FRACTRAIN_PAPER.pfqSchedules) {
      const stages = parsePrecisionSchedule(s.pfq);
      expect(stages[stages.length - 1]).toEqual(parsePrecision(s.sbm));
      // Every earlier stage is at most the final one in every field.
      for (const p of stages) expect(p.weight <= 8 && p.gradError <= parsePrecision(s.sbm).gradError).toBe(true);
    }
    expect(FRACTRAIN_PAPER.indicator).toEqual({ epsilon: 0.05, alpha: 0.3, window: 5 });
    expect(FRACTRAIN_PAPER.schedule.decayEpochs[0]).toBe(FRACTRAIN_PAPER.schedule.epochs / 2);
    const m = cifarResNet({ depth: 38 });
    const c = trainingCost(m, { images: 1 }, fwbw(8, 8));
    expect(c.effective.total / c.macs.total).toBeCloseTo(0.0625, 12);
    m.params.dispose();
    const lite = e2trainRegime('lite');
    const sw = fractrainSwitching(lite);
    expect(sw).toEqual({
      kind: 'indicator',
      epsilon: 0.05,
      alpha: 0.3,
      periodIterations: Math.round(regimeIterations(lite) / 160),
      finalBy: Math.round(regimeIterations(lite) / 2),
    });
    // Arms of the same settings share a cache key whichever notebook asks; the static baseline's key names its scheme.
    // A stand-in of the regime's size (the specs only read its count here; nothing trains).
    const data = { train: { ...syntheticCifar(10, 1), count: lite.trainCount }, test: syntheticCifar(10, 2) };
    const a = fractrainArms.static(lite, data, 0, { scheme: 'sbm', precision: 'FW-8/BW-8' }, 'one label');
    const b = fractrainArms.static(lite, data, 0, { scheme: 'sbm', precision: 'FW-8/BW-8' }, 'another label');
    const { armDescription } = await import('../lib/src/experiments/arm');
    const { armKey } = await import('../lib/src/experiments/run-cache');
    expect(armKey(armDescription(a))).toBe(armKey(armDescription(b)));
    expect(a.evaluateAt).toEqual(parsePrecision('FW-8/BW-8'));
    expect(a.quant).toEqual(sbmQuant());
    expect(fractrainArms.static(lite, data, 0, { scheme: 'dorefa', precision: 'FW-8/BW-8' }, 'x').quant).toEqual({
      scheme: 'dorefa',
    });
  });
});

describe('PFQ on an LSTM language model (Table 2 at small scale)', () => {
  it('trains through its stages; the ledger charges the LSTM and output layers at each stage; the run is cached', async () => {
    const { runArm } = await import('../lib/src/experiments/arm');
    const { lstmLanguageModel } = await import('../lib/src/models/lstm');
    const { tempDir } = await import('./helpers');
    const ids = (n: number, s: number) =>
      Int32Array.from({ length: n }, (_, i) => (i * 7 + s * 3 + ((i * i) % 5)) % 12);
    const options = { vocabSize: 12, embedding: 8, hidden: [16], steps: 10 };
    const dir = tempDir();
    const arm = {
      label: 'PFQ',
      seed: 1,
      data: { tokens: true as const, train: ids(1608, 1), validation: ids(400, 2) },
      model: { kind: 'lstm' as const, options },
      recipe: {
        ...{ batchSize: 8, bptt: 10, epochs: 1, lr: 0.01, optimizer: { kind: 'adam' as const } },
        ...{ schedule: { kind: 'constant' as const }, clipNorm: 5 },
      },
      quant: sbmQuant(),
      techniques: [
        {
          kind: 'pfq' as const,
          options: { schedule: 'FW(4,8)/BW(8,16)', switching: { kind: 'fixed' as const, at: [10] } },
        },
      ],
      analysis: 'pfq-switches' as const,
    };
    const a = await runArm(arm, { cache: { dir, fresh: false } });
    expect(a.iterations).toBe(20);
    expect(Number.isFinite(a.perplexity)).toBe(true);
    expect(a.analysis?.switches.map((x) => x.iteration)).toContain(10);
    // Ten iterations at FW-4/BW-8 and ten at FW-8/BW-16 of every MAC-carrying layer, 8 rows of 10 tokens.
    const probe = lstmLanguageModel({ ...options, seed: 1 });
    const perIter = (p: ReturnType<typeof fwbw>) =>
      probe.layers.reduce((s, l) => {
        const e = effectiveStepMacs(l, p);
        return s + (e.forward + e.inputGrad + e.weightGrad) * 8;
      }, 0);
    expect(a.effectiveMacs / (10 * perIter(fwbw(4, 8)) + 10 * perIter(fwbw(8, 16)))).toBeCloseTo(1, 9);
    probe.params.dispose();
    const b = await runArm({ ...arm, label: 'again' }, { cache: { dir, fresh: false } });
    expect(b.cache).toBe('hit');
    expect(b.perplexity).toBe(a.perplexity);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    // A language-model arm needs its window length.
    await expect(runArm({ ...arm, recipe: { ...arm.recipe, bptt: undefined } }, { cache: false })).rejects.toThrowError(
      /recipe.bptt/,
    );
  });
});

describe('retraining helpers (Table 5)', () => {
  it('class subsets keep their labels and order; a model from weights starts where the stored one ended; the best evaluation is the curve maximum', async () => {
    const { classSubset } = await import('../lib/src/data/image-dataset');
    const { buildModel } = await import('../lib/src/experiments/arm');
    const { bestEvaluation } = await import('../lib/src/experiments/curves');
    const ds = syntheticCifar(40, 7);
    const sub = classSubset(ds, [2, 5]);
    expect(sub.count).toBe([...ds.labels].filter((l) => l === 2 || l === 5).length);
    expect([...sub.labels].every((l) => l === 2 || l === 5)).toBe(true);
    const firstIdx = [...ds.labels].findIndex((l) => l === 2 || l === 5);
    expect(Array.from(sub.images.subarray(0, 3072))).toEqual(
      Array.from(ds.images.subarray(firstIdx * 3072, (firstIdx + 1) * 3072)),
    );
    expect(() => classSubset(ds, [10])).toThrowError(/classes \[10\] invalid: expected class indices in \[0, 10\)/);
    const desc = { kind: 'resnet' as const, options: { depth: 8, widths: [4, 8, 8] as const } };
    const a = buildModel(desc, 1);
    const weights = a.params.recordsSync();
    const b = buildModel(desc, 2, weights);
    const c = buildModel(desc, 2);
    const w = (m: typeof a) => Array.from(m.params.get('conv1/w')!.dataSync());
    expect(w(b)).toEqual(w(a));
    expect(w(c)).not.toEqual(w(a));
    [a, b, c].forEach((m) => m.params.dispose());
    const curve = [0.2, 0.5, 0.4].map((top1, i) => ({
      iteration: i,
      energyJ: i,
      effectiveMacs: 10 * i,
      top1,
      loss: 1,
    }));
    expect(bestEvaluation({ accuracyCurve: curve })?.effectiveMacs).toBe(10);
    expect(bestEvaluation({ accuracyCurve: [] })).toBeUndefined();
  });
});

describe('PFQ on MobileNetV2 (Table 1)', () => {
  it('depthwise layers stay at their fixed FW-8/BW-16 whatever the stage; the ledger charges them so', async () => {
    const { mobileNetV2 } = await import('../lib/src/models/small');
    const m = mobileNetV2({ seed: 1, widthMultiplier: 0.25 });
    const fixed = parsePrecisionSchedule('FW-8/BW-16')[0]!;
    const pfq = progressiveFractionalQuantization({
      schedule: 'FW(4,8)/BW(6,8)',
      switching: { kind: 'fixed', at: [1] },
      fixed: (l) => (l.kind === 'depthwise' ? fixed : undefined),
    });
    const dw = m.layers.filter((l) => l.kind === 'depthwise');
    expect(dw.length).toBeGreaterThan(0);
    expect(pfq.precision!(dw[0]!, {} as never)).toEqual(fixed);
    expect(pfq.precision!(m.layers[0]!, {} as never)).toEqual(fwbw(4, 6));
    const ledger = new EnergyLedger();
    await train({
      model: m,
      train: syntheticCifar(8, 2),
      batchSize: 4,
      epochs: 1,
      lr: 0.01,
      optimizer: { kind: 'sgd' },
      schedule: { kind: 'constant' },
      seed: 1,
      techniques: [pfq],
      ledger,
      quant: sbmQuant(),
    });
    const perLayer = new Map(ledger.perLayer().map((r) => [r.layer, r.effective]));
    const eff = (l: (typeof m.layers)[number], p: ReturnType<typeof fwbw>) => {
      const e = effectiveStepMacs(l, p);
      return (e.forward + e.inputGrad + e.weightGrad) * 4;
    };
    // Two iterations of 4 images: depthwise layers at FW-8/BW-16 both times; the others at FW-4/BW-6, then FW-8/BW-8.
    for (const l of dw) expect(perLayer.get(l.name)).toBeCloseTo(2 * eff(l, fixed), 6);
    const other = m.layers.find((l) => l.kind === 'conv' && !l.first)!;
    expect(perLayer.get(other.name)).toBeCloseTo(eff(other, fwbw(4, 6)) + eff(other, fwbw(8, 8)), 6);
    m.params.dispose();
  });
});

describe("FracTrain's cost formula over runs (fractrainCostErrors)", () => {
  it('a dynamic run against mean cp x iterations x batch x float32 MACs, gates excluded; a static run against 6.25% of float32 per example; runs without the analysis or MACs left out', async () => {
    const { fractrainCostErrors } = await import('../lib/src/studies/fractrain');
    const { e2trainRegime } = await import('../lib/src/studies/e2train');
    const regime = e2trainRegime('smoke');
    const m = cifarResNet({ depth: regime.depth, widths: regime.widths, skippableTransitions: true });
    const fp32 = trainingCost(m, { images: 1 }).macs.total;
    m.params.dispose();
    const its = 10;
    const examples = its * regime.batchSize;
    const run = (arm: string, seed: number, effectiveMacs: number, extra: Record<string, unknown> = {}) =>
      ({
        ...{ arm, seed, top1: 0.5, testLoss: 1, iterations: its, batchesSeen: its, energyJ: 1, effectiveMacs, macs: 1 },
        ...{ forwardMacs: 1, overheadMacs: 0, seconds: 1, history: [], techniqueStats: {}, energyCurve: [] },
        ...extra,
      }) as unknown as import('../lib/src/experiments/run').RunOutcome;
    const dfq = (meanCp: number) => ({ analysisKind: 'dfq-allocation', analysis: { meanCp } });
    // cp 2.5%: the formula gives 0.025 x examples x fp32; the run spent that plus 1,000 gate MACs (overhead).
    const exact = run('FT', 0, 0.025 * examples * fp32 + 1000, { ...dfq(2.5), overheadMacs: 1000 });
    // 1% more than the formula.
    const off = run('FT', 1, 1.01 * 0.025 * examples * fp32, dfq(2.5));
    const staticRun = run('SBM', 0, 0.0625 * examples * fp32 * 0.98);
    const noAnalysis = run('FT', 2, 123);
    const placeholder = run('SBM', 1, Number.NaN);
    const checks = fractrainCostErrors([exact, off, staticRun, noAnalysis, placeholder], regime, ['FT']);
    expect(checks.map((c) => [c.arm, c.seed, c.kind])).toEqual([
      ['FT', 0, 'dynamic'],
      ['FT', 1, 'dynamic'],
      ['SBM', 0, 'static'],
    ]);
    expect(checks[0]!.relativeError).toBeLessThan(1e-12);
    expect(checks[1]!.relativeError).toBeCloseTo(0.01, 10);
    expect(checks[2]!.relativeError).toBeCloseTo(0.02, 10);
  });
});

describe("FracTrain's stages and frozen gates (fractrainStages, fractrainGatesFrozen)", () => {
  it('stage means from the cp records between switches; a skipped stage reads as never entered; frozen only when every entered stage ran at one cp', async () => {
    const { fractrainStages, fractrainGatesFrozen } = await import('../lib/src/studies/fractrain');
    // 8 iterations, a cp record every 2 (4 records at iterations 0, 2, 4, 6); stage 2 entered at 4 by the indicator.
    const base = {
      labels: [],
      target: [],
      sign: [],
      meanCp: 0,
      periods: [],
      trainCounts: [],
      test: { labels: [], blocks: [], perClass: [], classNames: [], cp: 0, minorityShare: 0 },
    };
    const a = { ...base, cp: [1, 2, 4, 6], switches: [{ stage: 1, iteration: 4, cause: 'indicator' as const }] };
    expect(fractrainStages(a, 8, [1.5, 3])).toEqual([
      { stage: 1, targetCp: 1.5, from: 0, cause: 'start', meanCp: 1.5 },
      { stage: 2, targetCp: 3, from: 4, cause: 'indicator', meanCp: 5 },
    ]);
    expect(fractrainGatesFrozen(fractrainStages(a, 8, [1.5, 3]))).toBe(false);
    // A forced last stage skipping stage 2: stage 1 runs to the switch into stage 3.
    const skip = { ...base, cp: [2, 2, 2, 2], switches: [{ stage: 2, iteration: 6, cause: 'final-by' as const }] };
    const st = fractrainStages(skip, 8, [1, 2, 3]);
    expect(st.map((s) => [s.from, s.cause, s.meanCp])).toEqual([
      [0, 'start', 2],
      [undefined, undefined, Number.NaN],
      [6, 'final-by', 2],
    ]);
    expect(fractrainGatesFrozen(st)).toBe(true);
    // One stage entered says nothing about freezing.
    expect(fractrainGatesFrozen(fractrainStages({ ...skip, switches: [] }, 8, [1, 2, 3]))).toBe(false);
    expect(() => fractrainStages(a, 0, [1])).toThrowError(/iterations = 0/);
    expect(() => fractrainGatesFrozen(st, -1)).toThrowError(/tolerance = -1/);
  });
});
