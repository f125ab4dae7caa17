import type { ImageDataset } from '../data/image-dataset';
import type { ChannelStats } from '../data/pipeline';
import type { TensorRecord } from '../models/records';
import type { ForwardContext, Model } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import type { Dfq } from '../techniques/dfq';
import { type DfqAllocationReport, dfqAllocationReport } from '../techniques/dfq-report';
import type { IndicatorStep } from '../techniques/loss-indicator';
import type { Pfq, StageSwitch } from '../techniques/pfq';
import type { Slu } from '../techniques/slu';
import { type SluGateReport, sluGateReport } from '../techniques/slu-report';
import type { Technique } from '../train/technique';
import { ConfigError } from '../errors';

/** What an SLU or E²-Train arm's analysis stores: the gate report on the test set and the per-block execution counts. */
export interface SluArmAnalysis {
  readonly report: SluGateReport;
  readonly blockCounts: ReadonlyArray<{ readonly block: string; readonly executed: number; readonly skipped: number }>;
  readonly gateMacsPerInput: number;
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

/** The analyses an arm can ask for by name, and the plain data each stores in the outcome (cached with it). */
export interface AnalysisKinds {
  /** The trained parameters (for arms that start from this one's weights). */
  readonly weights: Readonly<Record<string, TensorRecord>>;
  /** SLU's gate report on the test set, block counts and gate cost. */
  readonly 'slu-gates': SluArmAnalysis;
  /** PFQ's stage switches and indicator periods. */
  readonly 'pfq-switches': PfqArmAnalysis;
  /** DFQ's cp trace, switches, option counts and test-set allocation. */
  readonly 'dfq-allocation': DfqArmAnalysis;
}

/** The name of an analysis (see {@link AnalysisKinds}). */
export type AnalysisName = keyof AnalysisKinds;

/** What an analysis sees: the trained model and techniques, the input scaling, the test set, the evaluation context. */
export interface AnalysisInput {
  readonly model: Model;
  readonly techniques: readonly Technique[];
  readonly normalize: ChannelStats;
  readonly test: ImageDataset;
  readonly evalContext: Omit<ForwardContext, 'training'>;
}

/** The technique an analysis reads, by any of its names (DFQ with staged targets is named `fractrain`). */
function technique<T extends Technique>(input: AnalysisInput, names: readonly string[], analysis: AnalysisName): T {
  const t = input.techniques.find((x) => names.includes(x.name));
  if (!t) throw new ConfigError('analysis', analysis, `an arm with the ${names.join(' or ')} technique`);
  return t as T;
}

const ANALYSES: { readonly [K in AnalysisName]: (input: AnalysisInput) => AnalysisKinds[K] } = {
  weights: (input) => input.model.params.recordsSync(),
  'slu-gates': (input) => {
    const slu = technique<Slu>(input, ['slu'], 'slu-gates');
    return {
      report: sluGateReport(slu, input.test, input.normalize),
      blockCounts: slu.blockCounts(),
      gateMacsPerInput: slu.gateMacsPerInput,
    };
  },
  'pfq-switches': (input) => {
    const p = technique<Pfq>(input, ['pfq'], 'pfq-switches');
    return { switches: p.switches, periods: p.periods() };
  },
  'dfq-allocation': (input) => {
    const d = technique<Dfq>(input, ['dfq', 'fractrain'], 'dfq-allocation');
    const every = Math.max(1, Math.floor(d.cpHistory.length / 400));
    const thin = (v: readonly number[]) => v.filter((_, i) => i % every === 0);
    const full = d.precisions[d.precisions.length - 1] as LayerPrecision;
    const { blockPlan: _plan, ...ctx } = input.evalContext;
    return {
      labels: d.labels,
      cp: thin(d.cpHistory),
      target: thin(d.targetHistory),
      sign: thin(d.signHistory),
      meanCp: d.cpHistory.reduce((a, v) => a + v, 0) / Math.max(1, d.cpHistory.length),
      switches: d.switches,
      periods: d.periods(),
      trainCounts: d.optionCounts(),
      test: dfqAllocationReport(d, input.test, input.normalize, { ...ctx, precision: () => full }),
    };
  },
};

/** Names of the analyses, for validation. */
export const ANALYSIS_NAMES = Object.keys(ANALYSES) as readonly AnalysisName[];

/** Runs the analysis `name` on a trained arm; its result is plain data (a JSON round trip makes sure). */
export function runAnalysis<K extends AnalysisName>(name: K, input: AnalysisInput): AnalysisKinds[K] {
  const analyze = ANALYSES[name] as (input: AnalysisInput) => AnalysisKinds[K];
  return JSON.parse(JSON.stringify(analyze(input))) as AnalysisKinds[K];
}
