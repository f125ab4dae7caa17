import { trainingCost } from '../cost/macs';
import type { ImageDataset } from '../data/image-dataset';
import type { DfqArmAnalysis } from '../experiments/analyses';
import { type Arm, analysisOf, type ModelDescription } from '../experiments/arm';
import type { RunOutcome } from '../experiments/run';
import { cifarResNet } from '../models/resnet';
import { fwbw, type LayerPrecision, parsePrecision } from '../quant/precision';
import { type QuantScheme, sbmQuant } from '../quant/schemes';
import { parsePrecisionSchedule, type StageSwitch, type StageSwitching } from '../techniques/pfq';
import { e2trainArms } from './e2train';
import { type CifarRegime, regimeArm, regimeIterations } from './regime';

/** The paper's CIFAR schedule: 160 epochs, first learning-rate decay at epoch 80 (FracTrain Sec. 4, Fig. 1). */
export const FRACTRAIN_PAPER_EPOCHS = 160;

/**
 * PFQ's indicator switching in `regime`: the paper's epsilon 0.05 and alpha 0.3, window 5 and scale over the first 10
 * periods, with one period per paper epoch mapped onto the regime's iterations (iterations / 160; at `paper` scale a
 * period is an epoch), and the final stage forced by half of the run (the paper's first decay at epoch 80 of 160).
 */
export function fractrainSwitching(regime: CifarRegime, o: { epsilon?: number; alpha?: number } = {}): StageSwitching {
  const iterations = regimeIterations(regime);
  return {
    kind: 'indicator',
    epsilon: o.epsilon ?? 0.05,
    alpha: o.alpha ?? 0.3,
    periodIterations: Math.max(1, Math.round(iterations / FRACTRAIN_PAPER_EPOCHS)),
    finalBy: Math.max(1, Math.round(iterations / 2)),
  };
}

/**
 * PFQ's indicator with the defaults of the authors' released code (GATECH-EIC/FracTrain `fractrain_cifar/train_pfq.py`:
 * `--initial_threshold` 0.15, `--decay` 0.4, a loss every `--eval_every` 400 iterations of 128, 5 losses kept, the scale
 * the mean of the first <= 10 periods' losses, no forced final stage; the README's command passes 0.05 and 0.3, the
 * paper's values). One period per 1/160 of the regime's iterations, as {@link fractrainSwitching} (400 iterations of
 * the code's 64,000).
 */
export function fractrainCodeSwitching(regime: CifarRegime): StageSwitching {
  const iterations = regimeIterations(regime);
  return {
    kind: 'indicator',
    epsilon: 0.15,
    alpha: 0.4,
    window: 5,
    scalePeriods: 10,
    periodIterations: Math.max(1, Math.round(iterations / FRACTRAIN_PAPER_EPOCHS)),
  };
}

/**
 * DFQ's options in the authors' released code (GATECH-EIC/FracTrain `fractrain_cifar/train_dfq.py` and `train_frac.py`:
 * `bits = [3, 4, 4, 6, 6]`, `grad_bits = [6, 6, 8, 8, 12]`), with the weights at a fixed `--weight_bits` (the README's
 * CIFAR-100 command: 4).
 */
export const FRACTRAIN_CODE_DFQ = { options: 'FW(3,4,4,6,6)/BW(6,6,8,8,12)', weightBits: 4 } as const;

type Data = { readonly train: ImageDataset; readonly test: ImageDataset };

/**
 * The arms of the FracTrain notebooks (20, 21) in a CIFAR regime (the E²-Train regime: the same ResNet, recipe and data,
 * so the 32-bit SGD arm is shared). Static and progressive arms are evaluated with the forward pass at the final
 * precision (weights and activations quantized, as the models are trained to run); DFQ and FracTrain with their gates
 * at the last option's precision. `model` replaces the regime's ResNet; `init` starts an arm from another arm's trained
 * weights.
 */
export const fractrainArms = {
  /** The 32-bit SGD baseline (the E²-Train notebooks' arm). */
  sgd: e2trainArms.sgd,
  /** A static low-precision baseline: `scheme` at `precision` ("FW-8/BW-8") for the whole run. */
  static(
    regime: CifarRegime,
    data: Data,
    seed: number,
    o: { scheme: QuantScheme; precision: string; model?: ModelDescription; init?: Arm<'weights'> },
    label: string,
  ): Arm<undefined> {
    const precision = parsePrecision(o.precision);
    const quant = o.scheme === 'sbm' ? sbmQuant() : { scheme: o.scheme };
    return regimeArm(regime, data, { label, seed, precision, quant, evaluateAt: precision, ...initOf(o) });
  },
  /** PFQ with `schedule` ("FW(3,4,6,8)/BW(6,6,8,8)") on SBM quantizers; `switching` defaults to {@link fractrainSwitching}. */
  pfq(
    regime: CifarRegime,
    data: Data,
    seed: number,
    o: { schedule: string; switching?: StageSwitching; model?: ModelDescription; init?: Arm<'weights'> },
    label: string,
  ): Arm<'pfq-switches'> {
    const switching = o.switching ?? fractrainSwitching(regime);
    const stages = parsePrecisionSchedule(o.schedule);
    return regimeArm(regime, data, {
      ...{ label, seed, quant: sbmQuant(), evaluateAt: stages[stages.length - 1] as LayerPrecision, ...initOf(o) },
      techniques: [{ kind: 'pfq', options: { schedule: o.schedule, switching } }],
      analysis: 'pfq-switches',
    });
  },
  /**
   * DFQ at target cp `targetCp` (percent), or FracTrain with a list of targets switched by PFQ's indicator, over the
   * options `options` (plus skip) on SBM quantizers, in the regime's ResNet with every block skippable.
   */
  dfq(
    regime: CifarRegime,
    data: Data,
    seed: number,
    o: {
      options: string;
      targetCp: number | readonly number[];
      beta: number;
      weightBits?: number;
      switching?: StageSwitching;
      init?: Arm<'weights'>;
      /** How training chooses each input's option (the technique's default: argmax, as the authors' gate). */
      sampling?: 'argmax' | 'gumbel';
    },
    label: string,
  ): Arm<'dfq-allocation'> {
    const switching = typeof o.targetCp !== 'number' ? (o.switching ?? fractrainSwitching(regime)) : undefined;
    const dfq = {
      ...{ options: o.options, targetCp: o.targetCp, beta: o.beta },
      ...(o.weightBits !== undefined ? { weightBits: o.weightBits } : {}),
      ...(o.sampling !== undefined ? { sampling: o.sampling } : {}),
      ...(switching ? { switching } : {}),
    };
    const precisions = parsePrecisionSchedule(o.options);
    return regimeArm(regime, data, {
      ...{ label, seed, quant: sbmQuant(), model: e2trainArms.gatedModel(regime), ...initOf(o) },
      evaluateAt: precisions[precisions.length - 1] as LayerPrecision,
      techniques: [{ kind: 'dfq', options: dfq }],
      analysis: 'dfq-allocation',
    });
  },
  /**
   * FracTrain's ablation ladder: SBM FW-8/BW-8 (the static baseline); PFQ FW(3,4,6,8)/BW(6,6,8,8) with the paper's
   * indicator ({@link fractrainSwitching}); the same with the authors' code defaults ({@link fractrainCodeSwitching});
   * DFQ at target cp `targetCp` over this library's options FW(3,4,6,8)/BW(6,6,8,8); and over the code's options with
   * weights fixed at 4 bits ({@link FRACTRAIN_CODE_DFQ}).
   */
  ladder(
    regime: CifarRegime,
    data: Data,
    seed: number,
    o: { targetCp: number; beta: number },
  ): Array<{ rung: string; arm: Arm }> {
    const schedule = 'FW(3,4,6,8)/BW(6,6,8,8)';
    return [
      {
        rung: 'SBM FW-8/BW-8',
        arm: fractrainArms.static(regime, data, seed, { scheme: 'sbm', precision: 'FW-8/BW-8' }, 'SBM'),
      },
      {
        rung: `PFQ ${schedule}, paper indicator`,
        arm: fractrainArms.pfq(regime, data, seed, { schedule }, `PFQ ${schedule}`),
      },
      {
        rung: `PFQ ${schedule}, code indicator`,
        arm: fractrainArms.pfq(
          regime,
          data,
          seed,
          { schedule, switching: fractrainCodeSwitching(regime) },
          `PFQ ${schedule}, code indicator`,
        ),
      },
      {
        rung: `DFQ cp ${o.targetCp}, options ${schedule}`,
        arm: fractrainArms.dfq(
          regime,
          data,
          seed,
          { options: schedule, targetCp: o.targetCp, beta: o.beta },
          `DFQ ${o.targetCp}`,
        ),
      },
      {
        rung: `DFQ cp ${o.targetCp}, the code's options, 4-bit weights`,
        arm: fractrainArms.dfq(
          regime,
          data,
          seed,
          { ...FRACTRAIN_CODE_DFQ, targetCp: o.targetCp, beta: o.beta },
          `DFQ ${o.targetCp}, code options`,
        ),
      },
    ];
  },
};

/** The optional model and starting weights of an arm (fine-tuning from a pre-trained arm). */
function initOf(o: { model?: ModelDescription; init?: Arm<'weights'> }): {
  model?: ModelDescription;
  init?: Arm<'weights'>;
} {
  return { ...(o.model ? { model: o.model } : {}), ...(o.init ? { init: o.init } : {}) };
}

/** One run's check of FracTrain's cost formula: see {@link fractrainCostErrors}. */
export interface CostFormulaCheck {
  readonly arm: string;
  readonly seed: number;
  /** `dynamic` for a DFQ or FracTrain run (cp-weighted), `static` for a run at one precision. */
  readonly kind: 'dynamic' | 'static';
  /** |ledger effective MACs (gates excluded) - the formula's| / the formula's. */
  readonly relativeError: number;
}

/**
 * FracTrain's cost formula (Sec. 4.1) checked on each run of `outcomes` in `regime`: a DFQ or FracTrain run (an arm
 * in `dynamicArms`) must have spent its mean cp (the `dfq-allocation` analysis) x iterations x batch x the float32
 * MACs of one example through the regime's gated ResNet, gate MACs excluded; any other run iterations x one step at
 * `staticPrecision` (FW-8/BW-8 unless given). A dynamic run without its analysis (a placeholder of another shard) and
 * a run without finite MACs are left out.
 */
export function fractrainCostErrors(
  outcomes: readonly RunOutcome[],
  regime: CifarRegime,
  dynamicArms: readonly string[],
  staticPrecision: LayerPrecision = fwbw(8, 8),
): CostFormulaCheck[] {
  const probe = cifarResNet({ depth: regime.depth, widths: regime.widths, seed: 0, skippableTransitions: true });
  let fp32PerExample: number;
  let staticStep: number;
  try {
    fp32PerExample = trainingCost(probe, { images: 1 }).macs.total;
    staticStep = trainingCost(probe, { iterations: 1, batchSize: regime.batchSize }, staticPrecision).effective.total;
  } finally {
    probe.params.dispose();
  }
  const checks: CostFormulaCheck[] = [];
  for (const o of outcomes) {
    if (!Number.isFinite(o.effectiveMacs)) continue;
    if (dynamicArms.includes(o.arm)) {
      const an = analysisOf(o, 'dfq-allocation');
      if (!an) continue;
      const expected = (an.meanCp / 100) * o.iterations * regime.batchSize * fp32PerExample;
      const relativeError = Math.abs(o.effectiveMacs - o.overheadMacs - expected) / expected;
      checks.push({ arm: o.arm, seed: o.seed, kind: 'dynamic', relativeError });
    } else {
      const expected = o.iterations * staticStep;
      checks.push({
        arm: o.arm,
        seed: o.seed,
        kind: 'static',
        relativeError: Math.abs(o.effectiveMacs - expected) / expected,
      });
    }
  }
  return checks;
}

/**
 * FracTrain's `paper` settings (Sec. 4.1 and the supplement's CIFAR recipe, SkipNet's [9]): kept as configuration and
 * checked by tests, not run on this machine.
 */
export const FRACTRAIN_PAPER = {
  /** CIFAR backbones of Fig. 3, Fig. 5 and Table 3, and MobileNetV2 of Table 1. */
  backbones: ['ResNet-38', 'ResNet-74', 'MobileNetV2'] as const,
  /** 160 epochs of batch 128, lr 0.1 divided by 10 at epochs 80 and 120, momentum 0.9, weight decay 1e-4. */
  schedule: {
    epochs: FRACTRAIN_PAPER_EPOCHS,
    batchSize: 128,
    lr: 0.1,
    decayEpochs: [80, 120],
    decayFactor: 0.1,
    momentum: 0.9,
    weightDecay: 1e-4,
  },
  /** PFQ's indicator (Sec. 4.1): "0.05 and 0.3 ... apply them to all experiments"; window of five epochs. */
  indicator: { epsilon: 0.05, alpha: 0.3, window: 5 },
  /** Fig. 3's schedules and their static SBM counterparts. */
  pfqSchedules: [
    { pfq: 'FW(3,4,6,8)/BW(6,6,8,8)', sbm: 'FW-8/BW-8' },
    { pfq: 'FW(3,4,6,8)/BW(6,8,12,16)', sbm: 'FW-8/BW-16' },
  ],
  /** Table 1: MobileNetV2's depthwise layers at a fixed FW-8/BW-16 whatever the stage. */
  depthwisePrecision: 'FW-8/BW-16',
  /** Table 3: DFQ at cp = 3 and FracTrain at cp = 1.5/2/2.5/3 (percent of the float32 cost). */
  dfqTarget: 3,
  fractrainTargets: [1.5, 2, 2.5, 3],
} as const;

/** One stage of a FracTrain run (PFQ's targets over DFQ): its target, where it began and why, and its mean training cp. */
export interface FracTrainStage {
  /** 1-based stage number. */
  readonly stage: number;
  readonly targetCp: number;
  /** The iteration the stage began at; undefined when the run never entered it. */
  readonly from: number | undefined;
  /** What began it: the run's start, the indicator, a fixed switch or the deadline for the last stage. */
  readonly cause: 'start' | StageSwitch['cause'] | undefined;
  /** Mean cp (percent of float32) of the recorded training steps in the stage; NaN when never entered. */
  readonly meanCp: number;
}

/**
 * FracTrain's stages from a DFQ/FracTrain arm's `analysis` (`dfq-allocation`) over a run of `iterations` with the
 * cp `targets`: stage k begins at the switch that entered it (a forced last stage may skip stages, which then read as
 * never entered) and ends where the next entered stage begins; its mean cp averages the cp records (one per
 * `iterations / records` steps) that fall in it.
 */
export function fractrainStages(
  analysis: DfqArmAnalysis,
  iterations: number,
  targets: readonly number[],
): FracTrainStage[] {
  if (!(Number.isInteger(iterations) && iterations > 0))
    throw new RangeError(`fractrainStages: iterations = ${iterations}, expected a positive integer`);
  const every = Math.max(1, Math.floor(iterations / Math.max(1, analysis.cp.length)));
  const entry = targets.map((_, k) =>
    k === 0 ? { iteration: 0, cause: 'start' as const } : analysis.switches.find((w) => w.stage === k),
  );
  return targets.map((targetCp, k) => {
    const e = entry[k];
    if (!e) return { stage: k + 1, targetCp, from: undefined, cause: undefined, meanCp: Number.NaN };
    const to = entry.slice(k + 1).find((n) => n !== undefined)?.iteration ?? iterations;
    const cps = analysis.cp.filter((_, i) => i * every >= e.iteration && i * every < to);
    const meanCp = cps.length ? cps.reduce((a, v) => a + v, 0) / cps.length : Number.NaN;
    return { stage: k + 1, targetCp, from: e.iteration, cause: e.cause, meanCp };
  });
}

/**
 * Whether a FracTrain run's gates froze: it entered more than one stage and every stage it entered ran at the same
 * mean training cp within `tolerance` percentage points (default 0.01), whatever the targets asked.
 */
export function fractrainGatesFrozen(stages: readonly FracTrainStage[], tolerance = 0.01): boolean {
  if (!(Number.isFinite(tolerance) && tolerance >= 0))
    throw new RangeError(`fractrainGatesFrozen: tolerance = ${tolerance}, expected a non-negative number of points`);
  const cps = stages.filter((s) => s.from !== undefined && Number.isFinite(s.meanCp)).map((s) => s.meanCp);
  return cps.length > 1 && Math.max(...cps) - Math.min(...cps) <= tolerance;
}
