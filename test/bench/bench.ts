/**
 * `npm run bench [-- --against-pytorch] [-- --strict]`: training-step benchmarks on the native backend;
 * `npm run bench -- --regime`: one epoch of a whole run against PyTorch (see `regimeMain`);
 * `npm run bench -- --techniques`: each technique's trainer step against the float step (see `techniquesMain`).
 *
 * - ResNet-20 and ResNet-8 (CIFAR shapes, batch 128, SGD momentum 0.9, weight decay 5e-4): float and FW-8/BW-8
 *   (stochastic gradient rounding, SBM ranges) steps, interleaved, median step time and images/s;
 * - ResNet-8 steps of FracTrain's static schemes (SBM FW-8/BW-8 and FW-3/BW-6, DoReFa, WAGEUBN) against float;
 * - CifarNet (Caffe's cifar10_full, the SmoothOut CNN study's network) Adam steps at batches 64 and 1,250, with oneDNN
 *   convolutions and max pooling and the fused ReLU gradient (after) and with the stock kernels (before), interleaved;
 * - the LSTM language model step (vocabulary 10,000, embedding 200, two layers of 200, 35-token windows,
 *   batch 20, clipping by global norm 5) in tokens/s;
 * - tensor count over 200 ResNet-20 steps, peak RSS, and where a ResNet-20 float step's time goes per kernel,
 *   with oneDNN convolutions and fused ops (after) and with the stock kernels (before).
 * With --against-pytorch, the same steps in PyTorch 2.13 CPU (2 threads, NCHW and channels-last) run in the same
 * session (a separate venv out/bench-venv is created on demand with torch==2.13.0+cpu) and ratios are printed.
 * Writes out/bench/bench.json. Targets: float steps >= 1.0x PyTorch's best layout; FW-8/BW-8 <= 1.25x float;
 * tensor count flat. With --strict the process exits 1 when a target is missed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend/select';
import { registerOneDnnKernels, unregisterOneDnnKernels } from '../../lib/src/backend/onednn';
import { setFusedOps } from '../../lib/src/backend/native-ops';
import { projectRoot, settingsFromEnv } from '../../lib/src/config';
import { loadStudyData } from '../../lib/src/data/load';
import { runArm } from '../../lib/src/experiments/arm';
import { e2trainArms, e2trainRegime } from '../../lib/src/studies/e2train';
import { writeFileAtomic } from '../../lib/src/data/files';
import { cifarResNet } from '../../lib/src/models/resnet';
import { cifarNet } from '../../lib/src/models/small';
import { lstmLanguageModel, type LanguageModel } from '../../lib/src/models/lstm';
import { benchStep, kernelProfile, median, stepTimes } from '../../lib/src/analysis/perf';
import { fwbw, type LayerPrecision } from '../../lib/src/quant/precision';
import { sbmQuant } from '../../lib/src/quant/schemes';
import { createOptimizer } from '../../lib/src/train/optimizers';
import { clipByGlobalNorm } from '../../lib/src/train/step';
import {
  buildModel,
  buildTechnique,
  type ModelDescription,
  type TechniqueDescription,
} from '../../lib/src/experiments/arm';
import { channelStats } from '../../lib/src/data/pipeline';
import { syntheticCifar } from '../../lib/src/data/synthetic';
import { train, type TrainConfig } from '../../lib/src/train/trainer';
import type { OptimizerConfig } from '../../lib/src/train/optimizers';
import type { CommonTrainConfig } from '../../lib/src/train/config';

const BATCH = 128;
const args = process.argv.slice(2);
const strict = args.includes('--strict');
const againstPytorch = args.includes('--against-pytorch');
const memSteps = Number(process.env.ECOTRAIN_BENCH_STEPS ?? 200);
const LSTM = { vocab: 10000, embedding: 200, hidden: [200, 200], bptt: 35, batch: 20 };
const CIFARNET_BATCHES = [64, 1250];

function lstmStep(model: LanguageModel): () => void {
  const params = model.params.trainable();
  const opt = createOptimizer({ kind: 'sgd' });
  const ids = tf.randomUniform([LSTM.batch, LSTM.bptt], 0, LSTM.vocab, 'int32', 1) as tf.Tensor2D;
  const target = tf.oneHot(
    tf.randomUniform([LSTM.batch * LSTM.bptt], 0, LSTM.vocab, 'int32', 2) as tf.Tensor1D,
    LSTM.vocab,
  );
  return () => {
    const { value, grads } = tf.variableGrads(
      () =>
        tf.losses.softmaxCrossEntropy(
          target,
          model.applyWithState(ids, model.zeroState(LSTM.batch), { training: true }).logits,
        ) as tf.Scalar,
      [...params.values()],
    );
    const byName = new Map([...params.entries()].map(([n, v]) => [n, grads[v.name] as tf.Tensor]));
    const clipped = clipByGlobalNorm(byName, 5);
    opt.apply(params, clipped, 1);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads), ...clipped.values()]);
  };
}

async function kernelTimes(f: () => void): Promise<Array<{ kernel: string; ms: number; launches: number }>> {
  return (await kernelProfile(f)).slice(0, 14).map((k) => ({ ...k, ms: Number(k.ms.toFixed(1)) }));
}

/** Float and FW-8/BW-8 step times of a ResNet, interleaved so that machine load affects both alike. */
function resnetBench(depth: number): { floatMs: number; quantMs: number } {
  const model = cifarResNet({ depth, seed: 1 });
  const step = benchStep(model, { batch: BATCH });
  stepTimes(() => step.run(fwbw(8, 8)), 0, 3);
  const f: number[] = [];
  const q: number[] = [];
  for (let r = 0; r < 5; r++) {
    f.push(...stepTimes(() => step.run(undefined), 4));
    q.push(...stepTimes(() => step.run(fwbw(8, 8)), 4, 0));
  }
  step.dispose();
  model.params.dispose();
  return { floatMs: median(f), quantMs: median(q) };
}

/**
 * ResNet-8 step times of FracTrain's static schemes (SBM at FW-8/BW-8 and FW-3/BW-6, DoReFa and WAGEUBN at FW-8/BW-8)
 * against the float step, interleaved.
 */
function schemesBench(): Record<string, { stepMs: number; overFloat: number }> {
  const model = cifarResNet({ depth: 8, seed: 1 });
  const cases: Array<[string, Parameters<typeof benchStep>[1]['quant'], LayerPrecision]> = [
    ['sbm FW-8/BW-8', sbmQuant(), fwbw(8, 8)],
    ['sbm FW-3/BW-6', sbmQuant(), fwbw(3, 6)],
    ['dorefa FW-8/BW-8', { scheme: 'dorefa' }, fwbw(8, 8)],
    ['wageubn FW-8/BW-8', { scheme: 'wageubn' }, fwbw(8, 8)],
  ];
  const float = benchStep(model, { batch: BATCH });
  const steps = cases.map(([, quant]) => benchStep(model, { batch: BATCH, quant }));
  cases.forEach(([, , p], i) => stepTimes(() => steps[i]!.run(p), 0, 2));
  stepTimes(() => float.run(undefined), 0, 2);
  const f: number[] = [];
  const q: number[][] = cases.map(() => []);
  for (let r = 0; r < 3; r++) {
    f.push(...stepTimes(() => float.run(undefined), 3, 0));
    cases.forEach(([, , p], i) => q[i]!.push(...stepTimes(() => steps[i]!.run(p), 3, 0)));
  }
  const fm = median(f);
  const out = Object.fromEntries(
    cases.map(([name], i) => [name, { stepMs: median(q[i]!), overFloat: median(q[i]!) / fm }]),
  );
  [float, ...steps].forEach((s) => s.dispose());
  model.params.dispose();
  return { float: { stepMs: fm, overFloat: 1 }, ...out };
}

/** CifarNet Adam step times per batch, after (oneDNN kernels and max pooling, fused ReLU gradient) and before (stock), interleaved. */
function cifarNetBench(): Record<
  string,
  { stepMs: number; imagesPerSecond: number; beforeStepMs: number; speedup: number }
> {
  const out: Record<string, { stepMs: number; imagesPerSecond: number; beforeStepMs: number; speedup: number }> = {};
  for (const batch of CIFARNET_BATCHES) {
    const model = cifarNet({ seed: 1 });
    const step = benchStep(model, { batch, optimizer: { kind: 'adam' }, lr: 0.001 });
    const n = Math.max(3, Math.round(2000 / batch));
    const after: number[] = [];
    const before: number[] = [];
    for (let r = 0; r < 3; r++) {
      after.push(...stepTimes(() => step.run(undefined), n, r === 0 ? 2 : 1));
      unregisterOneDnnKernels();
      setFusedOps(false);
      before.push(...stepTimes(() => step.run(undefined), n, 1));
      registerOneDnnKernels();
      setFusedOps(true);
    }
    step.dispose();
    model.params.dispose();
    const a = median(after);
    const b = median(before);
    out[`batch${batch}`] = { stepMs: a, imagesPerSecond: (batch * 1000) / a, beforeStepMs: b, speedup: b / a };
  }
  return out;
}

/**
 * Warns when the one-minute load average says something else is running: timings and speed verdicts are meant to be
 * measured alone (the ratios are same-run, but noise widens them).
 */
function warnIfLoaded(): void {
  const load = os.loadavg()[0] ?? 0;
  if (load > 0.5)
    console.warn(
      `bench: load average ${load.toFixed(2)} at the start: something else is using the CPU; timings will be noisy`,
    );
}

/** The bench venv's python (created on demand with torch==2.13.0+cpu from the local wheel index). */
function benchPython(): { ok: true; py: string; env: NodeJS.ProcessEnv } | { ok: false; reason: string } {
  const root = projectRoot();
  const venv = path.join(root, 'out', 'bench-venv');
  const py = path.join(venv, 'bin', 'python');
  const env = { ...process.env, PIP_RETRIES: '0', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  if (!fs.existsSync(py) || spawnSync(py, ['-c', 'import torch'], { env }).status !== 0) {
    console.error('bench: creating out/bench-venv with torch==2.13.0+cpu (once) ...');
    const mk = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (mk.status !== 0) return { ok: false, reason: 'python3 -m venv failed' };
    const pip = spawnSync(py, ['-m', 'pip', 'install', '-q', 'torch==2.13.0+cpu'], { stdio: 'inherit', env });
    if (pip.status !== 0)
      return { ok: false, reason: 'pip could not install torch==2.13.0+cpu (is the local wheel index reachable?)' };
  }
  return { ok: true, py, env };
}

function pytorch(): { ok: true; result: PytorchResult } | { ok: false; reason: string } {
  const venv = benchPython();
  if (!venv.ok) return venv;
  const { py, env } = venv;
  const script = path.join(projectRoot(), 'test', 'bench', 'pytorch_reference.py');
  const r = spawnSync(
    py,
    [
      script,
      '--threads',
      String(os.cpus().length),
      '--steps',
      '20',
      '--cifarnet-batches',
      CIFARNET_BATCHES.join(','),
      '--lstm',
      `${LSTM.vocab},${LSTM.embedding},${LSTM.hidden.join('-')},${LSTM.bptt},${LSTM.batch}`,
    ],
    { env, encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0)
    return {
      ok: false,
      reason: `pytorch_reference.py exited ${r.status}: ${(r.stderr ?? '').split('\n').slice(-3).join(' ')}`,
    };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { ok: true, result: JSON.parse(line) as PytorchResult };
}

interface PytorchResult {
  torch: string;
  threads: number;
  resnet: Record<string, { stepMs: number; imagesPerSecond: number }>;
  cifarnet: Record<string, { stepMs: number; imagesPerSecond: number }>;
  lstm: { stepMs: number; tokensPerSecond: number };
}

async function main(): Promise<void> {
  warnIfLoaded();
  const backend = await initBackend();
  if (backend.name !== 'tensorflow')
    throw new Error(`bench: needs the native tensorflow backend (got ${backend.name}); run npm run setup`);
  const started = new Date().toISOString();
  const resnet20 = resnetBench(20);
  const resnet8 = resnetBench(8);
  console.error('bench: ResNet-8 steps of the FracTrain schemes ...');
  const schemes = schemesBench();
  console.error('bench: CifarNet Adam steps ...');
  const cifarnet = cifarNetBench();

  const lm = lstmLanguageModel({
    vocabSize: LSTM.vocab,
    embedding: LSTM.embedding,
    hidden: LSTM.hidden,
    steps: LSTM.bptt,
    seed: 1,
  });
  const lstmMs = median(stepTimes(lstmStep(lm), 15, 3));
  lm.params.dispose();

  // Memory: ResNet-20 float steps.
  const model = cifarResNet({ depth: 20, seed: 2 });
  const bs = benchStep(model, { batch: BATCH, seed: 2 });
  const step = (p: LayerPrecision | undefined) => bs.run(p);
  const counts: number[] = [];
  let peakRss = 0;
  for (let i = 0; i < memSteps; i++) {
    step(undefined);
    counts.push(tf.memory().numTensors);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  // Where a float step's time goes: with oneDNN and fused ops (after), then with the stock kernels (before).
  const after = await kernelTimes(() => step(undefined));
  unregisterOneDnnKernels();
  setFusedOps(false);
  const before = await kernelTimes(() => step(undefined));
  const beforeStepMs = median(stepTimes(() => step(undefined), 8));
  registerOneDnnKernels();
  setFusedOps(true);
  bs.dispose();
  model.params.dispose();

  const torch = againstPytorch ? pytorch() : undefined;
  /** PyTorch's images/s in its faster layout (NCHW or channels-last) for `key` of a result table; 0 when not measured. */
  const bestLayout = (table: Record<string, { imagesPerSecond: number }> | undefined, key: string) =>
    Math.max(table?.[`${key}/nchw`]?.imagesPerSecond ?? 0, table?.[`${key}/channels_last`]?.imagesPerSecond ?? 0);
  const pt = torch?.ok ? torch.result : undefined;
  const ips = (ms: number, n = BATCH) => (n * 1000) / ms;
  const cifarRatio = (batch: number) => {
    const b = bestLayout(pt?.cifarnet, `batch${batch}`);
    const mine = cifarnet[`batch${batch}`];
    return b && mine ? mine.imagesPerSecond / b : undefined;
  };
  const ratio = (depth: number, ms: number) => {
    const b = bestLayout(pt?.resnet, `resnet${depth}`);
    return b ? ips(ms) / b : undefined;
  };
  const result = {
    benchmark: 'ecotrain-train-steps',
    date: started,
    backend: backend.name,
    kernels: backend.kernels,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      loadavg: os.loadavg(),
      node: process.version,
    },
    batch: BATCH,
    resnet20: {
      floatStepMs: resnet20.floatMs,
      floatImagesPerSecond: ips(resnet20.floatMs),
      quantStepMs: resnet20.quantMs,
      quantImagesPerSecond: ips(resnet20.quantMs),
      quantOverFloat: resnet20.quantMs / resnet20.floatMs,
    },
    resnet8: {
      floatStepMs: resnet8.floatMs,
      floatImagesPerSecond: ips(resnet8.floatMs),
      quantStepMs: resnet8.quantMs,
      quantImagesPerSecond: ips(resnet8.quantMs),
      quantOverFloat: resnet8.quantMs / resnet8.floatMs,
    },
    resnet8Schemes: schemes,
    cifarnet,
    lstm: { config: LSTM, stepMs: lstmMs, tokensPerSecond: ips(lstmMs, LSTM.batch * LSTM.bptt) },
    numTensors: {
      first: counts[0],
      last: counts[counts.length - 1],
      min: Math.min(...counts),
      max: Math.max(...counts),
      steps: memSteps,
    },
    peakRssMB: peakRss / 2 ** 20,
    resnet20FloatKernels: { after, before, beforeStepMs, beforeImagesPerSecond: ips(beforeStepMs) },
    pytorch: torch ? (torch.ok ? torch.result : { unavailable: torch.reason }) : undefined,
    ratios: torch?.ok
      ? {
          resnet20FloatVsPytorchBest: ratio(20, resnet20.floatMs),
          resnet8FloatVsPytorchBest: ratio(8, resnet8.floatMs),
          ...Object.fromEntries(CIFARNET_BATCHES.map((b) => [`cifarnetBatch${b}VsPytorchBest`, cifarRatio(b)])),
          lstmVsPytorch: ips(lstmMs, LSTM.batch * LSTM.bptt) / torch.result.lstm.tokensPerSecond,
        }
      : undefined,
    targets: [] as Array<{ target: string; value: number | null; met: boolean }>,
  };
  const r20 = result.ratios?.resnet20FloatVsPytorchBest;
  const r8 = result.ratios?.resnet8FloatVsPytorchBest;
  result.targets.push(
    {
      target: 'ResNet-20 float step >= 1.0x PyTorch best layout (same run)',
      value: r20 ?? null,
      met: r20 !== undefined && r20 >= 1,
    },
    {
      target: 'ResNet-8 float step >= 1.0x PyTorch best layout (same run)',
      value: r8 ?? null,
      met: r8 !== undefined && r8 >= 1,
    },
    ...CIFARNET_BATCHES.map((b) => {
      const v = cifarRatio(b);
      return {
        target: `CifarNet Adam step at batch ${b} >= 1.0x PyTorch best layout (same run)`,
        value: v ?? null,
        met: v !== undefined && v >= 1,
      };
    }),
    {
      target: 'LSTM language-model step >= 1.0x PyTorch (same run)',
      value: result.ratios?.lstmVsPytorch ?? null,
      met: (result.ratios?.lstmVsPytorch ?? 0) >= 1,
    },
    {
      target: 'ResNet-20 FW-8/BW-8 step <= 1.25x its float step',
      value: result.resnet20.quantOverFloat,
      met: result.resnet20.quantOverFloat <= 1.25,
    },
    {
      target: 'ResNet-8 FW-8/BW-8 step <= 1.25x its float step',
      value: result.resnet8.quantOverFloat,
      met: result.resnet8.quantOverFloat <= 1.25,
    },
    {
      target: 'ResNet-8 SBM FW-8/BW-8 step (FracTrain baseline) <= 1.25x its float step',
      value: schemes['sbm FW-8/BW-8']?.overFloat ?? null,
      met: (schemes['sbm FW-8/BW-8']?.overFloat ?? Infinity) <= 1.25,
    },
    {
      target: `numTensors flat over ${memSteps} steps`,
      value: Math.max(...counts) - Math.min(...counts),
      met: Math.max(...counts) === Math.min(...counts),
    },
  );
  const file = path.join(projectRoot(), 'out', 'bench', 'bench.json');
  writeFileAtomic(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  const missed = result.targets.filter((t) => !t.met);
  if (missed.length)
    console.error(
      `bench: targets missed: ${missed.map((t) => `${t.target} (measured ${t.value === null ? 'not measured: run with --against-pytorch' : t.value.toFixed(3)})`).join('; ')}`,
    );
  if (strict && missed.length) process.exitCode = 1;
}

/**
 * `--regime`: one epoch of the E²-Train lite regime's SGD baseline through `runArm` (the whole CIFAR-10 from the data
 * mirror, ResNet-8, batch 128, pad-crop-flip, the per-epoch test evaluation, ledger and divergence guard; uncached)
 * against the same recipe in PyTorch in the same run (`pytorch_reference.py --regime-epoch`). Target: >= 1.0x.
 */
async function regimeMain(): Promise<void> {
  warnIfLoaded();
  const backend = await initBackend();
  if (backend.name !== 'tensorflow')
    throw new Error(`bench: needs the native tensorflow backend (got ${backend.name}); run npm run setup`);
  const settings = settingsFromEnv();
  if (!settings.dataMirror)
    throw new Error('bench --regime: set ECOTRAIN_DATA_MIRROR to a folder with cifar10/cifar-10-binary.tar.gz');
  const regime = e2trainRegime('lite');
  const study = await loadStudyData('cifar10', regime, settings, { seed: 0 });
  if (study.full.train.origin !== 'real')
    throw new Error('bench --regime: CIFAR-10 could not be loaded (synthetic fallback)');
  const sgd = e2trainArms.sgd(regime, { train: study.train, test: study.test }, 0);
  const perEpoch = Math.floor(regime.trainCount / regime.batchSize);
  const arm = { ...sgd, analysis: undefined, recipe: { ...sgd.recipe, iterations: perEpoch } };
  const t0 = Date.now();
  const o = await runArm(arm, { cache: false });
  const ecotrainSeconds = (Date.now() - t0) / 1000;
  const venv = benchPython();
  let torch: { seconds: number; trainSeconds: number; evalSeconds: number; top1: number } | { unavailable: string };
  if (!venv.ok) torch = { unavailable: venv.reason };
  else {
    const archive = path.join(settings.dataMirror, 'cifar10', 'cifar-10-binary.tar.gz');
    const script = path.join(projectRoot(), 'test', 'bench', 'pytorch_reference.py');
    const r = spawnSync(venv.py, [script, '--threads', String(os.cpus().length), '--regime-epoch', archive], {
      env: venv.env,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    torch =
      r.status === 0
        ? (
            JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
              regimeEpoch: { seconds: number; trainSeconds: number; evalSeconds: number; top1: number };
            }
          ).regimeEpoch
        : {
            unavailable: `pytorch_reference.py exited ${r.status}: ${(r.stderr ?? '').split('\n').slice(-3).join(' ')}`,
          };
  }
  const ratio = 'seconds' in torch ? torch.seconds / ecotrainSeconds : null;
  const result = {
    started: new Date(t0).toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      node: process.version,
      backend: backend.name,
    },
    ecotrain: { seconds: ecotrainSeconds, loopSeconds: o.seconds, iterations: o.iterations, top1: o.top1 },
    pytorch: torch,
    targets: [
      {
        target: 'one epoch of the E²-Train lite SGD baseline >= 1.0x PyTorch (same run)',
        value: ratio,
        met: ratio !== null && ratio >= 1,
      },
    ],
  };
  writeFileAtomic(path.join(projectRoot(), 'out', 'bench', 'regime.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  if (strict && !result.targets[0]?.met) process.exitCode = 1;
}

/** One technique row of `--techniques`: a model, what the step adds, and its target over the float step. */
interface TechniqueRow {
  readonly name: string;
  readonly model: ModelDescription;
  readonly techniques?: readonly TechniqueDescription[];
  readonly precision?: LayerPrecision;
  readonly quant?: CommonTrainConfig['quant'];
  readonly optimizer?: OptimizerConfig;
  readonly target: number;
}

const RESNET8: ModelDescription = { kind: 'resnet', options: { depth: 8, widths: [16, 32, 64] } };
const GATED8: ModelDescription = {
  kind: 'resnet',
  options: { depth: 8, widths: [16, 32, 64], skippableTransitions: true },
};
const LSTM_DESC: ModelDescription = {
  kind: 'lstm',
  options: { vocabSize: LSTM.vocab, embedding: LSTM.embedding, hidden: LSTM.hidden, steps: LSTM.bptt },
};

/**
 * Milliseconds per trained iteration of the trainer's step pipeline (`train()`, so every technique stage runs), after
 * `warmup` iterations: image models on a synthetic CIFAR set at batch 128 (pad-crop-flip), the LSTM on random tokens.
 */
async function trainerStepMs(row: Omit<TechniqueRow, 'name' | 'target'>, warmup = 4, steps = 16): Promise<number> {
  const model = buildModel(row.model, 1);
  const techniques = (row.techniques ?? []).map((d) => buildTechnique(d, model, 1));
  let trained = 0;
  let t0 = 0;
  const progress = {
    tick: (_n?: number, info?: Readonly<Record<string, number | string>>) => {
      if (info && 'loss' in info) trained += 1;
      if (trained === warmup && t0 === 0) t0 = performance.now();
    },
    done: () => undefined,
  };
  const common = {
    ...{ model, epochs: 1, iterations: warmup + steps, lr: 0.05, seed: 1, techniques, progress, logEvery: 1e9 },
    ...{ optimizer: row.optimizer ?? ({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 } as const) },
    ...{ schedule: { kind: 'constant' } as const, precision: row.precision, quant: row.quant },
  };
  let config: TrainConfig;
  if (row.model.kind === 'lstm') {
    const n = LSTM.batch * (LSTM.bptt * 2 * (warmup + steps) + 1);
    const ids = Int32Array.from({ length: n }, (_, i) => (i * 7919) % LSTM.vocab);
    config = {
      ...common,
      task: 'language-model',
      train: ids,
      batchSize: LSTM.batch,
      bptt: LSTM.bptt,
      clipNorm: 5,
      lr: 1,
    };
  } else {
    const data = syntheticCifar(BATCH * 4 * (warmup + steps), 3);
    config = { ...common, train: data, batchSize: BATCH, augment: 'pad-crop-flip', normalize: channelStats(data) };
  }
  try {
    await train(config);
    return (performance.now() - t0) / Math.max(1, trained - warmup);
  } finally {
    model.params.dispose();
    for (const t of techniques) t.dispose?.();
  }
}

/**
 * `--techniques`: the trainer step of each technique against the float step of the same model in the same run
 * (interleaved: in each of `--rounds` rounds, default 3, the float step is timed around every row and a row's ratio is to the mean of its two neighbours; the median over rounds is reported with its range; `--only <regex>` times the matching rows and writes nothing). Targets: static
 * quantization <= 1.25x; PSG, gated and simulated-worker steps <= 1.5x; regularizers and SMD (per trained step) <= 1.1x.
 * Writes out/bench/techniques.json.
 */
async function techniquesMain(): Promise<void> {
  warnIfLoaded();
  const backend = await initBackend();
  if (backend.name !== 'tensorflow')
    throw new Error(`bench: needs the native tensorflow backend (got ${backend.name}); run npm run setup`);
  const fw8 = fwbw(8, 8);
  const rows: TechniqueRow[] = [
    { name: 'FW-8/BW-8 (default quantizers)', model: RESNET8, precision: fw8, target: 1.25 },
    { name: 'SBM FW-8/BW-8', model: RESNET8, precision: fw8, quant: sbmQuant(), target: 1.25 },
    { name: 'DoReFa FW-8/BW-8', model: RESNET8, precision: fw8, quant: { scheme: 'dorefa' }, target: 1.25 },
    { name: 'WAGEUBN FW-8/BW-8', model: RESNET8, precision: fw8, quant: { scheme: 'wageubn' }, target: 1.25 },
    {
      name: 'PSG (FW-8/BW-16, predictors 4/10)',
      model: RESNET8,
      techniques: [{ kind: 'psg', options: { beta: 0.05 } }],
      target: 1.5,
    },
    {
      name: 'SMD p 0.5 (per trained step)',
      model: RESNET8,
      techniques: [{ kind: 'smd', options: { p: 0.5 } }],
      target: 1.1,
    },
    {
      name: 'SSL group Lasso (filters, channels)',
      model: RESNET8,
      techniques: [
        {
          kind: 'ssl',
          options: {
            terms: [
              { structure: 'filter', lambda: 1e-4, layers: { kinds: ['conv'] } },
              { structure: 'channel', lambda: 1e-4, layers: { kinds: ['conv'] } },
            ],
            threshold: 1e-6,
          },
        },
      ],
      target: 1.1,
    },
    {
      name: 'Force Regularization (l2)',
      model: RESNET8,
      techniques: [{ kind: 'force', options: { lambda: 1e-3, force: 'l2' } }],
      target: 1.1,
    },
    {
      name: 'SmoothOut (a 0.0375)',
      model: RESNET8,
      techniques: [{ kind: 'smoothout', options: { a: 0.0375 } }],
      target: 1.1,
    },
    {
      name: 'TernGrad N=2 (simulated)',
      model: RESNET8,
      techniques: [{ kind: 'terngrad', options: { workers: 2 } }],
      target: 1.5,
    },
    {
      name: 'TernGrad N=4 (simulated)',
      model: RESNET8,
      techniques: [{ kind: 'terngrad', options: { workers: 4 } }],
      target: 1.5,
    },
    {
      name: 'SLU (gated ResNet-8, main gates)',
      model: GATED8,
      techniques: [{ kind: 'slu', options: e2trainArms.gates(0.4) }],
      target: 1.5,
    },
    {
      name: 'DFQ FW(3,4,6,8)/BW(6,6,8,8) at cp 3 (gated ResNet-8)',
      model: GATED8,
      techniques: [{ kind: 'dfq', options: { options: 'FW(3,4,6,8)/BW(6,6,8,8)', targetCp: 3, beta: 0.05 } }],
      target: 1.5,
    },
    {
      name: 'ISS (LSTM 2x200)',
      model: LSTM_DESC,
      techniques: [{ kind: 'iss', options: { lambda: 1e-4 } }],
      target: 1.1,
    },
  ];
  const out: Array<{
    name: string;
    model: string;
    stepMs: number;
    floatStepMs: number;
    overFloat: number;
    /** The smallest and largest per-round ratio. */
    overFloatRange: [number, number];
    target: number;
    met: boolean;
  }> = [];
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? new RegExp(args[onlyAt + 1] ?? '') : undefined;
  const roundsAt = args.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`bench: --rounds ${args[roundsAt + 1]}, expected a positive integer`);
  for (const model of [RESNET8, GATED8, LSTM_DESC]) {
    const mine = rows.filter((r) => r.model === model && (!only || only.test(r.name)));
    if (mine.length === 0) continue;
    // Rounds of float, each row, float again: a row's ratio in a round is to the mean of the float steps around it, so
    // load that changes during the run shifts both; the median over rounds is reported.
    const ratios: number[][] = mine.map(() => []);
    const rowMs: number[][] = mine.map(() => []);
    const floats: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let prev = await trainerStepMs({ model });
      floats.push(prev);
      for (const [i, r] of mine.entries()) {
        const ms = await trainerStepMs(r);
        const next = await trainerStepMs({ model });
        floats.push(next);
        ratios[i]?.push(ms / ((prev + next) / 2));
        rowMs[i]?.push(ms);
        prev = next;
      }
    }
    mine.forEach((r, i) => {
      const rs = ratios[i] as number[];
      const overFloat = median(rs);
      out.push({
        name: r.name,
        model: model === LSTM_DESC ? 'LSTM 2x200' : model === GATED8 ? 'gated ResNet-8' : 'ResNet-8',
        stepMs: median(rowMs[i] as number[]),
        floatStepMs: median(floats),
        overFloat,
        overFloatRange: [Math.min(...rs), Math.max(...rs)],
        target: r.target,
        met: overFloat <= r.target,
      });
    });
  }
  const result = {
    started: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      node: process.version,
      backend: backend.name,
    },
    rounds,
    rows: out,
  };
  if (!only)
    writeFileAtomic(
      path.join(projectRoot(), 'out', 'bench', 'techniques.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  for (const r of out)
    console.log(
      `${r.name.padEnd(52)} ${r.stepMs.toFixed(1).padStart(7)} ms  ${r.overFloat.toFixed(2)}x ${r.model} float (rounds ${r.overFloatRange.map((v) => v.toFixed(2)).join('-')}; target <= ${r.target}x: ${r.met ? 'met' : 'missed'})`,
    );
  if (strict && out.some((r) => !r.met)) process.exitCode = 1;
}

void (args.includes('--regime') ? regimeMain() : args.includes('--techniques') ? techniquesMain() : main());
