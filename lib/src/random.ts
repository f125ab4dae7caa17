import seedrandom from 'seedrandom';
import { ConfigError } from './errors';

/** The seed used in place of 0 by {@link tfSeed}. */
export const TF_ZERO_SEED = 0x9e3779b9;

/**
 * A seed for tfjs's seeded random ops. `tf.randomNormal` (and `tf.randomGamma`) treat a seed of 0 as "no seed" and draw
 * from `Math.random`, so a derived seed that happens to be 0 silently makes a run irreproducible: 0 maps to
 * {@link TF_ZERO_SEED}; every other finite number is returned unchanged.
 */
export function tfSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new ConfigError('seed', seed, 'a finite number');
  return seed === 0 ? TF_ZERO_SEED : seed;
}

/** Saved generator state (seedrandom's ARC4 state: JSON numbers). */
export type RngState = {
  readonly i: number;
  readonly j: number;
  readonly S: readonly number[];
};

/** A seeded pseudo-random source; every random choice in ecotrain flows from one of these. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample (Box-Muller). */
  normal(): number;
  /** A new independent generator derived from this one (for sub-components). */
  fork(label: string): Rng;
  /** Serializable state, for checkpoints. */
  state(): RngState;
}

/** Creates a deterministic generator from `seed` (an integer or a string label). */
export function createRng(seed: number | string, state?: RngState | object): Rng {
  const prng = seedrandom(String(seed), { state: (state as seedrandom.State.Arc4 | undefined) ?? true });
  return wrap(prng, String(seed));
}

function wrap(prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>, label: string): Rng {
  return {
    next: () => prng.quick(),
    int(n: number) {
      if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int: n = ${n}, expected a positive integer`);
      return Math.floor(prng.quick() * n);
    },
    normal() {
      let u = 0;
      while (u === 0) u = prng.quick();
      const v = prng.quick();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    fork(sub: string) {
      return createRng(`${label}/${sub}/${prng.int32()}`);
    },
    state: () => prng.state() as unknown as RngState,
  };
}

/** Fisher-Yates shuffle of `items` in place using `rng`; returns the same array. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}
