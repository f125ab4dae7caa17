import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';

/** SHA-256 of a file, hex, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A unique temporary path beside `target` (same file system, so a rename is atomic). */
export function tempPathFor(target: string): string {
  return `${target}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Writes `data` to `target` atomically: the bytes go to a temporary file beside it, which is
 * renamed over `target` only once complete, so a reader never sees a half-written file.
 */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Reads a `SHA256SUMS` file (`<hex>  <relative path>` lines) into a map from path to hash. */
export function readSha256Sums(file: string): Map<string, string> {
  const sums = new Map<string, string>();
  if (!fs.existsSync(file)) return sums;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m && m[1] && m[2]) sums.set(m[2].trim(), m[1].toLowerCase());
  }
  return sums;
}
