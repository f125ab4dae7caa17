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
import { type SluGateReport, type SluTraceWindow, sluGateReport, sluTrainingTrace } from '../techniques/slu-report';
import type { Technique } from '../train/technique';
import { ConfigError } from '../errors';
import { inferenceTime } from '../analysis/perf';
import { decompositionAt, type FilterRank, type LowRankMethod, modelFilterRanks } from '../models/low-rank';
import { maskStructure, removeStructure, type StructureRemoval } from '../models/surgery';
import type { L1Sparsity } from '../techniques/l1';
import type { Ssl, SslGroupCount } from '../techniques/ssl';
import type { TernGrad } from '../techniques/terngrad';
import { type Iss, type IssProfile, issProfile } from '../techniques/iss';
import * as tf from '@tensorflow/tfjs-core';
import { evaluate } from '../train/evaluate';

/** What an SLU or E²-Train arm's analysis stores: the gate report on the test set and the per-block execution counts. */
export interface SluArmAnalysis {
  readonly report: SluGateReport;
  readonly blockCounts: ReadonlyArray<{ readonly block: string; readonly executed: number; readonly skipped: number }>;
  readonly gateMacsPerInput: number;
  /** The training skip ratio and regularizer weight over consecutive windows of steps ({@link sluTrainingTrace}). */
  readonly trainingTrace: readonly SluTraceWindow[];
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

/** What a sparsity arm stores: its weights, the zero groups as a removal, and group counts (SSL) or zero shares (l1). */
export interface SparseArmAnalysis {
  readonly weights: Record<string, TensorRecord>;
  readonly removal: StructureRemoval;
  readonly groups?: readonly SslGroupCount[];
  /** Share of exact-zero weights of each regularized weight (the l1 baseline). */
  readonly zeroShare?: ReadonlyArray<{ readonly layer: string; readonly weights: number; readonly zero: number }>;
}

/** What a compacted arm stores: its layers' MACs, and inference times of the compacted and of the original (masked) model. */
export interface CompactArmAnalysis {
  readonly macs: ReadonlyArray<{
    readonly layer: string;
    readonly macs: number;
    readonly originalMacs: number;
    /** Weights of the compacted layer. */
    readonly weights: number;
  }>;
  /** Median forward-pass ms at each batch size: compacted, and the original dense model with the same weights masked. */
  readonly inference: ReadonlyArray<{
    readonly batch: number;
    readonly compactedMs: number;
    readonly originalMs: number;
  }>;
}

/** What a force arm stores: weights, per-layer ranks, and the test accuracy of its decompositions before fine-tuning. */
export interface ForceArmAnalysis {
  readonly weights: Record<string, TensorRecord>;
  readonly ranks: ReadonlyArray<FilterRank & { readonly layer: string }>;
  /** Per method, at the arm's own ranks (layers whose decomposition saves MACs): top-1 of the decomposed model, its MACs over the dense model's. */
  readonly lra: ReadonlyArray<{ readonly method: LowRankMethod; readonly top1: number; readonly macsRatio: number }>;
}

/** What a TernGrad arm stores: the zero share of its ternary gradients (Fig. 4.4c) and its final weights (Fig. 4.2's snapshots). */
export interface TernGradArmAnalysis {
  readonly zeroShare: number;
  readonly weights: Record<string, TensorRecord>;
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
  /** Weights, zero groups as a removal, group counts (SSL) or zero shares (l1). */
  readonly sparse: SparseArmAnalysis;
  /** MACs per layer and inference times of the compacted model against the original with its structure masked. */
  readonly 'compact-inference': CompactArmAnalysis;
  /** Weights, ranks at `maxErrorShare` PCA error, and the decompositions' accuracy before fine-tuning (SVD, PCA, k-means). */
  readonly force: ForceArmAnalysis;
  /** TernGrad's zero share and the weights. */
  readonly terngrad: TernGradArmAnalysis;
  /** ISS on an LSTM: the weights, the removal of all-zero ISS components, and the units left per layer. */
  readonly iss: IssArmAnalysis;
  /** l1 on an LSTM: the weights, the ISS profile of the zeros, and zero shares per regularized weight. */
  readonly 'lm-l1': LmL1ArmAnalysis;
}

/** What an ISS arm stores (see {@link AnalysisKinds}). */
export interface IssArmAnalysis {
  readonly weights: Record<string, TensorRecord>;
  readonly removal: StructureRemoval;
  readonly units: ReadonlyArray<{ readonly layer: string; readonly units: number; readonly zero: number }>;
}

/** What an l1 arm of an LSTM stores (see {@link AnalysisKinds}). */
export interface LmL1ArmAnalysis {
  readonly weights: Record<string, TensorRecord>;
  readonly profile: readonly IssProfile[];
  readonly zeroShare: ReadonlyArray<{ readonly param: string; readonly weights: number; readonly zero: number }>;
}

/** Analyses that store the trained weights (an arm may start from such an arm's model). */
export const WEIGHTS_ANALYSES = ['weights', 'sparse', 'force', 'terngrad', 'iss', 'lm-l1'] as const;

/** The name of an analysis that stores the weights. */
export type WeightsAnalysisName = (typeof WEIGHTS_ANALYSES)[number];

/** Settings of the analyses that take some. */
export interface AnalysisOptions {
  /** `force`: PCA error share of a layer's rank (default 0.05, the thesis's 5%). */
  readonly maxErrorShare?: number;
  /** `compact-inference`: batch sizes timed (default 1 and 64) and passes per timing (default 20). */
  readonly batches?: readonly number[];
  readonly repeats?: number;
}

/** The name of an analysis (see {@link AnalysisKinds}). */
export type AnalysisName = keyof AnalysisKinds;

/** What an analysis sees: the trained model and techniques, the input scaling, the test set, the evaluation context. */
export interface AnalysisInput {
  readonly model: Model;
  readonly techniques: readonly Technique[];
  /** Image arms: the input scaling and the test images. */
  readonly normalize?: ChannelStats;
  readonly test?: ImageDataset;
  readonly evalContext: Omit<ForwardContext, 'training'>;
  readonly seed: number;
  readonly options: AnalysisOptions;
  /** The arm's technique descriptions (kind and options), as built. */
  readonly described: ReadonlyArray<{ readonly kind: string; readonly options: object }>;
  /** For an arm started from another arm's model: the uncompacted original with that model's weights and removal. */
  readonly origin?: { readonly build: () => Model; readonly removal: StructureRemoval };
}

/** The technique an analysis reads, by any of its names (DFQ with staged targets is named `fractrain`). */
function technique<T extends Technique>(input: AnalysisInput, names: readonly string[], analysis: AnalysisName): T {
  const t = input.techniques.find((x) => names.includes(x.name));
  if (!t) throw new ConfigError('analysis', analysis, `an arm with the ${names.join(' or ')} technique`);
  return t as T;
}

/** The test images and input scaling of an image arm, for analyses that evaluate on them. */
function images(input: AnalysisInput, analysis: AnalysisName): [ImageDataset, ChannelStats] {
  if (!input.test || !input.normalize)
    throw new ConfigError('analysis', analysis, 'an image arm (test images to evaluate on)');
  return [input.test, input.normalize];
}

const LRA_METHODS: readonly LowRankMethod[] = ['svd', 'pca', 'kmeans'];

const ANALYSES: {
  readonly [K in AnalysisName]: (input: AnalysisInput) => AnalysisKinds[K] | Promise<AnalysisKinds[K]>;
} = {
  weights: (input) => input.model.params.recordsSync(),
  'slu-gates': (input) => {
    const slu = technique<Slu>(input, ['slu'], 'slu-gates');
    return {
      report: sluGateReport(slu, ...images(input, 'slu-gates')),
      blockCounts: slu.blockCounts(),
      gateMacsPerInput: slu.gateMacsPerInput,
      trainingTrace: sluTrainingTrace(slu),
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
      test: dfqAllocationReport(d, ...images(input, 'dfq-allocation'), { ...ctx, precision: () => full }),
    };
  },
  sparse: (input) => {
    const weights = input.model.params.recordsSync();
    const ssl = input.techniques.find((t) => t.name === 'ssl') as Ssl | undefined;
    if (ssl) return { weights, removal: ssl.removal(), groups: ssl.groupCounts() };
    const l1 = technique<L1Sparsity>(input, ['l1'], 'sparse');
    return {
      weights,
      removal: {},
      zeroShare: l1.zeroShare().map(({ layer, weights, zero }) => ({ layer, weights, zero })),
    };
  },
  'compact-inference': (input) => {
    if (!input.origin) throw new ConfigError('analysis', 'compact-inference', 'an arm started from a compacted model');
    const original = input.origin.build();
    try {
      maskStructure(original, input.origin.removal);
      const m = input.model;
      const macs = m.layers.map((l) => ({
        layer: l.name,
        macs: l.macs,
        originalMacs: original.layers.find((o) => o.name === l.name)?.macs ?? Number.NaN,
        weights: l.weightCount,
      }));
      const repeats = input.options.repeats ?? 20;
      // A language model reads windows of token ids (a fixed pattern over its vocabulary).
      const arch = m.architecture;
      const tokens =
        arch?.family === 'lstm'
          ? (batch: number) => () =>
              tf.tensor2d(
                Array.from({ length: batch * arch.options.steps }, (_, i) => i % arch.options.vocabSize),
                [batch, arch.options.steps],
                'int32',
              )
          : undefined;
      const time = (model: Model, batch: number) =>
        inferenceTime(model, { batch, repeats, ...(tokens ? { input: tokens(batch) } : {}) }).medianMs;
      const inference = (input.options.batches ?? [1, 64]).map((batch) => ({
        batch,
        compactedMs: time(m, batch),
        originalMs: time(original, batch),
      }));
      return { macs, inference };
    } finally {
      original.params.dispose();
    }
  },
  force: async (input) => {
    const m = input.model;
    const ranks = modelFilterRanks(m, { maxErrorShare: input.options.maxErrorShare ?? 0.05 });
    const denseMacs = m.layers.reduce((a, l) => a + l.macs, 0);
    const lra = [];
    for (const method of LRA_METHODS) {
      const basis = decompositionAt(m, ranks, method, input.seed);
      if (Object.keys(basis).length === 0) {
        lra.push({ method, top1: Number.NaN, macsRatio: 1 });
        continue;
      }
      const small = removeStructure(m, { basis });
      const [test, normalize] = images(input, 'force');
      const ev = await evaluate(small, test, { normalize });
      lra.push({ method, top1: ev.top1, macsRatio: small.layers.reduce((a, l) => a + l.macs, 0) / denseMacs });
      small.params.dispose();
    }
    return { weights: m.params.recordsSync(), ranks, lra };
  },
  iss: (input) => {
    const iss = technique<Iss>(input, ['iss'], 'iss');
    return { weights: input.model.params.recordsSync(), removal: iss.removal(), units: iss.unitCounts() };
  },
  'lm-l1': (input) => {
    const l1 = technique<L1Sparsity>(input, ['l1'], 'lm-l1');
    return {
      weights: input.model.params.recordsSync(),
      profile: issProfile(input.model),
      zeroShare: l1.zeroShare().map((z) => ({ param: z.param, weights: z.weights, zero: z.zero })),
    };
  },
  terngrad: (input) => {
    const tg = input.techniques.find((t) => t.name === 'terngrad') as TernGrad | undefined;
    const d = input.described.find((t) => t.kind === 'terngrad')?.options as { ternary?: boolean } | undefined;
    const ternary = tg !== undefined && (d?.ternary ?? true);
    return { zeroShare: ternary && tg ? tg.zeroShare() : 0, weights: input.model.params.recordsSync() };
  },
};

/** The modules each analysis runs besides its registry (for an arm's code fingerprint). */
export const ANALYSIS_MODULES: Readonly<Record<AnalysisName, readonly string[]>> = {
  weights: [],
  'slu-gates': ['techniques/slu-report'],
  'pfq-switches': [],
  'dfq-allocation': ['techniques/dfq-report'],
  sparse: [],
  'compact-inference': ['analysis/perf', 'models/surgery'],
  force: ['models/low-rank', 'models/surgery', 'train/evaluate'],
  terngrad: [],
  iss: [],
  'lm-l1': ['techniques/iss'],
};

/** Names of the analyses, for validation. */
export const ANALYSIS_NAMES = Object.keys(ANALYSES) as readonly AnalysisName[];

/** Runs the analysis `name` on a trained arm; its result is plain data (a JSON round trip makes sure). */
export async function runAnalysis<K extends AnalysisName>(name: K, input: AnalysisInput): Promise<AnalysisKinds[K]> {
  const analyze = ANALYSES[name] as (input: AnalysisInput) => AnalysisKinds[K] | Promise<AnalysisKinds[K]>;
  return JSON.parse(JSON.stringify(await analyze(input))) as AnalysisKinds[K];
}

/** The measured speedup of a compacted arm at `batch`: the original's median forward time over the compacted model's (NaN when not measured). */
export function compactSpeedup(outcome: { readonly analysis?: CompactArmAnalysis } | undefined, batch: number): number {
  const t = outcome?.analysis?.inference.find((i) => i.batch === batch);
  return t ? t.originalMs / t.compactedMs : Number.NaN;
}
