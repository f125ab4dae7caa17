import * as tf from '@tensorflow/tfjs-core';
import { augmentationDraws, batchesPerEpoch, type Augmentation, type ChannelStats } from '../data/pipeline';
import { BatchPrefetcher, type AssembledBatch } from '../data/prefetch';
import type { ImageDataset } from '../data/image-dataset';
import { createRng, shuffleInPlace, type Rng } from '../random';
import type { ForwardContext, Model } from '../models/spec';
import type { LanguageModel, LstmState } from '../models/lstm';
import { evaluate, type Evaluation } from './evaluate';
import { batchify, bpttWindows, evaluatePerplexity } from './language-model';
import { fromRecord, tensorRecord, type StateValue, type TensorRecord } from '../models/records';

/** One mini-batch of a task: inputs, targets, and how many examples (images, or sequences of a language model). */
export interface TaskBatch {
  readonly x: tf.Tensor;
  readonly y: tf.Tensor;
  readonly examples: number;
  /** Language models: the state carried into this window, [examples, hidden] per layer. */
  readonly state?: LstmState;
}

/**
 * What the trainer trains: image classification or language modelling. A task draws batches, defines the
 * loss, evaluates, and keeps any state carried from one step to the next (a language model's hidden state).
 */
export interface Task {
  readonly kind: 'image-classification' | 'language-model';
  /** Size of the training data (images, or tokens). */
  readonly size: number;
  /** Mini-batches in one epoch. */
  batchesPerEpoch(): number;
  /** The batches of `epoch` from `startBatch` on; `order` shuffles (image tasks). */
  epoch(epoch: number, startBatch: number, order: Rng): AsyncIterable<TaskBatch>;
  /** Task loss of `model` on `batch` (inside the gradient scope); records the state it carries forward. */
  loss(model: Model, batch: TaskBatch, ctx: ForwardContext): tf.Scalar;
  /** Batch cut into `n` consecutive shards. */
  shards(batch: TaskBatch, n: number): TaskBatch[];
  /** The step succeeded: keep the state its losses recorded (in shard order). */
  commit(): void;
  /** The step failed or was skipped: drop what it recorded. */
  discard(): void;
  /** The batch is done with: free its tensors. */
  release(batch: TaskBatch): void;
  evaluate(model: Model, ctx: Omit<ForwardContext, 'training'> | undefined): Promise<Evaluation>;
  state(): StateValue;
  restore(s: StateValue): void;
  dispose(): void;
}

function cut(n: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let k = 0; k < parts; k++) {
    const size = Math.floor(n / parts) + (k < n % parts ? 1 : 0);
    out.push([start, size]);
    start += size;
  }
  return out;
}

function sliceRows<T extends tf.Tensor>(t: T, start: number, size: number): T {
  return tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1)]) as T;
}

/**
 * Image classification: shuffled (seeded) mini-batches with optional augmentation (flips or pad-crop-flip), softmax
 * cross-entropy. Batches are assembled on a worker thread one step ahead ({@link BatchPrefetcher}); each batch's
 * augmentation draws come from a generator seeded by (run seed, epoch, batch), so a resumed run draws the same.
 */
export function imageClassificationTask(options: {
  readonly train: ImageDataset;
  readonly validation?: ImageDataset;
  readonly batchSize: number;
  readonly augment: Augmentation;
  readonly normalize?: ChannelStats;
  readonly seed: number;
}): Task {
  const { train, batchSize } = options;
  let prefetcher: BatchPrefetcher | undefined;
  const perEpoch = batchesPerEpoch(train.count, batchSize, true);
  const request = (order: number[], epoch: number, k: number) => {
    const indices = Int32Array.from(order.slice(k * batchSize, (k + 1) * batchSize));
    const augment = augmentationDraws(
      options.augment,
      indices.length,
      createRng(`${options.seed}/augment/${epoch}/${k}`),
    );
    prefetcher ??= new BatchPrefetcher(train, options.normalize);
    return prefetcher.request({ indices, augment });
  };
  return {
    kind: 'image-classification',
    size: train.count,
    batchesPerEpoch: () => perEpoch,
    async *epoch(epoch, startBatch, orderRng) {
      const order = shuffleInPlace(
        Array.from({ length: train.count }, (_, i) => i),
        orderRng,
      );
      let next = startBatch < perEpoch ? request(order, epoch, startBatch) : undefined;
      for (let k = startBatch; k < perEpoch; k++) {
        const b = await (next as Promise<AssembledBatch>);
        // The next batch is assembled on the worker while this one trains.
        next = k + 1 < perEpoch ? request(order, epoch, k + 1) : undefined;
        yield {
          x: tf.tensor4d(b.pixels, [batchSize, train.height, train.width, train.channels], 'float32'),
          y: tf.tensor1d(b.labels, 'int32'),
          examples: batchSize,
        };
      }
    },
    loss: (model, batch, ctx) =>
      tf.losses.softmaxCrossEntropy(
        tf.oneHot(batch.y as tf.Tensor1D, model.numClasses),
        model.apply(batch.x, ctx),
      ) as tf.Scalar,
    shards: (batch, n) =>
      cut(batch.examples, n).map(([s, k]) => ({
        x: sliceRows(batch.x, s, k),
        y: sliceRows(batch.y, s, k),
        examples: k,
      })),
    commit: () => undefined,
    discard: () => undefined,
    release: (batch) => tf.dispose([batch.x, batch.y]),
    evaluate: async (model, ctx) => {
      if (!options.validation) throw new Error('no validation set');
      return evaluate(model, options.validation, { normalize: options.normalize, ctx });
    },
    state: () => null,
    restore: () => undefined,
    dispose: () => {
      void prefetcher?.close();
      prefetcher = undefined;
    },
  };
}

/**
 * Language modelling with truncated back-propagation through time: the token stream is laid out as
 * `batchSize` parallel rows (batchify), each step trains on the next window of `bptt` tokens of every row,
 * and the LSTM state is carried from one window to the next (detached: gradients stop at the window
 * boundary) and reset at each epoch start. Loss: mean next-token cross-entropy; evaluation: perplexity.
 */
export function languageModelTask(options: {
  readonly train: Int32Array;
  readonly validation?: Int32Array;
  readonly batchSize: number;
  readonly bptt: number;
  /** Rows of the evaluation layout (default 10). */
  readonly evalBatchSize?: number;
}): Task {
  const layout = batchify(options.train, options.batchSize);
  const windows = Math.ceil((layout.length - 1) / options.bptt);
  let carried: LstmState | undefined;
  let pending: LstmState[] = [];
  const asLm = (m: Model): LanguageModel => {
    if (!('applyWithState' in m)) throw new Error(`model ${m.name} is not a language model`);
    return m as LanguageModel;
  };
  const dropState = (s: LstmState | undefined) => {
    if (s) tf.dispose([...s.h, ...s.c]);
  };
  const discard = () => {
    pending.forEach(dropState);
    pending = [];
  };
  return {
    kind: 'language-model',
    size: options.train.length,
    batchesPerEpoch: () => windows,
    async *epoch(_epoch, startBatch) {
      if (startBatch === 0) {
        dropState(carried);
        carried = undefined;
      }
      let k = 0;
      for (const w of bpttWindows(layout, options.bptt)) {
        if (k++ < startBatch) continue;
        yield {
          x: tf.tensor2d(w.input, [layout.rows, w.steps], 'int32'),
          y: tf.tensor1d(w.target, 'int32'),
          examples: layout.rows,
          state: carried,
        };
      }
    },
    loss(model, batch, ctx) {
      const lm = asLm(model);
      const init = batch.state ?? lm.zeroState(batch.examples);
      const { logits, state } = lm.applyWithState(batch.x as tf.Tensor2D, init, ctx);
      pending.push({ h: state.h.map((t) => tf.keep(t)), c: state.c.map((t) => tf.keep(t)) });
      return tf.losses.softmaxCrossEntropy(tf.oneHot(batch.y as tf.Tensor1D, model.numClasses), logits) as tf.Scalar;
    },
    shards(batch, n) {
      const steps = (batch.x as tf.Tensor2D).shape[1];
      return cut(batch.examples, n).map(([s, k]) => ({
        x: sliceRows(batch.x, s, k),
        y: tf.slice(batch.y, [s * steps], [k * steps]),
        examples: k,
        state: batch.state
          ? { h: batch.state.h.map((t) => sliceRows(t, s, k)), c: batch.state.c.map((t) => sliceRows(t, s, k)) }
          : undefined,
      }));
    },
    commit() {
      if (pending.length === 0) return;
      const next: LstmState =
        pending.length === 1
          ? (pending[0] as LstmState)
          : {
              h: pending[0]!.h.map((_, l) =>
                tf.concat(
                  pending.map((p) => p.h[l] as tf.Tensor2D),
                  0,
                ),
              ),
              c: pending[0]!.c.map((_, l) =>
                tf.concat(
                  pending.map((p) => p.c[l] as tf.Tensor2D),
                  0,
                ),
              ),
            };
      if (pending.length > 1) pending.forEach(dropState);
      dropState(carried);
      carried = next;
      pending = [];
    },
    discard,
    release: (batch) => tf.dispose([batch.x, batch.y]),
    async evaluate(model, ctx) {
      if (!options.validation) throw new Error('no validation stream');
      const r = evaluatePerplexity(asLm(model), options.validation, {
        batch: options.evalBatchSize ?? 10,
        steps: options.bptt,
        ctx,
      });
      return { loss: r.loss, top1: r.top1, top5: r.top5, count: r.tokens, perplexity: r.perplexity };
    },
    state: () =>
      carried ? { h: carried.h.map((t) => tensorRecord(t)), c: carried.c.map((t) => tensorRecord(t)) } : null,
    restore(s) {
      dropState(carried);
      carried = undefined;
      if (s === null) return;
      const st = s as { h: TensorRecord[]; c: TensorRecord[] };
      carried = { h: st.h.map((r) => fromRecord(r) as tf.Tensor2D), c: st.c.map((r) => fromRecord(r) as tf.Tensor2D) };
    },
    dispose() {
      discard();
      dropState(carried);
      carried = undefined;
    },
  };
}
