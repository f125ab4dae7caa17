import * as tf from '@tensorflow/tfjs-core';
import type { ImageDataset } from '../data/image-dataset';
import { batches, type ChannelStats } from '../data/pipeline';
import { createRng } from '../random';
import type { Slu } from './slu';

/** What trained SLU gates do on a labelled set (see {@link sluGateReport}). */
export interface SluGateReport {
  /** Fraction of skippable-block executions the gates skip (p <= 0.5) over all inputs and blocks. */
  readonly testSkip: number;
  /** Per skippable block: skip fraction, mean and standard deviation of p, and a histogram of p over the inputs. */
  readonly blocks: ReadonlyArray<{
    readonly block: string;
    readonly skip: number;
    readonly pMean: number;
    readonly pStd: number;
    readonly histogram: readonly number[];
  }>;
  /** Skip fraction per block (rows, in `blocks` order) and class (columns, in `classNames` order). */
  readonly perClass: ReadonlyArray<readonly number[]>;
  readonly classNames: readonly string[];
  /**
   * Input dependence: the fraction of (block, input) decisions that differ from the block's majority decision
   * (0 when every input takes the same decision in every block).
   */
  readonly minorityShare: number;
  /** Edges of the p histogram bins (bins + 1 values from 0 to 1). */
  readonly binEdges: readonly number[];
}

/**
 * Runs the trained gates of `slu` on every image of `data` in inference mode (a block runs where p > 0.5) and reports
 * the distribution of p, the skip fraction per block and per class, and how input-dependent the decisions are.
 */
export function sluGateReport(
  slu: Slu,
  data: ImageDataset,
  normalize: ChannelStats,
  options: { batchSize?: number; bins?: number } = {},
): SluGateReport {
  const bins = options.bins ?? 10;
  const perBlock = new Map<string, { p: number[]; labels: number[] }>();
  for (const b of batches(data, {
    batchSize: options.batchSize ?? 250,
    rng: createRng(0),
    shuffle: false,
    normalize,
  })) {
    const labels = Array.from(b.y.dataSync());
    for (const [block, p] of slu.probabilities(b.x)) {
      const e = perBlock.get(block) ?? { p: [], labels: [] };
      e.p.push(...Array.from(p));
      e.labels.push(...labels);
      perBlock.set(block, e);
    }
    tf.dispose([b.x, b.y]);
  }
  let skipped = 0;
  let seen = 0;
  let minority = 0;
  const blocks = [...perBlock].map(([block, { p }]) => {
    const skips = p.filter((v) => v <= 0.5).length;
    skipped += skips;
    seen += p.length;
    minority += Math.min(skips, p.length - skips);
    const mean = p.reduce((a, v) => a + v, 0) / p.length;
    const std = Math.sqrt(p.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(p.length - 1, 1));
    const histogram = new Array<number>(bins).fill(0);
    for (const v of p) histogram[Math.min(bins - 1, Math.floor(v * bins))]! += 1;
    return { block, skip: skips / p.length, pMean: mean, pStd: std, histogram };
  });
  const perClass = [...perBlock.values()].map(({ p, labels }) => {
    const k = data.classNames.map(() => [0, 0]);
    p.forEach((v, i) => {
      const c = k[labels[i]!]!;
      c[0]! += v <= 0.5 ? 1 : 0;
      c[1]! += 1;
    });
    return k.map(([s, n]) => (n ? s! / n : NaN));
  });
  return {
    testSkip: seen ? skipped / seen : NaN,
    blocks,
    perClass,
    classNames: data.classNames,
    minorityShare: seen ? minority / seen : NaN,
    binEdges: Array.from({ length: bins + 1 }, (_, i) => i / bins),
  };
}

/** One window of consecutive training steps in {@link sluTrainingTrace}. */
export interface SluTraceWindow {
  /** First step of the window (0-based) and the step after its last. */
  readonly fromStep: number;
  readonly toStep: number;
  /** Mean over the window's steps of the fraction of skippable-block executions skipped. */
  readonly skip: number;
  /** Regularizer weight after the window's last step. */
  readonly alpha: number;
}

/**
 * The training skip ratio of `slu` over `windows` windows of consecutive steps (fewer when fewer steps ran; the last
 * window takes the remainder): how the computation share moved during training, which the final skip ratio hides.
 */
export function sluTrainingTrace(slu: Pick<Slu, 'skipHistory' | 'alphaHistory'>, windows = 40): SluTraceWindow[] {
  if (!(Number.isSafeInteger(windows) && windows > 0))
    throw new RangeError(`sluTrainingTrace: windows must be a positive integer, got ${windows}`);
  const h = slu.skipHistory;
  const n = Math.min(windows, h.length);
  const out: SluTraceWindow[] = [];
  for (let w = 0; w < n; w++) {
    const from = Math.floor((w * h.length) / n);
    const to = Math.floor(((w + 1) * h.length) / n);
    let sum = 0;
    for (let i = from; i < to; i++) sum += h[i]!;
    out.push({ fromStep: from, toStep: to, skip: sum / (to - from), alpha: slu.alphaHistory[to - 1] ?? Number.NaN });
  }
  return out;
}
