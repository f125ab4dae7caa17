import { ConfigError } from 'ecotrain/base';

/** A notebook cell as stored in .ipynb (nbformat 4). */
export interface NotebookCell {
  cell_type: string;
  source: string | string[];
  metadata: { tags?: string[]; [k: string]: unknown };
  outputs?: unknown[];
  execution_count?: number | null;
  [k: string]: unknown;
}

/** A notebook as stored in .ipynb (nbformat 4). */
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** A parameter value the runner can inject. */
export type ParamValue = string | number | boolean;

/** Cell source as one string. */
export function cellSource(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

function literal(v: ParamValue): string {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new ConfigError('parameter', v, 'a finite number');
  return JSON.stringify(v);
}

/**
 * Papermill-style injection: finds the code cell tagged `parameters`, and inserts right after it a
 * cell tagged `injected-parameters` that assigns the given values (`name = value;`). The parameters
 * cell must declare each injected name with `let` (so the assignment is type-checked against the
 * declared type). Parameters the notebook does not declare are returned in `ignored`; a notebook
 * without a parameters cell is an error. Returns a new notebook; the input is not modified.
 */
export function injectParameters(
  nb: Notebook,
  params: Readonly<Record<string, ParamValue>>,
  label = 'notebook',
): { notebook: Notebook; injected: string[]; ignored: string[] } {
  const idx = nb.cells.findIndex((c) => c.cell_type === 'code' && (c.metadata.tags ?? []).includes('parameters'));
  if (idx < 0) throw new ConfigError(`${label}: parameters cell`, 'missing', 'a code cell tagged "parameters"');
  const declared = cellSource(nb.cells[idx] as NotebookCell);
  const injected: string[] = [];
  const ignored: string[] = [];
  const lines: string[] = ['// Parameters injected by the ecotrain runner'];
  for (const [name, value] of Object.entries(params)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new ConfigError('parameter name', name, 'a TypeScript identifier');
    if (new RegExp(`\\blet\\s+${name.replace(/\$/g, '\\$')}\\b`).test(declared)) {
      lines.push(`${name} = ${literal(value)};`);
      injected.push(name);
    } else {
      ignored.push(name);
    }
  }
  lines.push('undefined; // keeps the cell from echoing the last value');
  const cells = nb.cells.filter((c) => !(c.metadata.tags ?? []).includes('injected-parameters'));
  const at = cells.findIndex((c) => c.cell_type === 'code' && (c.metadata.tags ?? []).includes('parameters'));
  const cell: NotebookCell = {
    // nbformat 4.5+ requires cell ids (earlier minors forbid them).
    ...(nb.nbformat > 4 || nb.nbformat_minor >= 5 ? { id: 'injected-parameters' } : {}),
    cell_type: 'code',
    execution_count: null,
    metadata: { tags: ['injected-parameters'] },
    outputs: [],
    source: lines.join('\n'),
  };
  cells.splice(at + 1, 0, cell);
  return { notebook: { ...nb, cells }, injected, ignored };
}
