import { ConfigError } from '../errors';

/** Options of {@link LossDiffIndicator}. */
export interface LossDiffOptions {
  /** Threshold epsilon on the normalized loss differences (FracTrain: 0.05). */
  readonly epsilon: number;
  /** Factor epsilon is multiplied by after each turning point (FracTrain: 0.3). */
  readonly alpha: number;
  /** Losses compared: the newest against each of the `window - 1` before it (FracTrain: the previous five epochs). */
  readonly window?: number;
  /** The normalizing scale is the mean loss of the first this many periods (FracTrain's code: 10 epochs). */
  readonly scalePeriods?: number;
}

/** What the indicator did with one period's loss. */
export interface IndicatorStep {
  readonly period: number;
  readonly loss: number;
  /** The largest normalized difference |L_i - L_newest| / scale over the window (undefined until the window is full). */
  readonly maxDiff?: number;
  /** Threshold in force when the period was judged. */
  readonly epsilon: number;
  readonly turningPoint: boolean;
}

/**
 * FracTrain's precision-switch indicator (Algorithm 1, and the authors' code): the mean training loss of each period
 * (an epoch in the paper) enters a window of the last `window` losses; when the window is full, the differences
 * |L_i - L_newest| for the older losses, divided by the loss scale (the mean loss of the first `scalePeriods` periods,
 * "proportional to the loss function's peak magnitude"), are all below epsilon, a turning point is reported; epsilon
 * is then multiplied by alpha and the window is emptied. Non-finite losses never trigger a switch.
 */
export class LossDiffIndicator {
  private eps: number;
  private readonly alpha: number;
  private readonly windowSize: number;
  private readonly scalePeriods: number;
  private window: number[] = [];
  private scaleSum = 0;
  private scaleCount = 0;
  private period = 0;
  readonly history: IndicatorStep[] = [];

  constructor(options: LossDiffOptions) {
    if (!(Number.isFinite(options.epsilon) && options.epsilon > 0))
      throw new ConfigError('indicator.epsilon', options.epsilon, 'a positive number (FracTrain: 0.05)');
    if (!(Number.isFinite(options.alpha) && options.alpha > 0 && options.alpha <= 1))
      throw new ConfigError('indicator.alpha', options.alpha, 'a factor in (0, 1] (FracTrain: 0.3)');
    const w = options.window ?? 5;
    if (!(Number.isInteger(w) && w >= 2))
      throw new ConfigError('indicator.window', w, 'an integer >= 2 (FracTrain: 5)');
    const sp = options.scalePeriods ?? 10;
    if (!(Number.isInteger(sp) && sp >= 1))
      throw new ConfigError('indicator.scalePeriods', sp, 'a positive integer (FracTrain: 10)');
    this.eps = options.epsilon;
    this.alpha = options.alpha;
    this.windowSize = w;
    this.scalePeriods = sp;
  }

  /** Current threshold. */
  epsilon(): number {
    return this.eps;
  }

  /** Current loss scale (mean of the first periods' losses seen so far). */
  scale(): number {
    return this.scaleCount ? this.scaleSum / this.scaleCount : Number.NaN;
  }

  /** Feeds one period's mean loss; true when it marks a turning point (then epsilon decays and the window restarts). */
  push(loss: number): boolean {
    this.period += 1;
    if (this.scaleCount < this.scalePeriods && Number.isFinite(loss)) {
      this.scaleSum += loss;
      this.scaleCount += 1;
    }
    this.window.push(loss);
    if (this.window.length > this.windowSize) this.window.shift();
    const epsilon = this.eps;
    let maxDiff: number | undefined;
    let turning = false;
    if (this.window.length === this.windowSize) {
      const newest = this.window[this.windowSize - 1] as number;
      const scale = this.scale();
      maxDiff = Math.max(...this.window.slice(0, -1).map((l) => Math.abs(l - newest) / scale));
      turning = Number.isFinite(maxDiff) && maxDiff < epsilon;
    }
    this.history.push({ period: this.period, loss, maxDiff, epsilon, turningPoint: turning });
    if (turning) {
      this.eps *= this.alpha;
      this.window = [];
    }
    return turning;
  }

  /** Checkpointable state. */
  state(): {
    eps: number;
    window: number[];
    scaleSum: number;
    scaleCount: number;
    period: number;
    history: IndicatorStep[];
  } {
    return {
      eps: this.eps,
      window: [...this.window],
      scaleSum: this.scaleSum,
      scaleCount: this.scaleCount,
      period: this.period,
      history: [...this.history],
    };
  }

  restore(s: ReturnType<LossDiffIndicator['state']>): void {
    this.eps = s.eps;
    this.window = [...s.window];
    this.scaleSum = s.scaleSum;
    this.scaleCount = s.scaleCount;
    this.period = s.period;
    this.history.splice(0, this.history.length, ...s.history);
  }
}
