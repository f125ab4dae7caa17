import * as tf from '@tensorflow/tfjs-core';
import { tfSeed } from '../random';
import { assignRecords, encodeFloats, tensorRecord, type TensorRecord } from './records';

/** FNV-1a hash of a string, for deriving per-parameter seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

let variableCounter = 0;

/** How a parameter is used: trained by the optimizer, or state updated in the forward pass (batch-norm statistics). */
export type ParamRole = 'weight' | 'bias' | 'bn-scale' | 'bn-shift' | 'bn-stat';

/** A named model parameter. */
export interface Param {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly role: ParamRole;
  readonly trainable: boolean;
}

/**
 * Named parameters of a model (NHWC layouts: conv filters [kh, kw, cin, cout], dense [in, out]).
 * Initial values come from the store's seed and each parameter's name, so the same seed and
 * architecture give the same initial weights on every backend.
 */
export class ParamStore {
  private readonly params = new Map<string, Param>();

  constructor(readonly seed: number) {}

  private add(name: string, value: tf.Tensor, role: ParamRole, trainable: boolean): tf.Variable {
    if (this.params.has(name)) throw new Error(`parameter ${name} defined twice`);
    // tfjs variable names are global: make them unique with a process-wide counter.
    const variable = tf.variable(value, trainable, `${name.replace(/[^\w/]/g, '_')}__${++variableCounter}`);
    value.dispose();
    this.params.set(name, { name, variable, role, trainable });
    return variable;
  }

  /** He-normal (std sqrt(2 / fanIn)) weight of the given shape. */
  heNormal(name: string, shape: number[], fanIn: number): tf.Variable {
    const seed = (this.seed * 2654435761 + hashString(name)) % 2147483647;
    return this.add(name, tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', tfSeed(seed)), 'weight', true);
  }

  /** Uniform(-limit, limit) weight, for recurrent and embedding matrices. */
  uniform(name: string, shape: number[], limit: number): tf.Variable {
    const seed = (this.seed * 2654435761 + hashString(name)) % 2147483647;
    return this.add(name, tf.randomUniform(shape, -limit, limit, 'float32', tfSeed(seed)), 'weight', true);
  }

  /** A constant-initialised parameter (biases, batch-norm scale and shift, statistics). */
  constant(name: string, shape: number[], value: number, role: ParamRole): tf.Variable {
    return this.add(name, tf.fill(shape, value), role, role !== 'bn-stat');
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  get(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p.variable;
  }

  /** All parameters in definition order. */
  all(): Param[] {
    return [...this.params.values()];
  }

  /** Trainable variables by name. */
  trainable(): Map<string, tf.Variable> {
    return new Map(
      this.all()
        .filter((p) => p.trainable)
        .map((p) => [p.name, p.variable]),
    );
  }

  /** Number of trainable scalars. */
  count(): number {
    return this.all()
      .filter((p) => p.trainable)
      .reduce((a, p) => a + p.variable.size, 0);
  }

  /** Copies of all parameter values (for checkpoints and transfers), as {@link TensorRecord}s by name. */
  async snapshot(): Promise<Record<string, TensorRecord>> {
    const out: Record<string, TensorRecord> = {};
    for (const p of this.all())
      out[p.name] = { shape: [...p.variable.shape], data: encodeFloats((await p.variable.data()) as Float32Array) };
    return out;
  }

  /** {@link snapshot} read synchronously (for technique states, which are small). */
  recordsSync(): Record<string, TensorRecord> {
    return Object.fromEntries(this.all().map((p) => [p.name, tensorRecord(p.variable)]));
  }

  /** Restores values saved by {@link snapshot}; every parameter must be present with its shape (checked before any is changed). */
  restore(values: Readonly<Record<string, TensorRecord>>): void {
    assignRecords(new Map(this.all().map((p) => [p.name, p.variable])), values, 'parameters');
  }

  dispose(): void {
    for (const p of this.params.values()) p.variable.dispose();
    this.params.clear();
  }
}
