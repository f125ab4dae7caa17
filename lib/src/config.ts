import * as path from 'node:path';
import * as fs from 'node:fs';
import { ConfigError } from './errors';

/**
 * The folder, beside a run cache's folder (`out/<scale>/runs`), that holds its runs' TensorBoard summaries
 * (`out/<scale>/tensorboard`, one folder per run).
 */
export const SUMMARIES_FOLDER = 'tensorboard';

/** Named run scales shared by notebooks, runner and benchmarks. */
export const SCALES = ['smoke', 'lite', 'paper'] as const;
/** A run scale: `smoke` (CI plumbing, minutes), `lite` (this machine, real data), `paper` (the papers' settings). */
export type Scale = (typeof SCALES)[number];

/** Returns `value` as a {@link Scale}, or throws a {@link ConfigError} naming `field`. */
export function parseScale(value: string, field = 'scale'): Scale {
  if ((SCALES as readonly string[]).includes(value)) return value as Scale;
  throw new ConfigError(field, value, `one of ${SCALES.join(', ')}`);
}

/** Parses a non-negative safe integer seed, or throws a {@link ConfigError} naming `field`. */
export function parseSeed(value: string | number, field = 'seed'): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || (typeof value === 'string' && value.trim() === '')) {
    throw new ConfigError(field, value, 'a non-negative integer');
  }
  return n;
}

/**
 * The project root: the nearest ancestor of this module holding `lib/` and `kernel-ext/`.
 * Works from sources (`lib/src`) and from the compiled tree (`out/build/lib/src`).
 */
export function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'lib', 'package.json')) && fs.existsSync(path.join(dir, 'kernel-ext'))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`ecotrain: cannot find the project root above ${__dirname}`);
    dir = parent;
  }
}

/** Settings every run reads from the environment. */
export interface Settings {
  /** Cache of extracted datasets (`ECOTRAIN_DATA_DIR`, default `<root>/data/cache`). */
  readonly dataDir: string;
  /** Folder holding official archives laid out as `<dataset>/<file>` (`ECOTRAIN_DATA_MIRROR`), if any. */
  readonly dataMirror: string | undefined;
  /** Whether official URLs may be downloaded (`ECOTRAIN_OFFLINE=1` turns it off). */
  readonly allowDownload: boolean;
  /** Whether a mirror file without a SHA256SUMS entry may be used, with a warning (`ECOTRAIN_ALLOW_UNVERIFIED=1`); default: refused. */
  readonly allowUnverified: boolean;
  /** Run scale (`ECOTRAIN_SCALE`, default `lite`). */
  readonly scale: Scale;
  /** Base seed (`ECOTRAIN_SEED`, default 0). */
  readonly seed: number;
  /** Output root for this scale (`ECOTRAIN_OUT_DIR`, default `<root>/out/<scale>`). */
  readonly outDir: string;
}

/** An on/off environment setting: unset, `0`, `false`, `no` or `off` is off; `1`, `true`, `yes` or `on` is on; anything else an error. */
function flag(value: string | undefined, name: string): boolean {
  if (value === undefined || value === '') return false;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, value, '1, true, yes or on (or 0, false, no, off)');
}

/** Reads {@link Settings} from `env` (default `process.env`); bad values throw a {@link ConfigError}. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const root = projectRoot();
  const scale = parseScale(env.ECOTRAIN_SCALE ?? 'lite', 'ECOTRAIN_SCALE');
  const seed = parseSeed(env.ECOTRAIN_SEED ?? '0', 'ECOTRAIN_SEED');
  const mirror = env.ECOTRAIN_DATA_MIRROR;
  return {
    dataDir: path.resolve(env.ECOTRAIN_DATA_DIR ?? path.join(root, 'data', 'cache')),
    dataMirror: mirror ? path.resolve(mirror) : undefined,
    allowDownload: !flag(env.ECOTRAIN_OFFLINE, 'ECOTRAIN_OFFLINE'),
    allowUnverified: flag(env.ECOTRAIN_ALLOW_UNVERIFIED, 'ECOTRAIN_ALLOW_UNVERIFIED'),
    scale,
    seed,
    outDir: path.resolve(env.ECOTRAIN_OUT_DIR ?? path.join(root, 'out', scale)),
  };
}

/** Parses a shard "k/N" (1 <= k <= N). */
export function parseShard(text: string, field = '--shard'): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!(Number.isInteger(index) && Number.isInteger(count) && count >= 1 && index >= 1 && index <= count))
    throw new ConfigError(field, text, '"k/N" with 1 <= k <= N, e.g. 1/2');
  return { index, count };
}
