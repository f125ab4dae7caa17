import * as tf from '@tensorflow/tfjs-core';

/** Whether a group norm sqrt(epsilon + sum w^2) (Eq. 2.7) is that of an all-zero group. */
export function isZeroNorm(norm: number, epsilon: number): boolean {
  return norm * norm <= epsilon * (1 + 1e-6);
}

/** Indices of the all-zero groups among `norms` (see {@link isZeroNorm}). */
export function zeroGroupIndices(norms: ArrayLike<number>, epsilon: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < norms.length; i++) if (isZeroNorm(norms[i] as number, epsilon)) out.push(i);
  return out;
}

/** Multiplies `v` by a 0/1 `mask` (broadcast) in place, writing +0 where it removes (x * 0 is -0 for a negative x). */
export function keepWhere(v: tf.Variable, mask: tf.Tensor): void {
  tf.tidy(() => v.assign(tf.add(tf.mul(v, mask), 0)));
}

/**
 * 0/1 masks by key whose zeros are permanent: a pruned weight, group or unit stays removed whatever later updates
 * (momentum) do to it. Shared by SSL, ISS and the l1 baseline; checkpointed through {@link StickyMasks.state}.
 */
export class StickyMasks<K> {
  private readonly masks = new Map<K, tf.Variable>();

  /** The mask of `key` and-ed with `alive` (a 0/1 tensor; the mask starts as all ones of its shape), returned as a tensor of the caller's scope. */
  update(key: K, alive: tf.Tensor): tf.Tensor {
    let m = this.masks.get(key);
    if (!m) {
      m = tf.variable(tf.onesLike(alive), false);
      this.masks.set(key, m);
    }
    const mask = m;
    const next = tf.mul(mask, alive);
    mask.assign(next);
    return next;
  }

  /** The masks as plain data, each under `id(key)`. */
  state(id: (key: K) => string | number): Array<[string | number, number[], number[]]> {
    return [...this.masks].map(([k, m]) => [id(k), Array.from(m.dataSync()), [...m.shape]]);
  }

  /** Puts back masks from {@link state}, `key(id)` mapping each id to its key. */
  restore(
    records: ReadonlyArray<readonly [string | number, readonly number[], readonly number[]]>,
    key: (id: string | number) => K,
  ): void {
    for (const [id, values, shape] of records) {
      const k = key(id);
      this.masks.get(k)?.dispose();
      this.masks.set(
        k,
        tf.tidy(() => tf.variable(tf.tensor([...values], [...shape]), false)),
      );
    }
  }

  dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}
