import { ConfigError, checkKeys } from '../errors';
import type { LayerSpec } from '../models/spec';
import { checkPrecision, formatPrecision, fwbw, type LayerPrecision } from '../quant/precision';
import type { StateValue } from '../models/records';
import type { Technique } from '../train/technique';
import { LossDiffIndicator, type IndicatorStep } from './loss-indicator';

/**
 * When a staged schedule (PFQ's precisions, FracTrain's cp targets) moves to its next stage:
 * - `'indicator'`: FracTrain's loss-difference indicator (Algorithm 1) over periods of `periodIterations` trained
 *   iterations (an epoch in the paper; a shorter run maps the paper's epochs onto periods in proportion), with
 *   threshold `epsilon` and decay `alpha` (the paper's 0.05 and 0.3). `finalBy`: if the indicator has not reached
 *   the last stage by this iteration, the schedule moves there (the paper's schedules reach the final stage before
 *   the first learning-rate decay, Fig. 1); such a switch is recorded with cause `'final-by'`.
 * - `'fixed'`: stage i + 1 starts at iteration `at[i]` (the heuristic schedule).
 */
export type StageSwitching =
  | {
      readonly kind: 'indicator';
      readonly epsilon: number;
      readonly alpha: number;
      readonly periodIterations: number;
      readonly window?: number;
      readonly scalePeriods?: number;
      readonly finalBy?: number;
    }
  | { readonly kind: 'fixed'; readonly at: readonly number[] };

/** One stage change: the stage entered, the trained iterations before it, and why. */
export interface StageSwitch {
  readonly stage: number;
  readonly iteration: number;
  readonly cause: 'indicator' | 'fixed' | 'final-by';
}

/** Checks a {@link StageSwitching} for a schedule of `stages` stages, naming the bad field. */
export function checkStageSwitching(s: StageSwitching, stages: number, field: string): void {
  if (s.kind === 'fixed') {
    checkKeys(s, ['kind', 'at'], field);
    const ok =
      Array.isArray(s.at) &&
      s.at.length === stages - 1 &&
      s.at.every((v, i) => Number.isInteger(v) && v > 0 && (i === 0 || v > (s.at[i - 1] as number)));
    if (!ok)
      throw new ConfigError(
        `${field}.at`,
        s.at,
        `${stages - 1} increasing positive iteration counts (one per stage change)`,
      );
    return;
  }
  if (s.kind !== 'indicator')
    throw new ConfigError(`${field}.kind`, (s as { kind: unknown }).kind, "'indicator' or 'fixed'");
  checkKeys(s, ['kind', 'epsilon', 'alpha', 'periodIterations', 'window', 'scalePeriods', 'finalBy'], field);
  if (!(Number.isInteger(s.periodIterations) && s.periodIterations >= 1))
    throw new ConfigError(
      `${field}.periodIterations`,
      s.periodIterations,
      'a positive integer (iterations per indicator period)',
    );
  if (s.finalBy !== undefined && !(Number.isInteger(s.finalBy) && s.finalBy >= 1))
    throw new ConfigError(`${field}.finalBy`, s.finalBy, 'a positive iteration count');
  // The indicator checks epsilon, alpha, window and scalePeriods itself.
  new LossDiffIndicator({ epsilon: s.epsilon, alpha: s.alpha, window: s.window, scalePeriods: s.scalePeriods });
}

/** The stage of a staged schedule as training proceeds (shared by PFQ and FracTrain). */
export class StageClock {
  private current = 0;
  private readonly indicator: LossDiffIndicator | undefined;
  private sum = 0;
  private count = 0;
  readonly switches: StageSwitch[] = [];

  constructor(
    readonly stages: number,
    private readonly switching: StageSwitching,
  ) {
    this.indicator =
      switching.kind === 'indicator'
        ? new LossDiffIndicator({
            epsilon: switching.epsilon,
            alpha: switching.alpha,
            window: switching.window,
            scalePeriods: switching.scalePeriods,
          })
        : undefined;
  }

  /** Current stage (0-based). */
  stage(): number {
    return this.current;
  }

  /** The indicator's decisions period by period (empty for fixed switch points). */
  periods(): readonly IndicatorStep[] {
    return this.indicator?.history ?? [];
  }

  /** Current indicator threshold (NaN for fixed switch points). */
  epsilon(): number {
    return this.indicator ? this.indicator.epsilon() : Number.NaN;
  }

  private enter(stage: number, iteration: number, cause: StageSwitch['cause']): void {
    this.current = stage;
    this.switches.push({ stage, iteration, cause });
  }

  /** Called after each trained iteration (`iteration` trained so far, `loss` of that step). */
  afterStep(iteration: number, loss: number): void {
    const last = this.stages - 1;
    if (this.current >= last) return;
    const s = this.switching;
    if (s.kind === 'fixed') {
      while (this.current < last && iteration >= (s.at[this.current] as number))
        this.enter(this.current + 1, iteration, 'fixed');
      return;
    }
    this.sum += loss;
    this.count += 1;
    if (this.count >= s.periodIterations) {
      const mean = this.sum / this.count;
      this.sum = 0;
      this.count = 0;
      if ((this.indicator as LossDiffIndicator).push(mean)) this.enter(this.current + 1, iteration, 'indicator');
    }
    if (s.finalBy !== undefined && this.current < last && iteration >= s.finalBy)
      this.enter(last, iteration, 'final-by');
  }

  state(): StateValue {
    return {
      current: this.current,
      sum: this.sum,
      count: this.count,
      switches: [...this.switches],
      indicator: this.indicator?.state() ?? null,
    } as unknown as StateValue;
  }

  restore(v: StateValue): void {
    const s = v as unknown as {
      current: number;
      sum: number;
      count: number;
      switches: StageSwitch[];
      indicator: ReturnType<LossDiffIndicator['state']> | null;
    };
    this.current = s.current;
    this.sum = s.sum;
    this.count = s.count;
    this.switches.splice(0, this.switches.length, ...s.switches);
    if (this.indicator && s.indicator) this.indicator.restore(s.indicator);
  }
}

/**
 * Parses FracTrain's schedule notation "FW(3,4,6,8)/BW(6,6,8,8)" (or a static "FW-8/BW-8", one stage) into one
 * precision per stage; throws a ConfigError naming the text.
 */
export function parsePrecisionSchedule(text: string): LayerPrecision[] {
  const m = /^\s*FW\(([\d,\s]+)\)\s*\/\s*BW\(([\d,\s]+)\)\s*$/i.exec(text);
  const s = /^\s*FW-(\d+)\s*\/\s*BW-(\d+)\s*$/i.exec(text);
  if (s) return [fwbw(Number(s[1]), Number(s[2]))];
  if (!m)
    throw new ConfigError(
      'precision schedule',
      text,
      '"FW(a1,...,ak)/BW(b1,...,bk)" (e.g. "FW(3,4,6,8)/BW(6,6,8,8)") or "FW-a/BW-b"',
    );
  const fw = (m[1] as string).split(',').map((v) => Number(v.trim()));
  const bw = (m[2] as string).split(',').map((v) => Number(v.trim()));
  if (fw.length !== bw.length) throw new ConfigError('precision schedule', text, 'as many FW as BW stages');
  return fw.map((a, i) => fwbw(a, bw[i] as number));
}

/** "FW(3,4,6,8)/BW(6,6,8,8)" for a schedule of FW-a/BW-b stages. */
export function formatPrecisionSchedule(stages: readonly LayerPrecision[]): string {
  if (stages.length === 1) return formatPrecision(stages[0] as LayerPrecision);
  return `FW(${stages.map((p) => p.weight).join(',')})/BW(${stages.map((p) => p.gradError).join(',')})`;
}

/** Options of {@link progressiveFractionalQuantization}. */
export interface PfqOptions {
  /** Precision per stage, lowest first; the last stage is the static baseline's precision. Text as in {@link parsePrecisionSchedule}. */
  readonly schedule: readonly LayerPrecision[] | string;
  readonly switching: StageSwitching;
  /** Layers held at a fixed precision whatever the stage (FracTrain: MobileNetV2's depthwise layers at FW-8/BW-16). */
  readonly fixed?: (layer: LayerSpec) => LayerPrecision | undefined;
}

/** PFQ as a technique, with its stage record. */
export interface Pfq extends Technique {
  /** The schedule's precisions. */
  readonly stages: readonly LayerPrecision[];
  /** Current stage (0-based). */
  stage(): number;
  /** Stage changes so far. */
  readonly switches: readonly StageSwitch[];
  /** The indicator's periods (mean loss, largest normalized difference, threshold, turning point). */
  periods(): readonly IndicatorStep[];
  /** Stage of each trained iteration (index = iteration - 1). */
  readonly stageHistory: number[];
}

/**
 * FracTrain's progressive fractional quantization (Sec. 3.1, Algorithm 1): every layer trains at the current stage's
 * precision FW(a_i)/BW(b_i); the stage advances when the switching rule says so, and only the last stage has the
 * static baseline's precision. Layer precision combines with other techniques' by the field-wise minimum.
 */
export function progressiveFractionalQuantization(options: PfqOptions): Pfq {
  checkKeys(options, ['schedule', 'switching', 'fixed'], 'pfq');
  const stages =
    typeof options.schedule === 'string' ? parsePrecisionSchedule(options.schedule) : [...options.schedule];
  if (stages.length === 0) throw new ConfigError('pfq.schedule', options.schedule, 'at least one stage');
  stages.forEach((p, i) => checkPrecision(p, `pfq.schedule[${i}]`));
  checkStageSwitching(options.switching, stages.length, 'pfq.switching');
  const clock = new StageClock(stages.length, options.switching);
  const stageHistory: number[] = [];
  return {
    name: 'pfq',
    precisionCombine: 'min',
    stages,
    stage: () => clock.stage(),
    switches: clock.switches,
    periods: () => clock.periods(),
    stageHistory,
    precision(layer) {
      return options.fixed?.(layer) ?? stages[clock.stage()];
    },
    afterStep(info) {
      stageHistory.push(clock.stage());
      clock.afterStep(info.iteration, info.loss);
    },
    stats: () => ({ stage: clock.stage(), epsilon: clock.epsilon() }),
    state: (): StateValue => ({ clock: clock.state(), stageHistory: [...stageHistory] }),
    restore(s: StateValue) {
      const st = s as unknown as { clock: StateValue; stageHistory: number[] };
      clock.restore(st.clock);
      stageHistory.splice(0, stageHistory.length, ...st.stageHistory);
    },
  };
}
