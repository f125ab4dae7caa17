import * as crypto from 'node:crypto';
import type { ImageDataset } from './image-dataset';

const datasetHashes = new WeakMap<ImageDataset, string>();

/** SHA-256 of a dataset's name, shape, labels and pixels (cached per dataset object). */
export function datasetFingerprint(ds: ImageDataset): string {
  let h = datasetHashes.get(ds);
  if (!h) {
    h = crypto
      .createHash('sha256')
      .update(JSON.stringify([ds.name, ds.count, ds.height, ds.width, ds.channels, ds.origin]))
      .update(Buffer.from(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength))
      .update(Buffer.from(ds.images.buffer, ds.images.byteOffset, ds.images.byteLength))
      .digest('hex')
      .slice(0, 16);
    datasetHashes.set(ds, h);
  }
  return h;
}

const streamHashes = new WeakMap<Int32Array, string>();

/** SHA-256 of a token stream's ids (cached per array), the language-model counterpart of {@link datasetFingerprint}. */
export function streamFingerprint(ids: Int32Array): string {
  let h = streamHashes.get(ids);
  if (!h) {
    h = crypto
      .createHash('sha256')
      .update(Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength))
      .digest('hex')
      .slice(0, 16);
    streamHashes.set(ids, h);
  }
  return h;
}
