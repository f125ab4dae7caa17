import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { DataError } from '../errors';
import { acquireFile, type DataSettings } from './acquire';
import { MNIST, officialFile } from './sources';
import { checkSplit, type ImageDataset } from './image-dataset';

/** A parsed IDX array (LeCun's format): unsigned bytes with its dimensions. */
export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const IDX_UBYTE = 0x08;

/**
 * Parses an IDX file (optionally gzip-compressed) of unsigned bytes. `expectedRank` is 3 for
 * images and 1 for labels; the magic number, rank and byte count are all checked, and a
 * mismatch raises a {@link DataError} naming `label` and what was expected.
 */
export function parseIdx(raw: Uint8Array, expectedRank: number, label: string): IdxArray {
  let buf: Buffer = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (err) {
      throw new DataError(
        `${label}: gzip stream is truncated or corrupt (${(err as Error).message}); re-fetch the official file`,
      );
    }
  }
  if (buf.length < 4)
    throw new DataError(`${label}: ${buf.length} bytes, too short for an IDX header (expected at least 4)`);
  const magic = buf.readUInt32BE(0);
  const expectedMagic = (IDX_UBYTE << 8) | expectedRank;
  if (magic !== expectedMagic) {
    throw new DataError(
      `${label}: IDX magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expectedMagic.toString(16).padStart(8, '0')} ` +
        `(unsigned bytes, rank ${expectedRank}); this is not the right MNIST file or it is corrupt`,
    );
  }
  const header = 4 + 4 * expectedRank;
  if (buf.length < header)
    throw new DataError(`${label}: truncated IDX header (${buf.length} bytes, expected ${header})`);
  const dims: number[] = [];
  for (let i = 0; i < expectedRank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const expectedBytes = header + dims.reduce((a, b) => a * b, 1);
  if (buf.length !== expectedBytes) {
    throw new DataError(
      `${label}: ${buf.length} bytes, expected ${expectedBytes} for dimensions ${dims.join('x')} (truncated or corrupt)`,
    );
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, expectedBytes - header) };
}

/** Builds an {@link ImageDataset} from parsed MNIST images and labels, checking they agree. */
export function mnistFromIdx(images: IdxArray, labels: IdxArray, name: string): ImageDataset {
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) throw new DataError(`${name}: ${n} images but ${labels.dims[0]} labels`);
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = labels.data[i] as number;
    if (l > 9) throw new DataError(`${name}: label ${l} at index ${i}, expected 0..9`);
    lab[i] = l;
  }
  return {
    name,
    images: images.data,
    labels: lab,
    count: n,
    height: h,
    width: w,
    channels: 1,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    origin: 'real',
  };
}

/** Loads the MNIST `train` (60,000) or `test` (10,000) split through the cache, mirror or download. */
export async function loadMnist(split: 'train' | 'test', settings: DataSettings): Promise<ImageDataset> {
  checkSplit(split);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgFile = await acquireFile(MNIST, officialFile(MNIST, `${prefix}-images-idx3-ubyte.gz`), { settings });
  const labFile = await acquireFile(MNIST, officialFile(MNIST, `${prefix}-labels-idx1-ubyte.gz`), { settings });
  const images = parseIdx(fs.readFileSync(imgFile.path), 3, imgFile.path);
  const labels = parseIdx(fs.readFileSync(labFile.path), 1, labFile.path);
  return mnistFromIdx(images, labels, `mnist/${split}`);
}
