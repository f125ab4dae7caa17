import { type MeanCurvePoint, meanAccuracyCurve, type RunOutcome } from 'ecotrain';
import { figure, type PlotlyTrace } from './figure';
import { table } from './table';

/** What the x axis of {@link accuracyCurves} reads of a mean curve point. */
export type CurveAxis = 'iteration' | 'energyJ' | 'effectiveMacs';

/** Options of {@link accuracyCurves}. */
export interface AccuracyCurvesOptions {
  /** File-name stem of the exported figure. */
  readonly name: string;
  readonly title: string;
  /** The x axis (default `'iteration'`). */
  readonly x?: CurveAxis;
  /** Divides every x value (e.g. the full budget's energy, for a ratio); default 1. */
  readonly xPer?: number;
  /** The x axis title (default: the axis's name). */
  readonly xTitle?: string;
  readonly xLog?: boolean;
  /** Error bars of the 95% t interval's half-width over seeds (default true). */
  readonly errorBars?: boolean;
  /** Legend names per arm label (default: the label). */
  readonly names?: Readonly<Record<string, string>>;
}

const AXIS_TITLE: Record<CurveAxis, string> = {
  iteration: 'iteration',
  energyJ: 'cumulative energy (J, ledger)',
  effectiveMacs: 'effective MACs so far',
};

/**
 * The traces of {@link accuracyCurves}: per arm (in `arms` order), the mean over its runs of top-1 (%) at each
 * evaluation (`meanAccuracyCurve`) against the chosen x, with the 95% interval's half-width as error bars. An arm
 * without runs or without curves gives an empty trace. Refuses a non-positive or non-finite `xPer`.
 */
export function accuracyCurveTraces(
  outcomes: readonly RunOutcome[],
  arms: readonly string[],
  options: Omit<AccuracyCurvesOptions, 'name' | 'title'> = {},
): PlotlyTrace[] {
  const axis = options.x ?? 'iteration';
  const per = options.xPer ?? 1;
  if (!(Number.isFinite(per) && per > 0))
    throw new RangeError(`accuracyCurves: xPer = ${per}, expected a positive number`);
  return arms.map((arm) => {
    const c: MeanCurvePoint[] = meanAccuracyCurve(outcomes.filter((o) => o.arm === arm));
    return {
      type: 'scatter',
      mode: 'lines+markers',
      name: options.names?.[arm] ?? arm,
      x: c.map((p) => p[axis] / per),
      y: c.map((p) => 100 * p.top1.mean),
      ...(options.errorBars === false
        ? {}
        : { error_y: { type: 'data', array: c.map((p) => 100 * (p.top1.hi - p.top1.mean)), visible: true } }),
    };
  });
}

/** A figure of each arm's mean test accuracy during training (see {@link accuracyCurveTraces}). */
export async function accuracyCurves(
  outcomes: readonly RunOutcome[],
  arms: readonly string[],
  options: AccuracyCurvesOptions,
): Promise<void> {
  const axis = options.x ?? 'iteration';
  await figure(
    {
      data: accuracyCurveTraces(outcomes, arms, options),
      layout: {
        title: { text: options.title },
        xaxis: { title: { text: options.xTitle ?? AXIS_TITLE[axis] }, ...(options.xLog ? { type: 'log' } : {}) },
        yaxis: { title: { text: 'top-1 accuracy (%)' } },
      },
    },
    { name: options.name },
  );
}

/** One row per run (arm, seed, top-1 %, final training loss, minutes), in the order of `outcomes`. */
export function runsTableRows(
  outcomes: readonly RunOutcome[],
): Array<{ arm: string; seed: number; 'top-1 %': number; 'final training loss': number; minutes: number }> {
  return outcomes.map((o) => ({
    arm: o.arm,
    seed: o.seed,
    'top-1 %': Number((100 * o.top1).toFixed(2)),
    'final training loss': Number((o.history[o.history.length - 1]?.trainLoss ?? Number.NaN).toFixed(3)),
    minutes: Number((o.seconds / 60).toFixed(1)),
  }));
}

/** Shows {@link runsTableRows} as a table named `name`. */
export function runsTable(outcomes: readonly RunOutcome[], name = 'runs', caption = 'every run, by seed'): void {
  table(runsTableRows(outcomes), { name, caption });
}
