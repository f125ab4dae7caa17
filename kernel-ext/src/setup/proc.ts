import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

/** Result of {@link run}. */
export interface RunResult {
  readonly ok: boolean;
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command synchronously, capturing output; never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: readonly string[],
  options: SpawnSyncOptions & { timeoutMs?: number } = {},
): RunResult {
  const t0 = Date.now();
  const r = spawnSync(cmd, [...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeoutMs ?? 15 * 60_000,
    ...options,
  });
  return {
    ok: r.status === 0 && !r.error,
    status: r.status,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? '') + (r.error ? `\n${r.error.message}` : ''),
    ms: Date.now() - t0,
  };
}

/** The last `n` lines of `text`, for error messages. */
export function tail(text: string, n = 15): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
