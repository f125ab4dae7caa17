import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors';
import type { Settings } from '../config';
import type { DatasetSource, OfficialFile } from './sources';
import { readSha256Sums, removeStaleTemporaries, sha256File, tempPathFor, writeFileAtomic } from './files';

/** Where a dataset file was found. */
export type FileOrigin = 'cache' | 'mirror' | 'download';

/** A verified local copy of one official file. */
export interface AcquiredFile {
  readonly path: string;
  readonly origin: FileOrigin;
  /** How the bytes were checked: against the official SHA-256, the mirror's SHA256SUMS, or not at all. */
  readonly verified: 'official-sha256' | 'mirror-sha256sums' | 'unverified';
}

/** The data settings acquisition reads (a {@link Settings} fits). */
export type DataSettings = Pick<Settings, 'dataDir' | 'dataMirror' | 'allowDownload'> & {
  readonly allowUnverified?: boolean;
};

/** Options for {@link acquireFile}; tests override the fetch timeout. */
export interface AcquireOptions {
  readonly settings: DataSettings;
  /** Abort a download that makes no progress for this long (ms). */
  readonly timeoutMs?: number;
  /** Called with human-readable progress lines. */
  readonly log?: (line: string) => void;
}

function howToFix(source: DatasetSource, file: OfficialFile, settings: AcquireOptions['settings']): string {
  return (
    `To fix: put the official ${file.name} in ${path.join(settings.dataMirror ?? '<mirror>', source.id)} ` +
    `and set ECOTRAIN_DATA_MIRROR to that mirror folder, or allow downloads from ${file.urls[0] ?? 'the official site'}; ` +
    `delete ${path.join(settings.dataDir, source.id)} to drop a bad cached copy.`
  );
}

/**
 * Returns a local, verified copy of `file` of `source`:
 * 1. the cache (`<dataDir>/<id>/<name>`, written only after verification);
 * 2. the mirror folder (`<mirror>/<id>/<name>`), checked against the mirror's `SHA256SUMS` when it lists the file
 *    (mirror files may be faithful re-encodings whose bytes differ from the official ones);
 * 3. a download of an official URL, checked against the official SHA-256, then renamed into the cache.
 * A missing or corrupt file raises a {@link DataError} naming the file, what was expected and how to fix it.
 */
export async function acquireFile(
  source: DatasetSource,
  file: OfficialFile,
  options: AcquireOptions,
): Promise<AcquiredFile> {
  const { settings } = options;
  const log = options.log ?? (() => undefined);
  const cached = path.join(settings.dataDir, source.id, file.name);
  removeStaleTemporaries(cached);
  if (fs.existsSync(cached)) {
    await checkCached(cached, file.sha256, () => howToFix(source, file, settings));
    return { path: cached, origin: 'cache', verified: 'official-sha256' };
  }

  if (settings.dataMirror) {
    const mirrored = path.join(settings.dataMirror, source.id, file.name);
    if (fs.existsSync(mirrored)) {
      const sums = readSha256Sums(path.join(settings.dataMirror, 'SHA256SUMS'));
      const expected = sums.get(`${source.id}/${file.name}`);
      if (expected === undefined) {
        if (!settings.allowUnverified) {
          throw new DataError(
            `${mirrored}: the mirror's SHA256SUMS (${path.join(settings.dataMirror, 'SHA256SUMS')}) has no entry for ${source.id}/${file.name}, ` +
              `so its bytes cannot be checked. Add its line (\`sha256sum ${source.id}/${file.name} >> SHA256SUMS\` in the mirror, after checking the file), ` +
              'or set ECOTRAIN_ALLOW_UNVERIFIED=1 to use it unchecked.',
          );
        }
        const warning = `ecotrain: WARNING: ${file.name} taken from mirror ${mirrored} without a checksum (no SHA256SUMS entry; ECOTRAIN_ALLOW_UNVERIFIED=1): format checks only`;
        console.warn(warning);
        log(warning);
        return { path: mirrored, origin: 'mirror', verified: 'unverified' };
      }
      const actual = await sha256File(mirrored);
      if (actual !== expected) {
        throw new DataError(
          `${mirrored}: SHA-256 ${actual} does not match ${expected} listed in the mirror's SHA256SUMS ` +
            `(the file is truncated or corrupt). ${howToFix(source, file, settings)}`,
        );
      }
      log(`${file.name}: taken from mirror ${mirrored} (SHA-256 matches the mirror's SHA256SUMS)`);
      return { path: mirrored, origin: 'mirror', verified: 'mirror-sha256sums' };
    }
  }

  if (!settings.allowDownload) {
    throw new DataError(
      `${file.name} of ${source.id} is not in the cache ${cached}` +
        (settings.dataMirror ? ` nor in the mirror ${settings.dataMirror}` : ' and ECOTRAIN_DATA_MIRROR is not set') +
        `, and downloads are off (ECOTRAIN_OFFLINE=1). ${howToFix(source, file, settings)}`,
    );
  }
  const failures: string[] = [];
  for (const url of file.urls) {
    try {
      await downloadVerified(url, cached, file.sha256, options.timeoutMs ?? 30_000);
      log(`${file.name}: downloaded from ${url} (official SHA-256 verified)`);
      return { path: cached, origin: 'download', verified: 'official-sha256' };
    } catch (err) {
      failures.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new DataError(
    `${file.name} of ${source.id} could not be obtained: not in the cache ${cached}` +
      (settings.dataMirror ? `, not in the mirror ${settings.dataMirror}` : ', no mirror set (ECOTRAIN_DATA_MIRROR)') +
      `; downloads failed: ${failures.join('; ')}. ${howToFix(source, file, settings)}`,
  );
}

/** What was checked about a cached file: its SHA-256, and the size and mtime it had then. */
interface CacheRecord {
  readonly sha256: string;
  readonly size: number;
  readonly mtimeMs: number;
}

const recordPath = (file: string) => `${file}.ecotrain.json`;

/** Records the hash, size and mtime of a verified cached file (beside it, written atomically). */
export function recordVerified(file: string, sha256: string): void {
  const st = fs.statSync(file);
  writeFileAtomic(
    recordPath(file),
    JSON.stringify({ sha256, size: st.size, mtimeMs: st.mtimeMs } satisfies CacheRecord),
  );
}

/**
 * Checks a cached file against the official SHA-256, hashing it on every use (a record of size and mtime would miss a
 * same-size change that keeps the mtime); the record beside it says when it was last verified.
 */
async function checkCached(file: string, sha256: string, fix: () => string): Promise<void> {
  const actual = await sha256File(file);
  if (actual !== sha256) {
    throw new DataError(
      `${file}: cached copy has SHA-256 ${actual}, the official file ${sha256} (it changed or is truncated): delete it and run again. ${fix()}`,
    );
  }
  recordVerified(file, sha256);
}

/**
 * Downloads `url` to `target` through a temporary file, verifying its SHA-256 before the rename;
 * a failed or mismatching download leaves nothing behind.
 */
export async function downloadVerified(url: string, target: string, sha256: string, timeoutMs: number): Promise<void> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const out = fs.createWriteStream(tmp);
    const hash = crypto.createHash('sha256');
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), timeoutMs);
      hash.update(value);
      if (!out.write(value)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const actual = hash.digest('hex');
    if (actual !== sha256) throw new Error(`SHA-256 ${actual} does not match the official ${sha256}`);
    fs.renameSync(tmp, target);
    recordVerified(target, sha256);
  } finally {
    clearTimeout(timer);
    fs.rmSync(tmp, { force: true });
  }
}
