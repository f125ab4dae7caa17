import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, DataError } from '../errors';
import { acquireFile, type DataSettings } from './acquire';
import { extractTarGzAtomic, isExtracted, readExtracted } from './extract';
import { CIFAR10, CIFAR100, type DatasetSource } from './sources';
import { checkSplit, type ImageDataset } from './image-dataset';

const PIXELS = 32 * 32 * 3;

/** Which CIFAR variant a binary file belongs to. */
export type CifarVariant = 'cifar10' | 'cifar100';

/** Label bytes per record: CIFAR-10 has one, CIFAR-100 two (coarse, then fine). */
export function labelBytes(variant: CifarVariant): number {
  return variant === 'cifar10' ? 1 : 2;
}

/**
 * Parses records of a CIFAR binary batch (label byte(s) + 3072 CHW pixel bytes) into NHWC pixels
 * and labels (CIFAR-100: the fine label). Size and label range are checked.
 */
export function parseCifarBinary(
  raw: Uint8Array,
  variant: CifarVariant,
  label: string,
): { images: Uint8Array; labels: Int32Array } {
  const lb = labelBytes(variant);
  const record = lb + PIXELS;
  if (raw.length === 0 || raw.length % record !== 0) {
    throw new DataError(
      `${label}: ${raw.length} bytes is not a whole number of ${record}-byte ${variant} records (truncated or not a ${variant} binary batch)`,
    );
  }
  const n = raw.length / record;
  const classes = variant === 'cifar10' ? 10 : 100;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * record;
    const l = raw[base + lb - 1] as number;
    if (l >= classes)
      throw new DataError(
        `${label}: record ${i} has label ${l}, expected 0..${classes - 1} (wrong variant or corrupt)`,
      );
    labels[i] = l;
    const src = base + lb;
    const dst = i * PIXELS;
    for (let p = 0; p < 1024; p++) {
      images[dst + p * 3] = raw[src + p] as number;
      images[dst + p * 3 + 1] = raw[src + 1024 + p] as number;
      images[dst + p * 3 + 2] = raw[src + 2048 + p] as number;
    }
  }
  return { images, labels };
}

interface Layout {
  source: DatasetSource;
  dir: string;
  train: string[];
  test: string[];
  meta: string;
}

const LAYOUTS: Record<CifarVariant, Layout> = {
  cifar10: {
    source: CIFAR10,
    dir: 'cifar-10-batches-bin',
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    test: ['test_batch.bin'],
    meta: 'batches.meta.txt',
  },
  cifar100: {
    source: CIFAR100,
    dir: 'cifar-100-binary',
    train: ['train.bin'],
    test: ['test.bin'],
    meta: 'fine_label_names.txt',
  },
};

/** Loads CIFAR-10 or CIFAR-100 (binary version) `train` or `test`, extracting the official archive into the cache once. */
export async function loadCifar(
  variant: CifarVariant,
  split: 'train' | 'test',
  settings: DataSettings,
): Promise<ImageDataset> {
  checkSplit(split);
  const layout = LAYOUTS[variant];
  if (!layout) throw new ConfigError('dataset', variant, Object.keys(LAYOUTS).join(', '));
  const archiveFile = layout.source.files[0];
  if (!archiveFile) throw new Error(`no archive declared for ${variant}`);
  const extracted = path.join(settings.dataDir, variant, 'extracted');
  const root = path.join(extracted, layout.dir);
  if (!isExtracted(extracted)) {
    const archive = await acquireFile(layout.source, archiveFile, { settings });
    await extractTarGzAtomic(archive.path, extracted, { origin: archive.origin, verified: archive.verified });
  }
  const files = split === 'train' ? layout.train : layout.test;
  const parts = files.map((f) =>
    parseCifarBinary(readExtracted(extracted, path.join(layout.dir, f)), variant, path.join(root, f)),
  );
  const count = parts.reduce((a, p) => a + p.labels.length, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let off = 0;
  for (const p of parts) {
    images.set(p.images, off * PIXELS);
    labels.set(p.labels, off);
    off += p.labels.length;
  }
  const metaPath = path.join(root, layout.meta);
  const names = fs.existsSync(metaPath)
    ? fs
        .readFileSync(metaPath, 'utf8')
        .split(/\r?\n/)
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : [];
  const classes = variant === 'cifar10' ? 10 : 100;
  const classNames = names.length === classes ? names : Array.from({ length: classes }, (_, i) => `class ${i}`);
  return {
    name: `${variant}/${split}`,
    images,
    labels,
    count,
    height: 32,
    width: 32,
    channels: 3,
    classNames,
    origin: 'real',
  };
}
