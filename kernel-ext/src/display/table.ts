import * as path from 'node:path';
import { writeFileAtomic } from 'ecotrain/base';
import { isHeadless } from '../kernel/environment';
import { escapeHtml, sendDisplay } from './channel';
import { checkArtifactName, notebookName, outputDirs } from './outputs';

/** A table cell value. */
export type Cell = string | number | boolean | null | undefined;
/** A table as rows of named cells. */
export type Row = Readonly<Record<string, Cell>>;

/** The part of a danfo DataFrame that {@link table} reads. */
export interface DataFrameLike {
  readonly columns: readonly string[];
  readonly values: ReadonlyArray<ReadonlyArray<Cell> | Cell>;
}

/** Options of {@link table}. */
export interface TableOptions {
  /** File-name stem of the saved CSV. */
  readonly name: string;
  readonly caption?: string;
  /** Significant digits for non-integer numbers (default 4). */
  readonly digits?: number;
  /** Save the CSV even in an interactive session (headless runs always save). */
  readonly save?: boolean;
}

function isDataFrame(x: unknown): x is DataFrameLike {
  return (
    typeof x === 'object' &&
    x !== null &&
    Array.isArray((x as DataFrameLike).columns) &&
    Array.isArray((x as DataFrameLike).values)
  );
}

/** Columns and rows of a DataFrame or row list. */
export function tableData(input: DataFrameLike | readonly Row[]): { columns: string[]; rows: Cell[][] } {
  if (isDataFrame(input)) {
    const rows = input.values.map((r) => (Array.isArray(r) ? [...(r as Cell[])] : [r as Cell]));
    return { columns: [...input.columns], rows };
  }
  const columns: string[] = [];
  for (const r of input) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  return { columns, rows: input.map((r) => columns.map((c) => r[c])) };
}

/** Formats one cell for display. */
export function formatCell(v: Cell, digits = 4): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    if (!Number.isFinite(v)) return String(v);
    return Number(v.toPrecision(digits)).toString();
  }
  return String(v);
}

/** RFC 4180 CSV of columns and rows (full precision). */
export function toCsv(columns: readonly string[], rows: readonly Cell[][]): string {
  const q = (v: Cell) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[columns.map(q).join(','), ...rows.map((r) => r.map(q).join(','))].join('\n')}\n`;
}

/** HTML table of columns and rows. */
export function toHtml(columns: readonly string[], rows: readonly Cell[][], caption?: string, digits = 4): string {
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((v) => `<td style="text-align:${typeof v === 'number' ? 'right' : 'left'}">${escapeHtml(formatCell(v, digits))}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table>${caption ? `<caption>${escapeHtml(caption)}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Plain-text table (for logs and `text/plain`). */
export function toText(columns: readonly string[], rows: readonly Cell[][], digits = 4): string {
  const cells = [columns, ...rows.map((r) => r.map((v) => formatCell(v, digits)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (c ?? '').padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Shows a danfo DataFrame (or a list of rows) as an HTML table and, in a headless run or with
 * `save: true`, saves it as `out/<scale>/tables/<notebook>-<name>.csv` (see {@link tableFile}).
 */
export function table(input: DataFrameLike | readonly Row[], options: TableOptions): void {
  tableFile(input, options);
}

/** {@link table}, returning the CSV path when the table was saved. */
export function tableFile(input: DataFrameLike | readonly Row[], options: TableOptions): string | undefined {
  const name = checkArtifactName(options.name, 'table name');
  const { columns, rows } = tableData(input);
  const digits = options.digits ?? 4;
  let file: string | undefined;
  if (isHeadless() || options.save) {
    file = path.join(outputDirs().tables, `${notebookName()}-${name}.csv`);
    writeFileAtomic(file, toCsv(columns, rows));
  }
  const text = (options.caption ? `${options.caption}\n` : '') + toText(columns, rows, digits);
  if (!sendDisplay({ 'text/html': toHtml(columns, rows, options.caption, digits), 'text/plain': text }))
    console.log(text);
  return file;
}
