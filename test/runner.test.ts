import { describe, expect, it } from 'vitest';
import { injectParameters, cellSource, type Notebook } from '../kernel-ext/src/runner/inject';
import { parseReproduceArgs } from '../kernel-ext/src/runner/args';
import { renderReport, reportFiles, type RunInfo } from '../kernel-ext/src/runner/report';
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

const runInfo = (over: Partial<RunInfo> = {}): RunInfo => ({
  scale: 'smoke',
  startedAt: '2026-12-07T03:00:00.000Z',
  endedAt: '2026-12-07T03:12:30.000Z',
  commit: 'abc123def456+dirty',
  versions: { node: 'v20.20.2', '@tensorflow/tfjs-node': '4.22.0' },
  selection: { kind: 'all' },
  ...over,
});

describe('report', () => {
  it('lists each notebook with status, backend and findings counts, and the failing cell', () => {
    const md = renderReport(runInfo(), [
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
    ]);
    expect(md).toContain('| a.ipynb | ok | 1.3 s | tensorflow | cifar10/train (real, 5) | 1 / 0 / 0 / 0 |');
    expect(md).toContain('**FAILED** at cell 4: Error: boom');
    expect(md).toContain('Commit abc123def456+dirty; node v20.20.2, @tensorflow/tfjs-node 4.22.0.');
    expect(md).toContain(
      'Started 2026-12-07T03:00:00.000Z, ended 2026-12-07T03:12:30.000Z (12.5 min); every notebook.',
    );
    expect(md).toContain('2 notebook(s): 1 ok, 1 failed; 0 ran on SYNTHETIC data.');
  });

  it('counts and marks notebooks on synthetic data, lists each dataset once, and keeps partial reports apart', () => {
    const session = (datasets: Array<{ name: string; origin: string; count: number }>) => ({
      ...{ notebook: 'n', backend: 'tensorflow', scale: 'smoke', seed: 0, datasets, numTensors: 0 },
    });
    const row = {
      ...{ id: 'x', claim: 'c', source: 's', paper: '1', measured: '1', interval: '', n: '', test: 't' },
      ...{ kind: 'exact' as const, verdict: 'held' as const, note: '' },
    };
    const md = renderReport(runInfo(), [
      {
        ...{ notebook: '40.ipynb', status: 'ok', seconds: 1, executed: 'x', failedCell: null, injected: [] },
        session: session([
          { name: 'mnist/train', origin: 'synthetic', count: 60 },
          { name: 'mnist/train', origin: 'synthetic', count: 60 },
          { name: 'mnist/test', origin: 'synthetic', count: 10 },
          { name: 'mnist/train', origin: 'synthetic', count: 60 },
        ]),
        findings: { seeds: 1, setting: 's', rows: [row] },
      },
    ]);
    expect(md).toContain('1 ran on SYNTHETIC data (40.ipynb:');
    expect(md).toContain(
      '| 40.ipynb | ok | 1.0 s | tensorflow | mnist/train (synthetic, 60), mnist/test (synthetic, 10) |',
    );
    expect(md).toContain('| exact | held (on synthetic data) |');
    expect(reportFiles({ kind: 'all' })).toEqual({ markdown: 'REPORT.md', json: 'report.json' });
    expect(reportFiles({ kind: 'only', pattern: '^(10|11)-' })).toEqual({
      markdown: 'REPORT-only-10-11.md',
      json: 'report-only-10-11.json',
    });
    expect(reportFiles({ kind: 'shard', index: 1, count: 2 })).toEqual({
      markdown: 'REPORT-shard-1-of-2.md',
      json: 'report-shard-1-of-2.json',
    });
    expect(renderReport(runInfo({ selection: { kind: 'only', pattern: '^02-' } }), [])).toContain(
      'notebooks matching --only ^02- (a partial report; REPORT.md holds the last full run)',
    );
  });
});

describe('npm run lab arguments', () => {
  it('keep 127.0.0.1 and the token whatever the user adds; refuse address and authentication overrides', async () => {
    const { labArguments } = await import('../kernel-ext/src/lab-args');
    const token = 'ab'.repeat(24);
    const a = labArguments('/p', ['--port', '9999'], false, token);
    expect(a.slice(0, 3)).toEqual(['lab', '--port', '9999']);
    expect(a.indexOf('--ip=127.0.0.1')).toBeGreaterThan(a.indexOf('9999'));
    // The token is given on the command line, after the user's arguments: a configuration file cannot empty it.
    expect(a.indexOf(`--IdentityProvider.token=${token}`)).toBeGreaterThan(a.indexOf('9999'));
    expect(() => labArguments('/p', [], false, '')).toThrowError(/npm run lab token .* is invalid/);
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
      '--config=/tmp/open.py',
      '--config',
      '--ServerApp.config_file=/tmp/open.py',
      '--ZMQChannelsWebsocketConnection.token=',
      '--ServerApp.disable_check_xsrf=True',
      '--ServerApp.allow_unauthenticated_access=True',
    ]) {
      expect(() => labArguments('/p', [bad], false, token)).toThrowError(
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

describe('cell errors from stderr, whatever the name and however many lines', () => {
  it('an error whose name does not end in Error, and a message over several lines, are read whole', () => {
    expect(
      cellErrorFromStderr('progress 10%\nOops: it broke\n    at <anonymous>:1:7\n    at run (x.js:2:3)'),
    ).toMatchObject({
      ename: 'Oops',
      evalue: 'it broke',
    });
    expect(
      cellErrorFromStderr('loss: 1.25\nRangeError: bad width 40\nexpected one of 8, 16, 32\n    at <anonymous>:1:7'),
    ).toMatchObject({ ename: 'RangeError', evalue: 'bad width 40\nexpected one of 8, 16, 32' });
  });
});

describe('shards from a job scheduler', () => {
  it('Slurm job arrays and Kubernetes indexed Jobs set the shard when --shard is not given; --shard wins', async () => {
    const { shardFromScheduler, parseReproduceArgs } = await import('../kernel-ext/src/runner/args');
    expect(shardFromScheduler({})).toBeUndefined();
    expect(
      shardFromScheduler({ SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '0' }),
    ).toEqual({
      index: 1,
      count: 2,
    });
    expect(
      shardFromScheduler({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '2' }),
    ).toEqual({
      index: 3,
      count: 3,
    });
    expect(() => shardFromScheduler({ SLURM_ARRAY_TASK_ID: '1' })).toThrowError(/SLURM_ARRAY_TASK_COUNT/);
    expect(() => shardFromScheduler({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '2' })).toThrowError(
      /SLURM_ARRAY_TASK_ID = 5 is invalid/,
    );
    expect(shardFromScheduler({ JOB_COMPLETION_INDEX: '1', ECOTRAIN_SHARD_COUNT: '4' })).toEqual({
      index: 2,
      count: 4,
    });
    expect(() => shardFromScheduler({ JOB_COMPLETION_INDEX: '1' })).toThrowError(/ECOTRAIN_SHARD_COUNT/);
    const env = { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' };
    expect(parseReproduceArgs(['--scale', 'smoke'], env).shard).toEqual({ index: 2, count: 2 });
    expect(parseReproduceArgs(['--shard', '1/3'], env).shard).toEqual({ index: 1, count: 3 });
  });
});
