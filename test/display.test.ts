import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findingRows, findings, FindingsError, type Claim } from '../kernel-ext/src/display/findings';
import { progress } from '../kernel-ext/src/display/progress';
import { formatCell, table, tableData, tableFile, toCsv } from '../kernel-ext/src/display/table';
import { figureFiles } from '../kernel-ext/src/display/figure';
import { closeFigureExporter, staticExportAvailable } from '../kernel-ext/src/display/figure-export';
import { tempDir } from './helpers';
import type { RunOutcome } from '../lib/src/experiments/run';

let out = '';
beforeEach(() => {
  out = tempDir();
  process.env.ECOTRAIN_OUT_DIR = out;
  process.env.ECOTRAIN_NOTEBOOK = 'nb';
  process.env.ECOTRAIN_SCALE = 'smoke';
});
afterAll(async () => {
  await closeFigureExporter();
});

const claim = (over: Partial<Claim>): Claim => ({
  id: 'c',
  claim: 'x',
  source: 's',
  paper: 'p',
  measured: 1,
  kind: 'exact',
  holds: true,
  ...over,
});

describe('findings', () => {
  it('marks held / not held / not checked at this scale / not measured', () => {
    const rows = findingRows(
      [
        claim({ id: 'a' }),
        claim({ id: 'b', kind: 'statistical', test: 'exact binomial (two-sided), 95%', holds: false }),
        claim({ id: 'c', checkedAt: ['lite'] }),
        claim({ id: 'd', measured: undefined }),
      ],
      'smoke',
    );
    expect(rows.map((r) => r.verdict)).toEqual(['held', 'not held', 'not checked at this scale', 'not measured']);
  });
  it('throws after saving when an exact claim fails; statistical failures never throw', () => {
    expect(() =>
      findings([claim({ id: 'acc', kind: 'statistical', test: 'binomial', holds: false })], { seeds: 3, setting: 's' }),
    ).not.toThrow();
    expect(() =>
      findings([claim({ id: 'energy', holds: false, claim: 'PSG energy below 8-bit', paper: '< 1', measured: 1.2 })], {
        seeds: 1,
        setting: 's',
      }),
    ).toThrowError(FindingsError);
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'results', 'nb.findings.json'), 'utf8'));
    expect(saved.rows[0]).toMatchObject({ id: 'energy', verdict: 'not held', measured: '1.2' });
    expect(saved.seeds).toBe(1);
  });
  it('rejects duplicate ids and bad seed counts', () => {
    expect(() => findingRows([claim({}), claim({})], 'lite')).toThrowError(/claim id/);
    expect(() => findings([claim({})], { seeds: 0, setting: 's' })).toThrowError(/findings seeds = 0/);
  });
});

describe('progress', () => {
  it('prints one line per 10% and a final line, never one per step', () => {
    const lines: string[] = [];
    let t = 0;
    const p = progress({ total: 1000, label: 'train', print: (l) => lines.push(l), now: () => (t += 1) });
    for (let i = 0; i < 1000; i++) p.tick(1, { loss: 1 / (i + 1) });
    p.done();
    expect(lines.length).toBe(10);
    expect(lines[0]).toMatch(/^train: 100\/1000 \(10%\)/);
    expect(lines[9]).toMatch(/^train: 1000\/1000 \(100%\)/);
  });
  it('rejects a non-positive total', () => {
    expect(() => progress({ total: 0, label: 'x' })).toThrowError(/total = 0/);
  });
});

describe('tables', () => {
  it('accepts danfo-like frames and row lists; CSV quotes as RFC 4180', () => {
    const t = tableData({
      columns: ['a', 'b'],
      values: [
        [1, 'x,y'],
        [2.5, 'q"r'],
      ],
    });
    expect(toCsv(t.columns, t.rows)).toBe('a,b\n1,"x,y"\n2.5,"q""r"\n');
    expect(tableData([{ a: 1 }, { b: 2 }]).columns).toEqual(['a', 'b']);
    expect(formatCell(0.123456789)).toBe('0.1235');
  });
  it('saves a CSV when asked', () => {
    const file = tableFile([{ class: 'cat', accuracy: 0.5 }], { name: 'acc', save: true });
    expect(file).toBe(path.join(out, 'tables', 'nb-acc.csv'));
    expect(fs.readFileSync(file!, 'utf8')).toBe('class,accuracy\ncat,0.5\n');
  });
  it('rejects unsafe artifact names', () => {
    expect(() => table([], { name: '../x' })).toThrowError(/table name = "..\/x" is invalid/);
  });
});

describe('static figure export', () => {
  it.skipIf(!staticExportAvailable())(
    'renders PNG and SVG with plotly.js in chromium',
    async () => {
      const files = await figureFiles(
        { data: [{ type: 'scatter', y: [1, 3, 2] }], layout: { title: { text: 't' } } },
        { name: 'fig', save: true, width: 300, height: 200 },
      );
      expect(files).toBeDefined();
      const png = fs.readFileSync(files!.png);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(300);
      expect(fs.readFileSync(files!.svg, 'utf8')).toMatch(/^<svg/);
    },
    60_000,
  );
  it.runIf(!staticExportAvailable())('is skipped: chromium is not installed (apt-get install chromium)', () => {
    expect(staticExportAvailable()).toBe(false);
  });
});

describe('accuracy curves and the runs table (kernel display helpers)', () => {
  const pt = (iteration: number, energyJ: number, top1: number) => ({
    iteration,
    energyJ,
    top1,
    effectiveMacs: 10 * iteration,
    loss: 0,
  });
  const run = (arm: string, seed: number, curve: ReturnType<typeof pt>[], extra: Record<string, unknown> = {}) =>
    ({
      arm,
      seed,
      top1: 0.5,
      accuracyCurve: curve,
      history: [{ trainLoss: 2 }, { trainLoss: 1.23456 }],
      seconds: 93,
      ...extra,
    }) as unknown as RunOutcome;
  it('one trace per arm in order: the mean top-1 in percent over its runs against the chosen axis, with the 95% half-width as error bars', async () => {
    const { accuracyCurveTraces } = await import('../kernel-ext/src/display/curves');
    const outcomes = [
      run('a', 0, [pt(10, 1, 0.2), pt(20, 2, 0.4)]),
      run('a', 1, [pt(10, 3, 0.4), pt(20, 4, 0.6)]),
      run('b', 0, [pt(10, 5, 0.1)]),
    ];
    const [b, a] = accuracyCurveTraces(outcomes, ['b', 'a'], { x: 'energyJ', xPer: 2, names: { a: 'arm A' } });
    expect([b?.name, a?.name]).toEqual(['b', 'arm A']);
    expect(a?.x).toEqual([1, 1.5]);
    expect(((a?.y ?? []) as number[]).map((v) => Number(v.toFixed(9)))).toEqual([30, 50]);
    // Two runs 0.2 apart at each point: half-width t(0.975, 1) x sd / sqrt(2) = 12.706 x 0.1414 / 1.414 = 1.2706 (x 100).
    const bars = ((a?.error_y ?? { array: [] }) as { array: number[] }).array;
    expect(bars[0]).toBeCloseTo(100 * 12.7062 * 0.1, 2);
    expect(accuracyCurveTraces(outcomes, ['a'], { x: 'effectiveMacs' })[0]?.x).toEqual([100, 200]);
    expect(accuracyCurveTraces(outcomes, ['a'], { errorBars: false })[0]).not.toHaveProperty('error_y');
    expect(accuracyCurveTraces(outcomes, ['none'])[0]?.x).toEqual([]);
    expect(() => accuracyCurveTraces(outcomes, ['a'], { xPer: 0 })).toThrowError(/xPer = 0/);
  });
  it('the runs table: arm, seed, top-1 %, the last training loss and minutes, rounded', async () => {
    const { runsTableRows } = await import('../kernel-ext/src/display/curves');
    expect(runsTableRows([run('a', 3, [])])).toEqual([
      { arm: 'a', seed: 3, 'top-1 %': 50, 'final training loss': 1.235, minutes: 1.6 },
    ]);
  });
});

describe('held-out learning-rate grid (heldOutGridRows)', () => {
  it('rows per run, rounded for display; per method the best rate on the unrounded scores, ties to the smaller rate', async () => {
    const { heldOutGridRows } = await import('../kernel-ext/src/experiments/held-out-grid');
    const g = (method: string, lr: number) => ({ method, lr, arm: { label: `${method} ${lr}`, seed: 0 } as never });
    const grid = [g('SGD', 0.0333333), g('SGD', 0.1), g('SGD', 0.3), g('PSG', 0.01), g('PSG', 0.03)];
    const out = (label: string, top1: number) => ({ arm: label, seed: 0, top1 }) as unknown as RunOutcome;
    const outcomes = [
      out('SGD 0.0333333', 0.7172),
      out('SGD 0.1', 0.78121),
      out('SGD 0.3', 0.78124),
      out('PSG 0.01', 0.74),
      out('PSG 0.03', 0.74),
    ];
    const r = heldOutGridRows(grid, outcomes);
    // 0.78124 beats 0.78121 although both display as 78.12; PSG's tie goes to 0.01.
    expect(r.chosen).toEqual({ SGD: 0.3, PSG: 0.01 });
    expect(r.rows[0]).toEqual({ method: 'SGD', lr: 0.0333, 'held-out top-1 %': 71.72 });
    expect(r.rows.map((x) => x['held-out top-1 %'])).toEqual([71.72, 78.12, 78.12, 74, 74]);
    expect(() => heldOutGridRows([g('SGD', 1)], outcomes)).toThrowError(/no outcome for SGD 1 \(seed 0\)/);
  });
});
