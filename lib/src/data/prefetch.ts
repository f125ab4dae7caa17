import { Worker } from 'node:worker_threads';
import type { ChannelStats } from './pipeline';
import { imageSize, type ImageDataset } from './image-dataset';

/** What one batch needs: which images, and each image's augmentation (row shift, column shift, flip), or none. */
export interface BatchRequest {
  readonly indices: Int32Array;
  /** Three values per image (dy, dx, flip 0/1), or undefined for no augmentation. */
  readonly augment?: Int8Array;
}

/** An assembled batch: normalised float32 NHWC pixels and labels. */
export interface AssembledBatch {
  readonly pixels: Float32Array;
  readonly labels: Int32Array;
}

/**
 * Copies, pads-crops-flips and normalises the images of one batch (CIFAR augmentation of He et al. 2016 with the
 * given per-image draws; pixels outside the image are zero before normalisation). Self-contained: it also runs
 * inside the prefetch worker, from its source text.
 */
export function assembleBatch(
  images: Uint8Array,
  labels: Int32Array,
  h: number,
  w: number,
  c: number,
  indices: Int32Array,
  augment: Int8Array | undefined,
  scale: Float32Array,
  shift: Float32Array,
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
        for (let k = 0; k < c; k++) out[o + k] = (inside ? (images[s + k] as number) : 0) * (scale[k] as number) + (shift[k] as number);
      }
    }
  }
  return { pixels: out, labels: y };
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const assembleBatch = ${assembleBatch.toString()};
const d = workerData;
const images = new Uint8Array(d.images);
const labels = new Int32Array(d.labels);
parentPort.on('message', (m) => {
  const r = assembleBatch(images, labels, d.h, d.w, d.c, m.indices, m.augment, d.scale, d.shift);
  parentPort.postMessage({ id: m.id, pixels: r.pixels, labels: r.labels }, [r.pixels.buffer, r.labels.buffer]);
});
`;

/** Dataset pixels in shared memory, made once per dataset (workers read them without copies). */
const shared = new WeakMap<ImageDataset, { images: SharedArrayBuffer; labels: SharedArrayBuffer }>();

function sharedCopy(ds: ImageDataset): { images: SharedArrayBuffer; labels: SharedArrayBuffer } {
  let s = shared.get(ds);
  if (!s) {
    const images = new SharedArrayBuffer(ds.images.byteLength);
    new Uint8Array(images).set(ds.images);
    const labels = new SharedArrayBuffer(ds.labels.byteLength);
    new Int32Array(labels).set(ds.labels);
    s = { images, labels };
    shared.set(ds, s);
  }
  return s;
}

/**
 * Assembles mini-batches on a worker thread, so that the next batch is prepared while the current training step
 * runs on the main thread (tfjs-node runs its kernels on the calling thread). Requests are answered in order.
 */
export class BatchPrefetcher {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (b: AssembledBatch) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failed: Error | undefined;

  constructor(ds: ImageDataset, normalize: ChannelStats | undefined) {
    const C = ds.channels;
    const scale = Float32Array.from({ length: C }, (_, k) => (normalize ? 1 / (255 * (normalize.std[k] as number)) : 1 / 255));
    const shift = Float32Array.from({ length: C }, (_, k) => (normalize ? -(normalize.mean[k] as number) / (normalize.std[k] as number) : 0));
    const s = sharedCopy(ds);
    if (imageSize(ds) * ds.count !== ds.images.length) throw new RangeError(`dataset ${ds.name}: ${ds.images.length} pixel bytes for ${ds.count} images of ${imageSize(ds)}`);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { images: s.images, labels: s.labels, h: ds.height, w: ds.width, c: C, scale, shift } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; pixels: Float32Array; labels: Int32Array }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve({ pixels: m.pixels, labels: m.labels });
    });
    this.worker.on('error', (err) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  /** Starts assembling a batch; the promise resolves with its pixels and labels. */
  request(r: BatchRequest): Promise<AssembledBatch> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, indices: r.indices, augment: r.augment });
    });
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
