import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot, writeFileAtomic } from 'ecotrain/base';
import * as ts from 'typescript';

/**
 * Diagnostics the check leaves to the kernel: implicit `any` of callback parameters (tslab compiles cells without
 * `noImplicitAny`) and comparisons of the parameters cell's `scale` with the scales it was not initialised to (the
 * runner's injected cell assigns it).
 */
const IGNORED = new Set([7006, 7031, 2367]);

interface NotebookJson {
  readonly cells: ReadonlyArray<{
    readonly cell_type: string;
    readonly source: string | readonly string[];
    readonly metadata?: { readonly tags?: readonly string[] };
  }>;
}

/** A notebook's code cells as one TypeScript module (the runner's injected-parameters cell left out). */
export function notebookModule(notebook: NotebookJson): string {
  const cells = notebook.cells
    .filter((c) => c.cell_type === 'code' && !(c.metadata?.tags ?? []).includes('injected-parameters'))
    .map((c) => (typeof c.source === 'string' ? c.source : c.source.join('')));
  return `${cells.join('\n;\n')}\nexport {};\n`;
}

/**
 * Type-checks every notebook's code against the library's and the kernel helpers' sources (strict, as modules with
 * top-level await), without running it: what a notebook would fail on at its first cell is found in seconds.
 * Returns one line per error, `notebook.ts(line,col): message`.
 */
export function typecheckNotebooks(notebooksDir: string, workDir: string): string[] {
  const root = projectRoot();
  fs.mkdirSync(workDir, { recursive: true });
  const files = fs
    .readdirSync(notebooksDir)
    .filter((f) => f.endsWith('.ipynb'))
    .sort()
    .map((f) => {
      const nb = JSON.parse(fs.readFileSync(path.join(notebooksDir, f), 'utf8')) as NotebookJson;
      const file = path.join(workDir, f.replace(/\.ipynb$/, '.ts'));
      writeFileAtomic(file, notebookModule(nb));
      return file;
    });
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    resolveJsonModule: true,
    types: ['node'],
    baseUrl: root,
    paths: {
      ecotrain: ['lib/src/index.ts'],
      'ecotrain/base': ['lib/src/base.ts'],
      'ecotrain-kernel': ['kernel-ext/src/index.ts'],
    },
  });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => !IGNORED.has(d.code) && d.file && files.includes(path.resolve(d.file.fileName)))
    .map((d) => {
      const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      return `${path.basename(d.file!.fileName)}(${line + 1},${character + 1}): TS${d.code} ${message}`;
    });
}

if (require.main === module) {
  const root = projectRoot();
  const errors = typecheckNotebooks(path.join(root, 'notebooks'), path.join(root, 'out', 'typecheck'));
  for (const e of errors) console.error(e);
  console.log(`notebooks typecheck: ${errors.length} error(s)`);
  process.exit(errors.length ? 1 : 0);
}
