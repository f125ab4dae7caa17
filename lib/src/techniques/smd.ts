import { checkKeys, ConfigError } from '../errors';
import { createRng, type Rng, type RngState } from '../random';
import type { StateValue } from '../models/records';
import type { StepInfo, Technique } from '../train/technique';

/** Options of {@link stochasticMiniBatchDropping}. */
export interface SmdOptions {
  /** Probability of skipping each mini-batch (default 0.5, as in E²-Train). */
  readonly p?: number;
  readonly seed: number;
  /**
   * What a dropped mini-batch does: `'skip'` (default, the paper's Sec. 3.1: nothing is computed, nothing changes) or
   * `'step'` (the authors' released code, GATECH-EIC/E2Train `main_all.py`: `optimizer.zero_grad()` then
   * `optimizer.step()`, so momentum and weight decay move the weights on dropped batches too).
   */
  readonly dropped?: 'skip' | 'step';
}

/** SMD as a technique, with counts of mini-batches seen and trained. */
export interface Smd extends Technique {
  readonly p: number;
  /** Mini-batches drawn and trained so far. */
  counts(): { seen: number; trained: number };
}

/**
 * E²-Train's stochastic mini-batch dropping (Sec. 3.1): each mini-batch is skipped with probability
 * `p` (seeded). Skipped batches are neither computed nor charged. The learning-rate schedule runs on
 * the iterations actually trained: its length is the planned batches times 1 - p.
 */
export function stochasticMiniBatchDropping(options: SmdOptions): Smd {
  checkKeys(options, ['p', 'seed', 'dropped'], 'smd');
  const p = options.p ?? 0.5;
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new ConfigError('smd.p', p, 'a probability in [0, 1)');
  if (!Number.isSafeInteger(options.seed)) throw new ConfigError('smd.seed', options.seed, 'an integer seed');
  const dropped = options.dropped ?? 'skip';
  if (dropped !== 'skip' && dropped !== 'step') throw new ConfigError('smd.dropped', dropped, "'skip' or 'step'");
  let rng: Rng = createRng(`smd/${options.seed}`);
  let seen = 0;
  let trained = 0;
  return {
    name: 'smd',
    settings: { p, seed: options.seed, dropped },
    p,
    trainFraction: 1 - p,
    zeroGradientUpdateOnSkip: dropped === 'step',
    shouldTrain(_info: StepInfo): boolean {
      seen += 1;
      const keep = rng.next() >= p;
      if (keep) trained += 1;
      return keep;
    },
    counts: () => ({ seen, trained }),
    stats: () => ({ seen, trained, trainedFraction: seen ? trained / seen : 0 }),
    state: (): StateValue => ({ rng: rng.state(), seen, trained }),
    restore(s: StateValue) {
      const st = s as unknown as { rng: RngState; seen: number; trained: number };
      rng = createRng(`smd/${options.seed}`, st.rng);
      seen = st.seen;
      trained = st.trained;
    },
  };
}
