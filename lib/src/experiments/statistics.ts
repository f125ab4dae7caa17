import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import binomialTestImpl from '@stdlib/stats-binomial-test';
import { ConfigError } from '../errors';

/**
 * Statistics behind the notebooks' verdicts. Quantiles and tests come from the stdlib packages
 * (`@stdlib/stats-base-dists-t-quantile`, `@stdlib/stats-binomial-test`): maintained, typed, tested
 * implementations, in place of a hand-typed Student-t table.
 */

/** Mean, sample standard deviation and the confidence interval of the mean (Student's t). */
export interface MeanInterval {
  readonly n: number;
  readonly mean: number;
  readonly std: number;
  readonly lo: number;
  readonly hi: number;
}

/** Two-sided Student-t quantile for a confidence `level` and `df` degrees of freedom. */
export function tCritical(df: number, level = 0.95): number {
  if (!(df > 0)) throw new ConfigError('degrees of freedom', df, 'a positive number');
  if (!(level > 0 && level < 1)) throw new ConfigError('level', level, 'a confidence level in (0, 1)');
  return tQuantile(1 - (1 - level) / 2, df);
}

/** {@link MeanInterval} of `values` at `level` (default 95%); with one value the interval is the value itself (no spread known). */
export function meanInterval(values: readonly number[], level = 0.95): MeanInterval {
  const n = values.length;
  if (n === 0) throw new RangeError('meanInterval: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, std: 0, lo: mean, hi: mean };
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = (tCritical(n - 1, level) * std) / Math.sqrt(n);
  return { n, mean, std, lo: mean - half, hi: mean + half };
}

/** "mean ± half-width" with `digits` decimals, scaled by `scale` (100 for percentages). */
export function formatInterval(m: MeanInterval, scale = 100, digits = 2): string {
  return m.n > 1
    ? `${(m.mean * scale).toFixed(digits)} ± ${(((m.hi - m.lo) / 2) * scale).toFixed(digits)}`
    : (m.mean * scale).toFixed(digits);
}

/** The interval of a difference a - b, and the procedure that gave it. */
export interface DifferenceInterval {
  readonly mean: number;
  readonly lo: number;
  readonly hi: number;
  /** Pairs (paired) or the smaller group (unpaired). */
  readonly n: number;
  /** The procedure, e.g. "paired t, 95%, 3 pairs" or "Welch t, 95%". */
  readonly test: string;
}

/**
 * Confidence interval of the difference of means a - b. Paired (same seeds: same initialisation and data order):
 * the t interval of the per-pair differences. Unpaired: Welch's interval (Welch-Satterthwaite degrees of freedom).
 * Undefined when any value is NaN or infinite, or when there are fewer than two values per arm (no spread known).
 */
export function differenceInterval(
  a: readonly number[],
  b: readonly number[],
  options: { paired: boolean; level?: number },
): DifferenceInterval | undefined {
  const level = options.level ?? 0.95;
  if ([...a, ...b].some((v) => !Number.isFinite(v))) return undefined;
  const pct = `${Math.round(level * 100)}%`;
  if (options.paired) {
    if (a.length !== b.length)
      throw new ConfigError(
        'paired comparison',
        `${a.length} vs ${b.length} values`,
        'the same number of values in both arms (one per seed)',
      );
    if (a.length < 2) return undefined;
    const d = meanInterval(
      a.map((v, i) => v - (b[i] as number)),
      level,
    );
    return { mean: d.mean, lo: d.lo, hi: d.hi, n: d.n, test: `paired t, ${pct}, ${d.n} pairs` };
  }
  if (a.length < 2 || b.length < 2) return undefined;
  const A = meanInterval(a);
  const B = meanInterval(b);
  const va = A.std ** 2 / A.n;
  const vb = B.std ** 2 / B.n;
  const se = Math.sqrt(va + vb);
  const mean = A.mean - B.mean;
  if (se === 0) return { mean, lo: mean, hi: mean, n: Math.min(A.n, B.n), test: `Welch t, ${pct}` };
  const df = (va + vb) ** 2 / (va ** 2 / (A.n - 1) + vb ** 2 / (B.n - 1));
  const half = tCritical(df, level) * se;
  return {
    mean,
    lo: mean - half,
    hi: mean + half,
    n: Math.min(A.n, B.n),
    test: `Welch t, ${pct}, df ${df.toFixed(1)}`,
  };
}

/** A comparison verdict. */
export type ComparisonVerdict = 'held' | 'not held' | 'inconclusive at this scale' | 'not measured';

/**
 * Verdict of a claim "a - b > margin" (`direction` 'greater') or "a - b < margin" ('less'; margin default 0)
 * from the interval of the difference: held only when the whole interval lies on the claim's side of the
 * margin, not held when it lies wholly on the other side, otherwise inconclusive. No interval (a NaN, a missing
 * arm, a single seed) is "not measured", never held.
 */
export function comparisonVerdict(
  diff: DifferenceInterval | undefined,
  claim: { direction: 'greater' | 'less'; margin?: number },
): ComparisonVerdict {
  if (!diff || ![diff.lo, diff.hi].every(Number.isFinite)) return 'not measured';
  const m = claim.margin ?? 0;
  if (claim.direction === 'greater')
    return diff.lo > m ? 'held' : diff.hi < m ? 'not held' : 'inconclusive at this scale';
  return diff.hi < m ? 'held' : diff.lo > m ? 'not held' : 'inconclusive at this scale';
}

/** Exact binomial test of k successes in n trials against probability p (two-sided unless said): p-value and a Clopper-Pearson interval. */
export function binomialTest(
  k: number,
  n: number,
  p: number,
  alternative: 'two-sided' | 'less' | 'greater' = 'two-sided',
  level = 0.95,
): { pValue: number; lo: number; hi: number; test: string } {
  if (!(Number.isInteger(n) && n > 0)) throw new ConfigError('binomial n', n, 'a positive integer');
  if (!(Number.isInteger(k) && k >= 0 && k <= n)) throw new ConfigError('binomial k', k, `an integer in 0..${n}`);
  if (!(p > 0 && p < 1)) throw new ConfigError('binomial p', p, 'a probability in (0, 1)');
  const r = binomialTestImpl(k, n, { p, alternative, alpha: 1 - level });
  return {
    pValue: r.pValue,
    lo: r.ci[0] as number,
    hi: r.ci[1] as number,
    test: `exact binomial (${alternative}), ${Math.round(level * 100)}%`,
  };
}
