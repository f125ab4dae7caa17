import { ConfigError } from '../errors';

/** An in-memory labelled image set, uint8 pixels in NHWC order. */
export interface ImageDataset {
  /** Short name, e.g. `cifar10/train`. */
  readonly name: string;
  /** Pixels, `count * height * width * channels` bytes, NHWC. */
  readonly images: Uint8Array;
  /** Class index per image. */
  readonly labels: Int32Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Class names, index = label. */
  readonly classNames: readonly string[];
  /** `real` for official data, `synthetic` for the generated stand-in. */
  readonly origin: 'real' | 'synthetic';
}

/** Bytes per image of `ds`. */
export function imageSize(ds: Pick<ImageDataset, 'height' | 'width' | 'channels'>): number {
  return ds.height * ds.width * ds.channels;
}

/** A new dataset holding the images of `ds` at `indices`, in that order. */
export function selectImages(ds: ImageDataset, indices: ArrayLike<number>, name = ds.name): ImageDataset {
  const size = imageSize(ds);
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i] as number;
    if (!Number.isInteger(j) || j < 0 || j >= ds.count)
      throw new RangeError(`selectImages: index ${j} outside [0, ${ds.count})`);
    images.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = ds.labels[j] as number;
  }
  return { ...ds, name, images, labels, count: indices.length };
}

/** The images of `ds` whose label is one of `classes` (labels kept), in their order; refuses a class outside the dataset. */
export function classSubset(
  ds: ImageDataset,
  classes: readonly number[],
  name = `${ds.name}/classes-${classes.join('-')}`,
): ImageDataset {
  if (classes.length === 0 || classes.some((c) => !Number.isInteger(c) || c < 0 || c >= ds.classNames.length)) {
    throw new RangeError(
      `classSubset: classes ${JSON.stringify(classes)} invalid: expected class indices in [0, ${ds.classNames.length})`,
    );
  }
  const keep = new Set(classes);
  const indices: number[] = [];
  ds.labels.forEach((l, i) => {
    if (keep.has(l)) indices.push(i);
  });
  return selectImages(ds, indices, name);
}

/** Number of images per class. */
export function classCounts(ds: Pick<ImageDataset, 'labels' | 'classNames'>): number[] {
  const counts = new Array<number>(ds.classNames.length).fill(0);
  for (const l of ds.labels) counts[l] = (counts[l] ?? 0) + 1;
  return counts;
}

/** Checks a split name: only the official train and test splits exist (a validation split is cut from train). */
export function checkSplit(split: string): 'train' | 'test' {
  if (split !== 'train' && split !== 'test')
    throw new ConfigError(
      'split',
      split,
      "'train' or 'test' (cut a validation set from train with trainValidationSplit)",
    );
  return split;
}
