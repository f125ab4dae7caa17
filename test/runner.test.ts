import { describe, expect, it } from 'vitest';
import { injectParameters, cellSource, type Notebook } from '../kernel-ext/src/runner/inject';
import { parseReproduceArgs } from '../kernel-ext/src/runner/args';
import { renderReport } from '../kernel-ext/src/runner/report';
import { cellErrorFromStderr } from '../kernel-ext/src/kernel/errors';
import { ConfigError } from '../lib/src/errors';

const nb = (paramSource: string | null): Notebook => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {},
  cells: [
    { cell_type: 'markdown', source: '# t', metadata: {} },
    ...(paramSource === null
      ? []
      : [
          {
            cell_type: 'code',
            source: paramSource,
            metadata: { tags: ['parameters'] },
            outputs: [],
            execution_count: null,
          },
        ]),
    { cell_type: 'code', source: 'console.log(scale)', metadata: {}, outputs: [], execution_count: null },
  ],
});

describe('parameter injection', () => {
  it('inserts an injected-parameters cell right after the parameters cell', () => {
    const { notebook, injected, ignored } = injectParameters(nb('let scale: Scale = "lite";\nlet seed: number = 0;'), {
      scale: 'smoke',
      seed: 3,
      seeds: 2,
    });
    expect(injected).toEqual(['scale', 'seed']);
    expect(ignored).toEqual(['seeds']);
    expect(notebook.cells[2]?.metadata.tags).toEqual(['injected-parameters']);
    expect(cellSource(notebook.cells[2]!)).toContain('scale = "smoke";\nseed = 3;');
    expect(cellSource(notebook.cells[3]!)).toBe('console.log(scale)');
  });
  it('replaces an earlier injected cell instead of stacking them', () => {
    const once = injectParameters(nb('let scale = "lite";'), { scale: 'smoke' }).notebook;
    const twice = injectParameters(once, { scale: 'paper' }).notebook;
    expect(twice.cells.filter((c) => c.metadata.tags?.includes('injected-parameters'))).toHaveLength(1);
    expect(cellSource(twice.cells[2]!)).toContain('scale = "paper";');
    // nbformat 4.5 notebooks need cell ids; 4.4 notebooks must not have them.
    expect(twice.cells[2]!.id).toBe('injected-parameters');
    expect(injectParameters({ ...once, nbformat_minor: 4 }, { scale: 'lite' }).notebook.cells[2]!.id).toBeUndefined();
  });
  it('escapes string values as literals', () => {
    const { notebook } = injectParameters(nb('let label = "a";'), { label: 'x"; process.exit(1); "' });
    expect(cellSource(notebook.cells[2]!)).toContain('label = "x\\"; process.exit(1); \\"";');
  });
  it('requires a parameters cell', () => {
    expect(() => injectParameters(nb(null), { scale: 'smoke' }, '07.ipynb')).toThrowError(
      /07\.ipynb: parameters cell = "missing" is invalid/,
    );
  });
});

describe('reproduce arguments', () => {
  it('parses scale, only, seeds and rejects bad values', () => {
    expect(parseReproduceArgs(['--scale', 'lite', '--only=00', '--seeds', '3'])).toMatchObject({
      scale: 'lite',
      only: '00',
      seeds: 3,
    });
    expect(parseReproduceArgs([]).scale).toBe('smoke');
    expect(() => parseReproduceArgs(['--scale', 'huge'])).toThrowError(
      /--scale = "huge" is invalid: expected one of smoke, lite, paper/,
    );
    expect(() => parseReproduceArgs(['--seeds', '0'])).toThrowError(ConfigError);
    expect(() => parseReproduceArgs(['--fast'])).toThrowError(/argument = "--fast"/);
  });
});

describe('kernel error extraction', () => {
  it('turns tslab diagnostics into a TypeScriptError', () => {
    const e = cellErrorFromStderr("3:7 - Type 'string' is not assignable to type 'number'.\n");
    expect(e.ename).toBe('TypeScriptError');
    expect(e.evalue).toMatch(/not assignable/);
  });
  it('finds the thrown error and its stack', () => {
    const e = cellErrorFromStderr('warning: x\nRangeError: bad size 3\n    at f (evalmachine:1:2)\n');
    expect(e).toMatchObject({ ename: 'RangeError', evalue: 'bad size 3' });
    expect(e.traceback).toHaveLength(2);
  });
});

describe('report', () => {
  it('lists each notebook with status, backend and findings counts, and the failing cell', () => {
    const md = renderReport(
      'smoke',
      [
        {
          notebook: 'a.ipynb',
          status: 'ok',
          seconds: 1.25,
          executed: 'out/a',
          failedCell: null,
          injected: [],
          session: {
            notebook: 'a',
            backend: 'tensorflow',
            scale: 'smoke',
            seed: 0,
            datasets: [{ name: 'cifar10/train', origin: 'real', count: 5 }],
            numTensors: 3,
          },
          findings: {
            seeds: 1,
            setting: 's',
            rows: [
              {
                id: 'x',
                claim: 'c',
                source: 's',
                paper: '1',
                measured: '1',
                interval: '',
                n: '',
                test: 'identity',
                kind: 'exact',
                verdict: 'held',
                note: '',
              },
            ],
          },
        },
        {
          notebook: 'b.ipynb',
          status: 'failed',
          seconds: 2,
          executed: 'out/b',
          failedCell: { index: 4, ename: 'Error', evalue: 'boom', source: 'throw' },
          injected: [],
          session: null,
          findings: null,
        },
      ],
      'now',
    );
    expect(md).toContain('| a.ipynb | ok | 1.3 s | tensorflow | cifar10/train (real, 5) | 1 / 0 / 0 / 0 |');
    expect(md).toContain('**FAILED** at cell 4: Error: boom');
  });
});

describe('npm run lab arguments', () => {
  it('keep 127.0.0.1 and the token whatever the user adds; refuse address and authentication overrides', async () => {
    const { labArguments } = await import('../kernel-ext/src/lab-args');
    const a = labArguments('/p', ['--port', '9999'], false);
    expect(a.slice(0, 3)).toEqual(['lab', '--port', '9999']);
    expect(a.indexOf('--ip=127.0.0.1')).toBeGreaterThan(a.indexOf('9999'));
    expect(a).toContain('--notebook-dir=/p/notebooks');
    for (const bad of [
      '--ip=0.0.0.0',
      '--ip',
      '--ServerApp.ip=0.0.0.0',
      '--ServerApp.token=',
      '--IdentityProvider.token=abc',
      '--NotebookApp.token=',
      '--ServerApp.allow_remote_access=True',
      '--ServerApp.password=x',
    ]) {
      expect(() => labArguments('/p', [bad], false)).toThrowError(
        /npm run lab argument = .* is invalid: expected no argument that changes the address/,
      );
    }
  });
});

describe('cell errors', () => {
  it('keep the message of a bare Error', () => {
    expect(cellErrorFromStderr('Error: boom\n    at <anonymous>:1:7')).toMatchObject({
      ename: 'Error',
      evalue: 'boom',
    });
    expect(cellErrorFromStderr('some output\nRangeError: bad width\n    at x')).toMatchObject({
      ename: 'RangeError',
      evalue: 'bad width',
    });
  });
});
