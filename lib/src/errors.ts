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
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
