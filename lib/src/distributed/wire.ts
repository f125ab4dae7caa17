import { ConfigError } from '../errors';

/**
 * Wire formats of TernGrad's messages (thesis Sec. 4.1.1): ternary gradients packed at 2 bits per element (worker to
 * server), and averaged gradients under scaler sharing as level sums k in [-N, N] packed at ceil(log2(2N + 1)) bits per
 * element (server to worker; the value is k s / N). Bits fill each byte from its least significant end.
 */

/** Bits per element of a level sum of N workers: ceil(log2(2N + 1)). */
export function levelBits(workers: number): number {
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 16383))
    throw new ConfigError('workers', workers, 'an integer in 1..16383');
  return Math.ceil(Math.log2(2 * workers + 1));
}

function packBits(
  values: ArrayLike<number>,
  bits: number,
  offset: number,
  field: string,
  lo: number,
  hi: number,
): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!(Number.isInteger(v) && v >= lo && v <= hi))
      throw new ConfigError(`${field}[${i}]`, v, `an integer in ${lo}..${hi}`);
    let code = v + offset;
    let pos = i * bits;
    for (let b = 0; b < bits; b++, pos++, code >>= 1)
      if (code & 1) out[pos >> 3] = (out[pos >> 3] as number) | (1 << (pos & 7));
  }
  return out;
}

function unpackBits(bytes: Uint8Array, length: number, bits: number, offset: number, field: string): Int16Array {
  const need = Math.ceil((length * bits) / 8);
  if (bytes.length !== need)
    throw new ConfigError(`${field}.bytes`, bytes.length, `${need} bytes for ${length} elements of ${bits} bits`);
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    let code = 0;
    let pos = i * bits;
    for (let b = 0; b < bits; b++, pos++) if ((bytes[pos >> 3] as number) & (1 << (pos & 7))) code |= 1 << b;
    out[i] = code - offset;
  }
  return out;
}

/** Packs ternary values (-1, 0, 1) at 2 bits each (codes 0, 1, 2 for -1, 0, 1). */
export function packTernary(t: ArrayLike<number>): Uint8Array {
  return packBits(t, 2, 1, 'ternary', -1, 1);
}

/** Unpacks {@link packTernary}'s bytes into `length` ternary values. */
export function unpackTernary(bytes: Uint8Array, length: number): Int8Array {
  const out = unpackBits(bytes, length, 2, 1, 'ternary');
  for (let i = 0; i < length; i++)
    if ((out[i] as number) > 1)
      throw new ConfigError(`ternary[${i}]`, 3, 'a code 0..2 (the bytes are not a packed ternary vector)');
  return Int8Array.from(out);
}

/** Packs level sums k in [-N, N] of N workers at {@link levelBits} bits each. */
export function packLevels(k: ArrayLike<number>, workers: number): Uint8Array {
  return packBits(k, levelBits(workers), workers, 'levels', -workers, workers);
}

/** Unpacks {@link packLevels}'s bytes into `length` level sums of N workers. */
export function unpackLevels(bytes: Uint8Array, length: number, workers: number): Int16Array {
  const out = unpackBits(bytes, length, levelBits(workers), workers, 'levels');
  for (let i = 0; i < length; i++)
    if ((out[i] as number) > workers)
      throw new ConfigError(`levels[${i}]`, out[i], `a level in -${workers}..${workers}`);
  return out;
}

/** A float32 frame: the values as the bytes of a Float32Array. */
export function floatFrame(values: ArrayLike<number>): Buffer {
  return Buffer.from(Float32Array.from(values).buffer);
}

/** The float32 values of a received frame (copied: a frame's bytes may sit at any offset of a shared buffer). */
export function readFloats(frame: Buffer): Float32Array {
  return new Float32Array(Uint8Array.from(frame).buffer);
}
