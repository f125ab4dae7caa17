import type { Scale } from '../config';
import { regimeAtScale, regimeSpec, type CifarRegime } from './regime';
import type { RunSpec } from '../experiments/run';
import type { ImageDataset } from '../data/image-dataset';
import { cifarResNet } from '../models/resnet';
import type { Model } from '../models/spec';
import { stochasticMiniBatchDropping } from '../techniques/smd';
import { selectiveLayerUpdate, type Slu } from '../techniques/slu';
import { sluGateReport } from '../techniques/slu-report';
import { pLForSkipRatio, stochasticDepth, type StochasticDepth } from '../techniques/stochastic-depth';
import { predictiveSignGradient } from '../techniques/psg';

/**
 * The regime of the E²-Train notebooks (10-13).
 * - `smoke`: plumbing only (tiny subsets, 4-8-16 filters, one seed).
 * - `lite`: the whole CIFAR-10 training set and the 10,000 test images; ResNet-8 (16-32-64), batch 128, SGD momentum
 *   0.9, weight decay 5e-4, cosine schedule from 0.1 over 10 epochs (3,910 iterations), pad-crop-flip augmentation;
 *   3 seeds. The same recipe in PyTorch on this machine reached 77.6%.
 * - `paper`: the paper's protocol (ResNet-74, 64k iterations of batch 128, lr 0.1 with steps at 32k and 48k,
 *   weight decay 1e-4 as in He et al.), kept as configuration.
 * The lite schedule is cosine rather than the paper's steps: at 10 epochs the step schedule spends half the run at
 * lr 0.1 and is worse by several points (a deviation, stated in the notebooks).
 */
export function e2trainRegime(scale: Scale, seeds?: number): CifarRegime {
  const r: Record<Scale, CifarRegime> = {
    smoke: {
      scale,
      trainCount: 320,
      testCount: 200,
      depth: 8,
      widths: [4, 8, 16],
      batchSize: 32,
      epochs: 1,
      lr: 0.1,
      momentum: 0.9,
      weightDecay: 5e-4,
      evalsPerEpoch: 2,
      seeds: 1,
    },
    lite: {
      scale,
      trainCount: 50000,
      testCount: 10000,
      depth: 8,
      widths: [16, 32, 64],
      batchSize: 128,
      epochs: 10,
      lr: 0.1,
      momentum: 0.9,
      weightDecay: 5e-4,
      evalsPerEpoch: 1,
      seeds: 3,
    },
    paper: {
      scale,
      trainCount: 50000,
      testCount: 10000,
      depth: 74,
      widths: [16, 32, 64],
      batchSize: 128,
      epochs: 64000 / 390,
      lr: 0.1,
      momentum: 0.9,
      weightDecay: 1e-4,
      evalsPerEpoch: 1,
      seeds: 10,
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/** What an SLU arm's analysis stores: the gate report on the test set and the per-block execution counts. */
export interface SluArmAnalysis {
  readonly report: import('../techniques/slu-report').SluGateReport;
  readonly blockCounts: ReadonlyArray<{ readonly block: string; readonly executed: number; readonly skipped: number }>;
  readonly gateMacsPerInput: number;
}

/** The analysis an SLU or E²-Train arm stores: its trained gates' report on `test` and its block counts. */
function sluArmAnalysis(test: ImageDataset): NonNullable<RunSpec['analyze']> {
  return (_m, ts, norm): SluArmAnalysis => {
    const slu = ts.find((t) => t.name === 'slu') as Slu;
    return {
      report: sluGateReport(slu, test, norm),
      blockCounts: slu.blockCounts(),
      gateMacsPerInput: slu.gateMacsPerInput,
    };
  };
}

/**
 * The arms of the E²-Train notebooks (10-13), built in one place so that a notebook asking for an arm another notebook
 * ran gets the same spec, hence the same cache entry. Labels are the notebooks' own; the cache key ignores them.
 */
export const e2trainArms = {
  /** SLU gate settings of the main arms: straight-through Gumbel-sigmoid, per-block budget, standardised gate input. */
  gates(target: number): Omit<import('../techniques/slu').SluOptions, 'model' | 'seed'> {
    return { alpha: 2, targetSkipRatio: target, budget: 'per-block', sampling: 'gumbel', normalizeGateInput: true };
  },
  /** ResNet of the regime with every block gated (transitions take their projection alone when skipped). */
  gatedModel(regime: CifarRegime): (seed: number) => Model {
    return (k: number) =>
      cifarResNet({ depth: regime.depth, seed: k, widths: regime.widths, skippableTransitions: true });
  },
  /**
   * The 32-bit SGD baseline through the whole schedule (SMB at energy ratio 1). Its analysis stores the trained
   * weights (`TensorRecord`s), so that notebooks fine-tuning the baseline (SSL depth, notebook 30b) share this run.
   */
  sgd(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    label = 'SGD (SMB r=1)',
  ): RunSpec {
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      analyze: (m) => m.params.recordsSync(),
      cacheKey: { analysis: 'weights' },
    });
  },
  /** SMD (skip probability 0.5) training `ratio` of the full budget's iterations. */
  smd(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    ratio: number,
    label: string,
  ): RunSpec {
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      ratio,
      cacheKey: { techniques: [{ smd: { p: 0.5 } }] },
      techniques: (_m, k) => [stochasticMiniBatchDropping({ p: 0.5, seed: k })],
    });
  },
  /** SLU (main gates) at `target`, with the gate report and block counts stored as its analysis. */
  slu(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    target: number,
    label: string,
  ): RunSpec {
    const gates = e2trainArms.gates(target);
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      model: e2trainArms.gatedModel(regime),
      techniques: (m, k) => [selectiveLayerUpdate({ model: m, seed: k, ...gates })],
      evalContext: (ts) => ({ blockPlan: (ts[0] as Slu).evalPlan }),
      analyze: sluArmAnalysis(data.test),
      cacheKey: {
        model: { skippableTransitions: true },
        techniques: [{ slu: gates }],
        analysis: 'slu-gate-report+counts',
      },
    });
  },
  /** Stochastic depth (linear decay) whose expected skip ratio over the gated blocks is `target`. */
  sd(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    target: number,
    label: string,
  ): RunSpec {
    const probe = e2trainArms.gatedModel(regime)(seed);
    const pL = pLForSkipRatio(probe, target);
    probe.params.dispose();
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      model: e2trainArms.gatedModel(regime),
      techniques: (m, k) => [stochasticDepth({ model: m, pL, seed: k })],
      evalContext: (ts) => ({ blockPlan: (ts[0] as StochasticDepth).evalPlan }),
      cacheKey: { model: { skippableTransitions: true }, techniques: [{ sd: { pL } }] },
    });
  },
  /** SignSGD / PSG recipe of appendix B: lr 0.03, weight decay 5e-4 as its own term, SWA over the last quarter. */
  signRecipe: { lr: 0.03, optimizer: { kind: 'signsgd' as const, weightDecay: 5e-4 }, swa: { start: 0.75, every: 1 } },
  /** SignSGD (the float gradient's sign). */
  signSgd(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    label = 'SignSGD',
  ): RunSpec {
    return regimeSpec(regime, data, { arm: label, seed, ...e2trainArms.signRecipe, cacheKey: { recipe: 'signsgd' } });
  },
  /** PSG (FW-8/BW-16, predictors 4/10 bits) at threshold `beta`. */
  psg(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    beta: number,
    label: string,
  ): RunSpec {
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      ...e2trainArms.signRecipe,
      cacheKey: { recipe: 'signsgd', techniques: [{ psg: { beta } }] },
      techniques: () => [predictiveSignGradient({ beta })],
    });
  },
  /**
   * E²-Train: SMD (p 0.5) at energy ratio `ratio` (the paper: 0.67 after Sec. 4.2), SLU (main gates, their own SGD with
   * momentum 0.9 at lr 0.1: a sign-based optimizer would move every gate parameter by ±lr whatever its gradient) at
   * `target`, PSG at `beta` for the network's weights with the sign recipe.
   */
  e2train(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    o: { target: number; beta: number; ratio: number },
    label: string,
  ): RunSpec {
    const gates = {
      ...e2trainArms.gates(o.target),
      gateOptimizer: { config: { kind: 'sgd' as const, momentum: 0.9 }, lr: 0.1 },
    };
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      ratio: o.ratio,
      model: e2trainArms.gatedModel(regime),
      ...e2trainArms.signRecipe,
      techniques: (m, k) => [
        stochasticMiniBatchDropping({ p: 0.5, seed: k }),
        selectiveLayerUpdate({ model: m, seed: k, ...gates }),
        predictiveSignGradient({ beta: o.beta }),
      ],
      evalContext: (ts) => ({ blockPlan: (ts.find((t) => t.name === 'slu') as Slu).evalPlan }),
      analyze: sluArmAnalysis(data.test),
      cacheKey: {
        model: { skippableTransitions: true },
        recipe: 'signsgd',
        techniques: [{ smd: { p: 0.5 } }, { slu: gates }, { psg: { beta: o.beta } }],
        analysis: 'slu-gate-report+counts',
      },
    });
  },
};
