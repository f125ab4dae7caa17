import * as path from 'node:path';
import { SCALES, settingsFromEnv, type Scale } from '../../../lib/src/config';
import { writeFileAtomic } from '../../../lib/src/data/files';
import { ConfigError } from '../../../lib/src/errors';
import { escapeHtml, sendDisplay } from './channel';
import { notebookName, outputDirs } from './outputs';
import { toText } from './table';

/**
 * One claim of a paper next to what the notebook measured.
 * - `exact` claims follow from the method (costs, energies, counts, ratios): they are asserted, and
 *   {@link findings} throws when one does not hold at a scale where it is checked.
 * - `measured` claims (accuracies and other outcomes of training) are reported, held or not, never asserted.
 */
export interface Claim {
  /** Short identifier, unique within the notebook. */
  readonly id: string;
  /** The claim in words, e.g. "SMD >= SMB at equal energy". */
  readonly claim: string;
  /** Where the paper makes it, e.g. "E²-Train §4.2, Fig. 3a". */
  readonly source: string;
  /** The paper's number or statement. */
  readonly paper: string;
  /** What this run measured (formatted), or undefined when not measured at this scale. */
  readonly measured: string | number | undefined;
  readonly kind: 'exact' | 'measured';
  /** Whether the measurement satisfies the claim; undefined when it was not checked. */
  readonly holds: boolean | undefined;
  /** Scales at which the claim is checked (default: all). */
  readonly checkedAt?: readonly Scale[];
  /** Free-text remark shown with the result (e.g. why a claim does not reproduce). */
  readonly note?: string;
}

/** Verdict for one claim at the current scale. */
export type Verdict = 'held' | 'not held' | 'not checked at this scale';

/** One row of the findings table. */
export interface FindingRow {
  readonly id: string;
  readonly claim: string;
  readonly source: string;
  readonly paper: string;
  readonly measured: string;
  readonly kind: 'exact' | 'measured';
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
    super(`asserted claim(s) failed: ${failed.map((f) => `${f.id} (${f.claim}: paper ${f.paper}, measured ${f.measured})`).join('; ')}`);
    this.name = 'FindingsError';
  }
}

/** Verdict of `claim` at `scale`. */
export function verdict(claim: Claim, scale: Scale): Verdict {
  const at = claim.checkedAt ?? SCALES;
  if (!at.includes(scale) || claim.holds === undefined || claim.measured === undefined) return 'not checked at this scale';
  return claim.holds ? 'held' : 'not held';
}

/** Builds the findings rows without displaying or saving them (validates ids and fields). */
export function findingRows(claims: readonly Claim[], scale: Scale): FindingRow[] {
  const ids = new Set<string>();
  for (const c of claims) {
    if (!c.id || ids.has(c.id)) throw new ConfigError('claim id', c.id, 'a non-empty id unique within the notebook');
    ids.add(c.id);
    for (const s of c.checkedAt ?? []) if (!SCALES.includes(s)) throw new ConfigError(`claim ${c.id} checkedAt`, s, SCALES.join(', '));
  }
  return claims.map((c) => ({
    id: c.id,
    claim: c.claim,
    source: c.source,
    paper: c.paper,
    measured: c.measured === undefined ? '(not measured)' : typeof c.measured === 'number' ? String(Number(c.measured.toPrecision(5))) : c.measured,
    kind: c.kind,
    verdict: verdict(c, scale),
    note: c.note ?? '',
  }));
}

/**
 * Shows the paper's claims beside the measured values with the scale and seed count, marks each
 * held / not held / not checked at this scale, saves them to `out/<scale>/results/<notebook>.findings.json`,
 * and then throws a {@link FindingsError} if an `exact` claim does not hold (measured claims never throw).
 */
export function findings(claims: readonly Claim[], context: FindingsContext): void {
  const scale = context.scale ?? settingsFromEnv().scale;
  if (!Number.isInteger(context.seeds) || context.seeds < 1) throw new ConfigError('findings seeds', context.seeds, 'a positive integer');
  const rows = findingRows(claims, scale);
  const file = path.join(outputDirs().results, `${notebookName()}.findings.json`);
  writeFileAtomic(file, JSON.stringify({ notebook: notebookName(), scale, seeds: context.seeds, setting: context.setting, rows }, null, 2) + '\n');
  const columns = ['claim', 'source', 'paper', 'measured', 'kind', 'verdict', 'note'];
  const cells = rows.map((r) => columns.map((c) => r[c as keyof FindingRow]));
  const header = `Findings at scale ${scale}, ${context.seeds} seed(s): ${context.setting}`;
  const colour: Record<Verdict, string> = { held: '#1a7f37', 'not held': '#cf222e', 'not checked at this scale': '#6e7781' };
  const html =
    `<p><b>${escapeHtml(header)}</b></p><table><thead><tr>${columns.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>` +
    rows
      .map(
        (r) =>
          `<tr>${columns
            .map((c) => {
              const v = String(r[c as keyof FindingRow]);
              return c === 'verdict' ? `<td style="color:${colour[r.verdict]};font-weight:bold">${escapeHtml(v)}</td>` : `<td>${escapeHtml(v)}</td>`;
            })
            .join('')}</tr>`,
      )
      .join('') +
    '</tbody></table>';
  const text = `${header}\n${toText(columns, cells)}`;
  if (!sendDisplay({ 'text/html': html, 'text/plain': text })) console.log(text);
  const failed = rows.filter((r) => r.kind === 'exact' && r.verdict === 'not held');
  if (failed.length > 0) throw new FindingsError(failed);
}
