import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { Model } from '../models/spec';
import type { StateValue } from '../models/records';
import type { EpochRecord, HookResult, TrainCallback, TrainLoop } from './loop';

/** Options of {@link earlyStopping}. */
export interface EarlyStoppingOptions {
  /** Epochs without a better validation loss before training stops (default 1: stop at the first epoch that is not better). */
  readonly patience?: number;
  /** Smallest decrease of the validation loss that counts as better (default 0). */
  readonly minDelta?: number;
}

/** Early stopping as a unit of the training loop, with its record. */
export interface EarlyStopping extends TrainCallback {
  /** Validation loss after each epoch. */
  readonly losses: number[];
  /** The epoch (0-based) whose weights the model holds after stopping, or undefined while training goes on. */
  stoppedAt(): number | undefined;
  /** The best epoch so far (0-based) and its validation loss. */
  best(): { epoch: number; loss: number } | undefined;
  /** `bestEpoch` and `stoppedAt` (NaN while unset). */
  stats(): Record<string, number>;
}

/**
 * Stops training when the validation loss has not improved for `patience` epochs ("trains until its validation
 * perplexity stops improving"): the best epoch's weights are kept (a copy is taken at every improvement) and put back
 * when it stops the loop (no later mini-batch is drawn, trained or charged). Needs the run's validation set (the
 * trainer evaluates it at every epoch end). Its record is checkpointed, so a resumed run stops at the same epoch, and
 * a run resumed after the stop ends at once.
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): EarlyStopping {
  checkKeys(options, ['patience', 'minDelta'], 'earlyStopping');
  const patience = options.patience ?? 1;
  if (!(Number.isInteger(patience) && patience >= 1))
    throw new ConfigError('earlyStopping.patience', patience, 'a positive integer number of epochs');
  const minDelta = options.minDelta ?? 0;
  if (!(Number.isFinite(minDelta) && minDelta >= 0))
    throw new ConfigError('earlyStopping.minDelta', minDelta, 'a non-negative number');
  const losses: number[] = [];
  let best: { epoch: number; loss: number } | undefined;
  let bestWeights: Map<string, tf.Tensor> | undefined;
  let stopped: number | undefined;
  const keep = (model: Model) => {
    bestWeights?.forEach((t) => t.dispose());
    bestWeights = new Map([...model.params.trainable()].map(([k, v]) => [k, tf.keep(tf.clone(v))]));
  };
  return {
    name: 'early-stopping',
    onStart(loop: TrainLoop): HookResult {
      if (!loop.config.validation)
        throw new ConfigError(
          'earlyStopping',
          'no validation set',
          'a run with a validation set (evaluated at every epoch end)',
        );
      return stopped === undefined ? undefined : { stop: 'early-stopping' };
    },
    onEpochEnd(loop: TrainLoop, record: EpochRecord): HookResult {
      if (stopped !== undefined) return { stop: 'early-stopping' };
      // onStart made sure the run has a validation set, so every record carries its evaluation.
      const loss = record.validation?.loss ?? Number.NaN;
      const epoch = losses.length;
      losses.push(loss);
      if (Number.isFinite(loss) && (!best || loss < best.loss - minDelta)) {
        best = { epoch, loss };
        keep(loop.model);
        return undefined;
      }
      if (!best || epoch - best.epoch < patience) return undefined;
      stopped = best.epoch;
      const params = loop.model.params.trainable();
      tf.tidy(() => bestWeights?.forEach((t, k) => params.get(k)?.assign(t)));
      loop.invalidate();
      return { stop: 'early-stopping' };
    },
    losses,
    stoppedAt: () => stopped,
    best: () => best,
    stats: () => ({ bestEpoch: best?.epoch ?? Number.NaN, stoppedAt: stopped ?? Number.NaN }),
    state: (): StateValue =>
      ({
        losses: [...losses],
        best: best ?? null,
        stopped: stopped ?? null,
        weights: bestWeights
          ? Object.fromEntries(
              [...bestWeights].map(([k, t]) => [k, { shape: t.shape, values: Array.from(t.dataSync()) }]),
            )
          : null,
      }) as unknown as StateValue,
    restore(s: StateValue) {
      const st = s as unknown as {
        losses: number[];
        best: { epoch: number; loss: number } | null;
        stopped: number | null;
        weights: Record<string, { shape: number[]; values: number[] }> | null;
      };
      losses.splice(0, losses.length, ...st.losses);
      best = st.best ?? undefined;
      stopped = st.stopped ?? undefined;
      bestWeights?.forEach((t) => t.dispose());
      bestWeights = st.weights
        ? new Map(Object.entries(st.weights).map(([k, r]) => [k, tf.keep(tf.tensor(r.values, r.shape))]))
        : undefined;
    },
    dispose() {
      bestWeights?.forEach((t) => t.dispose());
      bestWeights = undefined;
    },
  };
}
