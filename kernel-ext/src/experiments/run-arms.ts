import { type Arm, type RunOutcome, runArm } from 'ecotrain';
import { progress } from '../display/progress';
import { saveResults } from '../display/outputs';

/** Options of {@link runArms}. */
export interface RunArmsOptions {
  /** Label of the progress bar (default "runs"). */
  readonly label?: string;
  /** Name of the saved results (`<notebook>.<name>.json`; default "runs"); `false`: not saved. */
  readonly save?: string | false;
}

/**
 * Runs every arm in order (each through the run cache) with a progress bar that names the arm, seed, top-1 and cache
 * status of each outcome and the minutes spent, saves the outcomes without their per-iteration series, and returns
 * them in the arms' order.
 */
export async function runArms(arms: readonly Arm[], options: RunArmsOptions = {}): Promise<RunOutcome[]> {
  const bar = progress({ total: Math.max(1, arms.length), label: options.label ?? 'runs' });
  const outcomes: RunOutcome[] = [];
  const t0 = Date.now();
  for (const arm of arms) {
    const o = await runArm(arm);
    outcomes.push(o);
    bar.tick(1, { arm: o.arm, seed: o.seed, top1: o.top1, cache: o.cache ?? '' });
  }
  bar.done({ minutes: (Date.now() - t0) / 60000 });
  const name = options.save ?? 'runs';
  if (name !== false)
    saveResults(
      name,
      outcomes.map((o) => ({ ...o, energyCurve: undefined, history: undefined })),
    );
  return outcomes;
}
