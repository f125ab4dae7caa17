import type { CurvePoint } from '../train/loop';
import type { RunOutcome } from './run';
import { type DifferenceInterval, differenceInterval, meanInterval, type MeanInterval } from './statistics';

/** A point of an accuracy-against-energy curve (one run's periodic evaluation). */
export interface EnergyAccuracyPoint {
  readonly iteration: number;
  /** Cumulative training energy (J, ledger) when the evaluation ran. */
  readonly energyJ: number;
  readonly top1: number;
}

/** A point of the mean-over-seeds curve: evaluation k of every seed. */
export interface MeanCurvePoint {
  readonly iteration: number;
  readonly energyJ: number;
  /** Mean cumulative effective MACs (FracTrain's computational cost) at the evaluation. */
  readonly effectiveMacs: number;
  readonly top1: MeanInterval;
}

/**
 * Mean over seeds of the accuracy-against-energy curves of one arm's runs (E²-Train Fig. 5): point k averages the k-th
 * evaluation of every run (cumulative energy and top-1, with a 95% t interval), up to the shortest curve. Runs
 * without a curve (no `evalEvery`) give an empty result.
 */
export function meanAccuracyCurve(runs: readonly Pick<RunOutcome, 'accuracyCurve'>[]): MeanCurvePoint[] {
  const curves = runs.map((r) => r.accuracyCurve ?? []);
  if (curves.length === 0) return [];
  const n = Math.min(...curves.map((c) => c.length));
  return Array.from({ length: n }, (_, k) => ({
    iteration: curves[0]![k]!.iteration,
    energyJ: meanInterval(curves.map((c) => c[k]!.energyJ)).mean,
    effectiveMacs: meanInterval(curves.map((c) => c[k]!.effectiveMacs)).mean,
    top1: meanInterval(curves.map((c) => c[k]!.top1)),
  }));
}

/**
 * "Accuracy within a budget": the last evaluation of `curve` whose cumulative training energy is at most `budgetJ`
 * (relative tolerance 1e-9), or undefined when even the first evaluation costs more.
 */
export function accuracyWithinBudget<P extends { readonly energyJ: number }>(
  curve: readonly P[],
  budgetJ: number,
): P | undefined {
  if (!(budgetJ >= 0))
    throw new RangeError(`budgetJ = ${budgetJ} is invalid: expected a non-negative energy in joules`);
  let last: P | undefined;
  for (const p of curve) if (p.energyJ <= budgetJ * (1 + 1e-9)) last = p;
  return last;
}

/**
 * The values `f` of two arms' runs paired by seed (only seeds both arms ran, in increasing order), for a paired
 * comparison. An arm's runs with a repeated seed are an error.
 */
export function pairedBySeed<T extends Pick<RunOutcome, 'arm' | 'seed'>>(
  runs: readonly T[],
  armA: string,
  armB: string,
  f: (o: T) => number,
): { seeds: number[]; a: number[]; b: number[] } {
  const index = (arm: string) => {
    const m = new Map<number, T>();
    for (const o of runs.filter((r) => r.arm === arm)) {
      if (m.has(o.seed))
        throw new RangeError(`arm "${arm}" has two runs with seed ${o.seed}: expected one run per seed`);
      m.set(o.seed, o);
    }
    return m;
  };
  const ia = index(armA);
  const ib = index(armB);
  const seeds = [...ia.keys()].filter((s) => ib.has(s)).sort((x, y) => x - y);
  return { seeds, a: seeds.map((s) => f(ia.get(s)!)), b: seeds.map((s) => f(ib.get(s)!)) };
}

/** The evaluation with the highest top-1 of a run's accuracy curve (the paper's "highest accuracy achieved during retraining" and its cost so far). */
export function bestEvaluation(o: Pick<RunOutcome, 'accuracyCurve'>): CurvePoint | undefined {
  let best: CurvePoint | undefined;
  for (const p of o.accuracyCurve ?? []) if (!best || p.top1 > best.top1) best = p;
  return best;
}

/** An outcome's top-1 accuracy (for pairing and intervals over arms). */
export const top1 = (o: RunOutcome): number => o.top1;

/** What the runs of one arm measured, averaged over its seeds (see {@link armSummary}). */
export interface ArmSummary {
  readonly arm: string;
  /** Runs of the arm (one per seed). */
  readonly runs: number;
  /** Top-1 accuracy: mean and 95% t interval over the runs. */
  readonly top1: MeanInterval;
  /** Means over the runs of the ledger's totals, the accelerator model's, the loop's counts and the minutes. */
  readonly energyJ: number;
  readonly effectiveMacs: number;
  readonly overheadMacs: number;
  readonly acceleratorEnergyJ: number;
  readonly latencySeconds: number;
  readonly batchesSeen: number;
  readonly iterations: number;
  readonly minutes: number;
  /** How each run was obtained, comma-separated ("hit,miss,..."). */
  readonly cache: string;
}

/** The summary of arm `arm` over `outcomes` (the runs with that label; an arm without runs is an error). */
export function armSummary(outcomes: readonly RunOutcome[], arm: string): ArmSummary {
  const os = outcomes.filter((o) => o.arm === arm);
  if (os.length === 0) throw new RangeError(`armSummary: no run of arm "${arm}" among ${outcomes.length} outcomes`);
  const mean = (f: (o: RunOutcome) => number) => meanInterval(os.map(f)).mean;
  return {
    arm,
    runs: os.length,
    top1: meanInterval(os.map(top1)),
    energyJ: mean((o) => o.energyJ),
    effectiveMacs: mean((o) => o.effectiveMacs),
    overheadMacs: mean((o) => o.overheadMacs),
    acceleratorEnergyJ: mean((o) => o.acceleratorEnergyJ ?? Number.NaN),
    latencySeconds: mean((o) => o.latencySeconds ?? Number.NaN),
    batchesSeen: mean((o) => o.batchesSeen),
    iterations: mean((o) => o.iterations),
    minutes: mean((o) => o.seconds / 60),
    cache: os.map((o) => o.cache ?? '').join(','),
  };
}

/** One rung of an ablation ladder as {@link ladderRows} summarises it. */
export interface LadderRow {
  readonly rung: string;
  readonly arm: string;
  /** Seeds run for this rung. */
  readonly seeds: number;
  /** Mean top-1 over the rung's seeds. */
  readonly top1: number;
  /** Mean over seeds of the last periodic evaluation before the run's end (before SWA's swap-in); NaN without a curve. */
  readonly lastEvaluationTop1: number;
  /** Mean over seeds of the last epoch's training loss. */
  readonly finalTrainLoss: number;
  /** Mean of the per-seed differences to the rung before (seeds both ran); NaN for the first rung or no shared seed. */
  readonly deltaTop1: number;
  /** Seeds the difference is paired over. */
  readonly pairs: number;
  /** 95% paired t interval of the difference (two or more pairs), else undefined. */
  readonly interval?: DifferenceInterval;
  readonly minutes: number;
}

/**
 * An ablation ladder's rows from its rungs (in order, each naming the arm label of its runs) and the outcomes: each
 * rung's top-1, its last evaluation before the end, its final training loss, and the difference to the rung before,
 * paired by seed, with its interval when at least two seeds pair.
 */
export function ladderRows(
  rungs: ReadonlyArray<{ readonly rung: string; readonly arm: string }>,
  outcomes: readonly RunOutcome[],
): LadderRow[] {
  const mean = (v: readonly number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
  return rungs.map((r, i) => {
    const os = outcomes.filter((o) => o.arm === r.arm);
    if (os.length === 0) throw new RangeError(`ladderRows: no run of arm "${r.arm}" (rung "${r.rung}")`);
    const prev = i > 0 ? rungs[i - 1] : undefined;
    const p = prev ? pairedBySeed(outcomes, r.arm, prev.arm, top1) : { seeds: [], a: [], b: [] };
    const diffs = p.a.map((v, k) => v - (p.b[k] as number));
    const interval = p.seeds.length >= 2 ? differenceInterval(p.a, p.b, { paired: true }) : undefined;
    return {
      rung: r.rung,
      arm: r.arm,
      seeds: os.length,
      top1: mean(os.map(top1)),
      lastEvaluationTop1: mean(os.map((o) => o.accuracyCurve?.[o.accuracyCurve.length - 1]?.top1 ?? Number.NaN)),
      finalTrainLoss: mean(os.map((o) => o.history[o.history.length - 1]?.trainLoss ?? Number.NaN)),
      deltaTop1: mean(diffs),
      pairs: p.seeds.length,
      ...(interval ? { interval } : {}),
      minutes: mean(os.map((o) => o.seconds / 60)),
    };
  });
}
