import { ConfigError, checkKeys, requireOption } from '../errors';

/**
 * Learning-rate schedules, defined over the run length so they scale with it.
 * - `constant`;
 * - `steps`: multiply by `factor` at each milestone; milestones are fractions of the run (0..1) or,
 *   when `unit` is `iterations`, absolute iteration numbers;
 * - `poly`: lr (1 - t/T)^power;
 * - `cosine`: lr (1 + cos(pi t/T)) / 2, down to `minLr`.
 * An optional linear `warmup` (iterations) ramps up from 0.
 */
export type LrSchedule =
  | { readonly kind: 'constant'; readonly warmup?: number }
  | {
      readonly kind: 'steps';
      readonly milestones: readonly number[];
      readonly factor?: number;
      readonly unit?: 'fraction' | 'iterations';
      readonly warmup?: number;
    }
  | { readonly kind: 'poly'; readonly power: number; readonly warmup?: number }
  | { readonly kind: 'cosine'; readonly minLr?: number; readonly warmup?: number };

/** Validates a schedule, naming the bad field. */
export function checkSchedule(s: LrSchedule): LrSchedule {
  requireOption(s, 'schedule', "a learning-rate schedule, e.g. { kind: 'cosine' }");
  const keys: Record<string, string[]> = {
    constant: ['kind', 'warmup'],
    steps: ['kind', 'milestones', 'factor', 'unit', 'warmup'],
    poly: ['kind', 'power', 'warmup'],
    cosine: ['kind', 'minLr', 'warmup'],
  };
  const kind = (s as { kind: string }).kind;
  if (!(kind in keys)) throw new ConfigError('schedule.kind', kind, Object.keys(keys).join(', '));
  checkKeys(s, keys[kind] as string[], 'schedule');
  if (s.kind === 'steps' && !Array.isArray(s.milestones))
    throw new ConfigError('schedule.milestones', s.milestones, 'an array of milestones');
  if (s.kind === 'steps' && s.unit !== undefined && s.unit !== 'fraction' && s.unit !== 'iterations')
    throw new ConfigError('schedule.unit', s.unit, "'fraction' or 'iterations'");
  if (s.kind === 'cosine' && s.minLr !== undefined && !(Number.isFinite(s.minLr) && s.minLr >= 0))
    throw new ConfigError('schedule.minLr', s.minLr, 'a non-negative number');
  if (s.warmup !== undefined && !(Number.isInteger(s.warmup) && s.warmup >= 0))
    throw new ConfigError('schedule.warmup', s.warmup, 'a non-negative integer');
  if (s.kind === 'steps') {
    const frac = (s.unit ?? 'fraction') === 'fraction';
    for (const m of s.milestones) {
      if (!Number.isFinite(m) || m < 0 || (frac && m > 1))
        throw new ConfigError(
          'schedule.milestones',
          s.milestones,
          frac ? 'fractions in [0, 1]' : 'non-negative iterations',
        );
    }
    if (s.factor !== undefined && !(Number.isFinite(s.factor) && s.factor > 0))
      throw new ConfigError('schedule.factor', s.factor, 'a positive finite number');
  }
  if (s.kind === 'poly' && !(Number.isFinite(s.power) && s.power >= 0))
    throw new ConfigError('schedule.power', s.power, 'a non-negative number');
  return s;
}

/** Learning rate at iteration `t` (0-based) of a run of `total` iterations starting from `baseLr`. */
export function lrAt(s: LrSchedule, baseLr: number, t: number, total: number): number {
  const warm = s.warmup ?? 0;
  const w = warm > 0 && t < warm ? (t + 1) / warm : 1;
  const f = Math.min(Math.max(t / Math.max(total, 1), 0), 1);
  switch (s.kind) {
    case 'constant':
      return baseLr * w;
    case 'steps': {
      const frac = (s.unit ?? 'fraction') === 'fraction';
      const passed = s.milestones.filter((m) => (frac ? f >= m : t >= m)).length;
      return baseLr * w * (s.factor ?? 0.1) ** passed;
    }
    case 'poly':
      return baseLr * w * (1 - f) ** s.power;
    case 'cosine': {
      const min = s.minLr ?? 0;
      return w * (min + ((baseLr - min) * (1 + Math.cos(Math.PI * f))) / 2);
    }
  }
}
