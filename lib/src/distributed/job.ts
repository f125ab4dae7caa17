import { ConfigError, checkKeys } from '../errors';
import { settingsFromEnv } from '../config';
import { loadImageDataset } from '../data/load';
import { balancedSubset } from '../data/pipeline';
import { syntheticCifar } from '../data/synthetic';
import type { ImageDataset } from '../data/image-dataset';
import { cifarNet, lenet5, mlp } from '../models/small';
import type { Model } from '../models/spec';
import { createRng } from '../random';
import { checkOptimizerConfig, type OptimizerConfig } from '../train/optimizers';
import { checkSchedule, type LrSchedule } from '../train/schedules';

/**
 * A data-parallel TernGrad training job as plain JSON, so that worker processes rebuild exactly what the simulated
 * run builds: the model (one of the small models, from its seed), the training set (synthetic, or a balanced subset
 * of a mirrored data set drawn with `seed`), the trainer's settings and TernGrad's.
 */
export interface TernGradJob {
  readonly model: {
    readonly kind: 'mlp' | 'lenet5' | 'cifarNet';
    readonly hidden?: readonly number[];
    readonly seed: number;
  };
  readonly data:
    | { readonly kind: 'synthetic-cifar'; readonly count: number; readonly seed: number }
    | { readonly kind: 'mnist' | 'cifar10'; readonly count: number; readonly seed: number };
  readonly train: {
    readonly batchSize: number;
    readonly iterations: number;
    readonly lr: number;
    readonly optimizer: OptimizerConfig;
    readonly schedule: LrSchedule;
    readonly seed: number;
  };
  /** TernGrad's settings; `ternary: false` is the float baseline (float32 gradients averaged; no clipping or scalers). */
  readonly terngrad: {
    readonly workers: number;
    readonly seed: number;
    readonly clip: number | null;
    readonly layerWise: boolean;
    readonly ternary?: boolean;
  };
  /** Seconds a party waits for a message before it gives up (default 30). */
  readonly timeoutSeconds?: number;
  /** Seconds the server waits for the workers' first message (process start, backend and data loading; default 120). */
  readonly startupSeconds?: number;
  /**
   * Fault injection for tests: `worker` exits with code 3 (`'exit'`, default), stops answering (`'hang'`), or sends a
   * malformed message and one of a wrong step before its own (`'garbage'`) when it reaches `step` (0-based).
   */
  readonly faultAt?: { readonly worker: number; readonly step: number; readonly mode?: 'exit' | 'hang' | 'garbage' };
}

/** Checks a job before any process starts; returns it. */
export function checkJob(job: TernGradJob): TernGradJob {
  checkKeys(job, ['model', 'data', 'train', 'terngrad', 'timeoutSeconds', 'startupSeconds', 'faultAt'], 'job');
  if (!['mlp', 'lenet5', 'cifarNet'].includes(job.model?.kind))
    throw new ConfigError('job.model.kind', job.model?.kind, 'mlp, lenet5 or cifarNet');
  if (!['synthetic-cifar', 'mnist', 'cifar10'].includes(job.data?.kind))
    throw new ConfigError('job.data.kind', job.data?.kind, 'synthetic-cifar, mnist or cifar10');
  if (!(Number.isInteger(job.data.count) && job.data.count > 0))
    throw new ConfigError('job.data.count', job.data.count, 'a positive integer');
  const n = job.terngrad?.workers;
  if (!(Number.isInteger(n) && n >= 1 && n <= 64))
    throw new ConfigError('job.terngrad.workers', n, 'an integer in 1..64 (worker processes on this machine)');
  if (!(Number.isInteger(job.train?.batchSize) && job.train.batchSize % n === 0))
    throw new ConfigError('job.train.batchSize', job.train?.batchSize, `a multiple of the ${n} workers`);
  if (!(Number.isInteger(job.train.iterations) && job.train.iterations > 0))
    throw new ConfigError('job.train.iterations', job.train.iterations, 'a positive integer');
  if (!(typeof job.train.lr === 'number' && Number.isFinite(job.train.lr) && job.train.lr > 0))
    throw new ConfigError('job.train.lr', job.train.lr, 'a positive learning rate');
  checkOptimizerConfig(job.train.optimizer);
  checkSchedule(job.train.schedule);
  if (!Number.isSafeInteger(job.train.seed)) throw new ConfigError('job.train.seed', job.train.seed, 'an integer seed');
  const t = job.timeoutSeconds ?? 30;
  if (!(Number.isFinite(t) && t > 0)) throw new ConfigError('job.timeoutSeconds', t, 'a positive number of seconds');
  const st = job.startupSeconds ?? 120;
  if (!(Number.isFinite(st) && st > 0)) throw new ConfigError('job.startupSeconds', st, 'a positive number of seconds');
  return job;
}

/** The job's model (the same weights in every process: built from its seed). */
export function jobModel(job: TernGradJob): Model {
  const m = job.model;
  if (m.kind === 'lenet5') return lenet5({ seed: m.seed });
  if (m.kind === 'cifarNet') return cifarNet({ seed: m.seed });
  const shape = job.data.kind === 'mnist' ? ([28, 28, 1] as const) : ([32, 32, 3] as const);
  return mlp({ inputShape: shape, hidden: m.hidden ?? [64], seed: m.seed });
}

/** The job's training set (the same images in every process). */
export async function jobData(job: TernGradJob): Promise<ImageDataset> {
  const d = job.data;
  if (d.kind === 'synthetic-cifar') return syntheticCifar(d.count, d.seed);
  const full = await loadImageDataset(d.kind, 'train', settingsFromEnv());
  return d.count < full.count ? balancedSubset(full, d.count, createRng(d.seed).fork('terngrad-job')) : full;
}

/** The trainer settings of a job (every process and the simulated reference train with exactly these). */
export function jobTrainSettings(job: TernGradJob, dataCount: number) {
  return {
    batchSize: job.train.batchSize,
    epochs: Math.ceil((job.train.iterations * job.train.batchSize) / dataCount) + 1,
    iterations: job.train.iterations,
    lr: job.train.lr,
    optimizer: job.train.optimizer,
    schedule: job.train.schedule,
    seed: job.train.seed,
    augment: false,
  };
}

/**
 * How long a worker waits for a reply (ms): twice the server's timeout plus a second, so that when one worker hangs the
 * server, not a waiting peer, reports it and names the silent worker.
 */
export function workerWaitMs(job: TernGradJob): number {
  return Math.round((2 * (job.timeoutSeconds ?? 30) + 1) * 1000);
}
