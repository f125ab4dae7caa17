import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { LayerSpec, Model } from '../models/spec';
import type { StructureRemoval } from '../models/surgery';
import type { StateValue } from '../models/records';
import type { Technique } from '../train/technique';
import { lrAt, type LrSchedule } from '../train/schedules';
import { StickyMasks, keepWhere, zeroGroupIndices } from './sticky-zeros';

/**
 * Structures of Structured Sparsity Learning (Wen, thesis ch. 2, Eq. 2.2-2.3 and Sec. 2.2.1), for a conv weight
 * [kh, kw, cin, cout] (NHWC) or a dense weight [in, out]:
 * - `'filter'`: W[:, :, :, n], one group per output channel (row-wise sparsity of the GEMM);
 * - `'channel'`: W[:, :, c, :], one group per input channel;
 * - `'shape'`: W[m, k, c, :], one group per filter-shape fibre (column-wise sparsity);
 * - `'filter2d'`: W[:, :, c, n], one group per 2D filter;
 * - `'neuron'`: W[:, j] of a dense layer, the input connections of output neuron j;
 * - `'input'`: W[i, :] of a dense layer, the output connections of input i (Fig. 2.5's input pixels);
 * - `'depth'`: all weights of a residual block's convolutions except its projection shortcut, one group per block
 *   (the convolutions between shortcuts).
 */
export type SslStructure = 'filter' | 'channel' | 'shape' | 'filter2d' | 'neuron' | 'input' | 'depth';

/** One group-Lasso term of Eq. (2.1): a structure, its weight lambda, and the layers it applies to (default: all that have the structure). */
export interface SslTerm {
  readonly structure: SslStructure;
  readonly lambda: number;
  readonly layers?: (layer: LayerSpec) => boolean;
}

/** Options of {@link structuredSparsity}. */
export interface SslOptions {
  readonly model: Model;
  readonly terms: readonly SslTerm[];
  /** epsilon of Eq. (2.7): ||w||_2 = sqrt(epsilon + sum w^2) (default 1e-8). */
  readonly epsilon?: number;
  /**
   * After every update, groups whose norm is below this are set to exact zeros and kept at zero for the rest of the
   * run (default 1e-4; 0 turns thresholding off).
   */
  readonly threshold?: number;
}

/** Per layer and structure: the number of groups and how many are zero. */
export interface SslGroupCount {
  readonly layer: string;
  readonly structure: SslStructure;
  readonly groups: number;
  readonly zero: number;
}

/** SSL as a technique. */
export interface Ssl extends Technique {
  /** The group-Lasso penalty sum over terms of lambda x sum of group norms, at the current weights. */
  penalty(): number;
  /** Group counts and zero groups per layer and structure (host reads; call between steps). */
  groupCounts(): SslGroupCount[];
  /** The zero groups as a {@link StructureRemoval} for model surgery (filters, channels, fibres, neurons, blocks). */
  removal(): StructureRemoval;
  /** Per group set (a layer's groups of one structure, or one block for depth): the group norms (host reads; call between steps). */
  normsByGroup(): Array<{ layer: string; structure: SslStructure; norms: number[] }>;
}

const CONV_STRUCTURES: readonly SslStructure[] = ['filter', 'channel', 'shape', 'filter2d'];
const DENSE_STRUCTURES: readonly SslStructure[] = ['neuron', 'input'];

/** Axes reduced to form the groups of `structure` in a weight of `kind` (the kept axes index the groups). */
export function sslGroupAxes(kind: LayerSpec['kind'], structure: Exclude<SslStructure, 'depth'>): number[] {
  if (kind === 'conv' && CONV_STRUCTURES.includes(structure)) {
    return { filter: [0, 1, 2], channel: [0, 1, 3], shape: [3], filter2d: [0, 1] }[
      structure as 'filter' | 'channel' | 'shape' | 'filter2d'
    ];
  }
  if (kind === 'dense' && DENSE_STRUCTURES.includes(structure)) return structure === 'neuron' ? [0] : [1];
  throw new ConfigError(
    'ssl structure',
    structure,
    `one of ${(kind === 'dense' ? DENSE_STRUCTURES : CONV_STRUCTURES).join(', ')} for a ${kind} layer`,
  );
}

/** Group norms sqrt(epsilon + sum over `axes` of w^2), kept dims (broadcastable against w). */
export function groupNorms(w: tf.Tensor, axes: number[], epsilon: number): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.add(tf.sum(tf.square(w), axes, true), epsilon)));
}

interface Group {
  readonly structure: SslStructure;
  readonly lambda: number;
  /** Layers and their weight parameters (one for every structure but depth). */
  readonly layers: readonly LayerSpec[];
  /** Reduced axes (per layer weight; depth reduces everything). */
  readonly axes: number[] | 'all';
  /** Name of the group set (layer name, or the block for depth). */
  readonly name: string;
}

/**
 * Structured Sparsity Learning (Wen et al., thesis ch. 2): group-Lasso regularization of Eq. (2.1)-(2.3) whose
 * gradient lambda x w / ||w||_g (Eq. 2.6, with Eq. 2.7's epsilon) is added to each regularized weight's gradient in the
 * transform stage, and thresholding of groups to exact zeros after each update (zeroed groups stay zero). Works on
 * conv and dense layers stored densely (not on fibre-lowered layers); on a basis-decomposed network (Force
 * Regularization's, thesis Sec. 3.3.4) the basis layer (`name/basis`, k x k) and the 1x1 recombination (`name`) are two
 * plain conv layers, e.g. shapes of the basis filters and filters of the recombination (model surgery does not compact
 * decomposed layers further: their sparsity is what Fig. 3.7 reports); a zeroed filter's or
 * neuron's bias is zeroed with it. The following batch norm of a zeroed filter is left to `maskStructure` at
 * compaction (see {@link Ssl.removal}).
 */
export function structuredSparsity(options: SslOptions): Ssl {
  checkKeys(options, ['model', 'terms', 'epsilon', 'threshold'], 'ssl');
  const { model } = options;
  const epsilon = options.epsilon ?? 1e-8;
  if (!(Number.isFinite(epsilon) && epsilon > 0)) throw new ConfigError('ssl.epsilon', epsilon, 'a positive number');
  const threshold = options.threshold ?? 1e-4;
  if (!(Number.isFinite(threshold) && threshold >= 0))
    throw new ConfigError('ssl.threshold', threshold, 'a non-negative number');
  if (!Array.isArray(options.terms) || options.terms.length === 0)
    throw new ConfigError('ssl.terms', options.terms, 'at least one { structure, lambda } term');
  const groups: Group[] = [];
  for (const [i, t] of options.terms.entries()) {
    if (!(Number.isFinite(t.lambda) && t.lambda >= 0))
      throw new ConfigError(`ssl.terms[${i}].lambda`, t.lambda, 'a non-negative number');
    const pick = t.layers ?? (() => true);
    if (t.structure === 'depth') {
      for (const b of model.blocks) {
        const layers = b.layers
          .map((n) => model.layers.find((l) => l.name === n) as LayerSpec)
          .filter((l) => l.kind === 'conv' && !l.name.endsWith('/proj') && pick(l));
        if (layers.length) groups.push({ structure: 'depth', lambda: t.lambda, layers, axes: 'all', name: b.name });
      }
    } else {
      const kinds = CONV_STRUCTURES.includes(t.structure)
        ? ['conv']
        : DENSE_STRUCTURES.includes(t.structure)
          ? ['dense']
          : undefined;
      if (!kinds)
        throw new ConfigError(
          `ssl.terms[${i}].structure`,
          t.structure,
          'filter, channel, shape, filter2d, neuron, input or depth',
        );
      for (const l of model.layers) {
        if (!kinds.includes(l.kind) || !pick(l)) continue;
        if (l.fibres)
          throw new ConfigError(`ssl.terms[${i}]`, l.name, 'a conv layer stored densely (not fibre-lowered)');
        groups.push({
          structure: t.structure,
          lambda: t.lambda,
          layers: [l],
          axes: sslGroupAxes(l.kind, t.structure),
          name: l.name,
        });
      }
    }
    if (!groups.some((g) => g.structure === t.structure))
      throw new ConfigError(`ssl.terms[${i}]`, t.structure, `a structure that some layer of ${model.name} has`);
  }
  const weightOf = (l: LayerSpec) => model.params.get(l.weight) as tf.Variable;
  /** Per group set: its norms (kept dims), from the current weights. */
  const norms = (g: Group): tf.Tensor =>
    g.axes === 'all'
      ? tf.sqrt(tf.add(tf.addN(g.layers.map((l) => tf.sum(tf.square(weightOf(l))))), epsilon))
      : groupNorms(weightOf(g.layers[0] as LayerSpec), g.axes, epsilon);
  // Sticky masks (1 = alive) per group set, shaped like its norms.
  const masks = new StickyMasks<Group>();
  const bias = (l: LayerSpec) =>
    model.params.has(`${l.name}/b`) ? (model.params.get(`${l.name}/b`) as tf.Variable) : undefined;
  /** Per group set: the indices of its all-zero groups (and how many groups it has), read from the device. */
  const zeroGroups = (g: Group): { count: number; zero: number[] } => {
    const t = tf.tidy(() => norms(g));
    const v = t.dataSync();
    t.dispose();
    return { count: v.length, zero: zeroGroupIndices(v, epsilon) };
  };
  const groupCounts = (): SslGroupCount[] =>
    groups.map((g) => {
      const z = zeroGroups(g);
      return { layer: g.name, structure: g.structure, groups: z.count, zero: z.zero.length };
    });

  return {
    name: 'ssl',
    transformGradients(grads) {
      const out = new Map(grads);
      tf.tidy(() => {
        const extra = new Map<string, tf.Tensor>();
        for (const g of groups) {
          if (g.lambda === 0) continue;
          const n = norms(g);
          for (const l of g.layers) {
            const w = weightOf(l);
            const term = tf.mul(tf.div(w, n), g.lambda);
            const prev = extra.get(l.weight);
            extra.set(l.weight, prev ? tf.add(prev, term) : term);
          }
        }
        for (const [name, e] of extra) {
          const g0 = grads.get(name);
          if (g0) out.set(name, tf.keep(tf.add(g0, e)));
        }
      });
      return out;
    },
    afterUpdate() {
      if (threshold === 0) return;
      tf.tidy(() => {
        for (const g of groups) {
          const alive = masks.update(g, tf.cast(tf.greaterEqual(norms(g), threshold), 'float32'));
          for (const l of g.layers) {
            keepWhere(weightOf(l), alive);
            const b = bias(l);
            // A zeroed filter (neuron) takes its bias with it.
            if (b && (g.structure === 'filter' || g.structure === 'neuron' || g.structure === 'depth'))
              keepWhere(b, tf.reshape(alive, g.structure === 'depth' ? [] : [-1]));
          }
        }
      });
    },
    penalty() {
      return tf.tidy(() => {
        const terms = groups.map((g) => tf.mul(tf.sum(norms(g)), g.lambda));
        return terms.length ? (tf.addN(terms).dataSync()[0] as number) : 0;
      });
    },
    groupCounts,
    normsByGroup: () =>
      groups.map((g) => {
        const t = tf.tidy(() => norms(g));
        const v = Array.from(t.dataSync());
        t.dispose();
        return { layer: g.name, structure: g.structure, norms: v };
      }),
    removal() {
      // Structures model surgery removes (2D filters and dense inputs have no removal of their own).
      const byStructure = { filter: {}, channel: {}, shape: {}, neuron: {} } as Record<
        'filter' | 'channel' | 'shape' | 'neuron',
        Record<string, number[]>
      >;
      const blocks: string[] = [];
      for (const g of groups) {
        const zeroIdx = zeroGroups(g).zero;
        if (zeroIdx.length === 0) continue;
        if (g.structure === 'depth') blocks.push(g.name);
        else if (g.structure in byStructure) {
          // Norms of shape groups are [kh, kw, cin, 1] in row-major order: flat index (i * kw + j) * cin + c, as surgery numbers fibres.
          const r = byStructure[g.structure as keyof typeof byStructure];
          const name = (g.layers[0] as LayerSpec).name;
          r[name] = [...new Set([...(r[name] ?? []), ...zeroIdx])];
        }
      }
      const nonEmpty = (o: Record<string, number[]>) => (Object.keys(o).length ? o : undefined);
      return {
        filters: nonEmpty(byStructure.filter),
        channels: nonEmpty(byStructure.channel),
        fibres: nonEmpty(byStructure.shape),
        neurons: nonEmpty(byStructure.neuron),
        blocks: blocks.length ? blocks : undefined,
      };
    },
    stats() {
      const c = groupCounts();
      const total = c.reduce((a, x) => a + x.groups, 0);
      return { zeroGroupShare: total ? c.reduce((a, x) => a + x.zero, 0) / total : 0 };
    },
    state: (): StateValue => ({ masks: masks.state((g) => groups.indexOf(g)) }) as unknown as StateValue,
    restore(s: StateValue) {
      masks.restore(
        (s as unknown as { masks: Array<[number, number[], number[]]> }).masks,
        (i) => groups[i as number] as Group,
      );
    },
    dispose: () => masks.dispose(),
  };
}

/**
 * A group-Lasso strength stated by what it does rather than as a raw lambda: the lambda at which the regularizer
 * alone, through SGD with `momentum` over `iterations` of `schedule` from `lr`, would shrink a group of norm `norm`
 * to zero `rho` times over (each step moves a group's norm by lr_t x lambda, amplified by 1 / (1 - momentum) in steady
 * state). `rho` near 1 lets the task gradient keep groups it needs; larger `rho` removes more. The threshold is the
 * largest steady step, lr x lambda / (1 - momentum): a group the regularizer has driven to zero oscillates within
 * it, so thresholding below it would never fire. The thesis selects its strengths by cross-validation and lists none.
 */
export function groupLassoStrength(o: {
  norm: number;
  rho: number;
  lr: number;
  iterations: number;
  momentum: number;
  schedule: LrSchedule;
}): { lambda: number; threshold: number } {
  if (!(Number.isFinite(o.norm) && o.norm > 0))
    throw new ConfigError('groupLassoStrength.norm', o.norm, 'a positive group norm');
  if (!(Number.isFinite(o.rho) && o.rho > 0))
    throw new ConfigError('groupLassoStrength.rho', o.rho, 'a positive number');
  if (!(Number.isInteger(o.iterations) && o.iterations > 0))
    throw new ConfigError('groupLassoStrength.iterations', o.iterations, 'a positive integer');
  if (!(Number.isFinite(o.momentum) && o.momentum >= 0 && o.momentum < 1))
    throw new ConfigError('groupLassoStrength.momentum', o.momentum, 'a momentum in [0, 1)');
  if (!(Number.isFinite(o.lr) && o.lr > 0))
    throw new ConfigError('groupLassoStrength.lr', o.lr, 'a positive learning rate');
  let lrSum = 0;
  for (let t = 0; t < o.iterations; t++) lrSum += lrAt(o.schedule, o.lr, t, o.iterations);
  const lambda = (o.rho * o.norm * (1 - o.momentum)) / lrSum;
  return { lambda, threshold: (o.lr * lambda) / (1 - o.momentum) };
}
