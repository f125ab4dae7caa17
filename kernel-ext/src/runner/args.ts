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

/**
 * The shard a job scheduler assigned to this process, when `--shard` is not given: a Slurm job array
 * (`SLURM_ARRAY_TASK_ID` from `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT` tasks) or a Kubernetes indexed Job
 * (`JOB_COMPLETION_INDEX` from 0, with `ECOTRAIN_SHARD_COUNT` shards, since the Job's completions are not in the
 * pod's environment). Undefined outside a scheduler; a partial or inconsistent setting is an error naming it.
 */
export function shardFromScheduler(
  env: NodeJS.ProcessEnv = process.env,
): { readonly index: number; readonly count: number } | undefined {
  const int = (name: string) => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(name, v, 'a non-negative integer');
    return n;
  };
  const task = int('SLURM_ARRAY_TASK_ID');
  if (task !== undefined) {
    const count = int('SLURM_ARRAY_TASK_COUNT');
    const min = int('SLURM_ARRAY_TASK_MIN') ?? 0;
    if (count === undefined || count < 1)
      throw new ConfigError(
        'SLURM_ARRAY_TASK_COUNT',
        env.SLURM_ARRAY_TASK_COUNT,
        'the job array size (sbatch --array)',
      );
    const index = task - min + 1;
    if (index < 1 || index > count)
      throw new ConfigError('SLURM_ARRAY_TASK_ID', task, `a task of the array ${min}..${min + count - 1} (contiguous)`);
    return { index, count };
  }
  const k8s = int('JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const count = int('ECOTRAIN_SHARD_COUNT');
    if (count === undefined || count < 1)
      throw new ConfigError(
        'ECOTRAIN_SHARD_COUNT',
        env.ECOTRAIN_SHARD_COUNT,
        "the Job's completions (set it in the pod spec)",
      );
    if (k8s >= count)
      throw new ConfigError('JOB_COMPLETION_INDEX', k8s, `an index below ECOTRAIN_SHARD_COUNT = ${count}`);
    return { index: k8s + 1, count };
  }
  return undefined;
}

/**
 * Parses `--scale`, `--only`, `--seeds`, `--seed`, `--timeout`, `--fresh`, `--shard k/N`; unknown flags are errors.
 * Without `--shard`, a scheduler's task index sets the shard ({@link shardFromScheduler}).
 */
export function parseReproduceArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ReproduceArgs {
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
  shard ??= shardFromScheduler(env);
  return { scale, only, seeds, seed, timeout: timeout ?? (scale === 'smoke' ? 3600 : 14400), fresh, shard };
}
