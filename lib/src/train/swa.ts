import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../models/spec';
import { fromRecord, recordsOf, type TensorRecord } from '../models/records';

/**
 * Stochastic weight averaging (Izmailov et al. 2018): from a start iteration, every `every`
 * iterations the running average of the trainable weights is updated. {@link swapIn} copies the
 * average into the model (recompute batch-norm statistics afterwards).
 */
export class WeightAverage {
  private avg = new Map<string, tf.Variable>();
  private n = 0;

  constructor(readonly model: Model) {}

  get count(): number {
    return this.n;
  }

  update(): void {
    this.n += 1;
    const n = this.n;
    tf.tidy(() => {
      for (const [name, w] of this.model.params.trainable()) {
        const a = this.avg.get(name);
        if (!a) this.avg.set(name, tf.variable(w.clone(), false));
        else a.assign(tf.add(a, tf.div(tf.sub(w, a), n)));
      }
    });
  }

  /** Replaces the model's trainable weights by the average (no-op before the first update). */
  swapIn(): void {
    for (const [name, w] of this.model.params.trainable()) {
      const a = this.avg.get(name);
      if (a) w.assign(a);
    }
  }

  state(): { n: number; values: Record<string, TensorRecord> } {
    return { n: this.n, values: recordsOf(this.avg) };
  }

  restore(s: { n: number; values: Record<string, TensorRecord> }): void {
    this.dispose();
    this.n = s.n;
    for (const [k, r] of Object.entries(s.values))
      this.avg.set(
        k,
        tf.tidy(() => tf.variable(fromRecord(r), false)),
      );
  }

  dispose(): void {
    for (const v of this.avg.values()) v.dispose();
    this.avg = new Map();
  }
}
