import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'ecotrain-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Bytes of an IDX file of unsigned bytes with the given dimensions and data. */
export function idxBytes(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE((0x08 << 8) | dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** Gzip of `b`. */
export const gz = (b: Uint8Array): Buffer => zlib.gzipSync(b);

/** CIFAR-10 binary records: label byte + 3072 CHW bytes, with pixel value = (i * 7 + c * 3 + p) % 256. */
export function cifarRecords(labels: number[], labelBytes = 1): Buffer {
  const rec = labelBytes + 3072;
  const out = Buffer.alloc(labels.length * rec);
  labels.forEach((l, i) => {
    for (let b = 0; b < labelBytes; b++) out[i * rec + b] = labelBytes === 2 && b === 0 ? Math.floor(l / 5) : l;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 1024; p++) out[i * rec + labelBytes + c * 1024 + p] = (i * 7 + c * 3 + p) % 256;
  });
  return out;
}
