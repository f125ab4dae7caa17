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
import type { ForwardContext, Model } from '../models/spec';
import { defaultQuantConfig } from '../quant/layers';
import type { LayerPrecision } from '../quant/precision';
import { type DfqOptions, dynamicFractionalQuantization } from '../techniques/dfq';
import { type PfqOptions, progressiveFractionalQuantization } from '../techniques/pfq';
import { type PsgOptions, predictiveSignGradient } from '../techniques/psg';
import { type SluOptions, selectiveLayerUpdate } from '../techniques/slu';
import { type SmdOptions, stochasticMiniBatchDropping } from '../techniques/smd';
import { stochasticDepth } from '../techniques/stochastic-depth';
import type { CommonTrainConfig, ProgressSink } from '../train/config';
import { evaluate } from '../train/evaluate';
import type { DivergenceOptions } from '../train/guard';
import type { OptimizerConfig } from '../train/optimizers';
import type { LrSchedule } from '../train/schedules';
import type { Technique } from '../train/technique';
import { train } from '../train/trainer';
import { type AnalysisKinds, type AnalysisName, runAnalysis } from './analyses';
import { datasetFingerprint, libraryFingerprint, type RunCacheSettings, runCacheFromEnv } from './run-cache';
import { type RunOutcome, throughRunCache } from './run';

/** The model of an arm, as data: the builder and its options (the seed comes from the arm). */
export type ModelDescription =
  | { readonly kind: 'resnet'; readonly options: Omit<ResNetOptions, 'seed'> }
  | { readonly kind: 'mobilenetv2'; readonly options: Omit<NonNullable<Parameters<typeof mobileNetV2>[0]>, 'seed'> }
  | { readonly kind: 'lenet5'; readonly options: Omit<NonNullable<Parameters<typeof lenet5>[0]>, 'seed'> }
  | { readonly kind: 'mlp'; readonly options: Omit<Parameters<typeof mlp>[0], 'seed'> }
  | { readonly kind: 'cifarnet'; readonly options: Omit<NonNullable<Parameters<typeof cifarNet>[0]>, 'seed'> };

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
  /** Augmentation of the training images (no default: every recipe says which). */
  readonly augment: Augmentation;
  /**
   * How images are scaled before the model: `standardize` (per-channel mean and standard deviation of the training
   * set) or `unit-range` (the stored pixel values in [0, 1], Caffe's `scale: 1/256`-style input).
   */
  readonly input: 'standardize' | 'unit-range';
  readonly swa?: { readonly start: number; readonly every: number };
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
  /** Training and test images (their contents are part of the key). */
  readonly data: { readonly train: ImageDataset; readonly test: ImageDataset };
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
  /** An arm whose trained weights this one starts from (fine-tuning); its own key is part of this arm's. */
  readonly init?: Arm<'weights'>;
}

/** How to run an arm: progress, cache settings, and an inspection of the trained model (which bypasses the cache). */
export interface ArmRunOptions {
  readonly progress?: ProgressSink;
  /** Run-cache settings (default: from the environment the runner sets; `false`: no cache). */
  readonly cache?: RunCacheSettings | false;
  /** Called with the trained model and techniques before they are disposed; an arm run with `inspect` always trains. */
  readonly inspect?: (model: Model, techniques: readonly Technique[], normalize: ChannelStats) => void | Promise<void>;
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

/** The model an arm describes, built from its seed. */
export function buildModel(d: ModelDescription, seed: number): Model {
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
    default:
      throw new ConfigError(
        'arm model.kind',
        (d as { kind: unknown }).kind,
        'resnet, mobilenetv2, lenet5, mlp or cifarnet',
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
    default:
      throw new ConfigError('arm technique.kind', (d as { kind: unknown }).kind, 'smd, slu, sd, psg, pfq or dfq');
  }
}

/** The plain data an arm's run-cache key is the hash of: its description without the label, with its data's hashes. */
export function armDescription(arm: Arm): unknown {
  return {
    library: libraryFingerprint(),
    seed: arm.seed,
    train: datasetFingerprint(arm.data.train),
    test: datasetFingerprint(arm.data.test),
    model: arm.model,
    recipe: { ...arm.recipe, augment: storedAugmentation(augmentationOf(arm.recipe.augment)) },
    techniques: arm.techniques,
    precision: arm.precision ?? null,
    quant: arm.quant ?? null,
    evaluateAt: arm.evaluateAt ?? null,
    analysis: arm.analysis ?? null,
    init: arm.init ? armDescription(arm.init) : null,
  };
}

/** Checks an arm's description before any work, naming the bad field. */
export function checkArm(arm: Arm): void {
  if (!arm || typeof arm.label !== 'string') throw new ConfigError('arm.label', arm?.label, 'a label');
  if (!Number.isSafeInteger(arm.seed) || arm.seed < 0)
    throw new ConfigError(`arm ${arm.label} seed`, arm.seed, 'a non-negative integer');
  if (arm.recipe.input !== 'standardize' && arm.recipe.input !== 'unit-range')
    throw new ConfigError(`arm ${arm.label} recipe.input`, arm.recipe.input, "'standardize' or 'unit-range'");
  augmentationOf(arm.recipe.augment);
  if (!Array.isArray(arm.techniques))
    throw new ConfigError(`arm ${arm.label} techniques`, arm.techniques, 'an array of technique descriptions');
  if (arm.init && arm.init.analysis !== 'weights')
    throw new ConfigError(
      `arm ${arm.label} init.analysis`,
      arm.init.analysis,
      "'weights' (the arm it starts from stores its weights)",
    );
}

/** The per-channel scaling the recipe asks for. */
function inputScaling(arm: Arm): ChannelStats {
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
  };
}

async function trainArm<A extends AnalysisName | undefined>(
  arm: Arm<A>,
  options: ArmRunOptions,
): Promise<RunOutcome<AnalysisOf<A>>> {
  const weights = arm.init ? (await runArm(arm.init, { cache: options.cache })).analysis : undefined;
  if (arm.init && !weights)
    throw new ConfigError(
      `arm ${arm.label} init`,
      arm.init.label,
      'an arm whose weights were computed here (not left to another shard)',
    );
  const normalize = inputScaling(arm);
  const model = buildModel(arm.model, arm.seed);
  const techniques: Technique[] = [];
  const ledger = new EnergyLedger();
  try {
    if (weights) model.params.restore(weights);
    for (const d of arm.techniques) techniques.push(buildTechnique(d, model, arm.seed));
    const evalContext = evaluationContext(arm, techniques);
    const r = arm.recipe;
    const result = await train({
      ...{ model, train: arm.data.train, batchSize: r.batchSize, epochs: r.epochs ?? 1, iterations: r.iterations },
      ...{ lr: r.lr, optimizer: r.optimizer, schedule: r.schedule, techniques, seed: arm.seed, augment: r.augment },
      ...{ normalize, precision: arm.precision, quant: arm.quant, ledger, swa: r.swa, divergence: r.divergence },
      ...{ evalContext, progress: options.progress, evalEvery: r.evalEvery, logEvery: 1_000_000 },
      validation: r.evalEvery ? arm.data.test : undefined,
    });
    // With periodic evaluation the trainer already evaluated the final model on the test set.
    const ev = result.final ?? (await evaluate(model, arm.data.test, { normalize, ctx: evalContext }));
    await options.inspect?.(model, techniques, normalize);
    const analysis = arm.analysis
      ? runAnalysis(arm.analysis, { model, techniques, normalize, test: arm.data.test, evalContext })
      : undefined;
    const t = ledger.totals();
    return {
      ...{ arm: arm.label, seed: arm.seed, top1: ev.top1, testLoss: ev.loss, iterations: result.iterations },
      ...{ batchesSeen: result.batchesSeen, energyJ: t.energy.total, effectiveMacs: t.effectiveMacs },
      ...{ macs: t.macs.total, forwardMacs: t.macs.forward, overheadMacs: t.macs.overhead },
      ...{ acceleratorEnergyJ: t.acceleratorEnergy, latencySeconds: t.latency, seconds: result.seconds },
      ...{ history: result.history, accuracyCurve: result.curve },
      techniqueStats: Object.fromEntries(techniques.filter((x) => x.stats).map((x) => [x.name, x.stats?.() ?? {}])),
      energyCurve: ledger.series.map((p) => [p.step, p.energy.total] as const),
      ...(analysis === undefined ? {} : { analysis: analysis as AnalysisOf<A>, analysisKind: arm.analysis }),
      ...(result.stopped === 'diverged' ? { stopped: 'diverged' as const, divergence: result.divergence } : {}),
    };
  } finally {
    model.params.dispose();
    for (const t of techniques) t.dispose?.();
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
    train: () => trainArm(arm, { ...options, cache: options.cache }),
    otherShard: () => otherShardOutcome(arm) as RunOutcome<AnalysisOf<A>>,
    onHit: () => options.progress?.done({ cached: 'hit' }),
  });
}
