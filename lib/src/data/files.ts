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
    if (m?.[1] && m[2]) sums.set(m[2].trim(), m[1].toLowerCase());
  }
  return sums;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporaries that {@link tempPathFor} made for `target` and whose writer is gone (a process
 * killed mid-write, e.g. by `kill -9`): files or folders named `<target>.<pid>.<hex>.tmp` whose pid is no
 * longer running. Returns the paths removed.
 */
export function removeStaleTemporaries(target: string): string[] {
  const dir = path.dirname(target);
  if (!fs.existsSync(dir)) return [];
  const base = path.basename(target);
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`${base}.`) || !name.endsWith('.tmp')) continue;
    const m = /^\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(base.length));
    if (!m || processAlive(Number(m[1]))) continue;
    const p = path.join(dir, name);
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}
