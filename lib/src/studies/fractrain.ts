import type { ImageDataset } from '../data/image-dataset';
import type { RunSpec } from '../experiments/run';
import { defaultQuantConfig } from '../quant/layers';
import { parsePrecision, type LayerPrecision } from '../quant/precision';
import { sbmQuant, type QuantScheme } from '../quant/schemes';
import { regimeIterations, regimeSpec, type CifarRegime } from './regime';
import { e2trainArms } from './e2train';
import { dynamicFractionalQuantization, type Dfq } from '../techniques/dfq';
import { dfqAllocationReport, type DfqAllocationReport } from '../techniques/dfq-report';
import {
  parsePrecisionSchedule,
  progressiveFractionalQuantization,
  type Pfq,
  type StageSwitch,
  type StageSwitching,
} from '../techniques/pfq';
import type { IndicatorStep } from '../techniques/loss-indicator';

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

/** What a PFQ arm stores as its analysis: the stage changes and the indicator's periods. */
export interface PfqArmAnalysis {
  readonly switches: readonly StageSwitch[];
  readonly periods: readonly IndicatorStep[];
}

/** What a DFQ or FracTrain arm stores: cp, target and beta sign per step (every `every`-th), switches, training counts, test allocation. */
export interface DfqArmAnalysis {
  readonly labels: readonly string[];
  readonly cp: readonly number[];
  readonly target: readonly number[];
  readonly sign: readonly number[];
  /** Mean cp over the run's steps (the ledger's effective MACs say the same: an exact identity checked in tests). */
  readonly meanCp: number;
  readonly switches: readonly StageSwitch[];
  readonly periods: readonly IndicatorStep[];
  readonly trainCounts: ReadonlyArray<{ readonly block: string; readonly counts: readonly number[] }>;
  readonly test: DfqAllocationReport;
}

/** Evaluation context of a quantized arm: forward at `precision` with the run's quantizers (nearest rounding). */
function quantizedEval(precision: LayerPrecision, quant: NonNullable<RunSpec['quant']>) {
  return { precision: () => precision, quant: { ...defaultQuantConfig(0), ...quant } };
}

/**
 * The arms of the FracTrain notebooks (20, 21) in a CIFAR regime (the E²-Train regime: the same ResNet, recipe and data,
 * so the 32-bit SGD arm is shared). Static and progressive arms are evaluated with the forward pass at the final
 * precision (weights and activations quantized, as the models are trained to run); DFQ and FracTrain with their gates.
 */
export const fractrainArms = {
  /** The 32-bit SGD baseline (the E²-Train notebooks' arm). */
  sgd: e2trainArms.sgd,
  /** A static low-precision baseline: `scheme` at `precision` ("FW-8/BW-8") for the whole run. */
  static(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    o: { scheme: QuantScheme; precision: string },
    label: string,
  ): RunSpec {
    const precision = parsePrecision(o.precision);
    const quant = o.scheme === 'sbm' ? sbmQuant() : { scheme: o.scheme };
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      precision,
      quant,
      evalContext: () => quantizedEval(precision, quant),
      cacheKey: { static: o },
    });
  },
  /** PFQ with `schedule` ("FW(3,4,6,8)/BW(6,6,8,8)") on SBM quantizers; `switching` defaults to {@link fractrainSwitching}. */
  pfq(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    o: { schedule: string; switching?: StageSwitching },
    label: string,
  ): RunSpec {
    const switching = o.switching ?? fractrainSwitching(regime);
    const quant = sbmQuant();
    const stages = parsePrecisionSchedule(o.schedule);
    const final = stages[stages.length - 1] as LayerPrecision;
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      quant,
      techniques: () => [progressiveFractionalQuantization({ schedule: o.schedule, switching })],
      evalContext: () => quantizedEval(final, quant),
      analyze: (_m, ts): PfqArmAnalysis => {
        const p = ts.find((t) => t.name === 'pfq') as Pfq;
        return { switches: p.switches, periods: p.periods() };
      },
      cacheKey: { techniques: [{ pfq: { schedule: o.schedule, switching } }], quant: 'sbm', analysis: 'pfq-switches' },
    });
  },
  /**
   * DFQ at target cp `targetCp` (percent), or FracTrain with a list of targets switched by PFQ's indicator, over the
   * options `options` (plus skip) on SBM quantizers, in the regime's ResNet with every block skippable.
   */
  dfq(
    regime: CifarRegime,
    data: { train: ImageDataset; test: ImageDataset },
    seed: number,
    o: { options: string; targetCp: number | readonly number[]; beta: number },
    label: string,
  ): RunSpec {
    const quant = sbmQuant();
    const staged = typeof o.targetCp !== 'number';
    const switching = staged ? fractrainSwitching(regime) : undefined;
    const build = (m: import('../models/spec').Model, k: number) =>
      dynamicFractionalQuantization({
        model: m,
        options: o.options,
        targetCp: o.targetCp,
        switching,
        beta: o.beta,
        seed: k,
      });
    return regimeSpec(regime, data, {
      arm: label,
      seed,
      quant,
      model: e2trainArms.gatedModel(regime),
      techniques: (m, k) => [build(m, k)],
      evalContext: (ts) => {
        const d = ts[0] as Dfq;
        return {
          ...quantizedEval(d.precisions[d.precisions.length - 1] as LayerPrecision, quant),
          blockPlan: d.evalPlan,
        };
      },
      analyze: (_m, ts, norm): DfqArmAnalysis => {
        const d = ts[0] as Dfq;
        const every = Math.max(1, Math.floor(d.cpHistory.length / 400));
        const thin = (v: readonly number[]) => v.filter((_, i) => i % every === 0);
        const full = d.precisions[d.precisions.length - 1] as LayerPrecision;
        return {
          labels: d.labels,
          cp: thin(d.cpHistory),
          target: thin(d.targetHistory),
          sign: thin(d.signHistory),
          meanCp: d.cpHistory.reduce((a, v) => a + v, 0) / Math.max(1, d.cpHistory.length),
          switches: d.switches,
          periods: d.periods(),
          trainCounts: d.optionCounts(),
          test: dfqAllocationReport(d, data.test, norm, quantizedEval(full, quant)),
        };
      },
      cacheKey: {
        model: { skippableTransitions: true },
        techniques: [{ dfq: { ...o, switching: switching ?? null } }],
        quant: 'sbm',
        analysis: 'dfq-allocation',
      },
    });
  },
};

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
