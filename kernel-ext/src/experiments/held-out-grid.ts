import { type Arm, chooseLearningRate, type RunOutcome } from 'ecotrain';
import { figure } from '../display/figure';
import { table } from '../display/table';
import { runArms } from './run-arms';

/** One run of a held-out learning-rate grid: the method it belongs to, its rate and its arm (trained on the held-in part). */
export interface GridArm {
  readonly method: string;
  readonly lr: number;
  readonly arm: Arm;
}

/** What a held-out grid measured: a row per run and the rate chosen for each method. */
export interface HeldOutGrid {
  readonly rows: ReadonlyArray<{ readonly method: string; readonly lr: number; readonly 'held-out top-1 %': number }>;
  /** Per method, the rate of its best held-out run (`chooseLearningRate`: ties go to the smaller rate). */
  readonly chosen: Readonly<Record<string, number>>;
}

/**
 * The rows and choices of a held-out grid from its runs' outcomes (matched by arm label): the rate rounded to 3
 * significant digits and the held-out top-1 in percent to 2 decimals for display, the choice on the unrounded scores.
 * Refuses a grid arm without an outcome.
 */
export function heldOutGridRows(grid: readonly GridArm[], outcomes: readonly RunOutcome[]): HeldOutGrid {
  const scoreOf = (g: GridArm) => {
    const o = outcomes.find((x) => x.arm === g.arm.label && x.seed === g.arm.seed);
    if (!o) throw new RangeError(`heldOutGrid: no outcome for ${g.arm.label} (seed ${g.arm.seed})`);
    return o.top1;
  };
  const methods = [...new Set(grid.map((g) => g.method))];
  const chosen = Object.fromEntries(
    methods.map((m) => [
      m,
      chooseLearningRate(grid.filter((g) => g.method === m).map((g) => ({ lr: g.lr, top1: scoreOf(g) }))),
    ]),
  );
  const rows = grid.map((g) => ({
    method: g.method,
    lr: Number(g.lr.toPrecision(3)),
    'held-out top-1 %': Number((100 * scoreOf(g)).toFixed(2)),
  }));
  return { rows, chosen };
}

/**
 * Runs a held-out learning-rate grid (each arm through the run cache), shows its table and a figure of held-out top-1
 * against the rate per method, prints the chosen rates and returns them.
 */
export async function heldOutGrid(
  grid: readonly GridArm[],
  o: { readonly caption: string; readonly name?: string; readonly title?: string },
): Promise<HeldOutGrid> {
  const outcomes = await runArms(
    grid.map((g) => g.arm),
    { label: 'held-out runs' },
  );
  const result = heldOutGridRows(grid, outcomes);
  const name = o.name ?? 'held-out-grid';
  table([...result.rows], { name, caption: o.caption });
  const methods = Object.keys(result.chosen);
  console.log(`chosen learning rates: ${methods.map((m) => `${m} ${result.chosen[m]}`).join(', ')}`);
  await figure(
    {
      data: methods.map((m) => {
        const rs = result.rows.filter((r) => r.method === m);
        return {
          type: 'scatter',
          mode: 'lines+markers',
          name: m,
          x: rs.map((r) => r.lr),
          y: rs.map((r) => r['held-out top-1 %']),
        };
      }),
      layout: {
        title: { text: o.title ?? 'Held-out top-1 against the learning rate' },
        xaxis: { title: { text: 'learning rate' }, type: 'log' },
        yaxis: { title: { text: 'held-out top-1 %' } },
      },
    },
    { name },
  );
  return result;
}
