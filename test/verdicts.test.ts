import { describe, expect, it } from 'vitest';
import {
  binomialTest,
  comparisonVerdict,
  differenceInterval,
  meanInterval,
  tCritical,
} from '../lib/src/experiments/statistics';
import { assess, findingRows, type Claim } from '../kernel-ext/src/display/findings';

describe('statistics (stdlib quantiles and tests)', () => {
  it('t quantiles and mean intervals match textbook values', () => {
    expect(tCritical(2)).toBeCloseTo(4.303, 3);
    expect(tCritical(29)).toBeCloseTo(2.045, 3);
    expect(tCritical(1000)).toBeCloseTo(1.962, 3);
    const m = meanInterval([1, 2, 3]);
    // mean 2, std 1, half width 4.303 / sqrt(3)
    expect(m.hi - m.mean).toBeCloseTo(4.3027 / Math.sqrt(3), 3);
  });

  it('paired intervals use the per-seed differences; unpaired use Welch', () => {
    // Large seed-to-seed spread, consistent +1 per pair: paired is tight, unpaired is wide.
    const a = [11, 21, 31];
    const b = [10, 20, 30];
    const p = differenceInterval(a, b, { paired: true })!;
    expect([p.lo, p.hi]).toEqual([1, 1]);
    expect(p.test).toMatch(/paired t, 95%, 3 pairs/);
    const u = differenceInterval(a, b, { paired: false })!;
    expect(u.lo).toBeLessThan(-10);
    expect(u.hi).toBeGreaterThan(10);
    expect(u.test).toMatch(/Welch t, 95%, df 4\.0/);
    expect(differenceInterval([1, NaN], [0, 0], { paired: true })).toBeUndefined();
    expect(differenceInterval([1], [0], { paired: true })).toBeUndefined();
    expect(() => differenceInterval([1, 2], [1], { paired: true })).toThrowError(
      /paired comparison .* the same number of values/,
    );
  });

  it('comparison verdicts: interval inside, across and outside the margin; NaN is never held', () => {
    const iv = (lo: number, hi: number) => ({ mean: (lo + hi) / 2, lo, hi, n: 3, test: 't' });
    expect(comparisonVerdict(iv(0.5, 2), { direction: 'greater' })).toBe('held');
    expect(comparisonVerdict(iv(-0.5, 2), { direction: 'greater' })).toBe('inconclusive at this scale');
    expect(comparisonVerdict(iv(-3, -1), { direction: 'greater' })).toBe('not held');
    // "within 2 points of the baseline": a - b > -2.
    expect(comparisonVerdict(iv(-1.5, 0.5), { direction: 'greater', margin: -2 })).toBe('held');
    expect(comparisonVerdict(iv(-2.5, 0.5), { direction: 'greater', margin: -2 })).toBe('inconclusive at this scale');
    expect(comparisonVerdict(iv(-4, -2.5), { direction: 'greater', margin: -2 })).toBe('not held');
    expect(comparisonVerdict(iv(-2, -1), { direction: 'less' })).toBe('held');
    expect(comparisonVerdict(undefined, { direction: 'greater' })).toBe('not measured');
    expect(comparisonVerdict(iv(NaN, 1), { direction: 'greater' })).toBe('not measured');
  });

  it('the exact binomial test gives a p-value and a Clopper-Pearson interval', () => {
    const r = binomialTest(520, 1000, 0.5);
    expect(r.pValue).toBeCloseTo(0.2174, 3);
    expect(r.lo).toBeCloseTo(0.4885, 3);
    expect(r.hi).toBeCloseTo(0.5514, 3);
    expect(() => binomialTest(5, 3, 0.5)).toThrowError(/binomial k = 5/);
  });
});

describe('findings with interval-aware verdicts', () => {
  const base = { claim: 'c', source: 'Paper §4, Table 2', paper: 'x' };
  it('a comparison is held, not held or inconclusive from its paired interval, and shows interval, n and test', () => {
    const held: Claim = {
      ...base,
      id: 'a',
      kind: 'comparison',
      measured: undefined,
      comparison: { a: [0.5, 0.6, 0.7], b: [0.4, 0.5, 0.6], paired: true, direction: 'greater', displayScale: 100 },
    };
    const r = assess(held, 'lite');
    expect(r.verdict).toBe('held');
    expect(r.interval).toBe('[10, 10]');
    expect(r.n).toBe('3');
    expect(r.test).toMatch(/paired t, 95%, 3 pairs; claim a - b > 0/);
    const noisy: Claim = {
      ...held,
      id: 'b',
      comparison: { a: [0.5, 0.3, 0.7], b: [0.4, 0.5, 0.6], paired: true, direction: 'greater' },
    };
    expect(assess(noisy, 'lite').verdict).toBe('inconclusive at this scale');
    const single: Claim = { ...held, id: 'c', comparison: { a: [0.5], b: [0.4], paired: true, direction: 'greater' } };
    expect(assess(single, 'lite').verdict).toBe('not measured');
  });

  it('a NaN measurement is not measured, never held; statistical claims must name their test; tolerances are printed', () => {
    const nan: Claim = { ...base, id: 'n', kind: 'exact', measured: NaN, holds: true };
    expect(assess(nan, 'lite').verdict).toBe('not measured');
    expect(() => assess({ ...base, id: 's', kind: 'statistical', measured: 0.01, holds: true }, 'lite')).toThrowError(
      /claim s.test .* the test and level/,
    );
    const rows = findingRows(
      [
        {
          ...base,
          id: 't',
          kind: 'statistical',
          measured: 0.2,
          holds: true,
          test: 'exact binomial (two-sided), 95%',
          tolerance: '4 sigma',
        },
      ],
      'smoke',
    );
    expect(rows[0]).toMatchObject({
      verdict: 'held',
      test: 'exact binomial (two-sided), 95%',
      note: 'tolerance chosen here: 4 sigma',
    });
  });
});

describe('statistical claims have three outcomes', () => {
  it('supported, contradicted or inconclusive; inconclusive only for statistical claims', async () => {
    const { statisticalOutcome } = await import('../kernel-ext/src/display/findings');
    // A binomial test of p = 0.5 with a margin of 0.05: 55 of 100 neither rejects nor fits the margin.
    const bt = binomialTest(55, 100, 0.5);
    const outcome = statisticalOutcome({ supports: bt.lo >= 0.45 && bt.hi <= 0.55, contradicts: bt.pValue < 0.05 });
    expect(outcome).toBe('inconclusive');
    expect(statisticalOutcome({ supports: true, contradicts: false })).toBe(true);
    expect(statisticalOutcome({ supports: false, contradicts: true })).toBe(false);
    expect(() => statisticalOutcome({ supports: true, contradicts: true })).toThrowError(/cannot both hold/);
    const claim = (holds: Claim['holds'], kind: Claim['kind'] = 'statistical'): Claim => ({
      ...{ id: 'c', claim: 'x', source: 's', paper: 'p', measured: '55 of 100', kind, holds },
      ...(kind === 'statistical' ? { test: 'exact binomial, 95%' } : {}),
    });
    const verdicts = (['inconclusive', true, false] as const).map((h) => findingRows([claim(h)], 'lite')[0]?.verdict);
    expect(verdicts).toEqual(['inconclusive at this scale', 'held', 'not held']);
    expect(() => findingRows([claim('inconclusive', 'exact')], 'lite')).toThrowError(/only statistical claims/);
  });
});
