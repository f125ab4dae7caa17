import * as tf from '@tensorflow/tfjs-core';

/**
 * The one serialisation of a tensor in ecotrain's checkpoints and technique states: its shape and
 * its float32 values as base64 (exact bits, compact).
 */
export interface TensorRecord {
  readonly shape: number[];
  readonly data: string;
}

/** JSON-compatible technique and component state (what `state()` returns and `restore()` accepts). */
export type StateValue =
  | null
  | boolean
  | number
  | string
  | TensorRecord
  | readonly StateValue[]
  | { readonly [key: string]: StateValue | undefined };

/** Encodes float32 values as base64. */
export function encodeFloats(values: ArrayLike<number>): string {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

/** Decodes {@link encodeFloats}. */
export function decodeFloats(text: string): Float32Array {
  const b = Buffer.from(text, 'base64');
  if (b.byteLength % 4 !== 0)
    throw new Error(`tensor record: ${b.byteLength} bytes of data is not a whole number of float32 values`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Reads a tensor into a {@link TensorRecord} (a host read: for checkpoints, not inside a training step). */
export function tensorRecord(t: tf.Tensor): TensorRecord {
  return { shape: [...t.shape], data: encodeFloats(t.dataSync() as Float32Array) };
}

/** Values of a {@link TensorRecord}, checking that their count matches the shape. */
export function recordValues(r: TensorRecord): Float32Array {
  const v = decodeFloats(r.data);
  const n = r.shape.reduce((a, b) => a * b, 1);
  if (v.length !== n) throw new Error(`tensor record of shape [${r.shape}] holds ${v.length} values, expected ${n}`);
  return v;
}

/** A new float32 tensor from a {@link TensorRecord}. */
export function fromRecord(r: TensorRecord): tf.Tensor {
  return tf.tensor(recordValues(r), r.shape, 'float32');
}

/** Records of named variables. */
export function recordsOf(vars: Iterable<readonly [string, tf.Tensor]>): Record<string, TensorRecord> {
  const out: Record<string, TensorRecord> = {};
  for (const [k, v] of vars) out[k] = tensorRecord(v);
  return out;
}

/** Assigns records to variables of the same names and shapes; `what` names the owner in errors. */
export function assignRecords(
  vars: ReadonlyMap<string, tf.Variable>,
  records: Readonly<Record<string, TensorRecord>>,
  what: string,
): void {
  for (const [k, v] of vars) {
    const r = records[k];
    if (!r) throw new Error(`${what}: the saved state has no ${k}`);
    if (r.shape.join(',') !== v.shape.join(','))
      throw new Error(`${what}: ${k} was saved with shape [${r.shape}], it has [${v.shape}] here`);
  }
  for (const [k, v] of vars) tf.tidy(() => v.assign(fromRecord(records[k] as TensorRecord)));
}
