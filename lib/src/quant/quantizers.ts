import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { checkBits } from './precision';
import { fusedBackend } from '../backend/native-ops';

/** How values are rounded to the grid. */
export type Rounding = 'nearest' | 'stochastic' | 'truncate';
/** Granularity of the quantization range. */
export type RangeMode = 'tensor' | 'channel' | 'sample-mean';

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  readonly bits: number;
  /** `symmetric`: signed grid around 0 scaled by max|x|; `asymmetric`: unsigned grid over [min, max]. */
  readonly mode?: 'symmetric' | 'asymmetric';
  /**
   * `tensor`: one range per tensor; `channel`: per last-axis channel (output channel of NHWC filters);
   * `sample-mean`: per-sample min/max averaged over the batch (SBM, Banner et al. 2018).
   */
  readonly range?: RangeMode;
  readonly rounding?: Rounding;
  /** Seed for stochastic rounding (required with `stochastic`). */
  readonly seed?: number;
  /** A fixed range [lo, hi], overriding `range`. */
  readonly fixedRange?: readonly [number, number];
  /** A fixed symmetric range max|x| held in a tensor (running ranges in evaluation), overriding `range`. */
  readonly fixedMax?: tf.Scalar;
}

/**
 * Noise for stochastic rounding. tfjs draws random numbers in JavaScript, which costs more than the rest of a
 * quantized training step; instead one seeded table is made once (and grown when needed) and each call takes a
 * slice of it at a seeded offset, all on the backend. The table is stratified: its T values are the centres of
 * T equal strata of [-1/2, 1/2), (j + 1/2)/T - 1/2, in a seeded random order, stored twice in a row so that a
 * slice of n values at offset o in [0, T) reads entry (o + i) mod T for element i. Over the offset, every
 * element's noise is exactly uniform over the T strata, so rounding floor(v + 1/2 + noise) is unbiased up to the
 * stratum width 1/T (2.4e-7 of a quantization step for T = 2^22).
 */
class NoiseTable {
  private table: tf.Tensor1D | undefined;
  private size = 0;

  /** Centred noise in [-1/2, 1/2) of `shape`. */
  centred(shape: readonly number[], seed: number): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (!this.table || this.size < n) {
      this.table?.dispose();
      this.size = Math.max(n, 1 << 22);
      const T = this.size;
      const v = new Float32Array(2 * T);
      for (let j = 0; j < T; j++) v[j] = (j + 0.5) / T - 0.5;
      const r = mulberry32(0x5eed);
      for (let j = T - 1; j > 0; j--) {
        const k = Math.floor(r() * (j + 1));
        const t = v[j] as number;
        v[j] = v[k] as number;
        v[k] = t;
      }
      v.copyWithin(T, 0, T);
      this.table = tf.keep(tf.tensor1d(v, 'float32'));
    }
    const offset = Math.floor(mulberry32(seed)() * this.size);
    return tf.tidy(() => tf.reshape(tf.slice(this.table as tf.Tensor1D, [offset], [n]), [...shape]));
  }
}

/** Small seeded generator for per-call offsets. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const noise = new NoiseTable();

/** Seeded noise in [-1/2, 1/2) of `shape`: {@link roundingNoise} minus 1/2, the same draw for the same seed. */
export function centredNoise(shape: readonly number[], seed: number): tf.Tensor {
  return noise.centred(shape, seed);
}

/** Seeded uniform [0, 1) noise of `shape` for stochastic rounding, sliced from one stratified seeded table (see the module's noise table). */
export function roundingNoise(shape: readonly number[], seed: number): tf.Tensor {
  return tf.tidy(() => tf.add(noise.centred(shape, seed), 0.5));
}

function roundWith(v: tf.Tensor, rounding: Rounding, seed: number | undefined): tf.Tensor {
  switch (rounding) {
    case 'nearest':
      // Native round (ties to even); ties have measure zero for float inputs.
      return tf.round(v);
    case 'truncate':
      return tf.mul(tf.sign(v), tf.floor(tf.abs(v)));
    case 'stochastic':
      if (seed === undefined) throw new ConfigError('seed', seed, 'a seed for stochastic rounding');
      return tf.floor(tf.add(v, roundingNoise(v.shape, seed)));
  }
}

/** Reduction axes and keep-dims shape for a range mode. */
/** max|x| over `axes` as max(max x, -min x): two reductions, without materialising |x|. */
function absMax(x: tf.Tensor, axes?: number[], keepDims = false): tf.Tensor {
  return tf.maximum(tf.max(x, axes, keepDims), tf.neg(tf.min(x, axes, keepDims)));
}

/** Reduction axes and keep-dims shape for a range mode. */
function rangeOf(x: tf.Tensor, range: RangeMode, symmetric: boolean): { lo: tf.Tensor; hi: tf.Tensor } {
  const r = x.rank;
  if (range === 'tensor' || r === 0) {
    if (symmetric) {
      const m = absMax(x);
      return { lo: tf.neg(m), hi: m };
    }
    return { lo: tf.min(x), hi: tf.max(x) };
  }
  if (range === 'channel') {
    const axes = Array.from({ length: r - 1 }, (_, i) => i);
    if (symmetric) {
      const m = absMax(x, axes, true);
      return { lo: tf.neg(m), hi: m };
    }
    return { lo: tf.min(x, axes, true), hi: tf.max(x, axes, true) };
  }
  // sample-mean: min/max per sample (axis 0), averaged over the batch.
  const axes = Array.from({ length: r - 1 }, (_, i) => i + 1);
  if (symmetric) {
    const m = tf.mean(absMax(x, axes));
    return { lo: tf.neg(m), hi: m };
  }
  return { lo: tf.mean(tf.min(x, axes)), hi: tf.mean(tf.max(x, axes)) };
}

/**
 * Symmetric nearest or stochastic fake quantization in TensorFlow's fused fake-quant kernels (native backend,
 * 2 to 16 bits): `FakeQuantWithMinMaxVars` over [-m, m] with a narrow range has levels -L..L with step m / L,
 * the grid of {@link quantize}, and rounds to nearest (ties up); stochastic rounding floor(x / s + u) is nearest
 * rounding of x + (u - 1/2) s. Per-channel ranges use `FakeQuantWithMinMaxVarsPerChannel` (last axis).
 */
function nativeSymmetric(
  b: NonNullable<ReturnType<typeof fusedBackend>>,
  x: tf.Tensor,
  m: tf.Tensor,
  bits: number,
  rounding: 'nearest' | 'stochastic',
  seed: number | undefined,
): tf.Tensor {
  const levels = 2 ** (bits - 1) - 1;
  const attrs = [
    { name: 'num_bits', type: b.binding.TF_ATTR_INT, value: bits },
    { name: 'narrow_range', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
  const perChannel = m.size > 1;
  const mm = tf.maximum(perChannel ? tf.reshape(m, [-1]) : tf.reshape(m, []), levels * 1e-12);
  let xin = x;
  if (rounding === 'stochastic') {
    if (seed === undefined) throw new ConfigError('seed', seed, 'a seed for stochastic rounding');
    const step = tf.div(mm, levels);
    xin = tf.add(x, tf.mul(noise.centred(x.shape, seed), step));
  }
  return b.executeSingleOutput(perChannel ? 'FakeQuantWithMinMaxVarsPerChannel' : 'FakeQuantWithMinMaxVars', attrs, [
    xin,
    tf.neg(mm),
    mm,
  ]);
}

/**
 * Asymmetric nearest or stochastic fake quantization in TensorFlow's fused kernel (native backend, 2 to 16 bits): the
 * grid lo + k (hi - lo) / (2^b - 1), k = 0 .. 2^b - 1, of {@link quantize}, as `FakeQuantWithMinMaxVars` over
 * [0, hi - lo] of x - lo (a range starting at 0 needs none of the kernel's zero-point nudging, so its grid is this one),
 * shifted back by lo. Rounds to nearest (ties up); stochastic rounding adds (u - 1/2) steps first, as
 * {@link nativeSymmetric} does. Per-channel ranges (last axis) use `FakeQuantWithMinMaxVarsPerChannel`.
 */
function nativeAsymmetric(
  b: NonNullable<ReturnType<typeof fusedBackend>>,
  x: tf.Tensor,
  lo: tf.Tensor,
  hi: tf.Tensor,
  bits: number,
  rounding: 'nearest' | 'stochastic',
  seed: number | undefined,
): tf.Tensor {
  const levels = 2 ** bits - 1;
  const attrs = [
    { name: 'num_bits', type: b.binding.TF_ATTR_INT, value: bits },
    { name: 'narrow_range', type: b.binding.TF_ATTR_BOOL, value: false },
  ];
  const perChannel = hi.size > 1;
  const width = tf.maximum(tf.reshape(tf.sub(hi, lo), perChannel ? [-1] : []), levels * 1e-12);
  let shifted = tf.sub(x, lo);
  if (rounding === 'stochastic') {
    if (seed === undefined) throw new ConfigError('seed', seed, 'a seed for stochastic rounding');
    shifted = tf.add(shifted, tf.mul(noise.centred(x.shape, seed), tf.div(width, levels)));
  }
  const q = b.executeSingleOutput(perChannel ? 'FakeQuantWithMinMaxVarsPerChannel' : 'FakeQuantWithMinMaxVars', attrs, [
    shifted,
    tf.zerosLike(width),
    width,
  ]);
  return tf.add(q, lo);
}

/**
 * Fake quantization on a fixed range [lo, hi] with 2^b - 1 (or, `narrow`, 2^b - 2) steps, nearest rounding (ties up):
 * TensorFlow's `FakeQuantWithMinMaxArgs` on the native backend (2 to 16 bits; one kernel, clipping included), undefined
 * elsewhere or when the range needs the kernel's zero-point nudging (lo not a whole number of steps below 0), so the
 * caller keeps its own formula.
 */
export function fakeQuantFixedRange(
  x: tf.Tensor,
  lo: number,
  hi: number,
  bits: number,
  narrow: boolean,
): tf.Tensor | undefined {
  const b = fusedBackend();
  if (!b || bits < 2 || bits > 16 || !(hi > lo)) return undefined;
  const steps = 2 ** bits - (narrow ? 2 : 1);
  const zeroPoint = -lo / ((hi - lo) / steps);
  if (Math.abs(zeroPoint - Math.round(zeroPoint)) > 1e-6) return undefined;
  return b.executeSingleOutput(
    'FakeQuantWithMinMaxArgs',
    [
      { name: 'min', type: b.binding.TF_ATTR_FLOAT, value: lo },
      { name: 'max', type: b.binding.TF_ATTR_FLOAT, value: hi },
      { name: 'num_bits', type: b.binding.TF_ATTR_INT, value: bits },
      { name: 'narrow_range', type: b.binding.TF_ATTR_BOOL, value: narrow },
    ],
    [x],
  );
}

/**
 * Fake quantization: returns `x` rounded to a `bits`-bit integer grid and mapped back to float.
 * 32 bits returns `x` unchanged. Values outside the range (possible with `sample-mean` or a fixed
 * range) are clipped. Symmetric grids have levels -(2^(b-1)-1) .. 2^(b-1)-1; asymmetric 0 .. 2^b-1.
 */
export function quantize(x: tf.Tensor, options: QuantizeOptions): tf.Tensor {
  const bits = checkBits(options.bits, 'bits');
  if (bits === 32) return x.clone();
  return tf.tidy(() => {
    const symmetric = (options.mode ?? 'symmetric') === 'symmetric';
    if (symmetric && bits < 2)
      throw new ConfigError('bits', bits, 'at least 2 for a symmetric grid (use sign() for 1 bit)');
    const { lo, hi } = options.fixedMax
      ? { lo: tf.neg(options.fixedMax), hi: options.fixedMax }
      : options.fixedRange
        ? { lo: tf.scalar(options.fixedRange[0]), hi: tf.scalar(options.fixedRange[1]) }
        : rangeOf(x, options.range ?? 'tensor', symmetric);
    const rounding = options.rounding ?? 'nearest';
    const eps = 1e-12;
    const native = fusedBackend();
    if (
      native &&
      symmetric &&
      bits <= 16 &&
      rounding !== 'truncate' &&
      (hi.size === 1 || hi.size === x.shape[x.rank - 1])
    ) {
      return nativeSymmetric(native, x, hi, bits, rounding, options.seed);
    }
    if (
      native &&
      !symmetric &&
      bits <= 16 &&
      rounding !== 'truncate' &&
      lo.size === hi.size &&
      (hi.size === 1 || hi.size === x.shape[x.rank - 1])
    ) {
      return nativeAsymmetric(native, x, lo, hi, bits, rounding, options.seed);
    }
    if (symmetric) {
      const levels = 2 ** (bits - 1) - 1;
      const scale = tf.maximum(tf.div(hi, levels), eps);
      // Rounding before clipping gives the same codes as clipping first, with one op less.
      return tf.mul(tf.clipByValue(roundWith(tf.div(x, scale), rounding, options.seed), -levels, levels), scale);
    }
    const levels = 2 ** bits - 1;
    const scale = tf.maximum(tf.div(tf.sub(hi, lo), levels), eps);
    const v = tf.div(tf.sub(x, lo), scale);
    return tf.add(tf.mul(tf.clipByValue(roundWith(v, rounding, options.seed), 0, levels), scale), lo);
  });
}

/**
 * The `k` most significant bits of a `bits`-bit symmetric quantization of `x` (PSG's predictor):
 * the integer code q is truncated to q_msb = sign(q) * floor(|q| / 2^(bits-k)) * 2^(bits-k), then rescaled
 * (with `nearest`, the dropped bits are rounded instead: round(|q| / 2^(bits-k))).
 */
export function mostSignificantBits(
  x: tf.Tensor,
  bits: number,
  k: number,
  rounding: 'truncate' | 'nearest' = 'truncate',
): tf.Tensor {
  checkBits(bits, 'bits');
  checkBits(k, 'msb bits');
  if (k > bits) throw new ConfigError('msb bits', k, `at most bits = ${bits}`);
  return tf.tidy(() => {
    const levels = 2 ** (bits - 1) - 1;
    const ax = tf.abs(x);
    const scale = tf.maximum(tf.div(tf.max(ax), levels), 1e-12);
    const step = 2 ** (bits - k);
    if (rounding === 'truncate') {
      // floor(floor(t + 1/2) / step) = floor((t + 1/2) / step) for an integer step, with t = |x| / scale <= levels:
      // the same codes as below in four element-wise ops instead of ten (PSG runs this on every activation and
      // output gradient of every layer, every step).
      const unit = tf.mul(scale, step);
      return tf.mul(tf.mul(tf.floor(tf.add(tf.div(ax, unit), 0.5 / step)), unit), tf.sign(x));
    }
    const q = tf.floor(tf.add(tf.clipByValue(tf.div(ax, scale), 0, levels), 0.5));
    // 'nearest' rounds the dropped bits (the symmetric noise Eq. 3's proof assumes) instead of truncating them.
    const msb = tf.mul(tf.round(tf.div(q, step)), step);
    return tf.mul(tf.mul(tf.sign(x), msb), scale);
  });
}

/**
 * The stochastic ternarization of TernGrad (thesis Eq. 4.1-4.3) in parts: t = sign(g) o b with b_k ~ Bernoulli(|g_k| / s),
 * s = max |g| (Eq. 4.2) unless a (shared, Eq. 4.4) `scaler` >= max |g| is given; the gradient it stands for is s t,
 * whose expectation is g (Eq. 4.10). `seed` draws b (tfjs's seeded uniform). Returns the ternary tensor (values -1, 0,
 * 1) and the scaler.
 */
export function ternaryParts(
  g: tf.Tensor,
  seed: number,
  scaler?: tf.Scalar,
): { ternary: tf.Tensor; scaler: tf.Scalar } {
  return tf.tidy(() => {
    const s = scaler ?? (tf.max(tf.abs(g)) as tf.Scalar);
    const p = tf.divNoNan(tf.abs(g), s);
    const b = tf.less(tf.randomUniform(g.shape, 0, 1, 'float32', seed), p);
    return { ternary: tf.mul(tf.sign(g), tf.cast(b, 'float32')), scaler: tf.clone(s) as tf.Scalar };
  });
}

/** TernGrad's stochastic ternarization as one tensor, s sign(g) o b (see {@link ternaryParts}); unbiased in expectation. Seeded. */
export function ternarize(g: tf.Tensor, seed: number, scaler?: tf.Scalar): tf.Tensor {
  return tf.tidy(() => {
    const { ternary, scaler: s } = ternaryParts(g, seed, scaler);
    return tf.mul(ternary, s);
  });
}
