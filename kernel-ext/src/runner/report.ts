import type { FindingRow } from '../display/findings';
import type { SessionRecord } from '../session';

/** Outcome of one notebook in a headless run. */
export interface NotebookResult {
  readonly notebook: string;
  readonly status: 'ok' | 'failed';
  readonly seconds: number;
  readonly executed: string;
  readonly failedCell: { index: number | null; ename: string; evalue: string; source: string } | null;
  readonly session: SessionRecord | null;
  readonly findings: { seeds: number; setting: string; rows: FindingRow[] } | null;
  readonly injected: readonly string[];
}

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** What a report says about the run as a whole. */
export interface RunInfo {
  readonly scale: string;
  readonly startedAt: string;
  readonly endedAt: string;
  /** The commit the run used (with `+dirty` when the work tree had changes), or `unknown`. */
  readonly commit: string;
  /** Versions of the runtime and the libraries the notebooks ran on (name -> version). */
  readonly versions: Readonly<Record<string, string>>;
  /** Which notebooks: all of them, an `--only` pattern, or a shard. */
  readonly selection:
    | { readonly kind: 'all' }
    | { readonly kind: 'only'; readonly pattern: string }
    | {
        readonly kind: 'shard';
        readonly index: number;
        readonly count: number;
      };
}

/** The report and JSON file names of a run: a full run writes `REPORT.md`; `--only` and shards write their own. */
export function reportFiles(selection: RunInfo['selection']): { markdown: string; json: string } {
  if (selection.kind === 'all') return { markdown: 'REPORT.md', json: 'report.json' };
  if (selection.kind === 'shard') {
    const tag = `shard-${selection.index}-of-${selection.count}`;
    return { markdown: `REPORT-${tag}.md`, json: `report-${tag}.json` };
  }
  const slug =
    selection.pattern
      .replace(/[^A-Za-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'pattern';
  return { markdown: `REPORT-only-${slug}.md`, json: `report-only-${slug}.json` };
}

/** A session's datasets, each name and origin once (the count kept from its first use). */
export function distinctDatasets(
  datasets: ReadonlyArray<{ name: string; origin: string; count: number }>,
): Array<{ name: string; origin: string; count: number }> {
  const seen = new Map<string, { name: string; origin: string; count: number }>();
  for (const d of datasets) if (!seen.has(`${d.name}\u0000${d.origin}`)) seen.set(`${d.name}\u0000${d.origin}`, d);
  return [...seen.values()];
}

/** Whether a notebook ran on a synthetic stand-in for some dataset. */
export const ranOnSynthetic = (r: NotebookResult): boolean =>
  (r.session?.datasets ?? []).some((d) => d.origin === 'synthetic');

const minutes = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 60000;

/** Markdown report of a run: the run's commit, versions and times, then per notebook status, wall time, backend, datasets and findings. */
export function renderReport(info: RunInfo, results: readonly NotebookResult[]): string {
  const synthetic = results.filter(ranOnSynthetic);
  const what =
    info.selection.kind === 'all'
      ? 'every notebook'
      : info.selection.kind === 'only'
        ? `notebooks matching --only ${info.selection.pattern} (a partial report; REPORT.md holds the last full run)`
        : `shard ${info.selection.index}/${info.selection.count} (a partial report; the assembling run writes REPORT.md)`;
  const lines: string[] = [
    `# ecotrain run report: scale ${info.scale}`,
    '',
    `Commit ${info.commit}; ${Object.entries(info.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    `Started ${info.startedAt}, ended ${info.endedAt} (${minutes(info.startedAt, info.endedAt).toFixed(1)} min); ${what}.`,
    '',
    `${results.length} notebook(s): ${results.filter((r) => r.status === 'ok').length} ok, ${results.filter((r) => r.status === 'failed').length} failed; ${synthetic.length} ran on SYNTHETIC data${synthetic.length ? ` (${synthetic.map((r) => r.notebook).join(', ')}: their numbers are not comparable with the papers, and their findings are marked)` : ''}.`,
    '',
    '| notebook | status | wall time | backend | datasets | findings (held / not held / inconclusive / not measured or not checked) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const ds =
      distinctDatasets(r.session?.datasets ?? [])
        .map((d) => `${d.name} (${d.origin}, ${d.count})`)
        .join(', ') || '-';
    const f = r.findings?.rows;
    const counts = f
      ? `${f.filter((x) => x.verdict === 'held').length} / ${f.filter((x) => x.verdict === 'not held').length} / ${f.filter((x) => x.verdict === 'inconclusive at this scale').length} / ${f.filter((x) => x.verdict === 'not checked at this scale' || x.verdict === 'not measured').length}`
      : '-';
    lines.push(
      `| ${r.notebook} | ${r.status} | ${r.seconds.toFixed(1)} s | ${r.session?.backend ?? '-'} | ${esc(ds)} | ${counts} |`,
    );
  }
  for (const r of results) {
    lines.push('', `## ${r.notebook}`, '');
    if (r.failedCell) {
      lines.push(
        `**FAILED** at cell ${r.failedCell.index ?? '?'}: ${r.failedCell.ename}: ${esc(r.failedCell.evalue).slice(0, 1500)}`,
        '',
      );
      if (r.failedCell.source) lines.push('```', r.failedCell.source, '```', '');
    }
    const cache = r.session?.cache ?? [];
    if (cache.length > 0) {
      const count = (e: string) => cache.filter((c) => c.event === e).length;
      lines.push(
        `Run cache: ${count('hit')} hit(s), ${count('miss')} miss(es) trained and stored, ${count('fresh')} retrained (--fresh), ${count('other shard')} left to other shards.`,
        '',
      );
      const misses = cache.filter((c) => c.event !== 'hit').map((c) => `${c.arm} (seed ${c.seed}: ${c.event})`);
      if (misses.length) lines.push(`Trained here or elsewhere: ${esc(misses.join('; ')).slice(0, 3000)}`, '');
    }
    if (r.findings) {
      lines.push(`Findings (${r.findings.seeds} seed(s); ${esc(r.findings.setting)}):`, '');
      lines.push(
        '| claim | source | paper | measured | interval | n | test | kind | verdict | note |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      );
      const mark = ranOnSynthetic(r) ? ' (on synthetic data)' : '';
      for (const x of r.findings.rows) {
        lines.push(
          `| ${esc(x.claim)} | ${esc(x.source)} | ${esc(x.paper)} | ${esc(x.measured)} | ${esc(x.interval ?? '')} | ${esc(x.n ?? '')} | ${esc(x.test ?? '')} | ${x.kind} | ${x.verdict}${mark} | ${esc(x.note)} |`,
        );
      }
    } else {
      lines.push('No findings recorded.');
    }
    lines.push('', `Executed notebook: ${r.executed}`);
  }
  return `${lines.join('\n')}\n`;
}
