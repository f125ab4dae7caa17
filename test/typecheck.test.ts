import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { notebookModule, typecheckNotebooks } from '../kernel-ext/src/runner/typecheck';
import { tempDir } from './helpers';

const cell = (source: string, tags?: string[]) => ({
  cell_type: 'code',
  source: source.split(/(?<=\n)/),
  metadata: tags ? { tags } : {},
});

describe('notebook type check', () => {
  it("joins a notebook's code cells into one module, leaving out markdown and the runner's injected parameters", () => {
    const nb = {
      cells: [
        cell('let scale = "lite";\n', ['parameters']),
        cell('scale = "smoke";\n', ['injected-parameters']),
        { cell_type: 'markdown', source: ['# title'] },
        cell('const x = 1;'),
      ],
    };
    expect(notebookModule(nb)).toBe('let scale = "lite";\n\n;\nconst x = 1;\nexport {};\n');
  });

  it('reports a type error with its notebook, line and code; a clean notebook reports none', () => {
    const dir = tempDir();
    const nb = (cells: object[]) => JSON.stringify({ cells });
    fs.writeFileSync(path.join(dir, 'a-clean.ipynb'), nb([cell('const n: number = 2;\nconsole.log(n * 2);')]));
    fs.writeFileSync(
      path.join(dir, 'b-broken.ipynb'),
      nb([cell('const ok = 1;\n'), cell('const s: string = ok;\nconsole.log(s);')]),
    );
    const errors = typecheckNotebooks(dir, path.join(dir, 'out'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^b-broken\.ts\(4,7\): TS2322 Type 'number' is not assignable to type 'string'/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
