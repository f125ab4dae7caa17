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

/** Markdown report of a run: per notebook status, wall time, backend, datasets and findings. */
export function renderReport(scale: string, results: readonly NotebookResult[], startedAt: string): string {
  const lines: string[] = [
    `# ecotrain run report: scale ${scale}`,
    '',
    `Started ${startedAt}; ${results.length} notebook(s); ${results.filter((r) => r.status === 'ok').length} ok, ${results.filter((r) => r.status === 'failed').length} failed.`,
    '',
    '| notebook | status | wall time | backend | datasets | findings (held / not held / inconclusive / not measured or not checked) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const ds = r.session?.datasets.map((d) => `${d.name} (${d.origin}, ${d.count})`).join(', ') || '-';
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
      for (const x of r.findings.rows) {
        lines.push(
          `| ${esc(x.claim)} | ${esc(x.source)} | ${esc(x.paper)} | ${esc(x.measured)} | ${esc(x.interval ?? '')} | ${esc(x.n ?? '')} | ${esc(x.test ?? '')} | ${x.kind} | ${x.verdict} | ${esc(x.note)} |`,
        );
      }
    } else {
      lines.push('No findings recorded.');
    }
    lines.push('', `Executed notebook: ${r.executed}`);
  }
  return `${lines.join('\n')}\n`;
}
