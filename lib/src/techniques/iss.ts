import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { LstmLmOptions } from '../models/lstm';
import type { Model } from '../models/spec';
import type { StructureRemoval } from '../models/surgery';
import type { StateValue } from '../models/records';
import type { Technique } from '../train/technique';
import { StickyMasks, keepWhere, zeroGroupIndices } from './sticky-zeros';

/**
 * Size of each ISS group of a stacked LSTM language model (thesis Sec. 2.3, Fig. 2.10): for hidden unit k of layer l,
 * the k-th column of the four gate blocks of the input weights (in x 4) and of the recurrent weights (H x 4), the
 * k-th row of the recurrent weights (4H, of which 4 entries are already in the columns), and the k-th row of what
 * consumes h_k next: the next layer's input weights (4 H') or the output layer (vocabulary). Biases are not counted.
 */
export function issGroupSizes(
  options: Pick<LstmLmOptions, 'vocabSize' | 'embedding' | 'hidden'>,
  overlap: IssOverlap = 'once',
): Array<{ layer: string; units: number; groupSize: number }> {
  const { hidden } = options;
  return hidden.map((H, l) => {
    const inputs = l === 0 ? options.embedding : (hidden[l - 1] as number);
    const next = l + 1 < hidden.length ? 4 * (hidden[l + 1] as number) : options.vocabSize;
    const shared = overlap === 'once' ? 4 : 0;
    return { layer: `lstm${l + 1}`, units: H, groupSize: 4 * inputs + 4 * H + 4 * H - shared + next };
  });
}

/**
 * How an ISS group counts the 4 recurrent weights that lie both in unit k's row and in its 4 gate columns: `'once'`
 * (distinct weights: 23,996 and 27,996 for the thesis's 2 x 1500 PTB model) or `'twice'`, as the thesis's sizes
 * (24,000 and 28,000, Sec. 2.3) and the authors' group norm (wenwei202/iss-rnns `ptb/ptb_word_lm.py`
 * `add_structure_grouplasso`: the row sum and the 4 column sums both include them) count them.
 */
export type IssOverlap = 'once' | 'twice';

/** Options of {@link intrinsicSparseStructures}. */
export interface IssOptions {
  /** An LSTM language model (`lstmLanguageModel`). */
  readonly model: Model;
  /** Group-Lasso weight lambda of Eq. (2.5)-(2.6). */
  readonly lambda: number;
  /** epsilon of Eq. (2.7) (default 1e-8). */
  readonly epsilon?: number;
  /** Units whose group norm falls below this after an update are zeroed and stay zero (default 1e-4; 0: off). */
  readonly threshold?: number;
  /**
   * What the threshold applies to: `'group'` (default) zeroes a unit's whole ISS group when its norm is below the
   * threshold, for good; `'weight'` is the thesis's rule (Sec. 2.3.2, tau = 1e-4 on PTB): after every mini-batch, every
   * regularized weight whose magnitude is below the threshold is set to zero (not sticky: the next update may move it
   * again), and a unit is removed when its whole group is zero.
   */
  readonly thresholdOn?: 'group' | 'weight';
  /** LSTM layers regularized (1-based; default all). */
  readonly layers?: readonly number[];
  /** The shared recurrent weights in the group norm once (default) or twice, as the authors' code (see {@link IssOverlap}). */
  readonly overlap?: IssOverlap;
}

/** ISS as a technique. */
export interface Iss extends Technique {
  /** lambda x sum of the ISS group norms at the current weights. */
  penalty(): number;
  /** Per LSTM layer: units, and units whose whole ISS group is zero (host reads; call between steps). */
  unitCounts(): Array<{ layer: string; units: number; zero: number }>;
  /** The zero units as a {@link StructureRemoval} (`hiddenUnits`) for model surgery. */
  removal(): StructureRemoval;
  /** Per LSTM layer: the ISS group norm of every unit (host reads; call between steps). */
  unitNorms(): Array<{ layer: string; norms: number[] }>;
}

/**
 * Intrinsic Sparse Structures (thesis Sec. 2.3): group Lasso over the ISS group of every hidden unit of the chosen
 * LSTM layers (Eq. 2.5, with Eq. 2.7's epsilon), its gradient added in the transform stage (autodiff of the penalty,
 * so weights in two groups get both terms), and thresholding after each update: a unit whose group norm is below the
 * threshold has its whole group (and its four gate biases) set to exact zeros, and stays removed (or, with
 * `thresholdOn: 'weight'`, the thesis's per-weight rule: see {@link IssOptions.thresholdOn}).
 */
export function intrinsicSparseStructures(options: IssOptions): Iss {
  checkKeys(options, ['model', 'lambda', 'epsilon', 'threshold', 'thresholdOn', 'layers', 'overlap'], 'iss');
  const overlapMode = options.overlap ?? 'once';
  if (overlapMode !== 'once' && overlapMode !== 'twice')
    throw new ConfigError('iss.overlap', overlapMode, "'once' or 'twice'");
  const thresholdOn = options.thresholdOn ?? 'group';
  if (thresholdOn !== 'group' && thresholdOn !== 'weight')
    throw new ConfigError('iss.thresholdOn', thresholdOn, "'group' or 'weight'");
  const { model } = options;
  const arch = model.architecture;
  if (arch?.family !== 'lstm')
    throw new ConfigError('iss.model', model.name, 'an LSTM language model (lstmLanguageModel)');
  const hidden = arch.options.hidden;
  if (!(Number.isFinite(options.lambda) && options.lambda >= 0))
    throw new ConfigError('iss.lambda', options.lambda, 'a non-negative number');
  const epsilon = options.epsilon ?? 1e-8;
  if (!(Number.isFinite(epsilon) && epsilon > 0)) throw new ConfigError('iss.epsilon', epsilon, 'a positive number');
  const threshold = options.threshold ?? 1e-4;
  if (!(Number.isFinite(threshold) && threshold >= 0))
    throw new ConfigError('iss.threshold', threshold, 'a non-negative number');
  const layers = options.layers ?? hidden.map((_, i) => i + 1);
  if (layers.length === 0 || layers.some((l) => !Number.isInteger(l) || l < 1 || l > hidden.length))
    throw new ConfigError('iss.layers', layers, `LSTM layers in 1..${hidden.length}`);
  const v = (name: string) => model.params.get(name) as tf.Variable;
  const nextOf = (l: number) => (l < hidden.length ? `lstm${l + 1}/wx` : 'output/w');
  /** Per layer: the variables of its ISS groups. */
  const parts = layers.map((l) => ({
    l,
    H: hidden[l - 1] as number,
    wx: `lstm${l}/wx`,
    wh: `lstm${l}/wh`,
    b: `lstm${l}/b`,
    next: nextOf(l),
  }));
  const diagMasks = new Map(parts.map((p) => [p.l, tf.keep(tf.tidy(() => tf.tile(tf.eye(p.H), [1, 4])))]));

  /** ISS group norms [H] of layer part `p`. */
  const norms = (p: (typeof parts)[number]): tf.Tensor1D =>
    tf.tidy(() => {
      const cols = (w: tf.Tensor) => tf.sum(tf.reshape(tf.sum(tf.square(w), 0), [4, p.H]), 0);
      const wh2 = tf.square(v(p.wh));
      const terms = [cols(v(p.wx)), cols(v(p.wh)), tf.sum(wh2, 1), tf.sum(tf.square(v(p.next)), 1)];
      // Distinct weights: the 4 in both the row and the columns are taken out once.
      if (overlapMode === 'once') terms.push(tf.neg(tf.sum(tf.mul(wh2, diagMasks.get(p.l) as tf.Tensor), 1)));
      const sq = tf.addN(terms);
      return tf.sqrt(tf.add(tf.relu(sq), epsilon)) as tf.Tensor1D;
    });
  const penaltyTensor = (): tf.Scalar =>
    tf.mul(tf.addN(parts.map((p) => tf.sum(norms(p)))), options.lambda) as tf.Scalar;
  const masks = new StickyMasks<number>();
  const regularized = [...new Set(parts.flatMap((p) => [p.wx, p.wh, p.next]))];
  /** Per LSTM layer: the ISS group norm of every unit, read from the device. */
  const unitNorms = () =>
    parts.map((p) => {
      const n = norms(p);
      const d = Array.from(n.dataSync());
      n.dispose();
      return { layer: `lstm${p.l}`, norms: d };
    });
  const unitCounts = () =>
    unitNorms().map((u) => ({
      layer: u.layer,
      units: u.norms.length,
      zero: zeroGroupIndices(u.norms, epsilon).length,
    }));

  return {
    name: 'iss',
    transformGradients(grads) {
      if (options.lambda === 0) return grads;
      const out = new Map(grads);
      const vars = regularized.map(v);
      const { value, grads: reg } = tf.variableGrads(penaltyTensor, vars);
      value.dispose();
      regularized.forEach((name, i) => {
        const g0 = grads.get(name);
        const r = reg[(vars[i] as tf.Variable).name] as tf.Tensor;
        if (g0) out.set(name, tf.add(g0, r));
      });
      tf.dispose(Object.values(reg));
      return out;
    },
    afterUpdate() {
      if (threshold === 0) return;
      if (thresholdOn === 'weight') {
        tf.tidy(() => {
          for (const name of regularized)
            keepWhere(v(name), tf.cast(tf.greaterEqual(tf.abs(v(name)), threshold), 'float32'));
        });
        return;
      }
      tf.tidy(() => {
        for (const p of parts) {
          const alive = masks.update(p.l, tf.cast(tf.greaterEqual(norms(p), threshold), 'float32'));
          const cols = tf.tile(alive, [4]);
          keepWhere(v(p.wx), cols);
          keepWhere(v(p.wh), tf.mul(tf.reshape(alive, [p.H, 1]), cols));
          keepWhere(v(p.b), cols);
          keepWhere(v(p.next), tf.reshape(alive, [p.H, 1]));
        }
      });
    },
    penalty: () => tf.tidy(() => penaltyTensor().dataSync()[0] as number),
    unitCounts,
    unitNorms,
    removal() {
      const hiddenUnits: Record<string, number[]> = {};
      for (const u of unitNorms()) {
        const idx = zeroGroupIndices(u.norms, epsilon);
        if (idx.length) hiddenUnits[u.layer] = idx;
      }
      return Object.keys(hiddenUnits).length ? { hiddenUnits } : {};
    },
    stats() {
      const c = unitCounts();
      return Object.fromEntries(c.map((x) => [`${x.layer}Units`, x.units - x.zero]));
    },
    state: (): StateValue => ({ masks: masks.state((l) => l) }) as unknown as StateValue,
    restore(s: StateValue) {
      masks.restore((s as unknown as { masks: Array<[number, number[], number[]]> }).masks, (l) => l as number);
    },
    dispose() {
      masks.dispose();
      for (const d of diagMasks.values()) d.dispose();
    },
  };
}

/** Per LSTM layer: how many ISS components are all zero, against what scattered zeros would give (see {@link issProfile}). */
export interface IssProfile {
  readonly layer: string;
  readonly units: number;
  /** ISS components (hidden units) whose whole group is exactly zero. */
  readonly zeroUnits: number;
  /** Weights in the layer's ISS groups (its input and recurrent weights and the consumer's rows), and how many are exactly zero. */
  readonly weights: number;
  readonly zeroWeights: number;
  /** Weights in one ISS group. */
  readonly groupSize: number;
  /**
   * log10 of the expected number of all-zero components if the same share of zeros were scattered independently:
   * units x share^groupSize (-Infinity when there are no zeros).
   */
  readonly log10ExpectedIfIndependent: number;
}

/**
 * The ISS sparsity profile of an LSTM language model's current weights (thesis Fig. 2.11: l1 regularization of
 * individual weights "converge[s] to sparse LSTMs with many ISS removed"): per layer, the all-zero ISS components,
 * the share of exact zeros among the layer's ISS weights, and the number of all-zero components scattered zeros at
 * that share would be expected to leave. Host reads; call between steps.
 */
export function issProfile(model: Model): IssProfile[] {
  const arch = model.architecture;
  if (arch?.family !== 'lstm')
    throw new ConfigError('issProfile.model', model.name, 'an LSTM language model (lstmLanguageModel)');
  const hidden = arch.options.hidden;
  const sizes = issGroupSizes(arch.options);
  return hidden.map((H, i) => {
    const l = i + 1;
    const wx = model.params.get(`lstm${l}/wx`).arraySync() as number[][];
    const wh = model.params.get(`lstm${l}/wh`).arraySync() as number[][];
    const next = model.params.get(l < hidden.length ? `lstm${l + 1}/wx` : 'output/w').arraySync() as number[][];
    // A unit's group: column k of each gate block of wx and wh, row k of wh, row k of the consumer.
    const alive = new Array<boolean>(H).fill(false);
    let zeroWeights = 0;
    let weights = 0;
    const visit = (m: number[][], unitOf: (r: number, c: number) => number[]) => {
      m.forEach((row, r) =>
        row.forEach((x, c) => {
          weights += 1;
          if (x === 0) zeroWeights += 1;
          else for (const k of unitOf(r, c)) alive[k] = true;
        }),
      );
    };
    visit(wx, (_r, c) => [c % H]);
    visit(wh, (r, c) => (c % H === r ? [r] : [c % H, r]));
    visit(next, (r) => [r]);
    const zeroUnits = alive.filter((a) => !a).length;
    const groupSize = (sizes[i] as { groupSize: number }).groupSize;
    const share = zeroWeights / weights;
    return {
      layer: `lstm${l}`,
      units: H,
      zeroUnits,
      weights,
      zeroWeights,
      groupSize,
      log10ExpectedIfIndependent: share === 0 ? -Infinity : Math.log10(H) + groupSize * Math.log10(share),
    };
  });
}
