import { createRng } from '../random';
import type { ImageDataset } from './image-dataset';

/** Printed by everything that falls back to the synthetic set. */
export const SYNTHETIC_WARNING =
  'ecotrain: WARNING: using the SYNTHETIC CIFAR-shaped dataset, not real data; accuracies are not comparable with the papers.';

/**
 * A deterministic CIFAR-shaped (32x32x3) dataset whose classes differ in structure: each class has
 * its own colour, stripe orientation and frequency; position, phase, contrast and pixel noise vary
 * per image. Learnable but not trivial. Same `seed` and `count` give the same bytes.
 */
export function syntheticCifar(count: number, seed: number, classes = 10): ImageDataset {
  if (!Number.isInteger(count) || count <= 0)
    throw new RangeError(`syntheticCifar: count = ${count}, expected a positive integer`);
  if (!Number.isInteger(classes) || classes < 2 || classes > 100)
    throw new RangeError(`syntheticCifar: classes = ${classes}, expected 2..100`);
  const rng = createRng(`synthetic-cifar/${seed}`);
  const H = 32;
  const images = new Uint8Array(count * H * H * 3);
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
    const cx = rng.next() * H;
    const cy = rng.next() * H;
    const ca = Math.cos(p.angle);
    const sa = Math.sin(p.angle);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < H; x++) {
        const t = (x - cx) * ca + (y - cy) * sa;
        const stripe = 0.5 + 0.5 * contrast * Math.sin(t * p.freq * 2 * Math.PI * 0.5 + phase);
        for (let k = 0; k < 3; k++) {
          const v = 255 * ((p.colour[k] as number) * 0.6 + stripe * 0.4) + 25 * rng.normal();
          images[((i * H + y) * H + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return {
    name: `synthetic-cifar/${seed}`,
    images,
    labels,
    count,
    height: H,
    width: H,
    channels: 3,
    classNames: Array.from({ length: classes }, (_, c) => `synthetic ${c}`),
    origin: 'synthetic',
  };
}
