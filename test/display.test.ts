import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { findingRows, findings, FindingsError, type Claim } from '../kernel-ext/src/display/findings';
import { progress } from '../kernel-ext/src/display/progress';
import { formatCell, table, tableData, tableFile, toCsv } from '../kernel-ext/src/display/table';
import { figureFiles } from '../kernel-ext/src/display/figure';
import { closeFigureExporter, staticExportAvailable } from '../kernel-ext/src/display/figure-export';
import { tempDir } from './helpers';

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
