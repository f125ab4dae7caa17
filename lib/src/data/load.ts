import type { Settings } from '../config';
import { ConfigError, checkKeys } from '../errors';
import { checkSplit } from './image-dataset';
import { loadCifar } from './cifar';
import type { DataSettings } from './acquire';
import { loadMnist } from './mnist';
import { SYNTHETIC_WARNING, syntheticCifar, syntheticImages, syntheticWarning } from './synthetic';
import { balancedSubset } from './pipeline';
import { createRng } from '../random';
import type { ImageDataset } from './image-dataset';

/** A dataset a session loaded, for run reports. */
export interface DatasetUse {
  readonly name: string;
  readonly split: 'train' | 'test';
  readonly origin: 'real' | 'synthetic';
  readonly count: number;
}

const uses: DatasetUse[] = [];

/** Datasets loaded through {@link loadImageDataset} in this process, in order. */
export function datasetsUsed(): readonly DatasetUse[] {
  return uses;
}

/** Image datasets known to {@link loadImageDataset}. */
export type ImageDatasetName = 'cifar10' | 'cifar100' | 'mnist' | 'synthetic';
/** Names accepted by {@link loadImageDataset}. */
export const IMAGE_DATASETS: readonly ImageDatasetName[] = ['cifar10', 'cifar100', 'mnist', 'synthetic'];

/** Options of {@link loadImageDataset}. */
export interface LoadOptions {
  /** When the real data cannot be had, return the synthetic set (with a loud warning) instead of failing. */
  readonly fallbackToSynthetic?: boolean;
  /** Size of the synthetic set (default 50,000 train / 10,000 test). */
  readonly syntheticCount?: number;
  readonly log?: (line: string) => void;
}

/** Refuses settings that lack what loading needs (e.g. `{}` instead of `settingsFromEnv()`), naming the field. */
function checkDataSettings(s: DataSettings & Pick<Settings, 'seed'>): void {
  const hint = 'settings as settingsFromEnv() returns them';
  if (s === null || typeof s !== 'object') throw new ConfigError('settings', s, hint);
  if (typeof s.dataDir !== 'string' || s.dataDir === '')
    throw new ConfigError('settings.dataDir', s.dataDir, `a folder (${hint})`);
  if (s.dataMirror !== undefined && typeof s.dataMirror !== 'string')
    throw new ConfigError('settings.dataMirror', s.dataMirror, `a folder or undefined (${hint})`);
  if (typeof s.allowDownload !== 'boolean')
    throw new ConfigError('settings.allowDownload', s.allowDownload, `true or false (${hint})`);
  if (!Number.isSafeInteger(s.seed)) throw new ConfigError('settings.seed', s.seed, `an integer seed (${hint})`);
}

/** Loads a train or test split by name; see {@link LoadOptions} for the synthetic fallback. */
export async function loadImageDataset(
  name: ImageDatasetName,
  split: 'train' | 'test',
  settings: DataSettings & Pick<Settings, 'seed'>,
  options: LoadOptions = {},
): Promise<ImageDataset> {
  if (!IMAGE_DATASETS.includes(name)) throw new ConfigError('dataset', name, IMAGE_DATASETS.join(', '));
  checkSplit(split);
  checkDataSettings(settings);
  checkKeys(options, ['fallbackToSynthetic', 'syntheticCount', 'log'], 'options');
  const log = options.log ?? ((l: string) => console.warn(l));
  // A synthetic stand-in has the requested dataset's shape and classes (CIFAR-10's is the CIFAR-shaped set).
  const synthetic = () => {
    const seed = settings.seed + (split === 'train' ? 0 : 1_000_003);
    if (name === 'mnist') {
      log(syntheticWarning('mnist', [28, 28, 1]));
      const count = options.syntheticCount ?? (split === 'train' ? 60_000 : 10_000);
      return syntheticImages(count, seed, {
        height: 28,
        width: 28,
        channels: 1,
        classes: 10,
        family: 'synthetic-mnist',
      });
    }
    log(name === 'cifar100' ? syntheticWarning('cifar100', [32, 32, 3]) : SYNTHETIC_WARNING);
    const count = options.syntheticCount ?? (split === 'train' ? 50_000 : 10_000);
    return syntheticCifar(count, seed, name === 'cifar100' ? 100 : 10);
  };
  const record = (ds: ImageDataset): ImageDataset => {
    uses.push({ name: ds.name, split, origin: ds.origin, count: ds.count });
    return ds;
  };
  if (name === 'synthetic') return record(synthetic());
  try {
    return record(name === 'mnist' ? await loadMnist(split, settings) : await loadCifar(name, split, settings));
  } catch (err) {
    if (!options.fallbackToSynthetic) throw err;
    log(`ecotrain: ${name}/${split} unavailable: ${err instanceof Error ? err.message : String(err)}`);
    return record(synthetic());
  }
}

/** A study's training and test sets (subsets where the regime asks for fewer images) and the full sets they come from. */
export interface StudyData {
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  readonly full: { readonly train: ImageDataset; readonly test: ImageDataset };
}

/**
 * The notebooks' data step: the train and test splits of `name` (synthetic fallback when the mirror lacks them), cut to
 * `trainCount` / `testCount` by class-balanced subsets drawn from `createRng(seed)` forked under `names` (in that
 * order), whole sets where the counts cover them. Two notebooks asking with the same seed, counts and names get the
 * same images, hence the same run-cache entries.
 */
export async function loadStudyData(
  name: ImageDatasetName,
  counts: { readonly trainCount: number; readonly testCount: number },
  settings: DataSettings & Pick<Settings, 'seed'>,
  o: { readonly seed: number; readonly names?: readonly [string, string]; readonly syntheticCount?: number },
): Promise<StudyData> {
  for (const k of ['trainCount', 'testCount'] as const)
    if (!(Number.isInteger(counts[k]) && counts[k] > 0))
      throw new ConfigError(k, counts[k], 'a positive number of images');
  const load = (split: 'train' | 'test') =>
    loadImageDataset(name, split, settings, {
      fallbackToSynthetic: true,
      ...(o.syntheticCount ? { syntheticCount: o.syntheticCount } : {}),
    });
  const train = await load('train');
  const test = await load('test');
  const rng = createRng(o.seed);
  const [a, b] = o.names ?? ['train', 'test'];
  const pick = (ds: ImageDataset, n: number, label: string) =>
    n < ds.count ? balancedSubset(ds, n, rng.fork(label)) : ds;
  return { train: pick(train, counts.trainCount, a), test: pick(test, counts.testCount, b), full: { train, test } };
}
