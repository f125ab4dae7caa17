import { createRng } from '../random';
import type { ImageDataset } from './image-dataset';

/** Printed by everything that falls back to the synthetic CIFAR-shaped set. */
export const SYNTHETIC_WARNING =
  'ecotrain: WARNING: using the SYNTHETIC CIFAR-shaped dataset, not real data; accuracies are not comparable with the papers.';

/** The warning for a synthetic stand-in of `dataset` (its shape named). */
export function syntheticWarning(dataset: string, shape: readonly [number, number, number]): string {
  return `ecotrain: WARNING: using a SYNTHETIC ${shape.join('x')} stand-in for ${dataset}, not real data; accuracies are not comparable with the papers.`;
}

/**
 * A deterministic CIFAR-shaped (32x32x3) dataset whose classes differ in structure: each class has
 * its own colour, stripe orientation and frequency; position, phase, contrast and pixel noise vary
 * per image. Learnable but not trivial. Same `seed` and `count` give the same bytes.
 */
export function syntheticCifar(count: number, seed: number, classes = 10): ImageDataset {
  return syntheticImages(count, seed, { height: 32, width: 32, channels: 3, classes, family: 'synthetic-cifar' });
}

/**
 * A deterministic synthetic image set of any shape, built as {@link syntheticCifar} (colour per class, stripes of a
 * class's orientation and frequency; one channel takes the first colour component), named `<family>/<seed>`.
 */
export function syntheticImages(
  count: number,
  seed: number,
  shape: {
    readonly height: number;
    readonly width: number;
    readonly channels: number;
    readonly classes: number;
    readonly family: string;
  },
): ImageDataset {
  const { classes, channels: C, height: H, width: W } = shape;
  if (!Number.isInteger(count) || count <= 0)
    throw new RangeError(`${shape.family}: count = ${count}, expected a positive integer`);
  if (!Number.isInteger(classes) || classes < 2 || classes > 100)
    throw new RangeError(`${shape.family}: classes = ${classes}, expected 2..100`);
  if (![H, W].every((v) => Number.isInteger(v) && v > 0) || (C !== 1 && C !== 3))
    throw new RangeError(`${shape.family}: shape ${H}x${W}x${C}, expected positive sizes and 1 or 3 channels`);
  const rng = createRng(`${shape.family}/${seed}`);
  const images = new Uint8Array(count * H * W * C);
  const labels = new Int32Array(count);
  const protos = Array.from({ length: classes }, (_, c) => ({
    colour: [0, 1, 2].map((k) => 0.5 + 0.4 * Math.sin(c * 2.1 + k * 1.7)),
    angle: (Math.PI * c) / classes,
    freq: 0.25 + 0.1 * (c % 4),
  }));
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    labels[i] = c;
    const p = protos[c] as (typeof protos)[number];
    const phase = rng.next() * 2 * Math.PI;
    const contrast = 0.6 + 0.4 * rng.next();
    const cx = rng.next() * W;
    const cy = rng.next() * H;
    const ca = Math.cos(p.angle);
    const sa = Math.sin(p.angle);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const t = (x - cx) * ca + (y - cy) * sa;
        const stripe = 0.5 + 0.5 * contrast * Math.sin(t * p.freq * 2 * Math.PI * 0.5 + phase);
        for (let k = 0; k < C; k++) {
          const v = 255 * ((p.colour[k] as number) * 0.6 + stripe * 0.4) + 25 * rng.normal();
          images[((i * H + y) * W + x) * C + k] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return {
    name: `${shape.family}/${seed}`,
    images,
    labels,
    count,
    height: H,
    width: W,
    channels: C,
    classNames: Array.from({ length: classes }, (_, c) => `synthetic ${c}`),
    origin: 'synthetic',
  };
}
