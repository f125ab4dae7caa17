import { ConfigError, checkKeys } from '../errors';
import type { StateValue } from '../models/records';

/** When a run counts as diverged (see {@link DivergenceGuard}). */
export interface DivergenceOptions {
  /** The run diverged when a step's loss exceeds this multiple of its starting loss (default 10). */
  readonly lossFactor?: number;
  /**
   * Trained iterations whose mean loss is the starting loss (default 10). The factor applies from the second trained
   * iteration, against the mean of the losses recorded so far (the first alone at first), so that losses that explode
   * in the first iterations are caught, not averaged into the reference.
   */
  readonly window?: number;
  /**
   * The reference is at least this loss (the trainer's default: ln(classes), the loss of a uniform prediction), so that
   * fine-tuning a converged model, whose starting loss is near 0, does not count an ordinary batch as divergence.
   */
  readonly lossFloor?: number;
  /** `'throw'` (default): throw a {@link DivergenceError}; `'stop'`: return with `stopped: 'diverged'` (sweeps). */
  readonly action?: 'throw' | 'stop';
}

/** Validates {@link DivergenceOptions}, naming the bad field. */
export function checkDivergenceOptions(d: DivergenceOptions): DivergenceOptions {
  checkKeys(d, ['lossFactor', 'window', 'action', 'lossFloor'], 'divergence');
  if (d.lossFloor !== undefined && !(Number.isFinite(d.lossFloor) && d.lossFloor >= 0))
    throw new ConfigError('divergence.lossFloor', d.lossFloor, 'a non-negative loss');
  if (d.lossFactor !== undefined && !(Number.isFinite(d.lossFactor) && d.lossFactor > 1))
    throw new ConfigError('divergence.lossFactor', d.lossFactor, 'a number > 1');
  if (d.window !== undefined && !(Number.isInteger(d.window) && d.window > 0))
    throw new ConfigError('divergence.window', d.window, 'a positive integer');
  if (d.action !== undefined && d.action !== 'throw' && d.action !== 'stop')
    throw new ConfigError('divergence.action', d.action, "'throw' or 'stop'");
  return d;
}

/**
 * Decides whether a step diverged, from its loss and the sum of its batch-norm statistics (finite iff all
 * are): a loss or statistic that is NaN or infinite, or a loss above `lossFactor` times the larger of the mean loss
 * of the run's first `window` trained iterations (of those recorded so far, from the second iteration) and `lossFloor`. Its reference is checkpointed, so a resumed run
 * judges alike.
 */
export class DivergenceGuard {
  private readonly factor: number;
  private readonly window: number;
  private readonly floor: number;
  private start = { sum: 0, n: 0 };

  constructor(options: DivergenceOptions = {}) {
    this.factor = options.lossFactor ?? 10;
    this.window = options.window ?? 10;
    this.floor = options.lossFloor ?? 0;
  }

  /** The reason the step diverged, or undefined when it did not. */
  check(loss: number, statSum: number): string | undefined {
    if (!Number.isFinite(loss)) return `loss is ${loss}`;
    if (!Number.isFinite(statSum)) return 'batch-norm running statistics are not finite';
    if (this.start.n >= 1) {
      const ref = Math.max(this.start.sum / this.start.n, this.floor);
      if (loss > this.factor * ref)
        return `loss ${loss.toPrecision(4)} exceeds ${this.factor} x its starting value ${ref.toPrecision(4)}`;
    }
    return undefined;
  }

  /** Records the loss of a completed step. */
  record(loss: number): void {
    if (this.start.n < this.window) this.start = { sum: this.start.sum + loss, n: this.start.n + 1 };
  }

  state(): StateValue {
    return { ...this.start };
  }

  restore(s: StateValue): void {
    const st = s as { sum: number; n: number };
    this.start = { sum: st.sum, n: st.n };
  }
}

/** A run diverged; the model holds the parameters and statistics from before the failed step. */
export class DivergenceError extends Error {
  constructor(
    readonly iteration: number,
    readonly loss: number,
    readonly reason: string,
    /** The last good checkpoint (confirmed by a later step's loss), undefined when none was written. */
    readonly checkpoint: string | undefined,
    configured: string | undefined,
    /** The trained iterations that checkpoint holds. */
    readonly checkpointIteration?: number,
  ) {
    super(
      `training diverged at iteration ${iteration}: ${reason}; the step was not applied` +
        (checkpoint
          ? `; the last good checkpoint is ${checkpoint}${checkpointIteration !== undefined ? ` (iteration ${checkpointIteration})` : ''}`
          : configured
            ? `; no checkpoint was written yet (configured: ${configured})`
            : ' (no checkpoint configured)') +
        '. Lower the learning rate or check the data.',
    );
    this.name = 'DivergenceError';
  }
}
