import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys, requireOption } from '../errors';
import { fromRecord, tensorRecord, type TensorRecord } from '../models/records';

/** Optimizer settings. Learning rates come from the schedule, not from here. */
export type OptimizerConfig =
  | { readonly kind: 'sgd'; readonly momentum?: number; readonly weightDecay?: number; readonly nesterov?: boolean }
  | {
      readonly kind: 'adam';
      readonly beta1?: number;
      readonly beta2?: number;
      readonly epsilon?: number;
      readonly weightDecay?: number;
    }
  | { readonly kind: 'signsgd'; readonly momentum?: number; readonly weightDecay?: number };

/** Serializable optimizer state (slot values by parameter name). */
export interface OptimizerState {
  readonly kind: string;
  readonly step: number;
  /** Slot tensors by `<parameter>#<slot index>`. */
  readonly slots: Record<string, TensorRecord>;
}

/** An optimizer with explicit, checkpointable state. */
export interface Optimizer {
  readonly config: OptimizerConfig;
  /** Applies one update with learning rate `lr` to `params` from `grads` (same names). Grads are not disposed. */
  apply(params: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void;
  state(): OptimizerState;
  restore(s: OptimizerState): void;
  dispose(): void;
}

function inUnit(v: number | undefined, field: string, closedTop = false): void {
  if (v === undefined) return;
  if (!(Number.isFinite(v) && v >= 0 && (closedTop ? v <= 1 : v < 1)))
    throw new ConfigError(field, v, closedTop ? 'a number in [0, 1]' : 'a number in [0, 1)');
}

/** Validates an {@link OptimizerConfig}, naming the bad field. */
export function checkOptimizerConfig(c: OptimizerConfig): OptimizerConfig {
  requireOption(c, 'optimizer', "an optimizer, e.g. { kind: 'sgd', momentum: 0.9 }");
  if (!['sgd', 'adam', 'signsgd'].includes(c.kind))
    throw new ConfigError('optimizer.kind', c.kind, 'sgd, adam or signsgd');
  const keys = {
    sgd: ['kind', 'momentum', 'weightDecay', 'nesterov'],
    adam: ['kind', 'beta1', 'beta2', 'epsilon', 'weightDecay'],
    signsgd: ['kind', 'momentum', 'weightDecay'],
  }[c.kind];
  checkKeys(c, keys, 'optimizer');
  if (c.weightDecay !== undefined && !(Number.isFinite(c.weightDecay) && c.weightDecay >= 0))
    throw new ConfigError('optimizer.weightDecay', c.weightDecay, 'a non-negative number');
  if (c.kind === 'adam') {
    inUnit(c.beta1, 'optimizer.beta1');
    inUnit(c.beta2, 'optimizer.beta2');
    if (c.epsilon !== undefined && !(Number.isFinite(c.epsilon) && c.epsilon > 0))
      throw new ConfigError('optimizer.epsilon', c.epsilon, 'a positive finite number');
  } else {
    inUnit(c.momentum, 'optimizer.momentum');
  }
  if (c.kind === 'sgd' && c.nesterov !== undefined && typeof c.nesterov !== 'boolean')
    throw new ConfigError('optimizer.nesterov', c.nesterov, 'true or false');
  return c;
}

/**
 * Creates an optimizer:
 * - `sgd`: v = m v + (g + wd w); w -= lr v (Nesterov: w -= lr (g + wd w + m v)), as PyTorch;
 * - `adam`: Kingma and Ba with bias correction; weight decay added to the gradient;
 * - `signsgd`: w -= lr (sign(v) + wd w), v = m v + (1 - m) g (m = 0: plain signSGD; m > 0: signum): weight decay is a
 *   separate term of the update, as in E²-Train's PSG optimizer (added to the gradient before the sign, it would
 *   vanish against a ±1 gradient).
 *
 * Parameters of the same shape are updated together: their weights, gradients and slots are stacked into one
 * tensor each, the update runs once on the stacks, and the results are unstacked into the parameters and
 * slots. A ResNet-20 step then launches a few kernels per distinct shape instead of six per parameter; the
 * arithmetic is the same, element by element, and each parameter keeps its own slots (a parameter without a
 * gradient in a step is left alone, as before).
 */
export function createOptimizer(config: OptimizerConfig): Optimizer {
  checkOptimizerConfig(config);
  const slots = new Map<string, tf.Variable[]>();
  let step = 0;
  const momentum = config.kind === 'adam' ? 0 : (config.momentum ?? 0);
  const slotCount = config.kind === 'adam' ? 2 : momentum > 0 ? 1 : 0;
  const slotsOf = (name: string, like: tf.Tensor): tf.Variable[] => {
    let s = slots.get(name);
    if (!s) {
      s = Array.from({ length: slotCount }, () => tf.variable(tf.zerosLike(like), false));
      slots.set(name, s);
    }
    return s;
  };

  /** One update on (stacked) tensors: the new weights and slots. */
  const update = (w: tf.Tensor, g0: tf.Tensor, sl: tf.Tensor[], lr: number): { w: tf.Tensor; slots: tf.Tensor[] } => {
    const wd = config.weightDecay ?? 0;
    if (config.kind === 'signsgd') {
      const v = momentum === 0 ? g0 : tf.add(tf.mul(sl[0] as tf.Tensor, momentum), tf.mul(g0, 1 - momentum));
      const delta = wd > 0 ? tf.add(tf.sign(v), tf.mul(w, wd)) : tf.sign(v);
      return { w: tf.sub(w, tf.mul(delta, lr)), slots: momentum === 0 ? [] : [v] };
    }
    const g = wd > 0 ? tf.add(g0, tf.mul(w, wd)) : g0;
    if (config.kind === 'sgd') {
      if (momentum === 0) return { w: tf.sub(w, tf.mul(g, lr)), slots: [] };
      const v = tf.add(tf.mul(sl[0] as tf.Tensor, momentum), g);
      return { w: tf.sub(w, tf.mul(config.nesterov ? tf.add(g, tf.mul(v, momentum)) : v, lr)), slots: [v] };
    }
    // adam (the remaining kind)
    const b1 = config.beta1 ?? 0.9;
    const b2 = config.beta2 ?? 0.999;
    const eps = config.epsilon ?? 1e-8;
    const m = tf.add(tf.mul(sl[0] as tf.Tensor, b1), tf.mul(g, 1 - b1));
    const v = tf.add(tf.mul(sl[1] as tf.Tensor, b2), tf.mul(tf.square(g), 1 - b2));
    const mh = tf.div(m, 1 - b1 ** step);
    const vh = tf.div(v, 1 - b2 ** step);
    return { w: tf.sub(w, tf.mul(tf.div(mh, tf.add(tf.sqrt(vh), eps)), lr)), slots: [m, v] };
  };

  return {
    config,
    apply(params, grads, lr) {
      if (!Number.isFinite(lr) || lr < 0) throw new ConfigError('learning rate', lr, 'a non-negative finite number');
      step += 1;
      const byShape = new Map<string, string[]>();
      for (const [name, w] of params) {
        if (!grads.get(name)) continue;
        const key = w.shape.join('x');
        byShape.set(key, [...(byShape.get(key) ?? []), name]);
      }
      tf.tidy(() => {
        for (const names of byShape.values()) {
          const ws = names.map((n) => params.get(n) as tf.Variable);
          const vs = names.map((n, i) => slotsOf(n, ws[i] as tf.Tensor));
          const stackOf = (ts: tf.Tensor[]) => (ts.length === 1 ? (ts[0] as tf.Tensor) : tf.stack(ts));
          const unstackOf = (t: tf.Tensor) => (names.length === 1 ? [t] : tf.unstack(t));
          const out = update(
            stackOf(ws),
            stackOf(names.map((n) => grads.get(n) as tf.Tensor)),
            Array.from({ length: slotCount }, (_, k) => stackOf(vs.map((v) => v[k] as tf.Tensor))),
            lr,
          );
          unstackOf(out.w).forEach((t, i) => (ws[i] as tf.Variable).assign(t));
          out.slots.forEach((st, k) =>
            unstackOf(st).forEach((t, i) => ((vs[i] as tf.Variable[])[k] as tf.Variable).assign(t)),
          );
        }
      });
    },
    state() {
      const out: Record<string, TensorRecord> = {};
      for (const [name, vs] of slots) vs.forEach((v, i) => (out[`${name}#${i}`] = tensorRecord(v)));
      return { kind: config.kind, step, slots: out };
    },
    restore(s) {
      if (s.kind !== config.kind) throw new Error(`checkpoint optimizer is ${s.kind}, this run uses ${config.kind}`);
      const byName = new Map<string, Array<{ i: number; r: TensorRecord }>>();
      for (const [key, r] of Object.entries(s.slots)) {
        const at = key.lastIndexOf('#');
        const list = byName.get(key.slice(0, at)) ?? [];
        list.push({ i: Number(key.slice(at + 1)), r });
        byName.set(key.slice(0, at), list);
      }
      for (const vs of slots.values()) vs.forEach((v) => v.dispose());
      slots.clear();
      step = s.step;
      for (const [name, list] of byName) {
        list.sort((a, b) => a.i - b.i);
        slots.set(
          name,
          list.map((x) => tf.tidy(() => tf.variable(fromRecord(x.r), false))),
        );
      }
    },
    dispose() {
      for (const vs of slots.values()) vs.forEach((v) => v.dispose());
      slots.clear();
    },
  };
}
