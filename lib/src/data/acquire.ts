import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../errors';
import type { Settings } from '../config';
import type { DatasetSource, OfficialFile } from './sources';
import { readSha256Sums, sha256File, tempPathFor } from './files';

/** Where a dataset file was found. */
export type FileOrigin = 'cache' | 'mirror' | 'download';

/** A verified local copy of one official file. */
export interface AcquiredFile {
  readonly path: string;
  readonly origin: FileOrigin;
  /** How the bytes were checked: against the official SHA-256, the mirror's SHA256SUMS, or not at all. */
  readonly verified: 'official-sha256' | 'mirror-sha256sums' | 'unverified';
}

/** Options for {@link acquireFile}; tests override the fetch timeout. */
export interface AcquireOptions {
  readonly settings: Pick<Settings, 'dataDir' | 'dataMirror' | 'allowDownload'>;
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
export async function acquireFile(source: DatasetSource, file: OfficialFile, options: AcquireOptions): Promise<AcquiredFile> {
  const { settings } = options;
  const log = options.log ?? (() => undefined);
  const cached = path.join(settings.dataDir, source.id, file.name);
  if (fs.existsSync(cached)) return { path: cached, origin: 'cache', verified: 'official-sha256' };

  if (settings.dataMirror) {
    const mirrored = path.join(settings.dataMirror, source.id, file.name);
    if (fs.existsSync(mirrored)) {
      const sums = readSha256Sums(path.join(settings.dataMirror, 'SHA256SUMS'));
      const expected = sums.get(`${source.id}/${file.name}`);
      if (expected === undefined) {
        log(`${file.name}: taken from mirror ${mirrored} (no SHA256SUMS entry; format checks only)`);
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
  } finally {
    clearTimeout(timer);
    fs.rmSync(tmp, { force: true });
  }
}
