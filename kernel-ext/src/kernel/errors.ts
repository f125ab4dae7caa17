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
  // The last "Name: message" line that starts an error block is the thrown error: the line before a run of stack
  // frames (whatever the error's name), else the last line naming an Error, Exception or Rejection.
  const frame = /^\s+at /;
  let start = -1;
  for (let i = lines.length - 2; i >= 0; i--) {
    if (frame.test(lines[i + 1] as string) && !frame.test(lines[i] as string)) {
      // The message may span lines: its first line is the nearest one above the frames that reads "SomeError: ..."
      // (else "Name: ..."), not crossing an earlier block's frames; without one, the line above the frames.
      let top = i;
      while (top > 0 && !frame.test(lines[top - 1] as string)) top--;
      const nearest = (re: RegExp) => {
        for (let j = i; j >= top; j--) if (re.test(lines[j] as string)) return j;
        return -1;
      };
      const named = nearest(/^[A-Za-z_$][\w$]*(?:Error|Exception|Rejection): /);
      const any = nearest(/^[A-Za-z_$][\w$]*: /);
      start = named >= 0 ? named : any >= 0 ? any : i;
      break;
    }
  }
  for (let i = lines.length - 1; start < 0 && i >= 0; i--) {
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
  const blockEnd = lines.findIndex((l, i) => i > start && frame.test(l));
  const head = lines.slice(start, blockEnd < 0 ? start + 1 : blockEnd).join('\n');
  const m = /^([A-Za-z_$][\w$]*)(?::\s*([\s\S]*))?$/.exec(head);
  const ename = m?.[1] ?? 'Error';
  const evalue = m?.[2] ?? head;
  return { ename, evalue: explained(ename, evalue), traceback: lines.slice(start) };
}

/** The message of an error, with what to do instead where tslab's reading of the cell is the cause. */
function explained(ename: string, evalue: string): string {
  // tslab parses a cell that starts with `await (` as a call of a function named await.
  if (ename === 'ReferenceError' && /^await is not defined/.test(evalue))
    return (
      'await is not defined: tslab reads `await (...)` (an await followed by a parenthesis) as a call of a function named "await". ' +
      'Name the promise first: `const work = (async () => { ... })(); const result = await work;`.'
    );
  return evalue;
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

/** A stack frame line of code a notebook cell ran (tslab evaluates cells with `vm.runInThisContext`). */
const USER_FRAME = /evalmachine\.<anonymous>|at <anonymous>|\.ipynb/;

/**
 * A thrown value as a cell error: its name and message first, then only the stack frames of the notebook's own code
 * (the frames inside the library, tslab and Node are counted, not listed).
 */
export function cellErrorFromThrown(value: unknown): CellError {
  if (!(value instanceof Error)) {
    const text = describeThrown(value);
    return { ename: 'Error', evalue: text, traceback: [`Error: ${text}`] };
  }
  const ename = value.name || 'Error';
  const evalue = explained(ename, value.message);
  const frames = (value.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  const mine = frames.filter((l) => USER_FRAME.test(l));
  const hidden = frames.length - mine.length;
  return {
    ename,
    evalue,
    traceback: [
      `${ename}: ${evalue}`,
      ...mine,
      ...(hidden > 0 ? [`    (${hidden} frame(s) inside ecotrain, tslab and Node not shown)`] : []),
    ],
  };
}
