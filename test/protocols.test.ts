import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { channelStats } from '../lib/src/data/pipeline';
import { cifarResNet } from '../lib/src/models/resnet';
import { mlp } from '../lib/src/models/small';
import { train } from '../lib/src/train/trainer';
import { recomputeBatchNormStats } from '../lib/src/train/evaluate';
import { stochasticMiniBatchDropping } from '../lib/src/techniques/smd';
import { selectiveLayerUpdate } from '../lib/src/techniques/slu';
import { sluTrainingTrace } from '../lib/src/techniques/slu-report';
import { predictiveSignGradient, psgRule, psgWeightGradient } from '../lib/src/techniques/psg';
import { e2trainArms, e2trainRegime } from '../lib/src/studies/e2train';
import { FRACTRAIN_CODE_DFQ, fractrainArms, fractrainCodeSwitching } from '../lib/src/studies/fractrain';
import type { StepInfo } from '../lib/src/train/technique';

/**
 * The authors' released protocols as options (GATECH-EIC/E2Train, GATECH-EIC/FracTrain), each against a case computed
 * by hand.
 */
beforeAll(async () => {
  await initBackend({ backend: 'tensorflow' });
});

const data = syntheticCifar(160, 1);
const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe("SMD: a dropped batch steps with zero gradients (the authors' code)", () => {
  const run = async (dropped: 'skip' | 'step', momentum: number) => {
    const m = mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
    const w0 = values(m.params.get('fc1/w'));
    const smd = stochasticMiniBatchDropping({ p: 0.99, seed: 5, dropped });
    await train({
      ...{ model: m, train: data, batchSize: 16, epochs: 1, lr: 0.1, seed: 1, techniques: [smd] },
      ...{ optimizer: { kind: 'sgd', momentum, weightDecay: 0.5 } as const, schedule: { kind: 'constant' } as const },
    });
    const w = values(m.params.get('fc1/w'));
    m.params.dispose();
    return { w0, w, counts: smd.counts() };
  };

  it('without momentum each dropped batch decays the weights by (1 - lr wd); skip leaves them alone', async () => {
    const step = await run('step', 0);
    expect(step.counts).toEqual({ seen: 10, trained: 0 });
    step.w.forEach((v, i) => expect(v).toBeCloseTo((step.w0[i] as number) * 0.95 ** 10, 6));
    const skip = await run('skip', 0);
    expect(skip.w).toEqual(skip.w0);
  });

  it('with momentum 0.9 the velocity of weight decay builds up: w_k = w_{k-1} - lr v_k, v_k = 0.9 v_{k-1} + wd w_{k-1}', async () => {
    const { w0, w } = await run('step', 0.9);
    const expected = w0.map((x) => {
      let wk = x;
      let v = 0;
      for (let k = 0; k < 10; k++) {
        v = 0.9 * v + 0.5 * wk;
        wk -= 0.1 * v;
      }
      return wk;
    });
    w.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 5));
    expect(() => stochasticMiniBatchDropping({ p: 0.5, seed: 1, dropped: 'always' as 'skip' })).toThrowError(
      /smd.dropped = "always" is invalid/,
    );
    expect(() => stochasticMiniBatchDropping({ p: 0.5, seed: 1, rate: 0.3 } as never)).toThrowError(
      /smd.rate = 0.3 is invalid: expected no such option/,
    );
  });
});

describe("SLU: the gate's task gradient from every input (the authors' code)", () => {
  /**
   * One gate step on the first skippable block with p = sigmoid(b) for every input (projection zeroed): the plan's
   * groups, which inputs were drawn to run, and the gradient to b of sum_i c_i s_i, s_i the residual scale of input i.
   */
  const step = (gateGradient: 'executed' | 'all-inputs') => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const slu = selectiveLayerUpdate({
      ...{ model: m, alpha: 0, seed: 3, initialBias: Math.log(0.3 / 0.7), hidden: 4 },
      ...{ gateGradient },
    });
    slu.gateParams.get('out/w').assign(tf.zeros(slu.gateParams.get('out/w').shape));
    const n = 16;
    const block = m.blocks.find((b) => b.skippable)!;
    const x = tf.randomNormal([n, 32, 32, 4], 0, 1, 'float32', 6) as tf.Tensor4D;
    const c = tf.range(1, n + 1, 1, 'float32');
    const bias = slu.gateParams.get('out/b') as tf.Variable;
    let groups: Array<{ indices: number[]; scale: number[] }> = [];
    const { grads, value } = tf.variableGrads(() => {
      const plan = slu.blockPlan!(block, x, {} as StepInfo)!;
      groups = plan.groups.map((g) => ({
        indices: Array.from(g.indices),
        scale: values(g.residualScale as tf.Tensor),
      }));
      const g = plan.groups[0]!;
      return tf.sum(tf.mul(g.residualScale as tf.Tensor1D, tf.gather(c, tf.tensor1d(g.indices, 'int32'))));
    }, [bias]);
    const gradient = values(grads['out/b'] ?? Object.values(grads)[0]!)[0] as number;
    value.dispose();
    tf.dispose(Object.values(grads));
    slu.lossTerm?.({} as StepInfo);
    const counts = slu.blockCounts().find((k) => k.block === block.name)!;
    slu.dispose?.();
    m.params.dispose();
    tf.dispose([x, c]);
    return { groups, gradient, counts, n };
  };

  it('every input runs the block, scaled by its 0/1 decision; the gradient to b is sum_i c_i p (1 - p) over all inputs', () => {
    const p = 0.3;
    const dense = step('all-inputs');
    const sparse = step('executed');
    // The same seeded draws: the executed inputs of 'executed' are the inputs with scale 1 under 'all-inputs'.
    expect(dense.groups).toHaveLength(1);
    expect(dense.groups[0]!.indices).toEqual(Array.from({ length: dense.n }, (_, i) => i));
    const ran = dense.groups[0]!.scale.flatMap((v, i) => (v === 1 ? [i] : []));
    expect(dense.groups[0]!.scale.every((v) => v === 0 || v === 1)).toBe(true);
    expect(ran).toEqual(sparse.groups[0]!.indices);
    expect(ran.length).toBeGreaterThan(0);
    expect(ran.length).toBeLessThan(dense.n);
    expect(dense.counts).toEqual(sparse.counts);
    expect(dense.counts.executed).toBe(ran.length);
    // d/db sum_i c_i s_i with c_i = i + 1 and ds_i/dp = 1: all inputs under 'all-inputs', the executed ones otherwise.
    const all = Array.from({ length: dense.n }, (_, i) => i + 1).reduce((a, v) => a + v, 0);
    const executed = ran.reduce((a, i) => a + i + 1, 0);
    expect(dense.gradient).toBeCloseTo(all * p * (1 - p), 4);
    expect(sparse.gradient).toBeCloseTo(executed * p * (1 - p), 4);
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    expect(() =>
      selectiveLayerUpdate({ model: m, alpha: 0, seed: 1, gateGradient: 'every' as 'executed' }),
    ).toThrowError(/slu.gateGradient = "every" is invalid: expected 'executed' or 'all-inputs'/);
    m.params.dispose();
  });
});

describe('SLU: the training skip trace', () => {
  it('window means of the per-step skip ratio, the last window taking the remainder, with alpha after each window', () => {
    const trace = sluTrainingTrace(
      { skipHistory: [0, 1, 1, 0.5, 0.5, 0.2, 0.4], alphaHistory: [1, 2, 3, 4, 5, 6, 7] },
      3,
    );
    expect(trace.map((w) => [w.fromStep, w.toStep])).toEqual([
      [0, 2],
      [2, 4],
      [4, 7],
    ]);
    expect(trace[0]!.skip).toBeCloseTo(0.5, 12);
    expect(trace[1]!.skip).toBeCloseTo(0.75, 12);
    expect(trace[2]!.skip).toBeCloseTo(1.1 / 3, 12);
    expect(trace.map((w) => w.alpha)).toEqual([2, 4, 7]);
    expect(sluTrainingTrace({ skipHistory: [0.25], alphaHistory: [0] }, 40)).toEqual([
      { fromStep: 0, toStep: 1, skip: 0.25, alpha: 0 },
    ]);
    expect(() => sluTrainingTrace({ skipHistory: [], alphaHistory: [] }, 0)).toThrowError(
      /windows must be a positive integer, got 0/,
    );
  });
});

describe("SLU: the authors' sign-flip regularizer", () => {
  const termAt = (target: number, alpha: number) => {
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    const bias = 1.2;
    const slu = selectiveLayerUpdate({
      ...{ model: m, alpha, seed: 3, initialBias: bias, hidden: 4 },
      ...{ budget: 'sign-flip' as const, targetSkipRatio: target },
    });
    // Gate logits = the output bias for every input and block: p = sigmoid(1.2).
    slu.gateParams.get('out/w').assign(tf.zeros(slu.gateParams.get('out/w').shape));
    const x = tf.randomNormal([12, 32, 32, 3], 0, 1, 'float32', 4);
    const info = {} as StepInfo;
    const term = tf.tidy(() => {
      m.apply(x, { training: true, blockPlan: (b, xi) => slu.blockPlan!(b, xi, info) });
      return (slu.lossTerm!(info) as tf.Scalar).dataSync()[0] as number;
    });
    const blocks = m.blocks.filter((b) => b.skippable).length;
    const executed = slu.blockCounts().reduce((a, c) => a + c.executed, 0);
    slu.dispose?.();
    m.params.dispose();
    x.dispose();
    return { term, sumP: blocks * 12 * (1 / (1 + Math.exp(-bias))), executed, possible: blocks * 12 };
  };

  it('alpha x (-1 when the computation share is at or below 1 - target, else +1) x the sum of p over blocks and inputs', () => {
    // Target skip 0: any share is <= 1, the term rewards computation.
    const below = termAt(0, 1e-2);
    expect(below.term).toBeCloseTo(-1e-2 * below.sumP, 6);
    // Target skip 1: a share above 0 (some block ran) is penalised.
    const above = termAt(1, 1e-2);
    expect(above.executed).toBeGreaterThan(0);
    expect(above.term).toBeCloseTo(1e-2 * above.sumP, 6);
    const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1 });
    expect(() => selectiveLayerUpdate({ model: m, alpha: 1e-5, seed: 1, budget: 'sign-flip' })).toThrowError(
      /slu.targetSkipRatio = undefined is invalid: expected a fraction in \[0, 1\] when budget is 'sign-flip'/,
    );
    m.params.dispose();
  });
});

describe("PSG: the authors' absolute threshold, and exact signs without the predictor", () => {
  it('an absolute threshold decides where |g_msb| >= threshold, a relative one where >= beta max|g_msb|', () => {
    const gFull = tf.tensor1d([1, 2, 3, -4]);
    const gMsb = tf.tensor1d([0.5, -0.01, -0.2, 0]);
    // Relative, beta 0.05: threshold 0.025; entry 1 (|-0.01|) falls back to sign(gFull) = +1.
    expect(values(psgWeightGradient(gFull, gMsb, { beta: 0.05 }, 'l'))).toEqual([1, 1, -1, -1]);
    // Absolute 1e-4: entry 1 is predicted, sign(gMsb) = -1; entry 3 (|0| < 1e-4) falls back.
    expect(values(psgWeightGradient(gFull, gMsb, { beta: 0.05, threshold: 1e-4 }, 'l'))).toEqual([1, -1, -1, -1]);
    expect(() => predictiveSignGradient({ beta: 0.1, threshold: 5e-5 })).toThrowError(/psg.threshold = 0.00005/);
    expect(() => predictiveSignGradient({ betta: 0.1 } as never)).toThrowError(/psg.betta = 0.1 is invalid/);
    expect(() => predictiveSignGradient({ beta: '0.3' as never })).toThrowError(/psg.beta = "0.3" is invalid/);
  });

  it('predictor off: the sign of the full product, the weight gradient charged at FW x BW bits', () => {
    const x = tf.tensor2d([
      [1, -2, 0.5],
      [0.25, 1, -1],
    ]);
    const dy = tf.tensor2d([
      [0.3, -1],
      [2, 0.1],
    ]);
    const rule = psgRule({ beta: 0.05, predictor: false });
    const g = rule.weightGradient({
      ...{ layer: 'd', x, dy, geometry: { kind: 'dense' } },
      precision: { weight: 8, activation: 8, gradError: 16, gradWeight: 16, activationWeightGrad: 8 },
    });
    // x^T dy by hand: [[0.8, -0.975], [1.4, 2.1], [-1.85, -0.6]].
    expect(values(g)).toEqual([1, -1, 1, 1, -1, -1]);
    const psg = predictiveSignGradient({ predictor: false });
    expect(psg.layerPrecision).toEqual({
      weight: 8,
      activation: 8,
      gradError: 16,
      gradWeight: 16,
      activationWeightGrad: 8,
    });
    expect(psg.precisionRecord().map((r) => r.product)).toEqual([
      'forward',
      'input gradient',
      'weight-gradient fallback',
    ]);
  });
});

describe('SWA batch-norm re-estimation', () => {
  it("'all' averages every batch of the training set; a number stops after that many; bad values are refused", async () => {
    const normalize = channelStats(data);
    const trained = async (bnBatches: number | 'all' | undefined, augment = false, bnAugment?: boolean) => {
      const m = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 2 });
      await train({
        ...{ model: m, train: data, batchSize: 32, epochs: 1, lr: 0.05, seed: 1, normalize },
        ...{ optimizer: { kind: 'sgd' } as const, schedule: { kind: 'constant' } as const },
        ...(augment ? { augment: 'pad-crop-flip' as const } : {}),
        swa: {
          ...{ start: 0, every: 1 },
          ...(bnBatches !== undefined ? { bnBatches } : {}),
          ...(bnAugment !== undefined ? { bnAugment } : {}),
        },
      });
      return m;
    };
    const all = await trained('all');
    const one = await trained(1);
    const mean = (m: typeof all) => values(m.params.get('bn1/mean'));
    expect(mean(all)).not.toEqual(mean(one));
    // The default is the whole training set, augmented as in training (torch's update_bn over a training loader).
    const byDefault = await trained(undefined);
    expect(mean(byDefault)).toEqual(mean(all));
    const augmented = await trained(undefined, true);
    const allAugmented = await trained('all', true, true);
    const plain = await trained('all', true, false);
    expect(mean(augmented)).toEqual(mean(allAugmented));
    expect(mean(augmented)).not.toEqual(mean(plain));
    for (const m of [byDefault, augmented, allAugmented, plain]) m.params.dispose();
    // 'all' is the cumulative average over the 2 batches of 128 that cover the 160 images.
    const copy = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 2 });
    copy.params.restore(all.params.recordsSync());
    recomputeBatchNormStats(copy, data, { normalize, maxBatches: 2 });
    mean(copy).forEach((v, i) => expect(v).toBeCloseTo(mean(all)[i] as number, 5));
    for (const m of [all, one, copy]) m.params.dispose();
    const m = mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
    await expect(
      train({
        ...{ model: m, train: data, batchSize: 16, epochs: 1, lr: 0.1, seed: 1 },
        ...{ optimizer: { kind: 'sgd' } as const, schedule: { kind: 'constant' } as const },
        swa: { start: 0.5, every: 1, bnBatches: 0 },
      }),
    ).rejects.toThrowError(/swa.bnBatches = 0 is invalid/);
    m.params.dispose();
  });
});

describe('ladder and code-protocol arms', () => {
  it("the PSG ladder adds one step per rung; FracTrain's code indicator and DFQ options are the code's", () => {
    const regime = e2trainRegime('smoke');
    const d = { train: syntheticCifar(regime.trainCount, 1), test: syntheticCifar(regime.testCount, 2) };
    const rungs = e2trainArms.psgLadder(regime, d, 0);
    expect(rungs.map((r) => r.rung)).toEqual([
      'SGD',
      'SignSGD, no SWA',
      '+ SWA, BN over 50 un-augmented batches',
      '+ SWA, BN over the augmented training set',
      '+ FW-8/BW-16 operands, exact signs, averaged gradient ranges',
      "+ gradient ranges at the batch's extreme",
      '+ MSB predictor (PSG, beta 0.05)',
      "PSG, the authors' update",
      'PSG, momentum SGD over signs at lr 0.03, wd 5e-4, SWA',
    ]);
    const [, noSwa, swa, fullBn, averaged, exact, psg, authors, overSigns] = rungs.map((r) => r.arm);
    expect(overSigns?.recipe).toMatchObject({ lr: 0.03, swa: { start: 0.75, every: 1 } });
    expect(overSigns?.recipe.optimizer).toEqual({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 });
    expect(noSwa?.recipe.swa).toBeUndefined();
    expect(noSwa?.recipe.optimizer).toEqual(swa?.recipe.optimizer);
    expect(swa?.recipe.swa).toEqual({ start: 0.75, every: 1, bnBatches: 50, bnAugment: false });
    expect(fullBn?.recipe.swa).toEqual({ start: 0.75, every: 1 });
    expect(averaged?.techniques).toEqual([{ kind: 'psg', options: { predictor: false } }]);
    expect(averaged?.quant).toEqual({ gradientRange: 'sample-mean' });
    expect(exact?.techniques).toEqual([{ kind: 'psg', options: { predictor: false } }]);
    expect(exact?.quant).toBeUndefined();
    expect(psg?.techniques).toEqual([{ kind: 'psg', options: { beta: 0.05 } }]);
    expect(authors?.recipe.optimizer).toEqual({ kind: 'sgd', momentum: 0.9, weightDecay: 1e-4 });
    expect(authors?.recipe.lr).toBe(0.1);
    expect(authors?.recipe.swa).toBeUndefined();
    expect(authors?.recipe.divergence).toEqual({ action: 'stop' });
    expect(authors?.techniques).toEqual([{ kind: 'psg', options: { threshold: 5e-5 } }]);
    const code = fractrainCodeSwitching(regime);
    expect(code).toMatchObject({ kind: 'indicator', epsilon: 0.15, alpha: 0.4, window: 5, scalePeriods: 10 });
    expect('finalBy' in code).toBe(false);
    const dfq = fractrainArms.dfq(regime, d, 0, { ...FRACTRAIN_CODE_DFQ, targetCp: 3, beta: 0.05 }, 'DFQ code');
    expect(dfq.techniques[0]?.options).toMatchObject({ options: 'FW(3,4,4,6,6)/BW(6,6,8,8,12)', weightBits: 4 });
    // The gates choose by argmax unless told otherwise; Gumbel sampling reaches the technique when asked for.
    expect(dfq.techniques[0]?.options).not.toHaveProperty('sampling');
    const drawn = fractrainArms.dfq(
      regime,
      d,
      0,
      { ...FRACTRAIN_CODE_DFQ, targetCp: [1.5, 2], beta: 0.05, sampling: 'gumbel' },
      'FracTrain, Gumbel gates',
    );
    expect(drawn.techniques[0]?.options).toMatchObject({ sampling: 'gumbel', targetCp: [1.5, 2] });
  });
});

describe('choosing a learning rate on held-out training images', () => {
  it('the last images become the evaluation set, the test set is untouched; the best held-out score wins', async () => {
    const { heldOutRegime, chooseLearningRate } = await import('../lib/src/studies/regime');
    const regime = e2trainRegime('smoke');
    const train = syntheticCifar(regime.trainCount, 1);
    const h = heldOutRegime(regime, { train }, 20);
    expect(h.regime).toMatchObject({ trainCount: regime.trainCount - 20, testCount: 20 });
    expect(h.data.train.count).toBe(regime.trainCount - 20);
    const size = 32 * 32 * 3;
    // The held-out images are the last 20 of the training set, in order.
    expect(Array.from(h.data.test.images.subarray(0, size))).toEqual(
      Array.from(train.images.subarray((regime.trainCount - 20) * size, (regime.trainCount - 19) * size)),
    );
    expect(Array.from(h.data.test.labels)).toEqual(Array.from(train.labels.subarray(regime.trainCount - 20)));
    expect(() => heldOutRegime(regime, { train }, regime.trainCount)).toThrowError(/holdOut = 320 is invalid/);
    expect(
      chooseLearningRate([
        { lr: 0.01, top1: 0.6 },
        { lr: 0.03, top1: 0.7 },
        { lr: 0.09, top1: 0.65 },
      ]),
    ).toBe(0.03);
    expect(
      chooseLearningRate([
        { lr: 0.09, top1: 0.7 },
        { lr: 0.03, top1: 0.7 },
      ]),
    ).toBe(0.03);
    expect(() => chooseLearningRate([{ lr: 0.1, top1: Number.NaN }])).toThrowError(/top1 = NaN is invalid/);
  });

  it('the grid is lr / 3, lr, 3 lr; an arm at another rate changes its recipe rate and label only', async () => {
    const { learningRateGrid, withLearningRate } = await import('../lib/src/studies/regime');
    expect(learningRateGrid(0.1)).toEqual([0.0333333, 0.1, 0.3]);
    expect(learningRateGrid(0.03)).toEqual([0.01, 0.03, 0.09]);
    expect(() => learningRateGrid(0)).toThrowError(/learning rate = 0 is invalid/);
    expect(() => learningRateGrid(Number.NaN)).toThrowError(/learning rate = NaN is invalid/);
    const regime = e2trainRegime('smoke');
    const d = { train: syntheticCifar(regime.trainCount, 1), test: syntheticCifar(regime.testCount, 2) };
    const arm = e2trainArms.psg(regime, d, 2, 0.05, 'PSG');
    const at = withLearningRate(arm, 0.09, 'PSG lr 0.09');
    expect(at.recipe.lr).toBe(0.09);
    expect(at.label).toBe('PSG lr 0.09');
    expect({ ...at, label: arm.label, recipe: { ...at.recipe, lr: arm.recipe.lr } }).toEqual(arm);
    expect(arm.recipe.lr).toBe(0.03);
    expect(() => withLearningRate(arm, -1, 'x')).toThrowError(/learning rate = -1 is invalid/);
  });
});

describe('the combined and FracTrain ladders', () => {
  it('each rung adds one step; the protocol rungs carry the code options', () => {
    const regime = e2trainRegime('smoke');
    const d = { train: syntheticCifar(regime.trainCount, 1), test: syntheticCifar(regime.testCount, 2) };
    const e2 = e2trainArms.combinedLadder(regime, d, 0, { target: 0.4, beta: 0.05, ratio: 0.67 });
    expect(e2.map((r) => r.arm.techniques.map((t) => t.kind))).toEqual([
      [],
      ['smd'],
      ['smd', 'slu'],
      ['smd', 'slu', 'psg'],
      ['smd', 'slu', 'psg'],
      ['smd', 'slu', 'psg'],
      ['smd', 'slu', 'psg'],
    ]);
    const authors = e2[4]?.arm;
    // The code's gate: Bernoulli draws, the block on every input; first under the sign-flip rule, then the per-block budget.
    const gate = { sampling: 'bernoulli', gateGradient: 'all-inputs', targetSkipRatio: 0.4 };
    expect(e2[5]?.arm.techniques[1]?.options).toEqual({ ...gate, alpha: 1e-5, budget: 'sign-flip' });
    expect(e2[6]?.arm.techniques[1]?.options).toEqual({ ...gate, alpha: 2, budget: 'per-block' });
    expect(e2[6]?.arm.techniques[2]?.options).toEqual(authors?.techniques[2]?.options);
    expect(authors?.techniques[0]?.options).toEqual({ p: 0.5, dropped: 'step' });
    expect(authors?.techniques[1]?.options).toMatchObject({ alpha: 1e-5, budget: 'sign-flip', targetSkipRatio: 0.4 });
    expect(authors?.techniques[2]?.options).toEqual({ threshold: 5e-5 });
    expect(authors?.recipe).toMatchObject({ lr: 0.1, optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4 } });
    expect(authors?.recipe.swa).toBeUndefined();
    const ft = fractrainArms.ladder(regime, d, 0, { targetCp: 3, beta: 0.05 });
    expect(ft.map((r) => r.arm.techniques.map((t) => t.kind))).toEqual([[], ['pfq'], ['pfq'], ['dfq'], ['dfq']]);
    expect(ft[2]?.arm.techniques[0]?.options).toMatchObject({ switching: { epsilon: 0.15, alpha: 0.4 } });
    expect(ft[1]?.arm.techniques[0]?.options).toMatchObject({ switching: { epsilon: 0.05, alpha: 0.3 } });
    expect(ft[4]?.arm.techniques[0]?.options).toMatchObject({ weightBits: 4 });
  });
});

describe('protocol tables', () => {
  it("every row names notebooks that exist, quotes a location, and derives the run's values from the regime", async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const {
      e2trainProtocol,
      forceProtocol,
      fractrainProtocol,
      issProtocol,
      smoothoutProtocol,
      sslConvnetProtocol,
      sslDepthProtocol,
      sslMnistProtocol,
      terngradProtocol,
    } = await import('../lib/src/studies/protocols');
    const { convnetRegime, lenetRegime, resnetDepthRegime } = await import('../lib/src/studies/sparsity');
    const { issRegime } = await import('../lib/src/studies/iss');
    const { forceRegime } = await import('../lib/src/studies/force');
    const notebooks = fs.readdirSync(path.join(__dirname, '..', 'notebooks'));
    const lite = e2trainRegime('lite');
    const depth = resnetDepthRegime('lite');
    const rows = [
      ...e2trainProtocol(lite),
      ...fractrainProtocol(lite),
      ...terngradProtocol(),
      ...smoothoutProtocol(),
      ...sslDepthProtocol(depth),
      ...sslMnistProtocol(lenetRegime('lite')),
      ...sslConvnetProtocol(convnetRegime('lite')),
      ...issProtocol(issRegime('lite')),
      ...forceProtocol(forceRegime('lite')),
    ];
    // Every thesis notebook of issue 41 has rows.
    for (const nb of ['30', '30b', '30c', '31', '32', '40', '41', '41b'])
      expect(
        rows.some((r) => r.notebooks.includes(nb)),
        nb,
      ).toBe(true);
    expect(sslConvnetProtocol(convnetRegime('lite'))[0]?.run).toBe(
      '12 epochs of 100, lr 0.01 (cosine), weight decay 0.0005, momentum 0.9, no augmentation',
    );
    expect(sslMnistProtocol(lenetRegime('lite'))[0]?.run).toContain('10.67 epochs of 64, lr 0.01');
    expect(issProtocol(issRegime('lite'))[1]?.run).toContain('keep 0.50 for the baseline and 0.50 for ISS');
    expect(issProtocol(issRegime('paper'))[3]?.run).toBe('each weight below tau 0.0001 zeroed');
    expect(forceProtocol(forceRegime('lite'))[1]?.run).toContain('angles 1, 3, 10, 30 degrees (l2)');
    expect(sslDepthProtocol(depth)[1]?.run).toContain(`${depth.sparseEpochs} epochs from lr ${depth.fineTuneLr}`);
    for (const r of rows) {
      for (const nb of r.notebooks)
        expect(
          notebooks.some((f) => f.startsWith(`${nb}-`)),
          `${r.setting}: ${nb}`,
        ).toBe(true);
      for (const k of ['paper', 'code', 'run', 'why'] as const)
        expect(r[k].length, `${r.setting}.${k}`).toBeGreaterThan(10);
      expect(r.paper, r.setting).toMatch(/Sec\.|Eq\.|App\.|Algorithm|Table|Fig\./);
    }
    expect(e2trainProtocol(lite)[0]?.run).toBe('ResNet-8 (16-32-64), 3900 iterations of 128 (10 epochs)');
    expect(e2trainProtocol({ ...lite, weightDecay: 1e-4 })[1]?.run).toContain('weight decay 0.0001');
    expect(fractrainProtocol(lite)[1]?.run).toContain('a period every 24 iterations');
  });
});

describe("SSL's depth phases as the authors' code has them", () => {
  it('a whole schedule of group Lasso from the baseline rate with weight decay, then 1.5 schedules from a tenth of it', async () => {
    const { resnetDepthRegime, sparsityArms, sslCodePhases } = await import('../lib/src/studies/sparsity');
    const r = resnetDepthRegime('lite');
    const p = sslCodePhases(r);
    expect(p.sparse).toEqual({ epochs: 10, lr: 0.1, weightDecay: 5e-4 });
    expect(p.compact).toEqual({ epochs: 15, lr: 0.01, weightDecay: 5e-4 });
    const d = { train: syntheticCifar(64, 1), test: syntheticCifar(32, 2) };
    const arms = sparsityArms(r, d, { kind: 'resnet', options: { depth: 8, widths: [16, 32, 64] } });
    const base = arms.baseline(0);
    const ssl = arms.ssl(
      0,
      base,
      { terms: [{ structure: 'depth', lambda: 1e-3 }], threshold: 1e-4, phase: p.sparse },
      's',
    );
    expect(ssl.recipe).toMatchObject({ epochs: 10, lr: 0.1, optimizer: { weightDecay: 5e-4 } });
    expect(arms.ssl(0, base, { terms: [], threshold: 0 }, 'x').recipe).toMatchObject({ epochs: 2, lr: 0.01 });
    expect(arms.compacted(0, ssl, 'c', p.compact).recipe).toMatchObject({ epochs: 15, lr: 0.01 });
  });

  it("the ConvNet ladder: the code's phases are 2/3 of the baseline's schedule at its rate without decay, then 1/2 at a tenth", async () => {
    const { convnetRegime, sparsityArms, sslConvnetCodePhases, sslConvnetLadder } = await import(
      '../lib/src/studies/sparsity'
    );
    const r = convnetRegime('lite');
    // The readme's 300,000 / 200,000 / 150,000 iterations at lr 0.001 / 0.001 / 0.0001, decay 0.004 / 0 / 0.004.
    expect(sslConvnetCodePhases(r)).toEqual({
      sparse: { epochs: 8, lr: 0.01, weightDecay: 0 },
      compact: { epochs: 6, lr: 0.001, weightDecay: 5e-4 },
    });
    expect(sslConvnetCodePhases(convnetRegime('paper'))).toEqual({
      sparse: { epochs: 80, lr: 0.001, weightDecay: 0 },
      compact: { epochs: 60, lr: 0.0001, weightDecay: 4e-3 },
    });
    const d = { train: syntheticCifar(200, 1), test: syntheticCifar(32, 2) };
    const model = { kind: 'cifarnet' as const, options: {} };
    const base = sparsityArms(r, d, model).baseline(4);
    const { protocols, control } = sslConvnetLadder(r, d, model, {
      ...{ seed: 4, baseline: base },
      ...{ lambda: 0.01, codeLambda: 0.003, threshold: 1e-3 },
    });
    expect(protocols.map((p) => p.lambda)).toEqual([0.01, 0.01, 0.003]);
    const [lib, code, codeLambda] = protocols;
    expect(lib?.ssl.recipe).toMatchObject({ epochs: 3, lr: 0.005, optimizer: { weightDecay: 0 } });
    expect(lib?.compacted.recipe).toMatchObject({ epochs: 1, lr: 0.005, optimizer: { weightDecay: 5e-4 } });
    for (const p of [code, codeLambda]) {
      expect(p?.ssl.recipe).toMatchObject({ epochs: 8, lr: 0.01, optimizer: { weightDecay: 0 } });
      expect(p?.compacted.recipe).toMatchObject({ epochs: 6, lr: 0.001, optimizer: { weightDecay: 5e-4 } });
      expect(p?.compacted.init).toBe(p?.ssl);
      expect(p?.compacted.initTransform).toBe('compact');
    }
    expect(codeLambda?.ssl.techniques).toEqual([
      {
        kind: 'ssl',
        options: {
          terms: [
            { structure: 'filter', lambda: 0.003, layers: { kinds: ['conv'] } },
            { structure: 'shape', lambda: 0.003, layers: { kinds: ['conv'] } },
          ],
          threshold: 1e-3,
        },
      },
    ]);
    for (const p of protocols) expect(p.ssl.init).toBe(base);
    // The control trains the code's SSL phase from the baseline without any technique.
    expect(control.techniques).toEqual([]);
    expect(control.init).toBe(base);
    expect(control.recipe).toMatchObject({ epochs: 8, lr: 0.01, optimizer: { weightDecay: 0 } });
    expect(new Set([...protocols.flatMap((p) => [p.ssl.label, p.compacted.label]), control.label]).size).toBe(7);
    expect(() =>
      sslConvnetLadder(r, d, model, { seed: 0, baseline: base, lambda: 0.01, codeLambda: 0, threshold: 1e-3 }),
    ).toThrow(/codeLambda.*0.*positive/);
  });

  it("the depth ladder: each protocol's strength is rho's on its own phase; the weakest block's norm from the weights", async () => {
    const { resnetDepthRegime, sparsityArms, sslDepthLadder, weakestBlockNorm } = await import(
      '../lib/src/studies/sparsity'
    );
    const { groupLassoStrength } = await import('../lib/src/techniques/ssl');
    const { buildModel } = await import('../lib/src/experiments/arm');
    const r = resnetDepthRegime('lite');
    const d = { train: syntheticCifar(256, 1), test: syntheticCifar(32, 2) };
    const model = { kind: 'resnet' as const, options: { depth: 8, widths: [4, 8, 16] as [number, number, number] } };
    const base = sparsityArms(r, d, model).baseline(0);
    const [lib, code] = sslDepthLadder(r, d, model, { seed: 0, baseline: base, minNorm: 2, rho: 5 });
    const perEpoch = Math.floor(256 / r.batchSize);
    const strength = (lr: number, epochs: number) =>
      groupLassoStrength({
        norm: 2,
        rho: 5,
        lr,
        iterations: epochs * perEpoch,
        momentum: 0.9,
        schedule: { kind: 'cosine' },
      });
    expect(lib?.protocol).toBe('library');
    expect(lib?.lambda).toBeCloseTo(strength(0.01, 2).lambda, 12);
    expect(lib?.ssl.recipe).toMatchObject({ epochs: 2, lr: 0.01, optimizer: { weightDecay: 0 } });
    expect(lib?.compacted.recipe).toMatchObject({ epochs: 1, lr: 0.01 });
    expect(code?.lambda).toBeCloseTo(strength(0.1, 10).lambda, 12);
    expect(code?.ssl.recipe).toMatchObject({ epochs: 10, lr: 0.1, optimizer: { weightDecay: 5e-4 } });
    expect(code?.compacted.recipe).toMatchObject({ epochs: 15, lr: 0.01 });
    expect(code?.ssl.techniques).toEqual([
      { kind: 'ssl', options: { terms: [{ structure: 'depth', lambda: code?.lambda }], threshold: code?.threshold } },
    ]);
    // The weakest block norm scales with the weights: every weight doubled, the norm doubles.
    const m = buildModel(model, 3);
    const w = await m.params.snapshot();
    m.params.dispose();
    const n = weakestBlockNorm(model, w);
    expect(n).toBeGreaterThan(0);
    const { decodeFloats, encodeFloats } = await import('../lib/src/models/records');
    const scaled = Object.fromEntries(
      Object.entries(w).map(([k, t]) => [k, { ...t, data: encodeFloats(decodeFloats(t.data).map((v) => 2 * v)) }]),
    );
    expect(weakestBlockNorm(model, scaled)).toBeCloseTo(2 * n, 4);
  });
});
