/** Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Mean, sample standard deviation and the 95% confidence interval of the mean (Student's t). */
export interface MeanInterval {
  readonly n: number;
  readonly mean: number;
  readonly std: number;
  readonly lo: number;
  readonly hi: number;
}

/** {@link MeanInterval} of `values`; with one value the interval is the value itself (std 0, no spread known). */
export function meanInterval(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n === 0) throw new RangeError('meanInterval: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, std: 0, lo: mean, hi: mean };
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const t = n - 1 <= 30 ? (T975[n - 2] as number) : 1.96;
  const half = (t * std) / Math.sqrt(n);
  return { n, mean, std, lo: mean - half, hi: mean + half };
}

/** "mean ± half-width" with `digits` decimals, scaled by `scale` (100 for percentages). */
export function formatInterval(m: MeanInterval, scale = 100, digits = 2): string {
  return m.n > 1 ? `${(m.mean * scale).toFixed(digits)} ± ${(((m.hi - m.lo) / 2) * scale).toFixed(digits)}` : (m.mean * scale).toFixed(digits);
}
