/**
 * Integration tests of the ecotrain kernel through the headless executor (needs `npm run setup`,
 * which `npm test` runs first). Each notebook starts one kernel: a few seconds each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/src/config';
import { setupPaths } from '../kernel-ext/src/setup/paths';
import { tempDir } from './helpers';

// Each test starts one to three kernels: seconds each on an idle machine, up to a minute each with lite runs sharing the
// 2 cores (a 60 s limit failed there with three kernels in one test).
const KERNEL_TEST_MS = 240_000;
const root = projectRoot();
const paths = setupPaths(root);
const ready =
  fs.existsSync(path.join(paths.kernelDir, 'kernel.json')) &&
  fs.existsSync(path.join(root, 'out', 'build', 'kernel-ext', 'src', 'kernel', 'launch.js'));

interface Outcome {
  status: 'ok' | 'failed';
  failed_cell: { index: number | null; ename: string; evalue: string } | null;
  outputs: Array<Array<{ output_type: string; name?: string; text?: string | string[]; ename?: string }>>;
  /** What the executor (and the kernel through it) wrote on stderr. */
  stderr: string;
}

function execute(cells: string[], probe?: string, env: Record<string, string> = { ECOTRAIN_BACKEND: 'cpu' }): Outcome {
  const dir = tempDir();
  const input = path.join(dir, 'in.ipynb');
  const output = path.join(dir, 'out.ipynb');
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'ecotrain', display_name: 'TypeScript (ecotrain)', language: 'typescript' } },
    cells: cells.map((source, i) => ({
      id: `c${i}`,
      cell_type: 'code',
      source,
      metadata: {},
      outputs: [],
      execution_count: null,
    })),
  };
  fs.writeFileSync(input, JSON.stringify(nb));
  const args = [
    path.join(root, 'kernel-ext', 'python', 'execute_notebook.py'),
    input,
    output,
    '--kernel',
    'ecotrain',
    '--cwd',
    path.join(root, 'notebooks'),
    '--timeout',
    '60',
  ];
  if (probe) args.push('--probe', probe);
  const r = spawnSync(paths.python, args, {
    encoding: 'utf8',
    env: { ...process.env, ...env, ECOTRAIN_OUT_DIR: dir },
  });
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  const result = JSON.parse(last) as Omit<Outcome, 'outputs' | 'stderr'>;
  const executed = JSON.parse(fs.readFileSync(output, 'utf8')) as {
    cells: Array<{ outputs: Outcome['outputs'][number] }>;
  };
  return { ...result, outputs: executed.cells.map((c) => c.outputs), stderr: r.stderr ?? '' };
}

/** Executes a notebook file as the runner's executor does (no injected parameters) and returns its executed cells. */
function executeNotebook(nb: unknown, env: Record<string, string> = { ECOTRAIN_BACKEND: 'cpu' }) {
  const dir = tempDir();
  const input = path.join(dir, 'in.ipynb');
  const output = path.join(dir, 'out.ipynb');
  fs.writeFileSync(input, JSON.stringify(nb));
  const r = spawnSync(
    paths.python,
    [
      ...[path.join(root, 'kernel-ext', 'python', 'execute_notebook.py'), input, output],
      ...['--kernel', 'ecotrain', '--cwd', path.join(root, 'notebooks'), '--timeout', '120'],
    ],
    { encoding: 'utf8', env: { ...process.env, ...env, ECOTRAIN_OUT_DIR: dir } },
  );
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  const executed = JSON.parse(fs.readFileSync(output, 'utf8')) as {
    metadata: { language_info?: { name?: string } };
    cells: Array<{ cell_type: string; outputs?: Outcome['outputs'][number] }>;
  };
  return { ...(JSON.parse(last) as Omit<Outcome, 'outputs' | 'stderr'>), executed };
}

describe('ecotrain kernel (headless)', () => {
  beforeAll(() => {
    if (!ready)
      throw new Error('the ecotrain kernel is not registered or not built: run `npm run setup` (npm test does)');
  });

  it(
    'prints the session banner and runs TypeScript importing the project packages',
    () => {
      const r = execute(['import { parseScale } from "ecotrain";\nconsole.log(parseScale("lite"));']);
      expect(r.status).toBe('ok');
      const text = r.outputs[0]?.map((o) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? ''))).join('') ?? '';
      expect(text).toMatch(/ecotrain session: backend cpu/);
      expect(text).toMatch(/\nlite\n/);
    },
    KERNEL_TEST_MS,
  );

  it(
    "keeps TensorFlow's start-up lines out of the run's stderr on the native backend",
    () => {
      const r = execute(
        [
          'import { initBackend } from "ecotrain";\nconst b = await initBackend({ backend: "tensorflow" });\nconsole.log(b.name);',
        ],
        undefined,
        { ECOTRAIN_BACKEND: 'tensorflow' },
      );
      expect(r.status).toBe('ok');
      expect(r.stderr).not.toMatch(/absl::InitializeLog|oneDNN custom operations are on/);
    },
    KERNEL_TEST_MS,
  );

  it(
    'reports a thrown error as an error output and fails the run at that cell',
    () => {
      const r = execute(['const a = 1;', 'throw new RangeError("bad width 40");', 'console.log("not reached");']);
      expect(r.status).toBe('failed');
      expect(r.failed_cell).toMatchObject({ index: 1, ename: 'RangeError', evalue: 'bad width 40' });
      expect(r.outputs[1]?.some((o) => o.output_type === 'error' && o.ename === 'RangeError')).toBe(true);
      expect(r.outputs[2]).toEqual([]);
      // Shown once: no stderr copy beside the error output, whose traceback starts with the message and lists no
      // frame of tslab or Node.
      const text = (o: { text?: string | string[] }) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? ''));
      expect(r.outputs[1]?.filter((o) => o.output_type === 'stream' && /bad width 40/.test(text(o)))).toEqual([]);
      const err = r.outputs[1]?.find((o) => o.output_type === 'error') as { traceback?: string[] } | undefined;
      expect(err?.traceback?.[0]).toBe('RangeError: bad width 40');
      expect((err?.traceback ?? []).some((l) => /node_modules|node:internal/.test(l))).toBe(false);
    },
    KERNEL_TEST_MS,
  );

  it(
    'a cell that ends the kernel (process.exit) is named as the failed cell',
    () => {
      const r = execute(['const a = 1;', 'process.exit(3);', 'console.log("not reached");']);
      expect(r.status).toBe('failed');
      expect(r.failed_cell).toMatchObject({ index: 1, ename: 'DeadKernelError' });
      expect(r.failed_cell?.evalue).toMatch(/the kernel died while this cell ran/);
    },
    KERNEL_TEST_MS,
  );

  it(
    "a shard's notebook that reaches another shard's outcome (ShardSliceDone) ends there as a success",
    () => {
      const r = execute([
        'console.log("computed");',
        'const e = new Error("arm x is another shard\'s"); e.name = "ShardSliceDone"; throw e;',
        'console.log("not reached");',
      ]);
      expect(r.status).toBe('ok');
      expect(r.failed_cell ?? null).toBe(null);
      expect(r.outputs[2]).toEqual([]);
    },
    KERNEL_TEST_MS,
  );

  it(
    'reports a type error as TypeScriptError',
    () => {
      const r = execute(['const n: number = "three";']);
      expect(r.failed_cell?.ename).toBe('TypeScriptError');
      expect(r.failed_cell?.evalue).toMatch(/not assignable to type 'number'/);
    },
    KERNEL_TEST_MS,
  );

  it(
    'fails on an unhandled rejection raised while a cell runs',
    () => {
      const r = execute([
        'Promise.reject(new Error("lost promise"));\nawait new Promise((resolve) => setTimeout(resolve, 100));',
        'console.log("next");',
      ]);
      expect(r.status).toBe('failed');
      expect(r.failed_cell).toMatchObject({ index: 0, ename: 'UnhandledPromiseRejection' });
      expect(r.failed_cell?.evalue).toMatch(/lost promise/);
    },
    KERNEL_TEST_MS,
  );

  it(
    'fails on an error thrown in a timer after the last cell (end-of-notebook check)',
    () => {
      const r = execute(
        ['setTimeout(() => { throw new Error("timer boom"); }, 50);\nundefined;'],
        '// end-of-notebook check',
      );
      expect(r.status).toBe('failed');
      expect(r.failed_cell?.ename).toBe('UncaughtException');
      expect(r.failed_cell?.evalue).toMatch(/timer boom/);
    },
    KERNEL_TEST_MS,
  );

  const PROBE =
    'import { endOfNotebook } from "ecotrain-kernel";\nconst ecotrainSessionRecord = await endOfNotebook();';

  it(
    "an unref'd timer that throws 3 s after the last cell, or a child process's callback that throws, fails the check",
    () => {
      const r = execute(
        ['setTimeout(() => { throw new Error("unref boom\\nsecond line"); }, 3000).unref();\nundefined;'],
        PROBE,
      );
      expect(r.status).toBe('failed');
      // The whole message, every line of it.
      expect(r.failed_cell?.evalue).toMatch(/Error: unref boom\nsecond line/);
      const c = execute(
        [
          'import { exec } from "node:child_process";\nexec("sleep 2", () => { throw new Error("exec boom"); });\nundefined;',
        ],
        PROBE,
      );
      expect(c.status).toBe('failed');
      expect(c.failed_cell?.evalue).toMatch(/exec boom/);
    },
    KERNEL_TEST_MS,
  );

  it(
    'a timer that throws 3 s after the last cell fails the end-of-notebook check',
    () => {
      const r = execute(['setTimeout(() => { throw new Error("late boom"); }, 3000);\nundefined;'], PROBE);
      expect(r.status).toBe('failed');
      expect(r.failed_cell?.ename).toBe('UncaughtException');
      expect(r.failed_cell?.evalue).toMatch(/late boom/);
    },
    KERNEL_TEST_MS,
  );

  it(
    'a bare Error keeps its message; `await (async () => ...)()` gets a message saying what to write, and that works',
    () => {
      const r = execute(['throw new Error("boom");']);
      expect(r.failed_cell).toMatchObject({ index: 0, ename: 'Error', evalue: 'boom' });
      const a = execute(['await (async () => { console.log("inside"); })();']);
      expect(a.failed_cell?.ename).toBe('ReferenceError');
      expect(a.failed_cell?.evalue).toMatch(
        /Name the promise first: `const work = \(async \(\) => \{ \.\.\. \}\)\(\); const result = await work;`/,
      );
      const b = execute(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the cell source is TypeScript with a template literal
        ['const work = (async () => 41 + 1)();\nconst result = await work;\nconsole.log(`result ${result}`);'],
        PROBE,
      );
      expect(b.failed_cell ?? null).toBe(null);
      expect(b.outputs[0]?.map((o) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? ''))).join('')).toMatch(
        /result 42/,
      );
    },
    KERNEL_TEST_MS,
  );
  it(
    "a committed notebook's parameters cell is the source of truth: edited to smoke, the banner says smoke",
    () => {
      const nb = JSON.parse(fs.readFileSync(path.join(root, 'notebooks', '00-getting-started.ipynb'), 'utf8')) as {
        cells: Array<{ cell_type: string; source: string | string[]; metadata: { tags?: string[] } }>;
      };
      const src = (c: { source: string | string[] }) => (Array.isArray(c.source) ? c.source.join('') : c.source);
      expect(nb.cells.some((c) => (c.metadata.tags ?? []).includes('injected-parameters'))).toBe(false);
      const params = nb.cells.find((c) => (c.metadata.tags ?? []).includes('parameters'));
      expect(params && src(params)).toMatch(/let scale: Scale = "lite";/);
      if (params) params.source = src(params).replace('let scale: Scale = "lite";', 'let scale: Scale = "smoke";');
      // Run up to the cell that prints the banner (the rest trains).
      const upTo = nb.cells.findIndex((c) => /console\.log\(`backend /.test(src(c)));
      expect(upTo).toBeGreaterThan(0);
      const r = executeNotebook({ ...nb, cells: nb.cells.slice(0, upTo + 1) });
      expect(r.failed_cell ?? null).toBe(null);
      const banner = r.executed.cells[upTo]?.outputs?.map((o) =>
        Array.isArray(o.text) ? o.text.join('') : (o.text ?? ''),
      );
      expect(banner?.join('')).toMatch(/scale smoke, seed 0/);
      // The kernel's session banner does not claim a scale of its own: the parameters cell sets it.
      const session = r.executed.cells
        .flatMap((c) => c.outputs ?? [])
        .map((o) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
        .find((t) => t.includes('ecotrain session:'));
      expect(session).toMatch(/scale and seed from the notebook's parameters cell, interactive/);
      expect(session).not.toMatch(/scale lite/);
      // The executed copy records the kernel's language_info, as JupyterLab does on opening.
      expect(r.executed.metadata.language_info?.name).toBe('typescript');
    },
    KERNEL_TEST_MS,
  );
});
