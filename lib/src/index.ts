/**
 * ecotrain: techniques for cheap, energy-efficient deep-network training (E²-Train, FracTrain,
 * structured sparsity, TernGrad, SmoothOut, ...) on a quantization simulator and energy model.
 *
 * This entry point is the public API; notebooks import it as `ecotrain`. Settings, errors and atomic file writes
 * without the tensor library are also at `ecotrain/base`.
 * @packageDocumentation
 */

/** The tfjs-core namespace ecotrain computes with (one shared copy; the backend is chosen by `initBackend`). */
export * as tf from '@tensorflow/tfjs-core';

// Settings, errors, randomness.
export * from './base';
export { createRng, type Rng, type RngState, shuffleInPlace } from './random';

// Backends.
export { BACKENDS, type BackendInfo, type BackendName, backendInfo, initBackend } from './backend/select';
export { setFusedOps } from './backend/native-ops';
export {
  maxPool2d,
  type OneDnnStatus,
  oneDnnStatus,
  registerOneDnnKernels,
  unregisterOneDnnKernels,
} from './backend/onednn';
export { conv2dFilterGradient } from './backend/wasm-grad';

// Data.
export { CIFAR10, CIFAR100, type DatasetSource, MNIST, type OfficialFile, TEXT } from './data/sources';
export {
  type DatasetUse,
  datasetsUsed,
  IMAGE_DATASETS,
  type ImageDatasetName,
  type LoadOptions,
  loadImageDataset,
  loadStudyData,
  type StudyData,
} from './data/load';
export type { DataSettings, FileOrigin } from './data/acquire';
export { classCounts, classSubset, type ImageDataset, imageSize, selectImages } from './data/image-dataset';
export { loadCifar } from './data/cifar';
export { loadMnist } from './data/mnist';
export { SYNTHETIC_WARNING, syntheticCifar, syntheticImages, syntheticWarning } from './data/synthetic';
export {
  type CorpusName,
  charVocabulary,
  type EncodedCorpus,
  encode,
  loadCorpusText,
  splitCorpus,
  type Vocabulary,
  wordTokens,
  wordVocabulary,
} from './data/text';
export {
  type Augmentation,
  augmentationOf,
  augmentPadCropFlip,
  type Batch,
  type BatchOptions,
  balancedSubset,
  batches,
  batchesPerEpoch,
  type ChannelStats,
  channelStats,
  trainValidationSplit,
} from './data/pipeline';

// Quantization.
export {
  checkPrecision,
  FP32,
  formatPrecision,
  fwbw,
  type LayerPrecision,
  minPrecision,
  parsePrecision,
} from './quant/precision';
export {
  mostSignificantBits,
  type QuantizeOptions,
  quantize,
  type RangeMode,
  type Rounding,
  roundingNoise,
  ternaryParts,
  ternarize,
} from './quant/quantizers';
export {
  defaultQuantConfig,
  type QuantConfig,
  quantConv2d,
  quantDepthwiseConv2d,
  quantMatMul,
  weightGradient,
  SCHEME_QUANTIZERS,
  type SchemeQuantizers,
  type WeightGradGeometry,
  type WeightGradientRule,
} from './quant/layers';
export { type QuantStats, quantStats } from './quant/stats';
export {
  dorefaActivation,
  dorefaGradient,
  dorefaWeight,
  dorefaWeightSlope,
  fixedPoint,
  QUANT_SCHEMES,
  type QuantScheme,
  type SbmRanges,
  sbmQuant,
  shiftScale,
  wageActivation,
  wageError,
  wageGradient,
  wageWeight,
} from './quant/schemes';

// Models.
export {
  type Architecture,
  type BlockPlan,
  type BlockSpec,
  type ForwardContext,
  forwardMacs,
  type LayerKind,
  type LayerSpec,
  type Model,
} from './models/spec';
export { type Param, type ParamRole, ParamStore } from './models/params';
export { fromRecord, type StateValue, type TensorRecord, tensorRecord } from './models/records';
export { CIFAR_RESNET_DEPTHS, cifarResNet, type ResNetOptions } from './models/resnet';
export { cifarNet, lenet5, MOBILENETV2_CIFAR, mlp, mobileNetV2 } from './models/small';
export { pool2d, type SeqOp, type SequentialArchitecture, sequentialModel } from './models/sequential';
export {
  type LanguageModel,
  LSTM_GATE_ORDER,
  type LstmLmOptions,
  type LstmState,
  lstmLanguageModel,
} from './models/lstm';
export { basisDecomposition, maskStructure, removeStructure, type StructureRemoval } from './models/surgery';
export {
  type BasisSpec,
  decompositionAt,
  type FilterRank,
  filterProjection,
  filterRank,
  type LowRankMethod,
  lowRankBasis,
  lowRankSpeedup,
  modelFilterRanks,
} from './models/low-rank';

// Cost and energy.
export {
  addEnergy,
  dramEnergy,
  type EnergyProfile,
  energyProfile,
  HOROWITZ_45NM,
  loadProfile,
  macEnergy,
  multiplyEnergy,
  registerProfile,
  saving,
  sramEnergy,
} from './cost/energy';
export { EnergyLedger, type LedgerOptions, type LedgerPoint, type LedgerTotals } from './cost/ledger';
export {
  effectiveStepMacs,
  layerStepMacs,
  type StepMacs,
  type TrainingAmount,
  type TrainingCost,
  trainingCost,
} from './cost/macs';
export { type LayerTraffic, layerTraffic, type MovementOptions, trafficEnergy } from './cost/movement';
export { BITFUSION_45NM, type BitFusionConfig, bitFusionStep } from './cost/bitfusion';
export {
  type ClusterSpec,
  communicationSeconds,
  gradientBytes,
  type ScalingCase,
  strongScaling,
  weakScaling,
} from './cost/cluster-model';

// Training.
export {
  type CommonTrainConfig,
  type ImageTrainConfig,
  type LanguageModelTrainConfig,
  plannedIterations,
  type ProgressSink,
  type SwaOptions,
  type TrainConfig,
} from './train/config';
export { DivergenceError, type TrainResult, train } from './train/trainer';
export type {
  CurvePoint,
  EpochRecord,
  HookResult,
  LoopEnd,
  LoopPosition,
  LoopStop,
  TrainCallback,
  TrainLoop,
} from './train/loop';
export { type EarlyStopping, type EarlyStoppingOptions, earlyStopping } from './train/early-stopping';
export { type Evaluation, evaluate, recomputeBatchNormStats } from './train/evaluate';
export { evaluatePerplexity, type PerplexityResult } from './train/language-model';
export { type DivergenceOptions, DivergenceGuard } from './train/guard';
export { createOptimizer, type Optimizer, type OptimizerConfig } from './train/optimizers';
export { type LrSchedule, lrAt } from './train/schedules';
export type {
  EpochInfo,
  GradientProblem,
  GradientResult,
  StepInfo,
  Technique,
} from './train/technique';

// Techniques: E²-Train.
export { type Smd, type SmdOptions, stochasticMiniBatchDropping } from './techniques/smd';
export { type Slu, type SluOptions, selectiveLayerUpdate } from './techniques/slu';
export { type SluGateReport, type SluTraceWindow, sluGateReport, sluTrainingTrace } from './techniques/slu-report';
export {
  pLForSkipRatio,
  type StochasticDepth,
  stochasticDepth,
  survivalProbability,
} from './techniques/stochastic-depth';
export {
  type Psg,
  type PsgOptions,
  type PsgProductRecord,
  type PsgRuleSinks,
  predictiveSignGradient,
  psgRule,
  psgWeightGradient,
} from './techniques/psg';
export { type PsgOperands, psgOperands, type SignBoundCount, signPredictionCounts } from './techniques/psg-bound';
export { type RnnGateOptions, type RnnGates, rnnGates } from './techniques/rnn-gate';
// Techniques: FracTrain.
export { type IndicatorStep, LossDiffIndicator, type LossDiffOptions } from './techniques/loss-indicator';
export {
  formatPrecisionSchedule,
  type Pfq,
  type PfqOptions,
  parsePrecisionSchedule,
  progressiveFractionalQuantization,
  StageClock,
  type StageSwitch,
  type StageSwitching,
} from './techniques/pfq';
export { type Dfq, type DfqOptions, dynamicFractionalQuantization, fracTrain } from './techniques/dfq';
export { type DfqAllocationReport, dfqAllocationReport } from './techniques/dfq-report';
// Techniques: Wen's thesis.
export {
  groupLassoStrength,
  groupNorms,
  type Ssl,
  type SslGroupCount,
  type SslOptions,
  type SslStructure,
  type SslTerm,
  sslGroupAxes,
  structuredSparsity,
} from './techniques/ssl';
export { type L1Options, type L1Sparsity, l1Sparsity } from './techniques/l1';
export {
  type Iss,
  type IssOptions,
  type IssProfile,
  intrinsicSparseStructures,
  issGroupSizes,
  type IssOverlap,
  issProfile,
} from './techniques/iss';
export {
  type ForceKind,
  type ForceRegularization,
  type ForceRegularizationOptions,
  type ForceScaler,
  filterRows,
  forceGradient,
  forcePotential,
  forceRegularization,
  forceStrength,
} from './techniques/force-regularization';
export {
  type TernGrad,
  type TernGradOptions,
  type TernGradTraffic,
  ternGrad,
  ternGradSnapshot,
} from './techniques/terngrad';
export { adaptiveNoise, type SmoothOut, type SmoothOutOptions, smoothOut } from './techniques/smoothout';

// Distributed TernGrad.
export {
  type ClusterResult,
  expectedWireBytes,
  runTernGradCluster,
  simulateTernGradJob,
  TernGradClusterError,
  type WireBytes,
} from './distributed/terngrad-cluster';
export type { TernGradJob } from './distributed/job';
export { levelBits } from './distributed/wire';

// Analysis of models and steps.
export { type BenchStep, benchStep, inferenceTime, kernelProfile, median, stepTimes } from './analysis/perf';
export {
  boxMaximize,
  type DatasetLoss,
  datasetLoss,
  directionProfile,
  filterNormalizedDirection,
  interpolationProfile,
  keskarSharpness,
  noiseSensitivity,
} from './analysis/sharpness';
export { type LayerQuantStats, layerQuantStats } from './analysis/layer-quant-stats';

// Experiments: arms, the run cache, statistics.
export type { CacheStatus, RunOutcome } from './experiments/run';
export {
  type AnalysisOf,
  analysisOf,
  type Arm,
  type ArmRunOptions,
  armCodeFingerprint,
  armDescription,
  armStepMilliseconds,
  type ArmStepTime,
  buildModel,
  buildTechnique,
  type ArmData,
  type GivenWeights,
  type ImageArmData,
  type TokenArmData,
  type LayerSelector,
  type ModelDescription,
  type Recipe,
  selectLayers,
  type SslTermDescription,
  runArm,
  ShardSliceDone,
  type TechniqueDescription,
  type TechniqueKinds,
} from './experiments/arm';
export { compactSpeedup } from './experiments/analyses';
export type {
  AnalysisKinds,
  AnalysisName,
  AnalysisOptions,
  CompactArmAnalysis,
  DfqArmAnalysis,
  ForceArmAnalysis,
  IssArmAnalysis,
  LmL1ArmAnalysis,
  PfqArmAnalysis,
  SluArmAnalysis,
  SparseArmAnalysis,
  TernGradArmAnalysis,
  WeightsAnalysisName,
} from './experiments/analyses';
export { type CacheEvent, cacheEvents, type RunCacheSettings, runCacheFromEnv } from './experiments/run-cache';
export {
  type SummaryPoint,
  type SummarySource,
  summaryPoints,
  summaryRunName,
  writeRunSummaries,
} from './experiments/summaries';
export {
  binomialTest,
  type ComparisonVerdict,
  comparisonVerdict,
  type DifferenceInterval,
  differenceInterval,
  formatInterval,
  type MeanInterval,
  meanInterval,
  tCritical,
} from './experiments/statistics';
export {
  accuracyWithinBudget,
  type ArmSummary,
  armSummary,
  type LadderRow,
  ladderRows,
  bestEvaluation,
  type EnergyAccuracyPoint,
  type MeanCurvePoint,
  meanAccuracyCurve,
  pairedBySeed,
  top1,
} from './experiments/curves';

// Studies: each paper's regimes and arms.
export {
  chooseLearningRate,
  learningRateGrid,
  withLearningRate,
  type CifarRegime,
  heldOutRegime,
  type RegimeArmChanges,
  regimeArm,
  regimeAtScale,
  regimeIterations,
  regimeResNet,
} from './studies/regime';
export { e2trainArms, e2trainRegime } from './studies/e2train';
export {
  FRACTRAIN_CODE_DFQ,
  FRACTRAIN_PAPER,
  FRACTRAIN_PAPER_EPOCHS,
  fractrainArms,
  fractrainCostErrors,
  type CostFormulaCheck,
  fractrainCodeSwitching,
  fractrainGatesFrozen,
  type FracTrainStage,
  fractrainStages,
  fractrainSwitching,
} from './studies/fractrain';
export {
  e2trainProtocol,
  forceProtocol,
  fractrainProtocol,
  issProtocol,
  type ProtocolRow,
  smoothoutProtocol,
  sslConvnetProtocol,
  sslDepthProtocol,
  sslMnistProtocol,
  terngradProtocol,
} from './studies/protocols';
export {
  convnetRegime,
  lenetRegime,
  resnetDepthRegime,
  type SparsityRegime,
  sparsityArms,
  sslCodePhases,
  sslConvnetCodePhases,
  sslConvnetLadder,
  type SslConvnetProtocolArms,
  sslDepthLadder,
  type SslDepthProtocolArms,
  weakestBlockNorm,
  type SslPhase,
} from './studies/sparsity';
export {
  chooseIssStrength,
  type IssRegime,
  type IssRow,
  type IssScan,
  type IssScanRow,
  type IssStrengthChoice,
  type IssStudy,
  issArms,
  issCharCorpus,
  issCharRegime,
  issCompactionError,
  issMedianUnitNorm,
  issRegime,
  issStrength,
  issStrengthScan,
  issStudy,
  issUnitNorms,
} from './studies/iss';
export {
  ALEXNET_TABLE_3_4,
  alexnetTheoreticalSpeedups,
  type ForceRegime,
  forceArms,
  forceRegime,
  lowerRankAtAccuracy,
  type RankAtAccuracy,
} from './studies/force';
export {
  type TernGradArm,
  type TernGradRegime,
  type TernGradStudy,
  terngradRegime,
  terngradArm,
} from './studies/terngrad';
export {
  SMOOTHOUT_VARIANTS,
  type SmoothOutArm,
  type SmoothOutRegime,
  type SmoothOutVariant,
  smoothoutArms,
  smoothoutCnnRegime,
  smoothoutRegime,
  smoothoutArm,
  smoothoutLargeBatchLadder,
  type SmoothOutRun,
  smoothoutStudy,
} from './studies/smoothout';
