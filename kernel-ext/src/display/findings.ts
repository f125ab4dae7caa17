import * as path from 'node:path';
import { comparisonVerdict, differenceInterval } from 'ecotrain';
import { ConfigError, SCALES, type Scale, settingsFromEnv, writeFileAtomic } from 'ecotrain/base';
import { escapeHtml, sendDisplay } from './channel';
import { notebookName, outputDirs } from './outputs';
import { toText } from './table';

/** The two arms of a comparison claim, per seed, and the claim's side. */
export interface ComparisonSpec {
  /** Values of the arm the claim is about (one per seed). */
  readonly a: readonly number[];
  /** Values of the arm it is compared with. */
  readonly b: readonly number[];
  /** True when the arms share seeds (same initialisation, same data order): the difference is taken pair by pair. */
  readonly paired: boolean;
  /** The claim is a - b > margin (`greater`) or a - b < margin (`less`). */
  readonly direction: 'greater' | 'less';
  /** The paper's stated margin (default 0), in the units of the values. */
  readonly margin?: number;
  /** Display multiplier of values and interval (100 for percentages; default 1). */
  readonly displayScale?: number;
}

/**
 * One claim of a paper next to what the notebook measured. Kinds:
 * - `exact`: an identity that follows from the method (accounting, counts); asserted at every scale where it is
 *   checked: {@link findings} throws when one does not hold.
 * - `statistical`: a test with a named procedure and level (`test`), e.g. a binomial test or unbiasedness.
 * - `comparison`: measured values of two arms (`comparison`); held only when the 95% interval of the difference
 *   (paired by seed when the arms share seeds) lies wholly on the claim's side of the margin, not held when wholly
 *   on the other side, otherwise inconclusive at this scale.
 * A NaN or missing measurement is never held: it is "not measured".
 */
export interface Claim {
  /** Short identifier, unique within the notebook. */
  readonly id: string;
  /** The claim in words, e.g. "SMD >= SMB at equal energy". */
  readonly claim: string;
  /** Where the paper makes it: section, table or figure, e.g. "E²-Train §4.2, Fig. 3a". */
  readonly source: string;
  /** The paper's number or statement, quoted. */
  readonly paper: string;
  /** What this run measured (formatted), or undefined when not measured at this scale (comparisons: optional). */
  readonly measured: string | number | undefined;
  readonly kind: 'exact' | 'statistical' | 'comparison';
  /**
   * Whether the measurement satisfies the claim; undefined when not checked. A statistical claim states all three
   * outcomes of its test (see {@link statisticalOutcome}): `true` when the evidence supports the claim, `false` when it
   * contradicts it, `'inconclusive'` when it does neither (e.g. a test that does not reject with an interval wider than
   * the claim's margin). Exact claims hold or not.
   */
  readonly holds?: boolean | 'inconclusive' | undefined;
  /** Statistical claims: the test and its level, e.g. "exact binomial (two-sided), 95%". */
  readonly test?: string;
  /** Comparison claims: the arms. */
  readonly comparison?: ComparisonSpec;
  /** A tolerance the notebook chose, printed beside the verdict. */
  readonly tolerance?: string;
  /** Scales at which the claim is checked (default: all). */
  readonly checkedAt?: readonly Scale[];
  /** Free-text remark shown with the result (e.g. why a claim does not reproduce). */
  readonly note?: string;
}

/**
 * The outcome of a statistical claim from what its test shows: `supports` (e.g. the 95% interval lies inside the
 * claim's margin) gives `true`, `contradicts` (e.g. the test rejects the claimed value) gives `false`, neither gives
 * `'inconclusive'`. Both at once is an error: the notebook's two conditions overlap.
 */
export function statisticalOutcome(o: {
  readonly supports: boolean;
  readonly contradicts: boolean;
}): boolean | 'inconclusive' {
  if (o.supports && o.contradicts)
    throw new ConfigError('statisticalOutcome', o, 'conditions for support and contradiction that cannot both hold');
  return o.supports ? true : o.contradicts ? false : 'inconclusive';
}

/** Verdict for one claim at the current scale. */
export type Verdict = 'held' | 'not held' | 'inconclusive at this scale' | 'not measured' | 'not checked at this scale';

/** One row of the findings table. */
export interface FindingRow {
  readonly id: string;
  readonly claim: string;
  readonly source: string;
  readonly paper: string;
  readonly measured: string;
  /** The interval behind a comparison ("[lo, hi]" of a - b), else empty. */
  readonly interval: string;
  /** Seeds (pairs) behind the verdict, when known. */
  readonly n: string;
  /** The procedure the verdict rests on. */
  readonly test: string;
  readonly kind: Claim['kind'];
  readonly verdict: Verdict;
  readonly note: string;
}

/** Context the findings were measured in. */
export interface FindingsContext {
  /** Scale of this run (default from the environment). */
  readonly scale?: Scale;
  /** Number of seeds behind the measured values. */
  readonly seeds: number;
  /** Dataset and model in a few words, e.g. "CIFAR-10, 5k-image subset, 3-layer CNN". */
  readonly setting: string;
}

/** Error thrown by {@link findings} when an exact claim fails. */
export class FindingsError extends Error {
  constructor(readonly failed: readonly FindingRow[]) {
    super(
      `asserted claim(s) failed: ${failed.map((f) => `${f.id} (${f.claim}: paper ${f.paper}, measured ${f.measured})`).join('; ')}`,
    );
    this.name = 'FindingsError';
  }
}

function fmt(v: number, scale: number): string {
  return String(Number((v * scale).toPrecision(4)));
}

/** Verdict of `claim` at `scale`, with the interval, n and test it rests on. */
export function assess(
  claim: Claim,
  scale: Scale,
): { verdict: Verdict; interval: string; n: string; test: string; measured: string | undefined } {
  const at = claim.checkedAt ?? SCALES;
  if (!at.includes(scale))
    return { verdict: 'not checked at this scale', interval: '', n: '', test: claim.test ?? '', measured: undefined };
  if (claim.kind === 'comparison') {
    const c = claim.comparison;
    if (!c) throw new ConfigError(`claim ${claim.id}.comparison`, undefined, 'the two arms of a comparison claim');
    const k = c.displayScale ?? 1;
    const diff = differenceInterval(c.a, c.b, { paired: c.paired });
    const v = comparisonVerdict(diff, { direction: c.direction, margin: c.margin });
    const mean = (xs: readonly number[]) => xs.reduce((x, y) => x + y, 0) / Math.max(xs.length, 1);
    const measured =
      claim.measured !== undefined
        ? String(claim.measured)
        : c.a.length && c.b.length
          ? `${fmt(mean(c.a), k)} vs ${fmt(mean(c.b), k)} (a - b = ${fmt(mean(c.a) - mean(c.b), k)})`
          : undefined;
    return {
      verdict: v,
      interval: diff ? `[${fmt(diff.lo, k)}, ${fmt(diff.hi, k)}]` : '',
      n: diff ? String(diff.n) : String(Math.min(c.a.length, c.b.length)),
      test: diff
        ? `${diff.test}; claim a - b ${c.direction === 'greater' ? '>' : '<'} ${fmt(c.margin ?? 0, k)}`
        : 'no interval (a NaN, a missing arm or a single seed)',
      measured,
    };
  }
  if (claim.kind === 'statistical' && !claim.test)
    throw new ConfigError(`claim ${claim.id}.test`, undefined, 'the test and level a statistical claim rests on');
  const nan = typeof claim.measured === 'number' && !Number.isFinite(claim.measured);
  if (claim.measured === undefined || nan)
    return {
      verdict: claim.holds === undefined && !nan ? 'not checked at this scale' : 'not measured',
      interval: '',
      n: '',
      test: claim.test ?? '',
      measured: undefined,
    };
  if (claim.holds === undefined)
    return {
      verdict: 'not checked at this scale',
      interval: '',
      n: '',
      test: claim.test ?? '',
      measured: String(claim.measured),
    };
  if (claim.holds === 'inconclusive' && claim.kind !== 'statistical')
    throw new ConfigError(
      `claim ${claim.id}.holds`,
      'inconclusive',
      'true or false (only statistical claims are inconclusive)',
    );
  return {
    verdict: claim.holds === 'inconclusive' ? 'inconclusive at this scale' : claim.holds ? 'held' : 'not held',
    interval: '',
    n: '',
    test: claim.test ?? (claim.kind === 'exact' ? (claim.tolerance ? 'within the stated tolerance' : 'identity') : ''),
    measured: typeof claim.measured === 'number' ? String(Number(claim.measured.toPrecision(5))) : claim.measured,
  };
}

/** Verdict of `claim` at `scale`. */
export function verdict(claim: Claim, scale: Scale): Verdict {
  return assess(claim, scale).verdict;
}

/** Builds the findings rows without displaying or saving them (validates ids and fields). */
export function findingRows(claims: readonly Claim[], scale: Scale): FindingRow[] {
  const ids = new Set<string>();
  for (const c of claims) {
    if (!c.id || ids.has(c.id)) throw new ConfigError('claim id', c.id, 'a non-empty id unique within the notebook');
    ids.add(c.id);
    for (const s of c.checkedAt ?? [])
      if (!SCALES.includes(s)) throw new ConfigError(`claim ${c.id} checkedAt`, s, SCALES.join(', '));
  }
  return claims.map((c) => {
    const a = assess(c, scale);
    return {
      id: c.id,
      claim: c.claim,
      source: c.source,
      paper: c.paper,
      measured: a.measured ?? (c.measured === undefined ? '(not measured)' : String(c.measured)),
      interval: a.interval,
      n: a.n,
      test: a.test,
      kind: c.kind,
      verdict: a.verdict,
      note: [c.tolerance ? `tolerance chosen here: ${c.tolerance}` : '', c.note ?? ''].filter((x) => x).join('; '),
    };
  });
}

/**
 * Shows the paper's claims beside the measured values with the scale and seed count, marks each
 * held / not held / not checked at this scale, saves them to `out/<scale>/results/<notebook>.findings.json`,
 * and then throws a {@link FindingsError} if an `exact` claim does not hold (measured claims never throw).
 */
export function findings(claims: readonly Claim[], context: FindingsContext): void {
  const scale = context.scale ?? settingsFromEnv().scale;
  if (!Number.isInteger(context.seeds) || context.seeds < 1)
    throw new ConfigError('findings seeds', context.seeds, 'a positive integer');
  const rows = findingRows(claims, scale);
  const file = path.join(outputDirs().results, `${notebookName()}.findings.json`);
  writeFileAtomic(
    file,
    `${JSON.stringify({ notebook: notebookName(), scale, seeds: context.seeds, setting: context.setting, rows }, null, 2)}\n`,
  );
  const columns = ['claim', 'source', 'paper', 'measured', 'interval', 'n', 'test', 'kind', 'verdict', 'note'];
  const cells = rows.map((r) => columns.map((c) => r[c as keyof FindingRow]));
  const header = `Findings at scale ${scale}, ${context.seeds} seed(s): ${context.setting}`;
  const colour: Record<Verdict, string> = {
    held: '#1a7f37',
    'not held': '#cf222e',
    'inconclusive at this scale': '#9a6700',
    'not measured': '#6e7781',
    'not checked at this scale': '#6e7781',
  };
  const html =
    `<p><b>${escapeHtml(header)}</b></p><table><thead><tr>${columns.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>` +
    rows
      .map(
        (r) =>
          `<tr>${columns
            .map((c) => {
              const v = String(r[c as keyof FindingRow]);
              return c === 'verdict'
                ? `<td style="color:${colour[r.verdict]};font-weight:bold">${escapeHtml(v)}</td>`
                : `<td>${escapeHtml(v)}</td>`;
            })
            .join('')}</tr>`,
      )
      .join('') +
    '</tbody></table>';
  const text = `${header}\n${toText(columns, cells)}`;
  if (!sendDisplay({ 'text/html': html, 'text/plain': text })) console.log(text);
  const failed = rows.filter((r) => r.kind === 'exact' && r.verdict === 'not held');
  // A shard pass computes only its slice of the arms (the others are NaN placeholders): it reports, never asserts.
  if (failed.length > 0 && !process.env.ECOTRAIN_SHARD) throw new FindingsError(failed);
}
