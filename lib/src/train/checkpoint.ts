import * as fs from 'node:fs';
import { writeFileAtomic } from '../data/files';

/** Encodes float32 values as base64 (exact bits, compact). */
export function encodeFloats(values: ArrayLike<number>): string {
  return Buffer.from(Float32Array.from(values).buffer).toString('base64');
}

/** Decodes {@link encodeFloats}. */
export function decodeFloats(text: string): number[] {
  const b = Buffer.from(text, 'base64');
  return Array.from(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
}

/** Writes a checkpoint object as JSON atomically (temporary file, then rename). */
export function writeCheckpoint(file: string, data: unknown): void {
  writeFileAtomic(file, JSON.stringify(data));
}

/** Reads a checkpoint, or undefined when the file does not exist. */
export function readCheckpoint<T>(file: string): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Replaces `values` arrays in a snapshot with base64 strings, recursively for {shape, values} records. */
export function packSnapshot(s: Record<string, { shape: number[]; values: number[] }>): Record<string, { shape: number[]; data: string }> {
  const out: Record<string, { shape: number[]; data: string }> = {};
  for (const [k, v] of Object.entries(s)) out[k] = { shape: v.shape, data: encodeFloats(v.values) };
  return out;
}

/** Inverse of {@link packSnapshot}. */
export function unpackSnapshot(s: Record<string, { shape: number[]; data: string }>): Record<string, { shape: number[]; values: number[] }> {
  const out: Record<string, { shape: number[]; values: number[] }> = {};
  for (const [k, v] of Object.entries(s)) out[k] = { shape: v.shape, values: decodeFloats(v.data) };
  return out;
}
