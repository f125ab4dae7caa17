import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { type Rng, shuffleInPlace } from '../random';
import { type ImageDataset, selectImages } from './image-dataset';

/** Per-channel mean and standard deviation of pixel values scaled to [0, 1]. */
export interface ChannelStats {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** Computes {@link ChannelStats} over all images of `ds`. */
export function channelStats(ds: ImageDataset): ChannelStats {
  const C = ds.channels;
  const sum = new Float64Array(C);
  const sq = new Float64Array(C);
  const n = ds.images.length / C;
  for (let i = 0; i < ds.images.length; i++) {
    const v = (ds.images[i] as number) / 255;
    const c = i % C;
    sum[c] = (sum[c] as number) + v;
    sq[c] = (sq[c] as number) + v * v;
  }
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sq, (s, c) => Math.sqrt(Math.max(s / n - (mean[c] as number) ** 2, 1e-12)));
  return { mean, std };
}

function indicesByClass(ds: ImageDataset): number[][] {
  const by: number[][] = ds.classNames.map(() => []);
  ds.labels.forEach((l, i) => by[l]?.push(i));
  return by;
}

function perClassQuota(size: number, classes: number): number[] {
  return Array.from({ length: classes }, (_, c) => Math.floor(size / classes) + (c < size % classes ? 1 : 0));
}

/**
 * A subset of `size` images with classes as balanced as possible (sizes differ by at most one),
 * drawn at random with `rng`, in shuffled order.
 */
export function balancedSubset(ds: ImageDataset, size: number, rng: Rng): ImageDataset {
  if (!Number.isInteger(size) || size <= 0 || size > ds.count) {
    throw new ConfigError('subset size', size, `an integer in 1..${ds.count} (the size of ${ds.name})`);
  }
  const by = indicesByClass(ds);
  const quota = perClassQuota(size, by.length);
  const chosen: number[] = [];
  by.forEach((idx, c) => {
    const q = quota[c] as number;
    if (idx.length < q)
      throw new ConfigError(
        'subset size',
        size,
        `at most ${idx.length * by.length} for a balanced subset of ${ds.name} (class ${c} has ${idx.length} images)`,
      );
    chosen.push(...shuffleInPlace([...idx], rng).slice(0, q));
  });
  return selectImages(ds, shuffleInPlace(chosen, rng), `${ds.name}[${size}]`);
}

/** Splits `ds` into training and a class-balanced validation part of `validationSize` images. */
export function trainValidationSplit(
  ds: ImageDataset,
  validationSize: number,
  rng: Rng,
): { train: ImageDataset; validation: ImageDataset } {
  if (!Number.isInteger(validationSize) || validationSize <= 0 || validationSize >= ds.count) {
    throw new ConfigError('validationSize', validationSize, `an integer in 1..${ds.count - 1}`);
  }
  const by = indicesByClass(ds).map((idx) => shuffleInPlace([...idx], rng));
  const quota = perClassQuota(validationSize, by.length);
  const val: number[] = [];
  const train: number[] = [];
  by.forEach((idx, c) => {
    const q = Math.min(quota[c] as number, idx.length);
    val.push(...idx.slice(0, q));
    train.push(...idx.slice(q));
  });
  return {
    train: selectImages(ds, shuffleInPlace(train, rng), `${ds.name}/train-part`),
    validation: selectImages(ds, shuffleInPlace(val, rng), `${ds.name}/validation-part`),
  };
}

/**
 * CIFAR augmentation (He et al. 2016): zero-pad 4 pixels on each side, take a random crop of the
 * original size, flip horizontally with probability 1/2. Writes `n` augmented NHWC images of `src` into `dst`.
 */
export function augmentPadCropFlip(
  src: Uint8Array,
  dst: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  rng: Rng,
  pad = 4,
): void {
  for (let i = 0; i < n; i++) {
    const dy = rng.int(2 * pad + 1) - pad;
    const dx = rng.int(2 * pad + 1) - pad;
    const flip = rng.next() < 0.5;
    const base = i * h * w * c;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        const o = base + (y * w + x) * c;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          dst.fill(0, o, o + c);
        } else {
          const s = base + (sy * w + sx) * c;
          for (let k = 0; k < c; k++) dst[o + k] = src[s + k] as number;
        }
      }
    }
  }
}

/** The per-channel affine map of raw pixels to model inputs, x * scale + shift: scaling to [0, 1], then normalisation. */
export function pixelAffine(
  normalize: ChannelStats | undefined,
  channels: number,
): { scale: Float64Array; shift: Float64Array } {
  return {
    scale: Float64Array.from({ length: channels }, (_, c) =>
      normalize ? 1 / (255 * (normalize.std[c] as number)) : 1 / 255,
    ),
    shift: Float64Array.from({ length: channels }, (_, c) =>
      normalize ? -(normalize.mean[c] as number) / (normalize.std[c] as number) : 0,
    ),
  };
}

/**
 * Training-image augmentation: `'none'`, `'flip'` (horizontal flip with probability 1/2) or `'pad-crop-flip'` (zero-pad
 * 4 pixels, random crop of the original size, flip: He et al. 2016). Options that take it also take a boolean: `true`
 * is `'pad-crop-flip'`, `false` is `'none'`.
 */
export type Augmentation = 'none' | 'flip' | 'pad-crop-flip';

const AUGMENTATIONS: readonly Augmentation[] = ['none', 'flip', 'pad-crop-flip'];

/** The {@link Augmentation} an option names (`true`: pad-crop-flip, `false`: none); throws a ConfigError on anything else. */
export function augmentationOf(value: boolean | Augmentation, field = 'augment'): Augmentation {
  if (value === true) return 'pad-crop-flip';
  if (value === false) return 'none';
  if (AUGMENTATIONS.includes(value)) return value;
  throw new ConfigError(field, value, "true, false, 'none', 'flip' or 'pad-crop-flip'");
}

/** How run signatures and cache keys store an augmentation: a boolean for none and pad-crop-flip (as they did before flips-only existed), `'flip'` for flips. */
export function storedAugmentation(a: Augmentation): boolean | 'flip' {
  return a === 'flip' ? 'flip' : a === 'pad-crop-flip';
}

/**
 * The per-image draws of a batch under `augmentation` ({@link drawAugmentation}; `'flip'` draws with no shift), or
 * `undefined` for `'none'`.
 */
export function augmentationDraws(augmentation: Augmentation, n: number, rng: Rng): Int8Array | undefined {
  return augmentation === 'none' ? undefined : drawAugmentation(n, rng, augmentation === 'flip' ? 0 : 4);
}

/** Pad-crop-flip draws for `n` images from `rng`: row shift, column shift, flip (0/1) per image, in the order {@link augmentPadCropFlip} draws them. */
export function drawAugmentation(n: number, rng: Rng, pad = 4): Int8Array {
  const out = new Int8Array(3 * n);
  for (let i = 0; i < n; i++) {
    out[3 * i] = rng.int(2 * pad + 1) - pad;
    out[3 * i + 1] = rng.int(2 * pad + 1) - pad;
    out[3 * i + 2] = rng.next() < 0.5 ? 1 : 0;
  }
  return out;
}

/**
 * Copies, pads-crops-flips and normalises the images of one batch (CIFAR augmentation of He et al. 2016 with the
 * given per-image draws of {@link drawAugmentation}; pixels outside the image are zero before normalisation), mapping
 * each channel by x * scale + shift ({@link pixelAffine}). Self-contained: it also runs inside the prefetch worker,
 * from its source text.
 */
export function assembleBatch(
  images: Uint8Array,
  labels: Int32Array,
  h: number,
  w: number,
  c: number,
  indices: Int32Array,
  augment: Int8Array | undefined,
  scale: Float64Array,
  shift: Float64Array,
): { pixels: Float32Array; labels: Int32Array } {
  const size = h * w * c;
  const n = indices.length;
  const out = new Float32Array(n * size);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i] as number;
    y[i] = labels[j] as number;
    const src = j * size;
    const base = i * size;
    const dy = augment ? (augment[3 * i] as number) : 0;
    const dx = augment ? (augment[3 * i + 1] as number) : 0;
    const flip = augment ? augment[3 * i + 2] === 1 : false;
    for (let r = 0; r < h; r++) {
      const sr = r + dy;
      for (let q = 0; q < w; q++) {
        const sq = (flip ? w - 1 - q : q) + dx;
        const o = base + (r * w + q) * c;
        const inside = sr >= 0 && sr < h && sq >= 0 && sq < w;
        const s = src + (sr * w + sq) * c;
        for (let k = 0; k < c; k++)
          out[o + k] = (inside ? (images[s + k] as number) : 0) * (scale[k] as number) + (shift[k] as number);
      }
    }
  }
  return { pixels: out, labels: y };
}

/** Options of {@link batches}. */
export interface BatchOptions {
  readonly batchSize: number;
  /** Shuffle order and augmentation draws come from this generator. */
  readonly rng: Rng;
  readonly shuffle?: boolean;
  /** Augmentation of the training images ({@link Augmentation}; `true`: pad-crop-flip). */
  readonly augment?: boolean | Augmentation;
  /** Normalise each channel with these statistics (else pixels are scaled to [0, 1]). */
  readonly normalize?: ChannelStats;
  /** Drop the last incomplete batch. */
  readonly dropLast?: boolean;
  /** Separate generator for augmentation draws (default: `rng`), so a run can resume mid-epoch. */
  readonly augmentRng?: Rng;
  /** Skip this many batches at the start without building them (resume). */
  readonly startBatch?: number;
}

/** One mini-batch: float32 NHWC images and int32 labels. The consumer disposes both tensors. */
export interface Batch {
  readonly x: tf.Tensor4D;
  readonly y: tf.Tensor1D;
  readonly indices: Int32Array;
}

/** Number of batches one epoch of `count` examples gives. */
export function batchesPerEpoch(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** Iterates one epoch of `ds` in mini-batches; each yielded tensor is owned by the caller. */
export function* batches(ds: ImageDataset, options: BatchOptions): Generator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize <= 0)
    throw new ConfigError('batchSize', batchSize, 'a positive integer');
  const order = Array.from({ length: ds.count }, (_, i) => i);
  if (options.shuffle ?? true) shuffleInPlace(order, options.rng);
  const augmentation = augmentationOf(options.augment ?? false);
  const affine = pixelAffine(options.normalize, ds.channels);
  const end = options.dropLast ? ds.count - (ds.count % batchSize) : ds.count;
  for (let start = (options.startBatch ?? 0) * batchSize; start < end; start += batchSize) {
    const idx = Int32Array.from(order.slice(start, Math.min(start + batchSize, end)));
    const augment = augmentationDraws(augmentation, idx.length, options.augmentRng ?? options.rng);
    // Gather, augmentation, scaling and normalisation in one pass on the host: one tensor, no backend ops.
    const { pixels, labels } = assembleBatch(
      ds.images,
      ds.labels,
      ds.height,
      ds.width,
      ds.channels,
      idx,
      augment,
      affine.scale,
      affine.shift,
    );
    const x = tf.tensor4d(pixels, [idx.length, ds.height, ds.width, ds.channels], 'float32');
    yield { x, y: tf.tensor1d(labels, 'int32'), indices: idx };
  }
}
