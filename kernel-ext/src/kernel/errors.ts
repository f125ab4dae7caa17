/** An error to show in a notebook cell as a Jupyter `error` output. */
export interface CellError {
  readonly ename: string;
  readonly evalue: string;
  readonly traceback: string[];
}

const TS_DIAGNOSTIC = /^(?:\S+ )?\d+:\d+ - /;

/**
 * Turns what tslab printed on stderr for a failed cell (a thrown error or TypeScript
 * diagnostics) into a {@link CellError}.
 */
export function cellErrorFromStderr(stderr: string): CellError {
  const lines = stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  const diagnostics = lines.filter((l) => TS_DIAGNOSTIC.test(l));
  if (diagnostics.length > 0) {
    return { ename: 'TypeScriptError', evalue: diagnostics.join('\n'), traceback: diagnostics };
  }
  // The last "Name: message" line that starts an error block is the thrown error.
  let start = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    // "Error: boom" as well as "RangeError: ..." and "UnhandledPromiseRejection: ...".
    if (/^(?:[A-Za-z_$][\w$]*)?(?:Error|Exception|Rejection)\b/.test(lines[i] as string)) {
      start = i;
      break;
    }
  }
  if (start < 0) {
    const text = lines.slice(-10).join('\n') || 'the cell failed (no error text was printed)';
    return { ename: 'Error', evalue: text, traceback: lines.slice(-10) };
  }
  const head = lines[start] as string;
  const m = /^([A-Za-z_$][\w$]*)(?::\s*([\s\S]*))?$/.exec(head);
  const ename = m?.[1] ?? 'Error';
  const evalue = m?.[2] ?? head;
  if (ename === 'ReferenceError' && /^await is not defined/.test(evalue)) {
    // tslab parses a cell that starts with `await (` as a call of a function named await.
    return {
      ename,
      evalue:
        'await is not defined: tslab reads `await (...)` (an await followed by a parenthesis) as a call of a function named "await". ' +
        'Name the promise first: `const work = (async () => { ... })(); const result = await work;`.',
      traceback: lines.slice(start),
    };
  }
  return { ename, evalue, traceback: lines.slice(start) };
}

/** Formats an unknown thrown value with its stack when it has one. */
export function describeThrown(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  try {
    return typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    return String(value);
  }
}
