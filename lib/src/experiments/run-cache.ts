import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors';
import { parseShard } from '../config';
import { removeStaleTemporaries, writeFileAtomic } from '../data/files';

/**
 * The run cache: an experiment arm is addressed by the SHA-256 of everything that determines its outcome (dataset
 * and subset, model, techniques and options, optimizer, schedule, seed, precision, and the library source), and its
 * outcome is stored as JSON under the cache folder. Notebooks that run the same arm load it. With a shard k/N, only
 * the arms whose key falls in slice k are computed (the others return placeholders), so that N machines sharing the
 * folder compute a whole scale and a final unsharded run assembles the notebooks from the cache.
 */
export interface RunCacheSettings {
  /** Folder of the cached outcomes (`out/<scale>/runs` under the runner). */
  readonly dir: string;
  /**
   * Recompute every arm and overwrite its entry, once per process: an arm requested again after this process
   * retrained it (as another arm's initial weights, say) reads the entry retrained here.
   */
  readonly fresh: boolean;
  /** Compute only this deterministic slice of the arms (1-based index of count). */
  readonly shard?: { readonly index: number; readonly count: number };
}

/** The cache settings the runner passes to notebooks (`ECOTRAIN_RUN_CACHE`, `ECOTRAIN_FRESH=1`, `ECOTRAIN_SHARD=k/N`), if any. */
export function runCacheFromEnv(env: NodeJS.ProcessEnv = process.env): RunCacheSettings | undefined {
  if (!env.ECOTRAIN_RUN_CACHE) return undefined;
  return {
    dir: env.ECOTRAIN_RUN_CACHE,
    fresh: env.ECOTRAIN_FRESH === '1',
    shard: env.ECOTRAIN_SHARD ? parseShard(env.ECOTRAIN_SHARD, 'ECOTRAIN_SHARD') : undefined,
  };
}

export { datasetFingerprint, streamFingerprint } from '../data/fingerprint';

/** Canonical JSON (sorted keys; non-finite numbers as strings) of a key description. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return `${v}`;
    if (typeof v === 'function')
      throw new ConfigError(
        'cache key',
        String(v).slice(0, 60),
        'plain data (describe the model and techniques by their settings, not by functions)',
      );
    if (v && typeof v === 'object' && !Array.isArray(v))
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
    return v;
  });
}

/** The key of an arm from its description. */
export function armKey(description: unknown): string {
  return crypto.createHash('sha256').update(canonicalJson(description)).digest('hex');
}

/** Whether shard `shard` computes the arm with `key`. */
export function ownsArm(key: string, shard: { index: number; count: number }): boolean {
  return parseInt(key.slice(0, 8), 16) % shard.count === shard.index - 1;
}

/** What happened to each cached arm in this process, in order (for the run report). */
export interface CacheEvent {
  readonly arm: string;
  readonly seed: number;
  readonly key: string;
  readonly event: 'hit' | 'miss' | 'fresh' | 'other shard';
}

const events: CacheEvent[] = [];

/** Cache events of this process. */
export function cacheEvents(): readonly CacheEvent[] {
  return events;
}

/** Records a cache event. */
export function recordCacheEvent(e: CacheEvent): void {
  events.push(e);
}

const reviver = (_k: string, v: unknown) =>
  v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v;

const replacer = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `${v}` : v);

/** The digest an entry carries: SHA-256 of its key, canonical description and outcome. */
function entryDigest(key: string, description: unknown, outcome: unknown): string {
  return crypto
    .createHash('sha256')
    .update(key)
    .update(canonicalJson(description))
    .update(JSON.stringify(outcome, replacer))
    .digest('hex');
}

/**
 * Reads a cached outcome, or undefined for a miss. Nothing read is trusted unverified: the entry must name `key`, its
 * description must hash to `key` (so it is the description asked for), its digest must match its content, and
 * `validate` (when given) must find no problem with the outcome; an entry that fails is reported through `warn` and
 * treated as a miss (the retrained outcome replaces it). Temporaries of killed writers are removed first.
 */
export function readCached<T>(
  settings: RunCacheSettings,
  key: string,
  o: {
    readonly validate?: (outcome: unknown) => string | undefined;
    readonly warn?: (line: string) => void;
  } = {},
): T | undefined {
  const file = path.join(settings.dir, `${key}.json`);
  removeStaleTemporaries(file);
  if (!fs.existsSync(file)) return undefined;
  const reject = (why: string) => {
    (o.warn ?? ((l: string) => console.warn(l)))(`run cache: ${file} ${why}; it is treated as a miss and retrained`);
    return undefined;
  };
  let entry: { key?: unknown; description?: unknown; outcome?: unknown; digest?: unknown };
  try {
    entry = JSON.parse(fs.readFileSync(file, 'utf8'), reviver) as typeof entry;
  } catch (err) {
    return reject(`is not valid JSON (${(err as Error).message})`);
  }
  if (entry === null || typeof entry !== 'object') return reject('is not a cache entry');
  if (entry.key !== key) return reject(`names key ${String(entry.key).slice(0, 16)}, not its file name's`);
  if (armKey(entry.description) !== key) return reject('holds a description that does not hash to its key');
  if (typeof entry.digest !== 'string' || entry.digest !== entryDigest(key, entry.description, entry.outcome))
    return reject('does not match its digest (edited or damaged)');
  const problem = o.validate?.(entry.outcome);
  if (problem) return reject(`holds an invalid outcome (${problem})`);
  return entry.outcome as T;
}

/** Stores an outcome atomically with the description it answers and a digest of both. */
export function writeCached(settings: RunCacheSettings, key: string, description: unknown, outcome: unknown): void {
  const canonical: unknown = JSON.parse(canonicalJson(description));
  // The digest is of the outcome as it reads back (non-finite numbers round-trip through strings).
  const stored: unknown = JSON.parse(JSON.stringify(outcome, replacer), reviver);
  const text = JSON.stringify(
    { key, description: canonical, outcome, digest: entryDigest(key, canonical, stored) },
    replacer,
  );
  writeFileAtomic(path.join(settings.dir, `${key}.json`), text);
}
