/**
 * `npm run bench`: training-step benchmarks of ResNet-20 (batch 128, CIFAR shapes) on the native
 * backend. Prints JSON and writes out/bench/resnet-step.json. Targets (issue: core library):
 * float step >= 200 images/s on a quiet machine; FW-8/BW-8 fake-quantized step with stochastic
 * rounding <= 1.3x the float step time; tf.memory().numTensors flat over 200 steps.
 * With --strict the process exits 1 when a target is missed.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../lib/src/backend';
import { projectRoot } from '../../lib/src/config';
import { writeFileAtomic } from '../../lib/src/data/files';
import { cifarResNet } from '../../lib/src/models/resnet';
import { defaultQuantConfig } from '../../lib/src/quant/layers';
import { fwbw, type LayerPrecision } from '../../lib/src/quant/precision';
import { createOptimizer } from '../../lib/src/train/optimizers';

const BATCH = 128;
const strict = process.argv.includes('--strict');
const steps = Number(process.env.ECOTRAIN_BENCH_STEPS ?? 200);

async function main(): Promise<void> {
  const backend = await initBackend();
  const model = cifarResNet({ depth: 20, seed: 1 });
  const params = model.params.trainable();
  const opt = createOptimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.randomNormal([BATCH, 32, 32, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10);
  let seedCounter = 0;
  const step = (p: LayerPrecision | undefined): void => {
    const quant = { ...defaultQuantConfig(0), nextSeed: () => ++seedCounter };
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true, quant, precision: () => p })) as tf.Scalar,
      [...params.values()],
    );
    const byName = new Map([...params.entries()].map(([n, v]) => [n, grads[v.name] as tf.Tensor]));
    opt.apply(params, byName, 0.05);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  const time = (p: LayerPrecision | undefined, n: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      step(p);
      out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return out;
  };
  const median = (a: number[]) => [...a].sort((u, v) => u - v)[Math.floor(a.length / 2)] as number;

  // Warm-up, then the memory run (float steps), then interleaved timing of float and quantized steps.
  time(undefined, 3);
  time(fwbw(8, 8), 3);
  const counts: number[] = [];
  let peakRss = 0;
  for (let i = 0; i < steps; i++) {
    step(undefined);
    counts.push(tf.memory().numTensors);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const floatMs: number[] = [];
  const quantMs: number[] = [];
  for (let r = 0; r < 5; r++) {
    floatMs.push(...time(undefined, 4));
    quantMs.push(...time(fwbw(8, 8), 4));
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const prof = await tf.profile(() => step(undefined));
  const byKernel = new Map<string, number>();
  for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
  const kernelTotal = [...byKernel.values()].reduce((a, b) => a + b, 0);
  const floatStep = median(floatMs);
  const quantStep = median(quantMs);
  const result = {
    benchmark: 'resnet20-train-step',
    backend: backend.name,
    batch: BATCH,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg() },
    floatStepMs: floatStep,
    floatImagesPerSecond: (BATCH * 1000) / floatStep,
    quantStepMs: quantStep,
    quantImagesPerSecond: (BATCH * 1000) / quantStep,
    quantOverFloat: quantStep / floatStep,
    numTensors: { first: counts[0], last: counts[counts.length - 1], min: Math.min(...counts), max: Math.max(...counts), steps },
    peakRssMB: peakRss / 2 ** 20,
    whereTheTimeGoes: [...byKernel.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([kernel, ms]) => ({ kernel, ms: Number(ms.toFixed(1)), share: Number((ms / kernelTotal).toFixed(3)) })),
    targets: [
      { target: 'float step >= 200 images/s (quiet machine)', value: (BATCH * 1000) / floatStep, met: (BATCH * 1000) / floatStep >= 200 },
      { target: 'FW-8/BW-8 stochastic-rounding step <= 1.3x float', value: quantStep / floatStep, met: quantStep / floatStep <= 1.3 },
      { target: `numTensors flat over ${steps} steps`, value: Math.max(...counts) - Math.min(...counts), met: Math.max(...counts) === Math.min(...counts) },
    ],
  };
  const file = path.join(projectRoot(), 'out', 'bench', 'resnet-step.json');
  writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  const missed = result.targets.filter((t) => !t.met);
  if (missed.length) console.error(`bench: targets missed: ${missed.map((t) => `${t.target} (measured ${t.value.toFixed(3)})`).join('; ')}`);
  if (strict && missed.length) process.exitCode = 1;
}

void main();
