import type { Scale } from '../config';
import { regimeArm, regimeAtScale, regimeResNet, type CifarRegime } from './regime';
import type { ImageDataset } from '../data/image-dataset';
import {
  type Arm,
  buildModel,
  type ModelDescription,
  type TechniqueDescription,
  type TechniqueKinds,
} from '../experiments/arm';
import type { LayerPrecision } from '../quant/precision';
import { pLForSkipRatio } from '../techniques/stochastic-depth';

/**
 * The regime of the E²-Train notebooks (10-13).
 * - `smoke`: plumbing only (tiny subsets, 4-8-16 filters, one seed).
 * - `lite`: the whole CIFAR-10 training set and the 10,000 test images; ResNet-8 (16-32-64), batch 128, SGD momentum
 *   0.9, weight decay 5e-4, cosine schedule from 0.1 over 10 epochs (3,910 iterations), pad-crop-flip augmentation;
 *   3 seeds.
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

type Data = { readonly train: ImageDataset; readonly test: ImageDataset };

/**
 * The arm with divergence as an outcome (the run stops, is evaluated on its weights before the diverging step and reported
 * with `RunOutcome.stopped`) rather than an error: for protocol rungs whose learning rate was set for another scale.
 */
function divergenceIsAnOutcome<A extends Arm['analysis']>(arm: Arm<A>): Arm<A> {
  return { ...arm, recipe: { ...arm.recipe, divergence: { action: 'stop' } } };
}

function mainGates(target: number): TechniqueKinds['slu'] {
  return { alpha: 2, targetSkipRatio: target, budget: 'per-block', sampling: 'gumbel', normalizeGateInput: true };
}

/**
 * The gate of the authors' released code (GATECH-EIC/E2Train `models/new_resnet.py`, `RNNGate`): a Bernoulli draw with
 * probability p whose straight-through gradient reaches p, the block computed on every input in training (so every
 * input's p gets the task gradient), the pooled features straight into the projection.
 */
function codeGate(target: number, rule: Pick<TechniqueKinds['slu'], 'alpha' | 'budget'>): TechniqueKinds['slu'] {
  return { ...rule, targetSkipRatio: target, sampling: 'bernoulli', gateGradient: 'all-inputs' };
}

function gatedModel(regime: CifarRegime): ModelDescription {
  return regimeResNet(regime, { skippableTransitions: true });
}

/** SignSGD / PSG recipe of appendix B: lr 0.03, weight decay 5e-4 as its own term, SWA over the last quarter. */
const SIGN_RECIPE = {
  lr: 0.03,
  optimizer: { kind: 'signsgd' as const, weightDecay: 5e-4 },
  swa: { start: 0.75, every: 1 },
};

/** SGD with momentum 0.9 at lr 0.1 for SLU's gates when the weights use a sign-based optimizer. */
const GATE_SGD = { config: { kind: 'sgd' as const, momentum: 0.9 }, lr: 0.1 };

/**
 * The arms of the E²-Train notebooks (10-13), described once here, so that a notebook asking for an arm another
 * notebook ran describes the same arm, hence the same cache entry. Labels are the notebooks' own; the key ignores them.
 */
export const e2trainArms = {
  /** SLU gate settings of the main arms: straight-through Gumbel-sigmoid, per-block budget, standardised gate input. */
  gates: mainGates,
  /** ResNet of the regime with every block gated (transitions take their projection alone when skipped). */
  gatedModel,
  /**
   * The 32-bit SGD baseline through the whole schedule (SMB at energy ratio 1). It stores its trained weights, so that
   * arms fine-tuning the baseline (SSL depth, notebook 30b) start from this run.
   */
  sgd(regime: CifarRegime, data: Data, seed: number, label = 'SGD (SMB r=1)'): Arm<'weights'> {
    return regimeArm(regime, data, { label, seed, analysis: 'weights' });
  },
  /** SMB: the SGD recipe training `ratio` of the full budget's iterations (its schedule spans them). */
  smb(regime: CifarRegime, data: Data, seed: number, ratio: number, label: string): Arm<undefined> {
    return regimeArm(regime, data, { label, seed, ratio });
  },
  /** SMD (skip probability 0.5) training `ratio` of the full budget's iterations. */
  smd(regime: CifarRegime, data: Data, seed: number, ratio: number, label: string): Arm<undefined> {
    return regimeArm(regime, data, { label, seed, ratio, techniques: [{ kind: 'smd', options: { p: 0.5 } }] });
  },
  /** SLU with gate settings `gates` (default: the main gates at `target`) in the gated ResNet, with its gate report. */
  slu(
    regime: CifarRegime,
    data: Data,
    seed: number,
    target: number,
    label: string,
    gates = mainGates(target),
  ): Arm<'slu-gates'> {
    const techniques = [{ kind: 'slu' as const, options: gates }];
    return regimeArm(regime, data, {
      label,
      seed,
      model: gatedModel(regime),
      techniques,
      analysis: 'slu-gates',
    });
  },
  /** Stochastic depth (linear decay) whose expected skip ratio over the gated blocks is `target`. */
  sd(regime: CifarRegime, data: Data, seed: number, target: number, label: string): Arm<undefined> {
    const model = gatedModel(regime);
    const probe = buildModel(model, seed);
    const pL = pLForSkipRatio(probe, target);
    probe.params.dispose();
    return regimeArm(regime, data, { label, seed, model, techniques: [{ kind: 'sd', options: { pL } }] });
  },
  /** An arm at a static precision (e.g. the 8-bit fixed-point baseline `fwbw(8, 32)`), evaluated in float. */
  fixedPrecision(
    regime: CifarRegime,
    data: Data,
    seed: number,
    precision: LayerPrecision,
    label: string,
  ): Arm<undefined> {
    return regimeArm(regime, data, { label, seed, precision });
  },
  /** SignSGD (the float gradient's sign). */
  signSgd(regime: CifarRegime, data: Data, seed: number, label = 'SignSGD'): Arm<undefined> {
    return regimeArm(regime, data, { label, seed, ...SIGN_RECIPE });
  },
  /** PSG (FW-8/BW-16, predictors 4/10 bits) at threshold `beta`. */
  psg(regime: CifarRegime, data: Data, seed: number, beta: number, label: string): Arm<undefined> {
    const techniques = [{ kind: 'psg' as const, options: { beta } }];
    return regimeArm(regime, data, { label, seed, ...SIGN_RECIPE, techniques });
  },
  /**
   * The PSG ablation ladder, each rung an arm that adds one step to the rung before: SGD; SignSGD without SWA; + SWA
   * with batch-norm statistics re-estimated over 50 un-augmented batches; + SWA with the statistics over the whole
   * augmented training set (as `torch.optim.swa_utils.update_bn` over a training loader; the trainer's default); +
   * FW-8/BW-16 operands with every sign taken from the full product, output gradients quantized over per-example ranges
   * averaged over the batch (which clips the examples with the largest gradients); + output-gradient ranges at the
   * batch's extreme (the released codes' `quantize_grad`; the simulator's default); + the MSB predictor (PSG at `beta`); PSG under the authors' released update (GATECH-EIC/E2Train
   * `main_all.py`: momentum-0.9 SGD over the signed weight gradients, batch-norm parameters and biases unsigned, lr 0.1,
   * weight decay 1e-4, absolute threshold 5e-5, no SWA); last, that update with the paper's numbers (Sec. 4.1: SGD with
   * momentum 0.9; appendix B: lr 0.03, weight decay 5e-4; SWA) and PSG at `beta`.
   */
  psgLadder(regime: CifarRegime, data: Data, seed: number, beta = 0.05): Array<{ rung: string; arm: Arm }> {
    const { swa, ...noSwa } = SIGN_RECIPE;
    const earlySwa = { swa: { ...swa, bnBatches: 50, bnAugment: false } };
    const psgArm = (options: TechniqueKinds['psg'], label: string, quant?: Arm['quant']) =>
      regimeArm(regime, data, {
        ...{ label, seed, ...SIGN_RECIPE },
        ...(quant ? { quant } : {}),
        techniques: [{ kind: 'psg', options }],
      });
    return [
      { rung: 'SGD', arm: e2trainArms.sgd(regime, data, seed) },
      { rung: 'SignSGD, no SWA', arm: regimeArm(regime, data, { label: 'SignSGD, no SWA', seed, ...noSwa }) },
      {
        rung: '+ SWA, BN over 50 un-augmented batches',
        arm: regimeArm(regime, data, { label: 'SignSGD, SWA, BN over 50 batches', seed, ...noSwa, ...earlySwa }),
      },
      { rung: '+ SWA, BN over the augmented training set', arm: e2trainArms.signSgd(regime, data, seed) },
      {
        rung: '+ FW-8/BW-16 operands, exact signs, averaged gradient ranges',
        arm: psgArm({ predictor: false }, 'FW-8/BW-16, exact signs, averaged ranges', {
          gradientRange: 'sample-mean',
        }),
      },
      {
        rung: "+ gradient ranges at the batch's extreme",
        arm: psgArm({ predictor: false }, 'FW-8/BW-16, exact signs'),
      },
      { rung: `+ MSB predictor (PSG, beta ${beta})`, arm: psgArm({ beta }, `PSG ${beta}`) },
      {
        rung: "PSG, the authors' update",
        arm: divergenceIsAnOutcome(
          regimeArm(regime, data, {
            ...{ label: "PSG, authors' update", seed, lr: 0.1 },
            optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
            techniques: [{ kind: 'psg', options: { threshold: 5e-5 } }],
          }),
        ),
      },
      {
        rung: 'PSG, momentum SGD over signs at lr 0.03, wd 5e-4, SWA',
        arm: regimeArm(regime, data, {
          ...{ label: 'PSG, momentum over signs', seed, lr: SIGN_RECIPE.lr, swa },
          optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: SIGN_RECIPE.optimizer.weightDecay },
          techniques: [{ kind: 'psg', options: { beta } }],
        }),
      },
    ];
  },
  /**
   * The ablation ladder of E²-Train's combined arm: SGD; SMD at energy ratio `ratio`; + SLU (the gated ResNet, main gates
   * at `target`); + PSG at `beta` with the sign recipe (the combined arm of {@link e2trainArms.e2train}); and the whole
   * under the authors' released protocol (GATECH-EIC/E2Train `main_all.py`: a dropped batch steps the optimizer with zero
   * gradients; SLU's sign-flip regularizer, `--beta` 1e-5, around the target's computation share; PSG with momentum-0.9
   * SGD over the signed weight gradients at lr 0.1, weight decay 1e-4, absolute threshold 5e-5; no SWA); then that protocol
   * with the code's gate (Bernoulli straight-through to p, the block computed on every input), and the code's gate with
   * this library's per-block budget in place of the sign-flip rule.
   */
  combinedLadder(
    regime: CifarRegime,
    data: Data,
    seed: number,
    o: { target: number; beta: number; ratio: number },
  ): Array<{ rung: string; arm: Arm }> {
    const gated = gatedModel(regime);
    const smd = { kind: 'smd' as const, options: { p: 0.5 } };
    /** The combined arm under the authors' released protocol, with the gates `slu`. */
    const authorsProtocol = (label: string, slu: TechniqueKinds['slu']): Arm<'slu-gates'> =>
      regimeArm(regime, data, {
        ...{ label, seed, ratio: o.ratio, model: gated, lr: 0.1 },
        optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
        techniques: [
          { kind: 'smd', options: { p: 0.5, dropped: 'step' } },
          { kind: 'slu', options: slu },
          { kind: 'psg', options: { threshold: 5e-5 } },
        ],
        analysis: 'slu-gates',
      });
    return [
      { rung: 'SGD', arm: e2trainArms.sgd(regime, data, seed) },
      { rung: `SMD r=${o.ratio}`, arm: e2trainArms.smd(regime, data, seed, o.ratio, `SMD r=${o.ratio}`) },
      {
        rung: `+ SLU (target ${o.target})`,
        arm: regimeArm(regime, data, {
          ...{ label: `SMD + SLU ${o.target}`, seed, ratio: o.ratio, model: gated },
          techniques: [smd, { kind: 'slu', options: mainGates(o.target) }],
          analysis: 'slu-gates',
        }),
      },
      {
        rung: `+ PSG (beta ${o.beta}): E²-Train`,
        arm: e2trainArms.e2train(regime, data, seed, o, `E²-Train ${o.target}/${o.beta}`),
      },
      {
        rung: "E²-Train, the authors' protocol",
        arm: authorsProtocol("E²-Train, authors' protocol", {
          ...mainGates(o.target),
          ...{ alpha: 1e-5, budget: 'sign-flip', targetSkipRatio: o.target },
        }),
      },
      {
        rung: "+ the code's gate (Bernoulli straight-through to p, task gradient from every input)",
        arm: authorsProtocol(
          "E²-Train, authors' protocol and gate",
          codeGate(o.target, { alpha: 1e-5, budget: 'sign-flip' }),
        ),
      },
      {
        rung: "the code's gate with this library's per-block budget instead of the sign-flip rule",
        arm: authorsProtocol(
          "E²-Train, authors' protocol and gate, per-block budget",
          codeGate(o.target, { alpha: 2, budget: 'per-block' }),
        ),
      },
    ];
  },
  /**
   * E²-Train: SMD (p 0.5) at energy ratio `ratio` (the paper: 0.67 after Sec. 4.2), SLU (main gates, their own SGD with
   * momentum 0.9 at lr 0.1: a sign-based optimizer would move every gate parameter by ±lr whatever its gradient) at
   * `target`, PSG at `beta` for the network's weights with the sign recipe; `model` defaults to the gated ResNet.
   */
  e2train(
    regime: CifarRegime,
    data: Data,
    seed: number,
    o: { target: number; beta: number; ratio: number; model?: ModelDescription; lr?: number; init?: Arm<'weights'> },
    label: string,
  ): Arm<'slu-gates'> {
    const techniques: TechniqueDescription[] = [
      { kind: 'smd', options: { p: 0.5 } },
      { kind: 'slu', options: { ...mainGates(o.target), gateOptimizer: GATE_SGD } },
      { kind: 'psg', options: { beta: o.beta } },
    ];
    return regimeArm(regime, data, {
      ...{ label, seed, ratio: o.ratio, model: o.model ?? gatedModel(regime), ...SIGN_RECIPE },
      ...(o.lr !== undefined ? { lr: o.lr } : {}),
      ...(o.init ? { init: o.init } : {}),
      techniques,
      analysis: 'slu-gates',
    });
  },
};
