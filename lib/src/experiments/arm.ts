import { backendInfo } from '../backend/select';
import { EnergyLedger } from '../cost/ledger';
import type { ImageDataset } from '../data/image-dataset';
import {
  type Augmentation,
  augmentationOf,
  type ChannelStats,
  channelStats,
  storedAugmentation,
} from '../data/pipeline';
import { ConfigError } from '../errors';
import { cifarResNet, type ResNetOptions } from '../models/resnet';
import { cifarNet, lenet5, mlp, mobileNetV2 } from '../models/small';
import type { ForwardContext, LayerKind, LayerSpec, Model } from '../models/spec';
import { defaultQuantConfig } from '../quant/layers';
import type { LayerPrecision } from '../quant/precision';
import { type DfqOptions, dynamicFractionalQuantization } from '../techniques/dfq';
import { type PfqOptions, progressiveFractionalQuantization } from '../techniques/pfq';
import { type PsgOptions, predictiveSignGradient } from '../techniques/psg';
import { type SluOptions, selectiveLayerUpdate } from '../techniques/slu';
import { type SmdOptions, stochasticMiniBatchDropping } from '../techniques/smd';
import { stochasticDepth } from '../techniques/stochastic-depth';
import { type ForceRegularizationOptions, forceRegularization } from '../techniques/force-regularization';
import { type L1Options, l1Sparsity } from '../techniques/l1';
import { type SmoothOutOptions, smoothOut } from '../techniques/smoothout';
import { type GhostBatchOptions, ghostBatches } from '../techniques/ghost-batch';
import { type SslTerm, structuredSparsity } from '../techniques/ssl';
import { type TernGradOptions, ternGrad } from '../techniques/terngrad';
import { decompositionAt } from '../models/low-rank';
import type { TensorRecord } from '../models/records';
import { removeStructure, type StructureRemoval } from '../models/surgery';
import type { CommonTrainConfig, ProgressSink, SwaOptions } from '../train/config';
import { evaluate } from '../train/evaluate';
import type { DivergenceOptions } from '../train/guard';
import { checkOptimizerConfig, type OptimizerConfig } from '../train/optimizers';
import { checkSchedule, type LrSchedule } from '../train/schedules';
import type { Technique } from '../train/technique';
import { train } from '../train/trainer';
import { type EarlyStoppingOptions, earlyStopping } from '../train/early-stopping';
import { evaluatePerplexity } from '../train/language-model';
import { type TrainCallback, techniqueStats } from '../train/loop';
import { type LanguageModel, type LstmLmOptions, lstmLanguageModel } from '../models/lstm';
import { type IssOptions, intrinsicSparseStructures } from '../techniques/iss';
import {
  type AnalysisKinds,
  type AnalysisName,
  type AnalysisOptions,
  ANALYSIS_MODULES,
  runAnalysis,
  type SparseArmAnalysis,
  WEIGHTS_ANALYSES,
  type WeightsAnalysisName,
} from './analyses';
import { armKey, datasetFingerprint, type RunCacheSettings, runCacheFromEnv, streamFingerprint } from './run-cache';
import { codeFingerprint } from './code-fingerprint';
import * as path from 'node:path';
import { projectRoot } from '../config';
import { type RunOutcome, runOutcomeProblem, throughRunCache } from './run';

/** The model of an arm, as data: the builder and its options (the seed comes from the arm). */
export type ModelDescription =
  | { readonly kind: 'resnet'; readonly options: Omit<ResNetOptions, 'seed'> }
  | { readonly kind: 'mobilenetv2'; readonly options: Omit<NonNullable<Parameters<typeof mobileNetV2>[0]>, 'seed'> }
  | { readonly kind: 'lenet5'; readonly options: Omit<NonNullable<Parameters<typeof lenet5>[0]>, 'seed'> }
  | { readonly kind: 'mlp'; readonly options: Omit<Parameters<typeof mlp>[0], 'seed'> }
  | { readonly kind: 'cifarnet'; readonly options: Omit<NonNullable<Parameters<typeof cifarNet>[0]>, 'seed'> }
  | { readonly kind: 'lstm'; readonly options: Omit<LstmLmOptions, 'seed'> };

/** Layers named as data: of these kinds, with these names, without those (all given conditions hold). */
export interface LayerSelector {
  readonly kinds?: readonly LayerKind[];
  readonly names?: readonly string[];
  readonly except?: readonly string[];
  /** Layers whose name ends so (e.g. `/basis`, the basis convolutions of a decomposed layer). */
  readonly suffix?: string;
}

/** The predicate of a {@link LayerSelector} (every layer when undefined). */
export function selectLayers(s: LayerSelector | undefined): ((layer: LayerSpec) => boolean) | undefined {
  if (!s) return undefined;
  return (l) =>
    (!s.kinds || s.kinds.includes(l.kind)) &&
    (!s.names || s.names.includes(l.name)) &&
    !s.except?.includes(l.name) &&
    (!s.suffix || l.name.endsWith(s.suffix));
}

/** An SSL term of an arm: its structure and strength, and the layers it regularizes as data. */
export type SslTermDescription = Omit<SslTerm, 'layers'> & { readonly layers?: LayerSelector };

/** The options each technique of an arm takes, as data (the model and seed come from the arm). */
export interface TechniqueKinds {
  readonly smd: Omit<SmdOptions, 'seed'>;
  readonly slu: Omit<SluOptions, 'model' | 'seed'>;
  /** Stochastic depth with last-block survival `1 - pL` (linear decay). */
  readonly sd: { readonly pL: number };
  readonly psg: PsgOptions;
  /** PFQ; `depthwise` fixes the precision of depthwise layers whatever the stage (FracTrain's MobileNetV2). */
  readonly pfq: Omit<PfqOptions, 'fixed'> & { readonly depthwise?: LayerPrecision };
  readonly dfq: Omit<DfqOptions, 'model' | 'seed'>;
  readonly ssl: {
    readonly terms: readonly SslTermDescription[];
    readonly threshold?: number;
    readonly epsilon?: number;
  };
  readonly l1: Omit<L1Options, 'model' | 'layers'> & { readonly layers?: LayerSelector };
  readonly force: Omit<ForceRegularizationOptions, 'model' | 'layers'> & { readonly layers?: LayerSelector };
  readonly terngrad: Omit<TernGradOptions, 'seed' | 'floatParams'>;
  readonly smoothout: Omit<SmoothOutOptions, 'model' | 'seed'>;
  readonly iss: Omit<IssOptions, 'model'>;
  /** Ghost batch norm: the large batch's forward/backward in mini-batches of `size` (SmoothOut's large-batch baseline). */
  readonly ghost: GhostBatchOptions;
}

/** A technique of an arm, as data. */
export type TechniqueDescription = {
  readonly [K in keyof TechniqueKinds]: { readonly kind: K; readonly options: TechniqueKinds[K] };
}[keyof TechniqueKinds];

/** How an arm trains: batch, length, optimizer, schedule, augmentation and the trainer's options. */
export interface Recipe {
  readonly batchSize: number;
  /** Trained iterations (the schedule spans them); or `epochs`. */
  readonly iterations?: number;
  readonly epochs?: number;
  readonly lr: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: LrSchedule;
  /** Image arms: augmentation of the training images (no default: an image recipe says which). */
  readonly augment?: Augmentation;
  /**
   * Image arms: how images are scaled before the model: `standardize` (per-channel mean and standard deviation of the
   * training set) or `unit-range` (the stored pixel values in [0, 1], Caffe's `scale: 1/256`-style input).
   */
  readonly input?: 'standardize' | 'unit-range';
  /** Language-model arms: tokens per truncated-BPTT window. */
  readonly bptt?: number;
  /** Clip the applied gradient to this global L2 norm (LSTM language models). */
  readonly clipNorm?: number;
  /** Stop when the validation loss stops improving (see `earlyStopping`); the outcome says where. */
  readonly earlyStopping?: EarlyStoppingOptions;
  readonly swa?: SwaOptions;
  /** What counts as divergence and what it does (`action: 'stop'` makes a diverged run an outcome). */
  readonly divergence?: DivergenceOptions;
  /** Evaluate on the test set every this many iterations (accuracy against energy). */
  readonly evalEvery?: number;
}

/**
 * An experiment arm, described as plain data: its model, recipe, techniques with their options, precision, the
 * analysis it stores, and optionally the arm whose trained weights it starts from. Everything the run does is built
 * from this description, and its run-cache key is derived from it (the label aside), so the two cannot drift: two
 * notebooks that describe the same arm share one cache entry.
 */
export interface Arm<A extends AnalysisName | undefined = AnalysisName | undefined> {
  /** Label of the arm in tables and figures (not part of the key). */
  readonly label: string;
  readonly seed: number;
  /** Training and test images, or token streams (their contents are part of the key). */
  readonly data: ArmData;
  readonly model: ModelDescription;
  readonly recipe: Recipe;
  readonly techniques: readonly TechniqueDescription[];
  /** Default precision of every layer in training (static low-precision training). */
  readonly precision?: LayerPrecision;
  /** Quantizer settings (e.g. `sbmQuant()` or `{ scheme: 'dorefa' }`). */
  readonly quant?: CommonTrainConfig['quant'];
  /** Evaluate with the forward pass at this precision, with the arm's quantizers (nearest rounding). */
  readonly evaluateAt?: LayerPrecision;
  /** What the outcome stores about the trained model (see {@link AnalysisKinds}). */
  readonly analysis: A;
  /** Settings of the analysis (part of the key). */
  readonly analysisOptions?: AnalysisOptions;
  /**
   * Where the model's weights come from (fine-tuning): an arm whose trained weights this one starts from (its own key
   * is part of this arm's), or given weights (their hash is).
   */
  readonly init?: Arm<WeightsAnalysisName> | GivenWeights;
  /**
   * What becomes of the init arm's model before training: `compact` removes the structure its SSL or l1 run zeroed
   * (model surgery: a smaller dense model; a `sparse` init), `decompose` replaces each listed conv layer by its
   * low-rank decomposition (SVD) at the given rank.
   */
  readonly initTransform?:
    | 'compact'
    | { readonly decompose: 'svd'; readonly ranks: ReadonlyArray<{ readonly layer: string; readonly rank: number }> };
}

/** The images an image arm trains and is evaluated on. */
export interface ImageArmData {
  readonly train: ImageDataset;
  readonly test: ImageDataset;
}

/**
 * The token streams of a language-model arm: it trains on `train`, evaluates (and stops early) on `validation`, and
 * reports the perplexity of `test` when given.
 */
export interface TokenArmData {
  readonly tokens: true;
  readonly train: Int32Array;
  readonly validation: Int32Array;
  readonly test?: Int32Array;
}

/** What an arm trains and is evaluated on. */
export type ArmData = ImageArmData | TokenArmData;

const isTokens = (d: ArmData): d is TokenArmData => 'tokens' in d && d.tokens === true;

/** Weights an arm starts from that no arm of this library trained (e.g. read from a file, or edited). */
export interface GivenWeights {
  readonly weights: Readonly<Record<string, TensorRecord>>;
}

const isGiven = (init: Arm | GivenWeights): init is GivenWeights => !('recipe' in init);

/** How to run an arm: progress, cache settings, and an inspection of the trained model (which bypasses the cache). */
export interface ArmRunOptions {
  readonly progress?: ProgressSink;
  /** Run-cache settings (default: from the environment the runner sets; `false`: no cache). */
  readonly cache?: RunCacheSettings | false;
  /**
   * Called with the trained model, techniques and input scaling (undefined for token data) before they are disposed;
   * an arm run with `inspect` always trains.
   */
  readonly inspect?: (
    model: Model,
    techniques: readonly Technique[],
    normalize: ChannelStats | undefined,
  ) => void | Promise<void>;
}

/** The analysis type an arm's outcome carries. */
export type AnalysisOf<A extends AnalysisName | undefined> = A extends AnalysisName ? AnalysisKinds[A] : undefined;

/**
 * The analysis `kind` an outcome stored, typed; undefined when the outcome's arm stored another analysis or none (a
 * placeholder of another shard, an arm without analysis).
 */
export function analysisOf<K extends AnalysisName>(outcome: RunOutcome, kind: K): AnalysisKinds[K] | undefined {
  return outcome.analysisKind === kind ? (outcome.analysis as AnalysisKinds[K]) : undefined;
}

/** The model an arm describes, built from its seed, with `weights` restored when given. */
export function buildModel(d: ModelDescription, seed: number, weights?: Readonly<Record<string, TensorRecord>>): Model {
  const m = buildBare(d, seed);
  if (weights) {
    try {
      m.params.restore(weights);
    } catch (err) {
      m.params.dispose();
      throw err;
    }
  }
  return m;
}

function buildBare(d: ModelDescription, seed: number): Model {
  switch (d.kind) {
    case 'resnet':
      return cifarResNet({ ...d.options, seed });
    case 'mobilenetv2':
      return mobileNetV2({ ...d.options, seed });
    case 'lenet5':
      return lenet5({ ...d.options, seed });
    case 'mlp':
      return mlp({ ...d.options, seed });
    case 'cifarnet':
      return cifarNet({ ...d.options, seed });
    case 'lstm':
      return lstmLanguageModel({ ...d.options, seed });
    default:
      throw new ConfigError(
        'arm model.kind',
        (d as { kind: unknown }).kind,
        'resnet, mobilenetv2, lenet5, mlp, cifarnet or lstm',
      );
  }
}

/** A technique an arm describes, built for its model and seed. */
export function buildTechnique(d: TechniqueDescription, model: Model, seed: number): Technique {
  switch (d.kind) {
    case 'smd':
      return stochasticMiniBatchDropping({ ...d.options, seed });
    case 'slu':
      return selectiveLayerUpdate({ ...d.options, model, seed });
    case 'sd':
      return stochasticDepth({ model, pL: d.options.pL, seed });
    case 'psg':
      return predictiveSignGradient(d.options);
    case 'pfq': {
      const { depthwise, ...options } = d.options;
      const fixed = depthwise ? (l: { kind: string }) => (l.kind === 'depthwise' ? depthwise : undefined) : undefined;
      return progressiveFractionalQuantization({ ...options, ...(fixed ? { fixed } : {}) });
    }
    case 'dfq':
      return dynamicFractionalQuantization({ ...d.options, model, seed });
    case 'ssl': {
      const terms = d.options.terms.map(({ layers, ...t }) => ({
        ...t,
        ...(layers ? { layers: selectLayers(layers) } : {}),
      }));
      return structuredSparsity({ ...d.options, model, terms });
    }
    case 'l1': {
      const { layers, ...o } = d.options;
      return l1Sparsity({ ...o, model, ...(layers ? { layers: selectLayers(layers) } : {}) });
    }
    case 'force': {
      const { layers, ...o } = d.options;
      return forceRegularization({ ...o, model, ...(layers ? { layers: selectLayers(layers) } : {}) });
    }
    case 'terngrad':
      return ternGrad({ ...d.options, seed });
    case 'smoothout':
      return smoothOut({ ...d.options, model, seed });
    case 'iss':
      return intrinsicSparseStructures({ ...d.options, model });
    case 'ghost':
      return ghostBatches(d.options);
    default:
      throw new ConfigError(
        'arm technique.kind',
        (d as { kind: unknown }).kind,
        'smd, slu, sd, psg, pfq, dfq, ssl, l1, force, terngrad, smoothout, iss or ghost',
      );
  }
}

/** The module that builds each model kind (for the arm's code fingerprint). */
export const MODEL_MODULES: Readonly<Record<ModelDescription['kind'], string>> = {
  resnet: 'models/resnet',
  mobilenetv2: 'models/small',
  lenet5: 'models/small',
  mlp: 'models/small',
  cifarnet: 'models/small',
  lstm: 'models/lstm',
};

/** The module of each technique kind (for the arm's code fingerprint). */
export const TECHNIQUE_MODULES: Readonly<Record<keyof TechniqueKinds, string>> = {
  smd: 'techniques/smd',
  slu: 'techniques/slu',
  sd: 'techniques/stochastic-depth',
  psg: 'techniques/psg',
  pfq: 'techniques/pfq',
  dfq: 'techniques/dfq',
  ssl: 'techniques/ssl',
  l1: 'techniques/l1',
  force: 'techniques/force-regularization',
  terngrad: 'techniques/terngrad',
  smoothout: 'techniques/smoothout',
  iss: 'techniques/iss',
  ghost: 'techniques/ghost-batch',
};

/** What every arm's run loads besides its model's, techniques' and analysis's modules (trainer, data, ledger, cache). */
export const CORE_MODULES: readonly string[] = [
  'experiments/arm',
  'backend/select',
  'experiments/run',
  'experiments/run-cache',
  'errors',
  'cost/ledger',
  'data/pipeline',
  'quant/layers',
  'train/trainer',
  'train/evaluate',
  'train/early-stopping',
  'train/language-model',
  'train/loop',
  'train/optimizers',
  'train/schedules',
];

/**
 * SHA-256 (16 hex digits) of the library code an arm's run loads: the core modules, its model's, its techniques' and
 * its analysis's modules and what they import at run time (this module and the analyses' registry count by their own
 * text). An edit of code the arm does not run leaves it, and so the arm's cache entry, unchanged.
 */
export function armCodeFingerprint(arm: Arm, srcDir = path.join(projectRoot(), 'lib', 'src')): string {
  const roots = [
    ...CORE_MODULES,
    MODEL_MODULES[arm.model.kind],
    ...arm.techniques.map((t) => TECHNIQUE_MODULES[t.kind]),
    ...(arm.analysis ? ['experiments/analyses', ...ANALYSIS_MODULES[arm.analysis]] : []),
    ...(arm.initTransform
      ? ['models/surgery', ...(typeof arm.initTransform === 'object' ? ['models/low-rank'] : [])]
      : []),
  ];
  // Running compiled, the JavaScript that actually runs counts as well: a build older than the sources is other code.
  const builtDir = __filename.endsWith('.js') ? path.resolve(__dirname, '..') : undefined;
  return codeFingerprint(roots, {
    srcDir,
    opaque: ['experiments/arm', 'experiments/analyses'],
    ...(builtDir ? { builtDir } : {}),
  });
}

/**
 * The plain data an arm's run-cache key is the hash of: its description without the label, with its data's hashes
 * and the fingerprint of the code it runs (`srcDir`: the library's sources, by default this project's).
 */
export function armDescription(arm: Arm, srcDir?: string): unknown {
  return {
    library: armCodeFingerprint(arm, srcDir),
    // Outcomes of one backend are not another's (kernels differ in rounding and speed).
    backend: backendInfo()?.name ?? 'uninitialised',
    seed: arm.seed,
    ...(isTokens(arm.data)
      ? {
          train: streamFingerprint(arm.data.train),
          validation: streamFingerprint(arm.data.validation),
          test: arm.data.test ? streamFingerprint(arm.data.test) : null,
        }
      : { train: datasetFingerprint(arm.data.train), test: datasetFingerprint(arm.data.test) }),
    model: arm.model,
    recipe:
      arm.recipe.augment === undefined
        ? arm.recipe
        : { ...arm.recipe, augment: storedAugmentation(augmentationOf(arm.recipe.augment)) },
    techniques: arm.techniques,
    precision: arm.precision ?? null,
    quant: arm.quant ?? null,
    evaluateAt: arm.evaluateAt ?? null,
    analysis: arm.analysis ?? null,
    analysisOptions: arm.analysisOptions ?? null,
    init: arm.init
      ? isGiven(arm.init)
        ? { weights: armKey(arm.init.weights) }
        : armDescription(arm.init, srcDir)
      : null,
    initTransform: arm.initTransform ?? null,
  };
}

/** Checks an arm's description before any work, naming the bad field. */
export function checkArm(arm: Arm): void {
  if (!arm || typeof arm.label !== 'string') throw new ConfigError('arm.label', arm?.label, 'a label');
  if (!Number.isSafeInteger(arm.seed) || arm.seed < 0)
    throw new ConfigError(`arm ${arm.label} seed`, arm.seed, 'a non-negative integer');
  const r = arm.recipe;
  if (!(Number.isInteger(r?.batchSize) && r.batchSize > 0))
    throw new ConfigError(`arm ${arm.label} recipe.batchSize`, r?.batchSize, 'a positive integer');
  if (!(typeof r.lr === 'number' && Number.isFinite(r.lr) && r.lr > 0))
    throw new ConfigError(`arm ${arm.label} recipe.lr`, r.lr, 'a positive learning rate');
  checkOptimizerConfig(r.optimizer);
  checkSchedule(r.schedule);
  if (arm.init && !isGiven(arm.init)) checkArm(arm.init);
  if (isTokens(arm.data)) {
    if (!(Number.isInteger(arm.recipe.bptt) && (arm.recipe.bptt ?? 0) > 0))
      throw new ConfigError(
        `arm ${arm.label} recipe.bptt`,
        arm.recipe.bptt,
        'a positive window length for a language-model arm',
      );
    if (arm.model.kind !== 'lstm')
      throw new ConfigError(`arm ${arm.label} model.kind`, arm.model.kind, "'lstm' for token data");
  } else {
    if (arm.recipe.input !== 'standardize' && arm.recipe.input !== 'unit-range')
      throw new ConfigError(`arm ${arm.label} recipe.input`, arm.recipe.input, "'standardize' or 'unit-range'");
    if (arm.recipe.augment === undefined)
      throw new ConfigError(
        `arm ${arm.label} recipe.augment`,
        undefined,
        "an augmentation: 'none', 'flip' or 'pad-crop-flip'",
      );
    augmentationOf(arm.recipe.augment);
  }
  if (!Array.isArray(arm.techniques))
    throw new ConfigError(`arm ${arm.label} techniques`, arm.techniques, 'an array of technique descriptions');
  const initAnalysis = arm.init && !isGiven(arm.init) ? arm.init.analysis : arm.init ? 'weights' : undefined;
  if (arm.init && !(WEIGHTS_ANALYSES as readonly unknown[]).includes(initAnalysis))
    throw new ConfigError(
      `arm ${arm.label} init.analysis`,
      initAnalysis,
      `${WEIGHTS_ANALYSES.join(', ')} (analyses that store the weights)`,
    );
  if (arm.initTransform === 'compact' && initAnalysis !== 'sparse' && initAnalysis !== 'iss')
    throw new ConfigError(
      `arm ${arm.label} init.analysis`,
      initAnalysis,
      "'sparse' or 'iss' for initTransform 'compact'",
    );
  if (typeof arm.initTransform === 'object' && arm.initTransform.decompose !== 'svd')
    throw new ConfigError(`arm ${arm.label} initTransform.decompose`, arm.initTransform.decompose, "'svd'");
  if (arm.initTransform !== undefined && !arm.init)
    throw new ConfigError(`arm ${arm.label} initTransform`, arm.initTransform, 'an init arm to transform');
}

/** The per-channel scaling the recipe asks for. */
function inputScaling(arm: Arm): ChannelStats | undefined {
  if (isTokens(arm.data)) return undefined;
  if (arm.recipe.input === 'standardize') return channelStats(arm.data.train);
  const channels = arm.data.train.channels;
  return { mean: new Array<number>(channels).fill(0), std: new Array<number>(channels).fill(1) };
}

/** The evaluation context of a trained arm: its evaluation precision and quantizers, its techniques' block plans. */
function evaluationContext(arm: Arm, techniques: readonly Technique[]): Omit<ForwardContext, 'training'> {
  const planners = techniques.filter((t) => t.evalPlan);
  if (planners.length > 1)
    throw new ConfigError(
      `arm ${arm.label} techniques`,
      planners.map((t) => t.name).join(' + '),
      'at most one technique that plans blocks at evaluation',
    );
  const at = arm.evaluateAt;
  return {
    ...(at ? { precision: () => at, quant: { ...defaultQuantConfig(0), ...(arm.quant ?? {}) } } : {}),
    ...(planners[0]?.evalPlan ? { blockPlan: planners[0].evalPlan } : {}),
  };
}

/** The outcome a shard reports for an arm another shard computes: NaN measurements, never a verdict. */
function otherShardOutcome(arm: Arm): RunOutcome {
  const nan = Number.NaN;
  return {
    ...{ arm: arm.label, seed: arm.seed, top1: nan, testLoss: nan, iterations: 0, batchesSeen: 0, energyJ: nan },
    ...{ effectiveMacs: nan, macs: nan, forwardMacs: nan, overheadMacs: nan, seconds: 0, history: [] },
    ...{ techniqueStats: {}, energyCurve: [], accuracyCurve: [], cache: 'other shard' },
    ...(arm.analysis ? { analysis: analysisOfOtherShard(arm) } : {}),
  };
}

/**
 * A shard's work in a notebook ends where the notebook needs what another shard computes. Thrown when a notebook reads
 * the analysis of an arm left to another shard; the headless runner ends the notebook there as a success (the
 * assembling run executes it whole).
 */
export class ShardSliceDone extends Error {
  constructor(arm: string) {
    super(`this shard computed its slice; arm ${arm} is another shard's (the assembling run continues from here)`);
    this.name = 'ShardSliceDone';
  }
}

/** The analysis of an arm another shard computes: reading any field of it ends the shard's notebook ({@link ShardSliceDone}). */
function analysisOfOtherShard(arm: Arm): never {
  return new Proxy(
    {},
    {
      get(_t, p) {
        // JSON serialisation and promise checks see an empty object.
        if (typeof p === 'symbol' || p === 'toJSON' || p === 'then') return undefined;
        throw new ShardSliceDone(`${arm.label} (seed ${arm.seed})`);
      },
    },
  ) as never;
}

/** Iterations between an arm's checkpoints: about one epoch (a language model's windows per epoch). */
function checkpointEvery(arm: Arm): number {
  const r = arm.recipe;
  const perEpoch = isTokens(arm.data)
    ? Math.floor(arm.data.train.length / (r.batchSize * (r.bptt ?? 1)))
    : Math.floor(arm.data.train.count / r.batchSize);
  return Math.max(1, perEpoch);
}

/**
 * The model an arm starts from: built from its description, or from its init arm's trained weights (run through the
 * cache first), compacted or decomposed as `initTransform` says. `origin` rebuilds the uncompacted original.
 */
async function initialModel(
  arm: Arm,
  cache: ArmRunOptions['cache'],
): Promise<{ model: Model; origin?: { build: () => Model; removal: StructureRemoval } }> {
  if (!arm.init) return { model: buildModel(arm.model, arm.seed) };
  const init = arm.init;
  // The weights this arm starts from are computed here when no shard has stored them yet, whichever shard owns them
  // (deterministic: the same entry as the owner's), so that a shard never waits on or crashes for another's arm.
  const shared = cache === false ? false : (cache ?? runCacheFromEnv());
  const unsharded = shared ? { ...shared, shard: undefined } : shared;
  const stored = isGiven(init)
    ? init
    : (await runArm(init, { cache: unsharded === undefined ? false : unsharded })).analysis;
  // A 'weights' analysis is the weights themselves; the other weight-storing analyses hold them under `weights`.
  const analysis = (!isGiven(init) && init.analysis === 'weights' && stored ? { weights: stored } : stored) as
    | { weights?: Record<string, TensorRecord> }
    | undefined;
  if (!analysis?.weights)
    throw new ConfigError(
      `arm ${arm.label} init`,
      isGiven(init) ? 'given weights' : init.label,
      'an arm whose weights were computed here (not left to another shard)',
    );
  const weights = analysis.weights;
  const full = buildModel(arm.model, arm.seed, weights);
  if (!arm.initTransform) return { model: full };
  try {
    const removal: StructureRemoval =
      arm.initTransform === 'compact'
        ? (analysis as SparseArmAnalysis).removal
        : { basis: decompositionAt(full, arm.initTransform.ranks, 'svd', arm.seed) };
    return {
      model: removeStructure(full, removal),
      origin: { build: () => buildModel(arm.model, arm.seed, weights), removal },
    };
  } finally {
    full.params.dispose();
  }
}

/** What {@link armStepMilliseconds} measured. */
export interface ArmStepTime {
  /** Wall milliseconds per trained iteration after the warm-up (data pipeline, techniques, ledger included). */
  readonly msPerIteration: number;
  /** Trained iterations timed. */
  readonly timed: number;
  /** The iterations the arm's recipe trains (`iterations`, or `epochs` full epochs of its training set). */
  readonly iterations: number;
}

/**
 * Times an arm's training step: builds the arm's model and techniques as {@link runArm} does and trains `warmup` + `steps`
 * iterations of its recipe (its schedule spanning the whole run), uncached, without the final evaluation or analysis,
 * and returns the wall time per trained iteration after the warm-up. An `init` arm is not trained for this: the model
 * starts from its own initialisation (an arm with an `initTransform`, whose shapes come from the init arm's weights, is
 * refused).
 */
export async function armStepMilliseconds(
  arm: Arm,
  o: { readonly warmup?: number; readonly steps?: number } = {},
): Promise<ArmStepTime> {
  const warmup = o.warmup ?? 3;
  const steps = o.steps ?? 10;
  if (!Number.isInteger(warmup) || warmup < 1) throw new ConfigError('warmup', warmup, 'a positive integer');
  if (!Number.isInteger(steps) || steps < 1) throw new ConfigError('steps', steps, 'a positive integer');
  checkArm(arm);
  if (arm.initTransform)
    throw new ConfigError(
      `arm ${arm.label} initTransform`,
      arm.initTransform,
      'none: its shapes come from the init arm',
    );
  let trained = 0;
  let t0 = 0;
  let t1 = 0;
  const progress: ProgressSink = {
    tick: (_n, info) => {
      if (!info || !('loss' in info)) return;
      trained += 1;
      if (trained === warmup) t0 = performance.now();
      if (trained === warmup + steps) t1 = performance.now();
    },
    done: () => undefined,
  };
  const { init: _init, ...fresh } = arm;
  await trainArm(fresh as Arm<typeof arm.analysis>, { progress, cache: false }, undefined, warmup + steps);
  if (t1 === 0) t1 = performance.now();
  const timed = trained - warmup;
  if (timed < steps)
    throw new ConfigError(
      `arm ${arm.label} trained iterations`,
      trained,
      `at least warmup + steps = ${warmup + steps} (its recipe stops earlier)`,
    );
  const r = arm.recipe;
  const iterations =
    r.iterations ??
    Math.floor((r.epochs ?? 1) * (isTokens(arm.data) ? Number.NaN : arm.data.train.count / r.batchSize));
  return { msPerIteration: (t1 - t0) / timed, timed, iterations };
}

async function trainArm<A extends AnalysisName | undefined>(
  arm: Arm<A>,
  options: ArmRunOptions,
  checkpointFile: string | undefined,
  stopAfter?: number,
): Promise<RunOutcome<AnalysisOf<A>>> {
  const start = await initialModel(arm, options.cache);
  const normalize = inputScaling(arm);
  const model = start.model;
  const techniques: Technique[] = [];
  const callbacks: TrainCallback[] = [];
  const ledger = new EnergyLedger();
  try {
    for (const d of arm.techniques) techniques.push(buildTechnique(d, model, arm.seed));
    const evalContext = evaluationContext(arm, techniques);
    const r = arm.recipe;
    const stopper = r.earlyStopping ? earlyStopping(r.earlyStopping) : undefined;
    callbacks.push(...(stopper ? [stopper] : []));
    const common = {
      ...{
        model,
        batchSize: r.batchSize,
        epochs: r.epochs ?? 1,
        iterations: r.iterations,
        callbacks,
        clipNorm: r.clipNorm,
      },
      ...{ lr: r.lr, optimizer: r.optimizer, schedule: r.schedule, techniques, seed: arm.seed },
      ...{ precision: arm.precision, quant: arm.quant, ledger, swa: r.swa, divergence: r.divergence },
      ...{ evalContext, progress: options.progress, evalEvery: r.evalEvery, logEvery: 1_000_000 },
      // Through the cache, the run keeps its state about once an epoch (and at the end) and resumes from it.
      ...(checkpointFile ? { checkpoint: { file: checkpointFile, every: checkpointEvery(arm), resume: true } } : {}),
      ...(stopAfter !== undefined ? { stopAfter } : {}),
    };
    const data = arm.data;
    const result = isTokens(data)
      ? await train({
          ...common,
          task: 'language-model',
          train: data.train,
          validation: data.validation,
          bptt: r.bptt ?? 1,
        })
      : await train({
          ...{ ...common, train: data.train, augment: r.augment, normalize },
          validation: r.evalEvery || stopper ? data.test : undefined,
        });
    // A timing probe (armStepMilliseconds) reads nothing of its outcome: no evaluation, no analysis.
    if (stopAfter !== undefined)
      return { arm: arm.label, seed: arm.seed, seconds: result.seconds } as RunOutcome<AnalysisOf<A>>;
    // With periodic evaluation the trainer already evaluated the final model on the test set (validation stream).
    const ev = isTokens(data)
      ? { top1: Number.NaN, loss: result.final?.loss ?? Number.NaN, perplexity: result.final?.perplexity ?? Number.NaN }
      : (result.final ?? (await evaluate(model, data.test, { normalize, ctx: evalContext })));
    const testPerplexity =
      isTokens(data) && data.test
        ? evaluatePerplexity(model as LanguageModel, data.test, { batch: 10, steps: r.bptt ?? 1, ctx: evalContext })
            .perplexity
        : undefined;
    await options.inspect?.(model, techniques, normalize);
    const analysis = arm.analysis
      ? await runAnalysis(arm.analysis, {
          ...{
            model,
            techniques,
            normalize,
            test: isTokens(data) ? undefined : data.test,
            evalContext,
            seed: arm.seed,
          },
          ...{ options: arm.analysisOptions ?? {}, described: arm.techniques, origin: start.origin },
        })
      : undefined;
    const t = ledger.totals();
    return {
      ...{ arm: arm.label, seed: arm.seed, top1: ev.top1, testLoss: ev.loss, iterations: result.iterations },
      ...{ batchesSeen: result.batchesSeen, energyJ: t.energy.total, effectiveMacs: t.effectiveMacs },
      ...{ macs: t.macs.total, forwardMacs: t.macs.forward, overheadMacs: t.macs.overhead },
      ...{ acceleratorEnergyJ: t.acceleratorEnergy, latencySeconds: t.latency, seconds: result.seconds },
      ...{ history: result.history, accuracyCurve: result.curve },
      techniqueStats: techniqueStats(techniques),
      energyCurve: ledger.series.map((p) => [p.step, p.energy.total] as const),
      ...(analysis === undefined ? {} : { analysis: analysis as AnalysisOf<A>, analysisKind: arm.analysis }),
      ...(result.stopped === 'diverged' ? { stopped: 'diverged' as const, divergence: result.divergence } : {}),
      ...(isTokens(data)
        ? { perplexity: ev.perplexity, ...(testPerplexity !== undefined ? { testPerplexity } : {}) }
        : {}),
      ...(stopper ? { stoppedAt: stopper.stoppedAt() ?? null } : {}),
    };
  } finally {
    model.params.dispose();
    for (const t of techniques) t.dispose?.();
    for (const c of callbacks) c.dispose?.();
  }
}

/**
 * Runs one arm with an energy ledger: builds its model (from the `init` arm's weights when set) and techniques from
 * its description and seed, trains, evaluates top-1 on its test set, stores its analysis, and disposes everything it
 * created. Through the run cache: loaded when stored, else trained and stored; under a shard, arms of other shards
 * return NaN placeholders.
 */
export async function runArm<A extends AnalysisName | undefined>(
  arm: Arm<A>,
  options: ArmRunOptions = {},
): Promise<RunOutcome<AnalysisOf<A>>> {
  checkArm(arm);
  const cache = options.cache === false ? undefined : (options.cache ?? runCacheFromEnv());
  return throughRunCache<RunOutcome<AnalysisOf<A>>>({
    settings: cache && !options.inspect ? cache : undefined,
    describe: () => armDescription(arm),
    arm: arm.label,
    seed: arm.seed,
    train: (checkpoint) => trainArm(arm, { ...options, cache: options.cache }, checkpoint),
    otherShard: () => otherShardOutcome(arm) as RunOutcome<AnalysisOf<A>>,
    onHit: () => options.progress?.done({ cached: 'hit' }),
    validate: runOutcomeProblem,
  });
}
