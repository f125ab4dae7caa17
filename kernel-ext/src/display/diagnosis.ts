import type { LadderRow, ProtocolRow } from 'ecotrain';
import { figure } from './figure';
import { table } from './table';

/** The rows of a protocol table that concern `notebook` (e.g. `'12'`), shown as paper | authors' code | this run | why. */
export function protocolTable(rows: readonly ProtocolRow[], notebook: string, caption: string): void {
  const mine = rows.filter((r) => r.notebooks.includes(notebook));
  if (mine.length === 0) throw new RangeError(`protocolTable: no row concerns notebook ${notebook}`);
  table(
    mine.map((r) => ({
      setting: r.setting,
      'paper (quote, location)': r.paper,
      "authors' code (file, value)": r.code,
      'this run': r.run,
      why: r.why,
    })),
    { name: `protocol-${notebook}`, caption },
  );
}

const pct = (v: number) => (Number.isFinite(v) ? Number((100 * v).toFixed(2)) : 'n/a');

/**
 * An ablation ladder as a table (each rung's top-1, its last evaluation before the end, its final training loss, and
 * its difference to the rung before with the paired interval when there is one) and a figure of top-1 by rung.
 */
export async function ladderTable(rows: readonly LadderRow[], name: string, caption: string): Promise<void> {
  table(
    rows.map((r) => ({
      rung: r.rung,
      seeds: r.seeds,
      'top-1 %': pct(r.top1),
      'last evaluation before the end, top-1 %': pct(r.lastEvaluationTop1),
      'final training loss': Number.isFinite(r.finalTrainLoss) ? Number(r.finalTrainLoss.toFixed(3)) : 'n/a',
      'vs rung before, points': Number.isFinite(r.deltaTop1) ? Number((100 * r.deltaTop1).toFixed(2)) : '',
      'paired 95% interval': r.interval
        ? `[${(100 * r.interval.lo).toFixed(2)}, ${(100 * r.interval.hi).toFixed(2)}] (${r.pairs} seeds)`
        : r.pairs === 1
          ? 'one seed: no interval'
          : '',
      'minutes per run': Number(r.minutes.toFixed(1)),
    })),
    { name, caption },
  );
  await figure(
    {
      data: [
        { type: 'bar', name: 'top-1 at the end', x: rows.map((r) => r.rung), y: rows.map((r) => 100 * r.top1) },
        {
          type: 'scatter',
          mode: 'markers',
          name: 'last evaluation before the end',
          x: rows.map((r) => r.rung),
          y: rows.map((r) => 100 * r.lastEvaluationTop1),
        },
      ],
      layout: {
        title: { text: caption },
        yaxis: { title: { text: 'top-1 %' } },
        xaxis: { automargin: true },
      },
    },
    { name },
  );
}
