import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';

/** The parts of a run's outcome that TensorBoard shows (a {@link RunOutcome} has them all). */
export interface SummarySource {
  readonly top1: number;
  readonly testLoss: number;
  readonly iterations: number;
  readonly energyJ: number;
  readonly perplexity?: number;
  readonly history?: ReadonlyArray<{
    readonly iteration: number;
    readonly trainLoss: number;
    readonly lr: number;
    readonly validation?: { readonly top1: number; readonly loss: number; readonly perplexity?: number };
    readonly effectiveMacs?: number;
    readonly energyJ?: number;
    readonly techniques: Readonly<Record<string, Readonly<Record<string, number>>>>;
  }>;
  readonly accuracyCurve?: ReadonlyArray<{
    readonly iteration: number;
    readonly top1: number;
    readonly loss: number;
    readonly energyJ: number;
  }>;
  readonly energyCurve?: ReadonlyArray<readonly [number, number]>;
}

/** One scalar point of a run's TensorBoard summaries. */
export interface SummaryPoint {
  readonly tag: string;
  readonly step: number;
  readonly value: number;
}

/** Evenly spaced points of the ledger's per-iteration energy series kept for TensorBoard (the last is kept as well). */
const ENERGY_POINTS = 200;

/**
 * The scalars a run's summaries hold, by tag: per epoch `train/loss`, `train/lr`, `validation/top1`,
 * `validation/loss` (and `validation/perplexity`), `cost/effective_macs`, `energy/joules` and
 * `technique/<kind>/<statistic>`; per evaluation `test/top1` and `test/loss`; the final `test/top1`, `test/loss` (and
 * `test/perplexity`) at the last iteration; the ledger's cumulative energy (`energy/joules`) at up to 200 evenly spaced
 * iterations and the last.
 * Steps are trained iterations. Non-finite values (a diverged run's loss) are left out.
 */
export function summaryPoints(o: SummarySource): SummaryPoint[] {
  const points: SummaryPoint[] = [];
  const add = (tag: string, step: number, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value) && Number.isFinite(step))
      points.push({ tag, step: Math.round(step), value });
  };
  for (const r of o.history ?? []) {
    add('train/loss', r.iteration, r.trainLoss);
    add('train/lr', r.iteration, r.lr);
    add('validation/top1', r.iteration, r.validation?.top1);
    add('validation/loss', r.iteration, r.validation?.loss);
    add('validation/perplexity', r.iteration, r.validation?.perplexity);
    add('cost/effective_macs', r.iteration, r.effectiveMacs);
    for (const [kind, stats] of Object.entries(r.techniques))
      for (const [stat, v] of Object.entries(stats)) add(`technique/${kind}/${stat}`, r.iteration, v);
  }
  const curve = o.accuracyCurve ?? [];
  for (const c of curve) {
    add('test/top1', c.iteration, c.top1);
    add('test/loss', c.iteration, c.loss);
  }
  if (!curve.some((c) => c.iteration === o.iterations)) {
    add('test/top1', o.iterations, o.top1);
    add('test/loss', o.iterations, o.testLoss);
  }
  add('test/perplexity', o.iterations, o.perplexity);
  const energy = o.energyCurve ?? [];
  if (energy.length > 0) {
    const every = Math.max(1, Math.ceil(energy.length / ENERGY_POINTS));
    energy.forEach(([it, j], i) => {
      if (i % every === 0 || i === energy.length - 1) add('energy/joules', it, j);
    });
  } else {
    for (const r of o.history ?? []) add('energy/joules', r.iteration, r.energyJ);
  }
  return points;
}

/** A TensorBoard run folder's name for an arm and seed: the label with path separators and reserved characters replaced. */
export function summaryRunName(arm: string, seed: number, key?: string): string {
  const safe =
    [...arm]
      .map((c) => (c.charCodeAt(0) < 32 || '/\\:*?"<>|'.includes(c) ? '_' : c))
      .join('')
      .trim() || 'arm';
  return `${safe} · seed ${seed}${key ? ` · ${key.slice(0, 8)}` : ''}`;
}

let written = 0;

/**
 * Writes a run's summaries ({@link summaryPoints}) as TensorBoard event files with `tf.node.summaryFileWriter`, into
 * `dir` (created; an existing `dir` is replaced whole, so a re-run never duplicates points). The events are written into
 * a fresh sibling folder and renamed into place, so `dir` never holds half a run. Needs the `tensorflow` backend
 * (tfjs-node's writer is a TensorFlow op); returns false without writing on another backend.
 */
export function writeRunSummaries(dir: string, o: SummarySource): boolean {
  if (typeof dir !== 'string' || dir.length === 0) throw new ConfigError('summaries dir', dir, 'a folder path');
  if (tf.getBackend() !== 'tensorflow') return false;
  const node = (require('@tensorflow/tfjs-node') as typeof import('@tensorflow/tfjs-node')).node;
  const points = summaryPoints(o);
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  // tfjs-node caches a writer per folder and keeps its file open: every write gets a folder of its own.
  const staging = path.join(parent, `.${path.basename(dir)}.${process.pid}.${written++}.tmp`);
  fs.mkdirSync(staging);
  try {
    const writer = node.summaryFileWriter(staging, 10_000, 120_000);
    // TensorBoard wants the steps of a tag in increasing order.
    const ordered = [...points].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : a.step - b.step));
    for (const p of ordered) writer.scalar(p.tag, p.value, p.step);
    writer.flush();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staging, dir);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return true;
}
