/**
 * Error raised when a user-supplied value is outside what ecotrain accepts.
 * The message always names the offending field, the value and what was expected.
 */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${field} = ${formatValue(value)} is invalid: expected ${expected}`);
    this.name = 'ConfigError';
  }
}

/** Error raised when a data file is missing, truncated or corrupt. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined || typeof value === 'function')
    return String(value);
  try {
    // NaN and infinities would print as null in JSON: keep them readable.
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `${v}` : v)) ??
      String(value)
    );
  } catch {
    return String(value);
  }
}

/**
 * Rejects keys of `value` that are not in `allowed` (misspelt options are otherwise silently ignored),
 * naming `field` and the allowed keys. Returns `value`.
 */
export function checkKeys<T extends object>(value: T, allowed: readonly string[], field: string): T {
  if (value === null || typeof value !== 'object')
    throw new ConfigError(field, value, `an object with keys ${allowed.join(', ')}`);
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k))
      throw new ConfigError(
        `${field}.${k}`,
        (value as Record<string, unknown>)[k],
        `no such option; ${field} takes ${allowed.join(', ')}`,
      );
  }
  return value;
}

/** Throws a {@link ConfigError} when a required option is missing. */
export function requireOption<T>(value: T | undefined | null, field: string, expected: string): T {
  if (value === undefined || value === null) throw new ConfigError(field, value, expected);
  return value;
}
