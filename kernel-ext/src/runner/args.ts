import { ConfigError, type Scale, parseScale, parseSeed, parseShard } from 'ecotrain/base';

/** Options of `npm run reproduce`. */
export interface ReproduceArgs {
  readonly scale: Scale;
  /** Substring or glob-free pattern matched against notebook file names. */
  readonly only: string | undefined;
  /** Number of seeds for notebooks that repeat runs (injected as `seeds`). */
  readonly seeds: number | undefined;
  /** Base seed (injected as `seed`). */
  readonly seed: number;
  /** Per-cell timeout in seconds (default: 3,600 at smoke, 14,400 at lite and paper). */
  readonly timeout: number;
  /** Recompute every cached arm (`--fresh`). */
  readonly fresh: boolean;
  /** Compute only the k-th of N slices of the cached arms (`--shard k/N`). */
  readonly shard: { readonly index: number; readonly count: number } | undefined;
}

/** Parses `--scale`, `--only`, `--seeds`, `--seed`, `--timeout`, `--fresh`, `--shard k/N`; unknown flags are errors. */
export function parseReproduceArgs(argv: readonly string[]): ReproduceArgs {
  let scale: Scale = 'smoke';
  let only: string | undefined;
  let seeds: number | undefined;
  let seed = 0;
  let timeout: number | undefined;
  let fresh = false;
  let shard: ReproduceArgs['shard'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError(flag, undefined, 'a value after the flag');
      return v;
    };
    switch (flag) {
      case '--scale':
        scale = parseScale(value(), '--scale');
        break;
      case '--only':
        only = value();
        break;
      case '--seeds': {
        const n = parseSeed(value(), '--seeds');
        if (n < 1) throw new ConfigError('--seeds', n, 'a positive integer');
        seeds = n;
        break;
      }
      case '--seed':
        seed = parseSeed(value(), '--seed');
        break;
      case '--timeout': {
        const n = parseSeed(value(), '--timeout');
        if (n < 1) throw new ConfigError('--timeout', n, 'a positive number of seconds');
        timeout = n;
        break;
      }
      case '--fresh':
        if (inline !== undefined) throw new ConfigError('--fresh', inline, 'no value');
        fresh = true;
        break;
      case '--shard':
        shard = parseShard(value());
        break;
      default:
        throw new ConfigError(
          'argument',
          arg,
          '--scale smoke|lite|paper, --only <pattern>, --seeds N, --seed N, --timeout S, --fresh, --shard k/N',
        );
    }
  }
  // A lite notebook's training cell runs all its arms (up to 90 minutes, more on a fresh cache): 4 hours per cell
  // there and at paper scale, 1 hour at smoke (CI), unless --timeout says otherwise.
  return { scale, only, seeds, seed, timeout: timeout ?? (scale === 'smoke' ? 3600 : 14400), fresh, shard };
}
