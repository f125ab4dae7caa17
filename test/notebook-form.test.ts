/**
 * Committed notebooks are stored in the form JupyterLab saves (needs the venv of `npm run setup`, which `npm test`
 * runs first): opening and saving one without edits changes nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/src/config';
import { setupPaths } from '../kernel-ext/src/setup/paths';
import { tempDir } from './helpers';

const root = projectRoot();
const python = setupPaths(root).python;
const script = path.join(root, 'kernel-ext', 'python', 'normal_form.py');
const run = (...args: string[]) => spawnSync(python, [script, ...args], { encoding: 'utf8' });
// Each test starts Python (nbformat): about a second alone, much longer with lite runs sharing the 2 cores.
const PYTHON_TEST_MS = 180_000;

describe('notebooks in normal form', () => {
  it(
    'every committed notebook is byte for byte what nbformat writes after JupyterLab merges its streams',
    () => {
      const notebooks = fs
        .readdirSync(path.join(root, 'notebooks'))
        .filter((f) => f.endsWith('.ipynb'))
        .map((f) => path.join(root, 'notebooks', f));
      expect(notebooks.length).toBeGreaterThan(10);
      const r = run('--check', ...notebooks);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
    PYTHON_TEST_MS,
  );

  it(
    'the normaliser merges consecutive streams of one name, drops injected parameters, and is a fixed point',
    () => {
      const dir = tempDir();
      const file = path.join(dir, 'nb.ipynb');
      const cell = (id: string, tags: string[], outputs: unknown[]) => ({
        ...{ id, cell_type: 'code', execution_count: null, metadata: tags.length ? { tags } : {} },
        ...{ outputs, source: `// ${id}` },
      });
      const stream = (name: string, text: string) => ({ output_type: 'stream', name, text });
      const nb = {
        ...{ nbformat: 4, nbformat_minor: 5, metadata: {} },
        cells: [
          cell('p', ['parameters'], []),
          cell('injected-parameters', ['injected-parameters'], []),
          cell(
            'a',
            [],
            [stream('stdout', 'one\n'), stream('stdout', 'two\n'), stream('stderr', 'w\n'), stream('stdout', 'x\n')],
          ),
        ],
      };
      fs.writeFileSync(file, JSON.stringify(nb));
      const check = run('--check', file);
      expect(check.status).toBe(1);
      expect(check.stdout).toMatch(/nb\.ipynb: not in normal form/);
      expect(run('--write', file).status).toBe(0);
      const once = fs.readFileSync(file, 'utf8');
      const out = JSON.parse(once) as {
        cells: Array<{ id: string; outputs: Array<{ name: string; text: string[] }> }>;
      };
      expect(out.cells.map((c) => c.id)).toEqual(['p', 'a']);
      expect(out.cells[1]?.outputs.map((o) => [o.name, o.text.join('')])).toEqual([
        ['stdout', 'one\ntwo\n'],
        ['stderr', 'w\n'],
        ['stdout', 'x\n'],
      ]);
      expect(once.endsWith('}\n')).toBe(true);
      expect(run('--check', file).status).toBe(0);
    },
    PYTHON_TEST_MS,
  );
});

describe('npm run lab trusts the notebooks', () => {
  it(
    'after trustNotebooks every committed notebook checks as signed in the user data directory',
    async () => {
      const { trustNotebooks } = await import('../kernel-ext/src/setup/trust');
      const data = tempDir();
      const env = { ...process.env, JUPYTER_DATA_DIR: data };
      const check = () =>
        spawnSync(
          python,
          [
            '-c',
            'import sys, nbformat\nfrom nbformat.sign import NotebookNotary\nn = NotebookNotary()\nprint(sum(not n.check_signature(nbformat.read(p, 4)) for p in sys.argv[1:]))',
            ...fs
              .readdirSync(path.join(root, 'notebooks'))
              .filter((f) => f.endsWith('.ipynb'))
              .map((f) => path.join(root, 'notebooks', f)),
          ],
          { encoding: 'utf8', env },
        ).stdout.trim();
      expect(Number(check())).toBeGreaterThan(0);
      const signed = trustNotebooks(setupPaths(root), env);
      expect(signed.length).toBeGreaterThan(10);
      expect(check()).toBe('0');
    },
    PYTHON_TEST_MS,
  );
});
