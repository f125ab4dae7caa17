import * as tf from '@tensorflow/tfjs-core';
import type { ImageDataset } from '../data/image-dataset';
import { batches, type ChannelStats } from '../data/pipeline';
import type { ForwardContext } from '../models/spec';
import { createRng } from '../random';
import type { Dfq } from './dfq';

/** What trained DFQ gates choose on a labelled set (see {@link dfqAllocationReport}). */
export interface DfqAllocationReport {
  /** Option labels ("skip", "FW-a/BW-b", ...). */
  readonly labels: readonly string[];
  /** Per gated block: the share of inputs choosing each option (in `labels` order). */
  readonly blocks: ReadonlyArray<{ readonly block: string; readonly share: readonly number[] }>;
  /** Per block (rows in `blocks` order), per class (in `classNames` order): the share of each option. */
  readonly perClass: ReadonlyArray<ReadonlyArray<readonly number[]>>;
  readonly classNames: readonly string[];
  /** cp (percent of float32) the choices would cost per training step on these inputs. */
  readonly cp: number;
  /** Input dependence: the share of (block, input) choices that differ from the block's most frequent option. */
  readonly minorityShare: number;
}

/**
 * Runs the trained gates of `dfq` on every image of `data` in inference mode (each input's highest-probability option)
 * and reports the precision allocation per block and per class, its cp, and how input-dependent it is. `ctx` carries
 * the quantization settings the blocks run with.
 */
export function dfqAllocationReport(
  dfq: Dfq,
  data: ImageDataset,
  normalize: ChannelStats,
  ctx: Omit<ForwardContext, 'training' | 'blockPlan'>,
  options: { batchSize?: number } = {},
): DfqAllocationReport {
  const K = dfq.labels.length;
  const counts = new Map<string, number[][]>();
  let cost = 0;
  let inputs = 0;
  for (const b of batches(data, {
    batchSize: options.batchSize ?? 250,
    rng: createRng(0),
    shuffle: false,
    normalize,
  })) {
    const labels = Array.from(b.y.dataSync());
    inputs += labels.length;
    cost += dfq.costs.outside * labels.length;
    for (const [block, choice] of dfq.choices(b.x, ctx)) {
      const per = counts.get(block) ?? data.classNames.map(() => new Array<number>(K).fill(0));
      const c = dfq.costs.perBlock.get(block) as readonly number[];
      choice.forEach((k, i) => {
        per[labels[i] as number]![k]! += 1;
        cost += c[k] as number;
      });
      counts.set(block, per);
    }
    tf.dispose([b.x, b.y]);
  }
  let minority = 0;
  let seen = 0;
  const blocks = [...counts].map(([block, per]) => {
    const total = new Array<number>(K).fill(0);
    for (const row of per) row.forEach((v, k) => (total[k]! += v));
    const n = total.reduce((a, v) => a + v, 0);
    seen += n;
    minority += n - Math.max(...total);
    return { block, share: total.map((v) => (n ? v / n : Number.NaN)) };
  });
  const perClass = [...counts.values()].map((per) =>
    per.map((row) => {
      const n = row.reduce((a, v) => a + v, 0);
      return row.map((v) => (n ? v / n : Number.NaN));
    }),
  );
  return {
    labels: dfq.labels,
    blocks,
    perClass,
    classNames: data.classNames,
    cp: inputs ? (100 * cost) / (inputs * dfq.costs.float32) : Number.NaN,
    minorityShare: seen ? minority / seen : Number.NaN,
  };
}
