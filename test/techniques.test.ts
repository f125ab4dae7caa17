import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { cifarResNet } from '../lib/src/models/resnet';
import { mlp } from '../lib/src/models/small';
import { train } from '../lib/src/train/trainer';
import { EnergyLedger } from '../lib/src/cost/ledger';
import { forwardMacs } from '../lib/src/models/spec';
import { stochasticMiniBatchDropping } from '../lib/src/techniques/smd';
import { pLForSkipRatio, stochasticDepth, survivalProbability } from '../lib/src/techniques/stochastic-depth';
import { selectiveLayerUpdate } from '../lib/src/techniques/slu';
import { predictiveSignGradient, psgRule, psgWeightGradient } from '../lib/src/techniques/psg';
import { defaultQuantConfig, quantConv2d, quantDepthwiseConv2d } from '../lib/src/quant/layers';
import { mostSignificantBits, quantize } from '../lib/src/quant/quantizers';
import type { StepInfo } from '../lib/src/train/technique';

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const data = syntheticCifar(160, 1);
const info = {} as StepInfo;

describe('SMD', () => {
  it('skips about p of the mini-batches, deterministically under a seed', () => {
    const draw = (seed: number) => {
      const s = stochasticMiniBatchDropping({ p: 0.5, seed });
      return Array.from({ length: 2000 }, () => s.shouldTrain!(info));
    };
    const a = draw(1);
    expect(a).toEqual(draw(1));
    expect(a).not.toEqual(draw(2));
    const kept = a.filter(Boolean).length / a.length;
    expect(kept).toBeGreaterThan(0.46);
    expect(kept).toBeLessThan(0.54);
    expect(() => stochasticMiniBatchDropping({ p: 1, seed: 0 })).toThrowError(/smd.p = 1 is invalid/);
  });

  it('trains and charges only the kept batches; the schedule spans the trained iterations', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [8] });
    const smd = stochasticMiniBatchDropping({ p: 0.5, seed: 3 });
    const ledger = new EnergyLedger();
    const r = await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 4,
      lr: 0.01,
      optimizer: { kind: 'sgd' },
      schedule: { kind: 'constant' },
      seed: 1,
      techniques: [smd],
      ledger,
    });
    expect(r.batchesSeen).toBe(40);
    expect(r.iterations).toBe(smd.counts().trained);
    expect(ledger.totals().iterations).toBe(r.iterations);
    expect(ledger.totals().macs.forward).toBe(r.iterations * 16 * forwardMacs(m));
    m.params.dispose();
  });
});

describe('stochastic depth', () => {
  it('linear decay and the p_L that matches a skip ratio', () => {
    expect(survivalProbability(3, 3, 0.5)).toBe(0.5);
    expect(survivalProbability(1, 4, 0.2)).toBeCloseTo(0.8, 12);
    const m = cifarResNet({ depth: 20, widths: [4, 8, 8] });
    const pL = pLForSkipRatio(m, 0.3);
    const sd = stochasticDepth({ model: m, pL, seed: 1 });
    expect(sd.expectedSkipRatio).toBeCloseTo(0.3, 12);
    let skipped = 0;
    let n = 0;
    for (let i = 0; i < 500; i++) {
      for (const b of m.blocks.filter((x) => x.skippable)) {
        n += 1;
        if (sd.blockPlan!(b, tf.zeros([1, 1, 1, 1]) as tf.Tensor4D, info)?.groups.length === 0) skipped += 1;
      }
    }
    expect(skipped / n).toBeGreaterThan(0.26);
    expect(skipped / n).toBeLessThan(0.34);
    m.params.dispose();
  });
});

describe('SLU', () => {
  it('gates: one projection per skippable block, one shared LSTM; regularizer = alpha x sum(block MAC share x mean p)', () => {
    const m = cifarResNet({ depth: 20, widths: [4, 8, 8], seed: 1 });
    const slu = selectiveLayerUpdate({ model: m, alpha: 0.3, seed: 1, initialBias: 0.7, sampling: 'threshold' });
    // With a zero output weight every gate gives p = sigmoid(0.7); the MAC shares sum to 1, so C = sigmoid(0.7).
    slu.gateParams.get('out/w').assign(tf.zeros([10, 1]));
    const names = slu.gateParams.all().map((p) => p.name);
    expect(names.filter((n) => n.startsWith('proj/') && n.endsWith('/w'))).toHaveLength(
      m.blocks.filter((b) => b.skippable).length,
    );
    expect(names.filter((n) => n.startsWith('lstm/'))).toEqual(['lstm/wx', 'lstm/wh', 'lstm/b']);
    const x = tf.randomNormal([6, 32, 32, 3], 0, 1, 'float32', 1);
    const reg = tf.tidy(() => {
      m.apply(x, {
        training: true,
        blockPlan: (b, xi) => {
          const plan = slu.blockPlan!(b, xi, info);
          return plan;
        },
      });
      return slu.lossTerm!(info)!.dataSync()[0]!;
    });
    expect(reg).toBeCloseTo(0.3 / (1 + Math.exp(-0.7)), 6);
    // p > 0.5 everywhere: no block is skipped.
    expect(slu.skipRatio()).toBe(0);
    m.params.dispose();
  });

  it('bernoulli sampling: each input runs a block with probability p, seeded and resumable; evaluation thresholds p at 0.5', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const x = tf.randomNormal([50, 32, 32, 3], 0, 1, 'float32', 3);
    const make = () => {
      const slu = selectiveLayerUpdate({ model: m, alpha: 0, seed: 5, initialBias: Math.log(0.3 / 0.7) });
      slu.gateParams.get('out/w').assign(tf.zeros([10, 1])); // p = 0.3 for every input and block
      return slu;
    };
    const step = (slu: ReturnType<typeof make>) =>
      tf.tidy(() => {
        const plans: number[][] = [];
        m.apply(x, {
          training: true,
          blockPlan: (b, xi) => {
            const pl = slu.blockPlan!(b, xi, info);
            if (pl) plans.push(pl.groups.flatMap((g) => Array.from(g.indices)));
            return pl;
          },
        });
        slu.lossTerm!(info);
        return plans;
      });
    const a = make();
    const first = Array.from({ length: 20 }, () => step(a));
    const skippable = m.blocks.filter((b) => b.skippable).length;
    // 20 steps x 50 inputs x skippable blocks Bernoulli(0.3) draws: the skip ratio is 0.7 within 5 standard errors.
    const n = 20 * 50 * skippable;
    expect(Math.abs(a.skipRatio() - 0.7)).toBeLessThan(5 * Math.sqrt((0.7 * 0.3) / n));
    const saved = a.state!();
    const next = step(a);
    const b = make();
    expect(Array.from({ length: 20 }, () => step(b))).toEqual(first);
    b.restore!(JSON.parse(JSON.stringify(saved)));
    expect(step(b)).toEqual(next);
    // Inference: p = 0.3 < 0.5, so every input skips every skippable block.
    const d = a.decisions(x);
    expect([...d.values()].every((v) => v.every((e) => e === 0))).toBe(true);
    expect(() => selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, sampling: 'soft' as 'threshold' })).toThrowError(
      /slu.sampling/,
    );
    for (const s of [a, b]) s.gateParams.dispose();
    x.dispose();
    m.params.dispose();
  });

  it('gumbel sampling: inputs run a block with probability p; an executed input adds its residual in full; the gradient is that of sigmoid((logit + L) / tau)', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const x = tf.randomNormal([60, 32, 32, 3], 0, 1, 'float32', 7);
    const slu = selectiveLayerUpdate({
      model: m,
      alpha: 0,
      seed: 9,
      initialBias: Math.log(0.3 / 0.7),
      sampling: 'gumbel',
      temperature: 0.5,
    });
    slu.gateParams.get('out/w').assign(tf.zeros([10, 1])); // logit = log(0.3 / 0.7) for every input
    const scales: number[] = [];
    let gradB = 0;
    for (let k = 0; k < 20; k++) {
      const g = tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const plans: tf.Tensor[] = [];
          const y = m.apply(x, {
            training: true,
            blockPlan: (b, xi) => {
              const pl = slu.blockPlan!(b, xi, info);
              if (pl)
                for (const gr of pl.groups) if (gr.residualScale instanceof tf.Tensor) plans.push(gr.residualScale);
              return pl;
            },
          });
          slu.lossTerm!(info);
          for (const sc of plans) scales.push(...Array.from(sc.dataSync()));
          return tf
            .sum(plans.length ? tf.addN(plans.map((sc) => tf.sum(sc))) : tf.scalar(0))
            .add(tf.mul(tf.sum(y), 0)) as tf.Scalar;
        }, [slu.gateParams.get('out/b') as tf.Variable]);
        return grads['out/b' in grads ? 'out/b' : Object.keys(grads)[0]!]!.dataSync()[0]!;
      });
      gradB += g;
    }
    const n = 20 * 60 * m.blocks.filter((b) => b.skippable).length;
    expect(Math.abs(slu.skipRatio() - 0.7)).toBeLessThan(5 * Math.sqrt((0.7 * 0.3) / n));
    expect(scales.length).toBeGreaterThan(0);
    expect(scales.every((v) => v === 1)).toBe(true);
    // d/dlogit of sigmoid((logit + L) / tau) is positive: the gradient of sum(scale) w.r.t. the output bias is > 0.
    expect(gradB).toBeGreaterThan(0);
    expect(() => selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, temperature: 0.5 })).toThrowError(
      /slu.temperature = 0.5 .*unset unless sampling is 'gumbel'/,
    );
    expect(() =>
      selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, sampling: 'gumbel', temperature: 0 }),
    ).toThrowError(/slu.temperature = 0/);
    slu.gateParams.dispose();
    x.dispose();
    m.params.dispose();
  });

  it('per-block budget: alpha x sum over blocks of (mean p - (1 - target))^2, alpha fixed; inference probabilities agree with decisions', () => {
    const m = cifarResNet({ depth: 14, widths: [4, 8, 8], seed: 1 });
    const x = tf.randomNormal([12, 32, 32, 3], 0, 1, 'float32', 8);
    const slu = selectiveLayerUpdate({
      model: m,
      alpha: 2,
      seed: 3,
      targetSkipRatio: 0.4,
      budget: 'per-block',
      initialBias: Math.log(0.3 / 0.7),
    });
    slu.gateParams.get('out/w').assign(tf.zeros([10, 1]));
    const reg = tf.tidy(() => {
      m.apply(x, { training: true, blockPlan: (b, xi) => slu.blockPlan!(b, xi, info) });
      return slu.lossTerm!(info)!.dataSync()[0]!;
    });
    const blocks = m.blocks.filter((b) => b.skippable).length;
    expect(blocks).toBeGreaterThan(1);
    expect(reg).toBeCloseTo(2 * blocks * (0.3 - 0.6) ** 2, 5);
    slu.afterStep!({ ...info, loss: 0 });
    expect(slu.alpha()).toBe(2);
    const p = slu.probabilities(x);
    const d = slu.decisions(x);
    expect([...p.keys()]).toEqual([...d.keys()]);
    for (const [k, v] of p) {
      expect(v).toHaveLength(12);
      expect(Array.from(v).every((e) => Math.abs(e - 0.3) < 1e-5)).toBe(true);
      expect(Array.from(d.get(k)!)).toEqual(Array.from(v, (e) => (e > 0.5 ? 1 : 0)));
    }
    expect(() => selectiveLayerUpdate({ model: m, alpha: 1, seed: 1, budget: 'per-block' })).toThrowError(
      /slu.targetSkipRatio = undefined .*budget is 'per-block'/,
    );
    expect(() => selectiveLayerUpdate({ model: m, alpha: 1, seed: 1, budget: 'flops' as 'per-block' })).toThrowError(
      /slu.budget = "flops" is invalid/,
    );
    slu.gateParams.dispose();
    x.dispose();
    m.params.dispose();
  });

  it('normalised gate input: running statistics move in training only, and an inference decision does not depend on the rest of the batch', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1, skippableTransitions: true });
    const x = tf.randomNormal([16, 32, 32, 3], 0, 1, 'float32', 21);
    const slu = selectiveLayerUpdate({ model: m, alpha: 0, seed: 4, normalizeGateInput: true });
    const mean0 = Array.from(slu.gateParams.get('norm/stage1/block1/mean').dataSync());
    const p0 = slu.probabilities(x);
    expect(Array.from(slu.gateParams.get('norm/stage1/block1/mean').dataSync())).toEqual(mean0);
    tf.tidy(() => {
      m.apply(x, { training: true, blockPlan: (b, xi) => slu.blockPlan!(b, xi, info) });
      slu.lossTerm!(info);
    });
    expect(Array.from(slu.gateParams.get('norm/stage1/block1/mean').dataSync())).not.toEqual(mean0);
    const all = slu.probabilities(x);
    const head = tf.slice(x, 0, 4);
    const firstFour = slu.probabilities(head);
    head.dispose();
    for (const [k, v] of firstFour)
      expect(Array.from(v)).toEqual(
        Array.from(all.get(k)!.slice(0, 4)).map((e, i) => (Math.abs(e - v[i]!) < 1e-6 ? v[i] : e)),
      );
    expect([...p0.keys()]).toHaveLength(3);
    expect(slu.gateParams.trainable().has('norm/stage1/block1/mean')).toBe(false);
    slu.gateParams.dispose();
    x.dispose();
    m.params.dispose();
  });

  it('target skip ratio: alpha follows dual ascent on (target - step skip ratio), is checkpointed and validated', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const x = tf.randomNormal([40, 32, 32, 3], 0, 1, 'float32', 4);
    const slu = selectiveLayerUpdate({
      model: m,
      alpha: 0.2,
      seed: 3,
      targetSkipRatio: 0.4,
      alphaStep: 0.5,
      initialBias: Math.log(0.3 / 0.7),
    });
    slu.gateParams.get('out/w').assign(tf.zeros([10, 1]));
    const step = () => {
      const reg = tf.tidy(() => {
        m.apply(x, { training: true, blockPlan: (b, xi) => slu.blockPlan!(b, xi, info) });
        // With alpha = 0 there is no regularizer term.
        return slu.lossTerm!(info)?.dataSync()[0] ?? 0;
      });
      slu.afterStep!({ ...info, loss: 0 });
      return reg;
    };
    // Regularizer with the current alpha: alpha x sum(share x mean p) = alpha x 0.3.
    expect(step()).toBeCloseTo(0.2 * 0.3, 6);
    const s1 = slu.skipHistory[0]!;
    expect(slu.alpha()).toBeCloseTo(0.2 + 0.5 * (0.4 - s1), 12);
    const saved = JSON.parse(JSON.stringify(slu.state!()));
    step();
    const a2 = slu.alpha();
    // p = 0.3: about 70% skipped, above the 40% target, so alpha falls; it stops at 0 (a negative weight would
    // reward computation, the opposite sign to Eq. 1).
    expect(0.2 + 0.5 * (0.4 - s1) + 0.5 * (0.4 - slu.skipHistory[1]!)).toBeLessThan(0);
    expect(a2).toBe(0);
    step();
    expect(slu.alpha()).toBe(0);
    expect(slu.alphaHistory.every((v) => v >= 0)).toBe(true);
    slu.restore!(saved);
    step();
    expect(slu.alpha()).toBe(a2);
    expect(slu.stats!().alpha).toBe(a2);
    expect(slu.alphaHistory).toHaveLength(2);
    expect(() => selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, targetSkipRatio: 1.5 })).toThrowError(
      /slu.targetSkipRatio.*1.5/,
    );
    expect(() =>
      selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, targetSkipRatio: 0.5, alphaStep: 0 }),
    ).toThrowError(/slu.alphaStep/);
    slu.gateParams.dispose();
    x.dispose();
    m.params.dispose();
  });

  it('an input that runs a block adds its residual in full, even when its gate probability is below 0.5', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    // Gates open with p = 0.3 for every input: in Bernoulli training about 30% of the inputs run each block.
    const slu = selectiveLayerUpdate({ model: m, alpha: 0, seed: 3, initialBias: Math.log(0.3 / 0.7), hidden: 4 });
    const x = tf.randomNormal([16, 32, 32, 3], 0, 1, 'float32', 5);
    const drawn = new Map<string, Int32Array>();
    const viaGates = tf.tidy(
      () =>
        m
          .apply(x, {
            training: false,
            bnMomentum: 1,
            blockPlan: (b, xi) => {
              const pl = slu.blockPlan!(b, xi, info);
              if (pl) drawn.set(b.name, pl.groups[0]?.indices ?? new Int32Array(0));
              return pl;
            },
          })
          .arraySync() as number[][],
    );
    const ran = slu.blockCounts().reduce((a, c) => a + c.executed, 0);
    // The same draws with no residual scale at all (the block's residual added with weight exactly 1).
    const unscaled = tf.tidy(
      () =>
        m
          .apply(x, {
            training: false,
            blockPlan: (b) => {
              const idx = drawn.get(b.name);
              if (!idx) return undefined;
              return { groups: idx.length ? [{ indices: idx }] : [] };
            },
          })
          .arraySync() as number[][],
    );
    viaGates.forEach((row, i) => row.forEach((v, k) => expect(v).toBeCloseTo(unscaled[i]![k]!, 5)));
    const allSkipped = tf.tidy(
      () =>
        m
          .apply(x, { training: false, blockPlan: (b) => (b.skippable ? { groups: [] } : undefined) })
          .arraySync() as number[][],
    );
    expect(ran).toBeGreaterThan(0);
    const differ = viaGates.filter((row, i) => row.some((v, k) => Math.abs(v - allSkipped[i]![k]!) > 1e-4)).length;
    expect(differ).toBeGreaterThan(0);
    slu.dispose?.();
    m.params.dispose();
  });

  it('skipped blocks receive no gradient from the inputs that skip them, and the saving is real work', () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const w = m.params.get('stage1/block1/conv1/w');
    const fc = m.params.get('fc/w');
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 2);
    const grad = (indices: number[]) =>
      tf.tidy(() => {
        const g = tf.variableGrads(
          () =>
            tf.sum(
              m.apply(x, {
                training: true,
                blockPlan: (b) =>
                  b.skippable ? { groups: indices.length ? [{ indices: Int32Array.from(indices) }] : [] } : undefined,
              }),
            ) as tf.Scalar,
          [w, fc],
        );
        const gw = g.grads[w.name];
        return gw ? tf.norm(gw).dataSync()[0]! : 0;
      });
    expect(grad([])).toBe(0);
    expect(grad([1, 3])).toBeGreaterThan(0);
    const executed: number[] = [];
    tf.tidy(
      () =>
        void m.apply(x, {
          training: false,
          blockPlan: (b) => (b.skippable ? { groups: [{ indices: Int32Array.from([2]) }] } : undefined),
          onExecute: (e) => e.layer.name.startsWith('stage1') && executed.push(e.examples),
        }),
    );
    expect(executed).toEqual([1, 1]);
    m.params.dispose();
  });

  it('ledger: gate overhead = 3 x gate MACs x trained inputs (hand count) and forward MACs drop by the skipped block executions', async () => {
    const m = cifarResNet({ depth: 14, widths: [4, 8, 8], seed: 2 });
    const slu = selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, targetSkipRatio: 0.5 });
    // Skippable blocks take 4, 4, 8 and 8 channels: projections 10 x (4 + 4 + 8 + 8), LSTM 2 x 10 x 40 and output 10 per block.
    expect(slu.gateMacsPerInput).toBe(10 * (4 + 4 + 8 + 8) + 4 * (2 * 10 * 40 + 10));
    const ledger = new EnergyLedger();
    const r = await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 1,
      iterations: 3,
      lr: 0.05,
      seed: 1,
      ledger,
      optimizer: { kind: 'sgd' },
      schedule: { kind: 'constant' },
      techniques: [slu],
    });
    const inputs = r.iterations * 16;
    const t = ledger.totals();
    expect(t.macs.overhead).toBe(3 * slu.gateMacsPerInput * inputs);
    const blockMacs = new Map(m.blocks.map((b) => [b.name, b.macs]));
    const skippedMacs = slu.blockCounts().reduce((a, c) => a + c.skipped * blockMacs.get(c.block)!, 0);
    expect(slu.blockCounts().some((c) => c.skipped > 0 && c.executed > 0)).toBe(true);
    expect(t.macs.forward).toBe(inputs * forwardMacs(m) - skippedMacs);
    slu.gateParams.dispose();
    m.params.dispose();
  });

  it('trains end to end with SMD and PSG and reports skip ratios and gate overhead', async () => {
    const m = cifarResNet({ depth: 14, widths: [4, 8, 8], seed: 2 });
    const slu = selectiveLayerUpdate({ model: m, alpha: 1, seed: 1 });
    const psg = predictiveSignGradient();
    const ledger = new EnergyLedger();
    const r = await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 2,
      lr: 0.03,
      seed: 4,
      ledger,
      optimizer: { kind: 'signsgd', weightDecay: 5e-4 },
      schedule: { kind: 'constant' },
      techniques: [stochasticMiniBatchDropping({ seed: 2 }), slu, psg],
    });
    expect(r.iterations).toBeGreaterThan(0);
    const counts = slu.blockCounts();
    expect(counts.reduce((a, c) => a + c.executed + c.skipped, 0)).toBe(r.iterations * 16 * counts.length);
    expect(ledger.totals().macs.overhead).toBeGreaterThan(0);
    // Layers of blocks every input skipped do not run, so they record nothing; the stem runs every step.
    expect(psg.history.length).toBeLessThanOrEqual(r.iterations * m.layers.length);
    expect(psg.history.filter((h) => h.layer === 'conv1')).toHaveLength(r.iterations);
    m.params.dispose();
  });
});

describe('PSG', () => {
  it('Eq. 2 against a brute-force reference on a small layer', () => {
    const gFull = tf.tensor1d([0.5, -0.01, 0.02, -0.3, 0.001]);
    const gMsb = tf.tensor1d([0.4, 0.03, -0.001, -0.25, 0.0]);
    const recorded: number[] = [];
    const out = psgWeightGradient(
      gFull,
      gMsb,
      {
        beta: 0.05,
        record: (_l, p, d) => {
          recorded.push(p.dataSync()[0]!, d.dataSync()[0]!);
          p.dispose();
          d.dispose();
        },
      },
      'l',
    );
    // tau = 0.05 * 0.4 = 0.02: predicted where |gMsb| >= 0.02 -> indices 0, 1, 3.
    expect(Array.from(out.dataSync())).toEqual([1, 1, 1, -1, 1]);
    expect(recorded[0]).toBeCloseTo(3 / 5, 6);
    // index 1: predictor +, full - -> one disagreement among three.
    expect(recorded[1]).toBeCloseTo(1 / 3, 6);
  });

  it('the quantized conv in PSG mode returns the sign rule over MSB and full weight gradients', () => {
    const x = tf.randomNormal([2, 5, 5, 2], 0, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 5);
    const psg = predictiveSignGradient();
    const cfg = {
      ...defaultQuantConfig(1),
      forwardRounding: 'nearest' as const,
      gradientRounding: 'nearest' as const,
      activationRange: 'tensor' as const,
      weightRange: 'tensor' as const,
      weightGradientRule: psgRule({ beta: 0.05 }),
    };
    const gw = tf.grad((b: tf.Tensor) =>
      tf.sum(tf.mul(quantConv2d(x, b as tf.Tensor4D, { strides: 1, pad: 'same' }, psg.layerPrecision, cfg), dy)),
    )(w);
    const xq = quantize(x, { bits: 8 }) as tf.Tensor4D;
    const dyq = quantize(dy, { bits: 16 }) as tf.Tensor4D;
    const fg = (a: tf.Tensor4D, d: tf.Tensor4D) =>
      tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a, b as tf.Tensor4D, 1, 'same'), d)))(w);
    const full = fg(xq, dyq);
    const msb = fg(mostSignificantBits(xq, 8, 4) as tf.Tensor4D, mostSignificantBits(dyq, 16, 10) as tf.Tensor4D);
    const tau = 0.05 * Math.max(...Array.from(msb.dataSync()).map(Math.abs));
    const ref = Array.from(msb.dataSync()).map((v, i) =>
      Math.abs(v) >= tau ? Math.sign(v) : Math.sign(full.dataSync()[i]!),
    );
    expect(Array.from(gw.dataSync())).toEqual(ref);
  });

  it('the quantized depthwise conv in PSG mode applies the same sign rule (MobileNetV2 layers get a PSG branch)', () => {
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 13) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 1], 0, 1, 'float32', 14) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 3, 3, 3], 0, 1, 'float32', 15);
    const psg = predictiveSignGradient();
    const recorded: string[] = [];
    const cfg = {
      ...defaultQuantConfig(1),
      forwardRounding: 'nearest' as const,
      gradientRounding: 'nearest' as const,
      activationRange: 'tensor' as const,
      weightRange: 'tensor' as const,
      key: 'dw1',
      weightGradientRule: psgRule({
        beta: 0.05,
        record: (l: string, a: tf.Scalar, b: tf.Scalar) => {
          recorded.push(l);
          tf.dispose([a, b]);
        },
      }),
    };
    const gw = tf.grad((b: tf.Tensor) =>
      tf.sum(
        tf.mul(quantDepthwiseConv2d(x, b as tf.Tensor4D, { strides: 2, pad: 'same' }, psg.layerPrecision, cfg), dy),
      ),
    )(w);
    const xq = quantize(x, { bits: 8 }) as tf.Tensor4D;
    const dyq = quantize(dy, { bits: 16 }) as tf.Tensor4D;
    const fg = (a: tf.Tensor4D, d: tf.Tensor) =>
      tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a, b as tf.Tensor4D, 2, 'same'), d)))(w);
    const full = fg(xq, dyq);
    const msb = fg(mostSignificantBits(xq, 8, 4) as tf.Tensor4D, mostSignificantBits(dyq, 16, 10));
    const tau = 0.05 * Math.max(...Array.from(msb.dataSync()).map(Math.abs));
    const ref = Array.from(msb.dataSync()).map((v, i) =>
      Math.abs(v) >= tau ? Math.sign(v) : Math.sign(full.dataSync()[i]!),
    );
    expect(Array.from(gw.dataSync())).toEqual(ref);
    expect(recorded).toEqual(['dw1']);
  });

  it('charges predictor MACs at 10x4 bits and fallbacks at 16x8 bits', async () => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
    const psg = predictiveSignGradient();
    const ledger = new EnergyLedger();
    await train({
      model: m,
      train: data,
      batchSize: 16,
      epochs: 1,
      lr: 0.03,
      optimizer: { kind: 'signsgd' },
      schedule: { kind: 'constant' },
      seed: 1,
      techniques: [psg],
      ledger,
      stopAfter: 1,
    });
    const fallback = psg.history.reduce(
      (a, h) => a + (1 - h.predicted) * m.layers.find((l) => l.name === h.layer)!.macs * 16,
      0,
    );
    const t = ledger.totals();
    const base = m.layers.reduce(
      (a, l) => a + l.macs * 16 * ((8 * 8) / 1024 + (l.first ? 0 : (16 * 8) / 1024) + (10 * 4) / 1024),
      0,
    );
    expect(t.macs.overhead).toBeCloseTo(fallback, 3);
    expect(t.effectiveMacs).toBeCloseTo(base + (fallback * 16 * 8) / 1024, 3);
    m.params.dispose();
  });
});

describe('PSG with SLU (gated transitions)', () => {
  const gatedStep = async () => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1, skippableTransitions: true });
    const slu = selectiveLayerUpdate({ model: m, alpha: 0, seed: 3, initialBias: 0 });
    const psg = predictiveSignGradient();
    const ledger = new EnergyLedger();
    const extras: Array<{ layer: string; macs: number }> = [];
    const charge = ledger.chargeLayerExtra.bind(ledger);
    ledger.chargeLayerExtra = (layer, macs, bits, traffic) => {
      extras.push({ layer, macs });
      charge(layer, macs, bits, traffic);
    };
    const before = new Map([...m.params.trainable()].map(([k, v]) => [k, Array.from(v.dataSync())]));
    await train({
      ...{ model: m, train: data, batchSize: 16, epochs: 1, lr: 1, seed: 1, techniques: [slu, psg], ledger },
      ...{ optimizer: { kind: 'sgd' } as const, schedule: { kind: 'constant' } as const, stopAfter: 1 },
    });
    const delta = (name: string) => {
      const after = m.params.get(name).dataSync();
      return (before.get(name) as number[]).map((v, i) => v - (after[i] as number));
    };
    return { m, slu, psg, extras, delta };
  };

  it("a transition block's projection, run by inputs that execute the block and by inputs that skip it, gets one sign over the whole batch's gradient (Eq. 2)", async () => {
    const { m, slu, delta } = await gatedStep();
    const counts = new Map(slu.blockCounts().map((c) => [c.block, c]));
    // Both kinds of inputs in the batch, so the projection serves both.
    for (const b of ['stage2/block1', 'stage3/block1']) {
      expect(counts.get(b)?.executed).toBeGreaterThan(0);
      expect(counts.get(b)?.skipped).toBeGreaterThan(0);
    }
    // Plain SGD at lr 1: the update is minus the PSG gradient, a sign per entry: every entry moves by exactly 1.
    for (const name of ['stage2/block1/proj/w', 'stage3/block1/proj/w', 'stage2/block1/conv1/w']) {
      const d = delta(name);
      expect(
        d.every((v) => Math.abs(Math.abs(v) - 1) < 1e-5),
        name,
      ).toBe(true);
    }
    slu.dispose?.();
    m.params.dispose();
  });

  it("the fallback is charged for the examples a layer's call computed, not the whole batch", async () => {
    const { m, slu, psg, extras } = await gatedStep();
    const executed = new Map(slu.blockCounts().map((c) => [c.block, c.executed]));
    const examplesOf = (layer: string) => {
      const block = layer.split('/').slice(0, 2).join('/');
      return layer.endsWith('/proj') || !executed.has(block) ? 16 : (executed.get(block) as number);
    };
    expect(extras.length).toBe(psg.history.length);
    for (const [i, h] of psg.history.entries()) {
      const spec = m.layers.find((l) => l.name === h.layer)!;
      expect(extras[i]?.layer).toBe(h.layer);
      expect(extras[i]?.macs).toBeCloseTo((1 - h.predicted) * spec.macs * examplesOf(h.layer), 6);
    }
    expect(psg.history.filter((h) => h.layer === 'stage2/block1/proj')).toHaveLength(1);
    expect(psg.history.some((h) => examplesOf(h.layer) < 16)).toBe(true);
    slu.dispose?.();
    m.params.dispose();
  });
});

describe('paper-scale settings (configured, not run here)', () => {
  it('the paper schedule: lr 0.1 decayed by 10 at 32k and 48k of 64k iterations (fractions 0.5 and 0.75)', async () => {
    const { lrAt } = await import('../lib/src/train/schedules');
    const s = { kind: 'steps', milestones: [0.5, 0.75] } as const;
    expect(lrAt(s, 0.1, 31999, 64000)).toBeCloseTo(0.1, 12);
    expect(lrAt(s, 0.1, 32000, 64000)).toBeCloseTo(0.01, 12);
    expect(lrAt(s, 0.1, 48000, 64000)).toBeCloseTo(0.001, 12);
  });

  it('SMD at energy ratio 1 with ResNet-74: 64k trained iterations from about 128k drawn batches, at the cost of 64k SMB iterations', async () => {
    const { plannedIterations } = await import('../lib/src/train/trainer');
    const { trainingCost } = await import('../lib/src/cost/macs');
    const smd = stochasticMiniBatchDropping({ seed: 0 });
    // 50,000 images / 128 = 390 full batches per epoch; 328 epochs draw 127,920 batches, of which SMD plans to train half.
    const planned = plannedIterations({
      train: { count: 50000 } as never,
      batchSize: 128,
      epochs: 328,
      techniques: [smd],
    });
    expect(planned).toBe(Math.round((328 * 390) / 2));
    const m = cifarResNet({ depth: 74 });
    const c = trainingCost(m, { iterations: 64000, batchSize: 128 });
    expect(c.images).toBe(8_192_000);
    expect(c.macs.forward).toBe(8_192_000 * forwardMacs(m));
    m.params.dispose();
  });
});

describe('gate optimizer and periodic evaluation', () => {
  it('SLU gates can train with plain SGD while the weights use signSGD; the curve records accuracy against energy', async () => {
    const m = cifarResNet({ depth: 14, widths: [4, 8, 8], seed: 3 });
    const slu = selectiveLayerUpdate({
      model: m,
      alpha: 1,
      seed: 1,
      gateOptimizer: { config: { kind: 'sgd' }, lr: 1e-3 },
    });
    const bias0 = slu.gateParams.get('out/b').dataSync()[0]!;
    const ledger = new EnergyLedger();
    const r = await train({
      model: m,
      train: data,
      validation: syntheticCifar(40, 5),
      batchSize: 16,
      epochs: 1,
      iterations: 6,
      lr: 0.03,
      seed: 2,
      ledger,
      evalEvery: 3,
      optimizer: { kind: 'signsgd' },
      schedule: { kind: 'constant' },
      techniques: [slu],
      evalContext: { blockPlan: slu.evalPlan },
    });
    const moved = Math.abs(slu.gateParams.get('out/b').dataSync()[0]! - bias0);
    // signSGD would move the bias by exactly 6 x 0.03 = 0.18 (or a multiple of 0.03); SGD at lr 1e-3 moves it far less.
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(0.03);
    expect(r.curve.map((p) => p.iteration)).toEqual([3, 6]);
    expect(r.curve[1]!.energyJ).toBeGreaterThan(r.curve[0]!.energyJ);
    await expect(
      train({
        model: m,
        train: data,
        batchSize: 16,
        epochs: 1,
        lr: 0.1,
        seed: 1,
        evalEvery: 2,
        optimizer: { kind: 'sgd' },
        schedule: { kind: 'constant' },
      }),
    ).rejects.toThrowError(/evalEvery = 2 is invalid: expected a validation set/);
    m.params.dispose();
    slu.gateParams.dispose();
  });
});
