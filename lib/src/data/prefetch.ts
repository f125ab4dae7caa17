import { Worker } from 'node:worker_threads';
import { assembleBatch, pixelAffine, type ChannelStats } from './pipeline';
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
    const { scale, shift } = pixelAffine(normalize, ds.channels);
    const s = sharedCopy(ds);
    if (imageSize(ds) * ds.count !== ds.images.length)
      throw new RangeError(
        `dataset ${ds.name}: ${ds.images.length} pixel bytes for ${ds.count} images of ${imageSize(ds)}`,
      );
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { images: s.images, labels: s.labels, h: ds.height, w: ds.width, c: ds.channels, scale, shift },
    });
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
