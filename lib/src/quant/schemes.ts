import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { checkBits } from './precision';
import { centredNoise, fakeQuantFixedRange, roundingNoise } from './quantizers';

/**
 * Static low-precision training schemes FracTrain compares against (Sec. 4.1). Each names how a quantized layer
 * quantizes its weights, its input activations, the output gradient it propagates (the error) and its weight
 * gradient; {@link QuantConfig.scheme} selects one for a run.
 *
 * - `'sbm'`: the simulator's configurable quantizers (ranges and rounding from the other {@link QuantConfig}
 *   fields). {@link sbmQuant} gives Banner et al.'s (2018) settings.
 * - `'dorefa'`: DoReFa-Net (Zhou et al., 2016), Eqs. 5, 9 and 12 (see {@link dorefaWeight}, {@link dorefaActivation},
 *   {@link dorefaGradient}).
 * - `'wageubn'`: WAGEUBN (Yang et al., 2019) on WAGE's fixed-point quantizers (Wu et al., 2018): W, A, E and G
 *   (see {@link wageWeight}, {@link wageActivation}, {@link wageError}, {@link wageGradient}).
 */
export type QuantScheme = 'sbm' | 'dorefa' | 'wageubn';

/** The schemes, for validation messages. */
export const QUANT_SCHEMES: readonly QuantScheme[] = ['sbm', 'dorefa', 'wageubn'];

/** The range choices of {@link sbmQuant}. */
export type SbmRanges = 'code' | 'averaged';

/**
 * Banner et al.'s (2018) scalable 8-bit training (SBM): asymmetric min-max grids, nearest rounding forward, stochastic
 * rounding of gradients. Batch norm stays in float (FracTrain keeps every batch norm in float for all methods, Sec.
 * 4.1). `ranges` picks where the grids' ranges come from:
 * - `'code'` (default), as in FracTrain's public code (`modules/quantize.py`: `QuantMeasure` and `quantize_grad`
 *   reduce the per-sample minima and maxima with `reduce_type='extreme'`; weights with `flatten_dims=(1, -1)` and no
 *   reduction): activation and gradient ranges are the batch's extreme minimum and maximum (one range per tensor, so
 *   nothing is clipped), weight ranges are per output channel.
 * - `'averaged'`: the per-sample minima and maxima averaged over the batch (Banner et al.'s `QuantMeasure`), one range
 *   per weight tensor. Values beyond the averaged range are clipped, gradients included: on CIFAR-10 ResNet-8 at
 *   FW-8/BW-8, lr 0.1, this setting diverged (loss 1.7 at iteration 160, 34.8 at iteration 371) where `'code'` trains.
 * Deviation: Banner et al. quantize the weight gradient once more before the update ("GEMM output"); here it stays at
 * the precision its product was computed in.
 */
export function sbmQuant(ranges: SbmRanges = 'code'): {
  scheme: 'sbm';
  mode: 'asymmetric';
  forwardRounding: 'nearest';
  gradientRounding: 'stochastic';
  activationRange: 'tensor' | 'sample-mean';
  gradientRange: 'tensor' | 'sample-mean';
  weightRange: 'tensor' | 'channel';
} {
  if (ranges !== 'code' && ranges !== 'averaged') throw new ConfigError('sbm ranges', ranges, "'code' or 'averaged'");
  return ranges === 'code'
    ? {
        scheme: 'sbm',
        mode: 'asymmetric',
        forwardRounding: 'nearest',
        gradientRounding: 'stochastic',
        activationRange: 'tensor',
        gradientRange: 'tensor',
        weightRange: 'channel',
      }
    : {
        scheme: 'sbm',
        mode: 'asymmetric',
        forwardRounding: 'nearest',
        gradientRounding: 'stochastic',
        activationRange: 'sample-mean',
        gradientRange: 'sample-mean',
        weightRange: 'tensor',
      };
}

function levelsOf(bits: number, field: string, min = 2): number {
  checkBits(bits, field);
  if (bits < min) throw new ConfigError(field, bits, `at least ${min} bits for this quantizer`);
  return bits;
}

/** DoReFa's quantize_k (Eq. 5): round((2^k - 1) r) / (2^k - 1) for r in [0, 1]. */
export function quantizeUnit(r: tf.Tensor, bits: number): tf.Tensor {
  levelsOf(bits, 'bits', 1);
  if (bits >= 32) return r.clone();
  const s = 2 ** bits - 1;
  return tf.tidy(() => tf.div(tf.round(tf.mul(r, s)), s));
}

/**
 * DoReFa weights (Eq. 9, k > 1): 2 quantize_k(tanh(w) / (2 max|tanh(w)|) + 1/2) - 1, in [-1, 1]. The layer's weight
 * gradient is multiplied by {@link dorefaWeightSlope} (the derivative of the tanh transform; quantize_k passes
 * gradients straight through).
 */
export function dorefaWeight(w: tf.Tensor, bits: number): tf.Tensor {
  levelsOf(bits, 'weight bits');
  if (bits >= 32) return w.clone();
  return tf.tidy(() => {
    const t = tf.tanh(w);
    const m = tf.maximum(tf.max(tf.abs(t)), 1e-12);
    return tf.sub(tf.mul(quantizeUnit(tf.add(tf.div(t, tf.mul(m, 2)), 0.5), bits), 2), 1);
  });
}

/** d/dw of DoReFa's weight transform tanh(w) / max|tanh(w)| (the max held constant): (1 - tanh²(w)) / max|tanh(w)|. */
export function dorefaWeightSlope(w: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tanh(w);
    return tf.div(tf.sub(1, tf.square(t)), tf.maximum(tf.max(tf.abs(t)), 1e-12));
  });
}

/**
 * DoReFa activations: quantize_k(clip(x, 0, 1)) (the bounded activation of Sec. 2.5, quantized by Eq. 5). Inputs of a
 * network's first layer (images, which may be negative) are quantized on a symmetric grid over max|x| instead: DoReFa
 * keeps the first layer in float, which FracTrain's cost comparison does not.
 */
export function dorefaActivation(x: tf.Tensor, bits: number): tf.Tensor {
  levelsOf(bits, 'activation bits', 1);
  if (bits >= 32) return x.clone();
  return tf.tidy(() => fakeQuantFixedRange(x, 0, 1, bits, false) ?? quantizeUnit(tf.clipByValue(x, 0, 1), bits));
}

/**
 * DoReFa gradients (Eq. 12): 2 m [quantize_k(dr / (2 m) + 1/2 + N(k)) - 1/2] with m = max|dr| over every axis but
 * the batch axis (one range per example) and N(k) = sigma / (2^k - 1), sigma ~ U(-1/2, 1/2): stochastic rounding on
 * 2^k - 1 steps. Seeded.
 */
export function dorefaGradient(dr: tf.Tensor, bits: number, seed: number): tf.Tensor {
  levelsOf(bits, 'gradient bits', 1);
  if (bits >= 32) return dr.clone();
  return tf.tidy(() => {
    const axes = Array.from({ length: dr.rank - 1 }, (_, i) => i + 1);
    const m = tf.maximum(
      axes.length ? tf.maximum(tf.max(dr, axes, true), tf.neg(tf.min(dr, axes, true))) : tf.abs(dr),
      1e-12,
    );
    const s = 2 ** bits - 1;
    // floor(s v + u) = nearest (ties up) of (dr + m) s / (2m) + (u - 1/2), on the integers 0 .. s: one fused kernel.
    const codes = fakeQuantFixedRange(
      tf.add(tf.mul(tf.add(dr, m), tf.div(s / 2, m)), centredNoise(dr.shape, seed)),
      0,
      s,
      bits,
      false,
    );
    if (codes) return tf.sub(tf.mul(codes, tf.div(tf.mul(m, 2), s)), m);
    const v = tf.add(tf.div(dr, tf.mul(m, 2)), 0.5);
    // round(s v + sigma), sigma ~ U(-1/2, 1/2) = floor(s v + u), u ~ U(0, 1).
    const q = tf.div(tf.clipByValue(tf.floor(tf.add(tf.mul(v, s), roundingNoise(dr.shape, seed))), 0, s), s);
    return tf.mul(tf.mul(m, 2), tf.sub(q, 0.5));
  });
}

/** WAGE's S(k) = 2^(k-1): a k-bit fixed-point number in (-1, 1) has step 1 / S(k). */
function wageScale(bits: number): number {
  return 2 ** (bits - 1);
}

/**
 * WAGE's clipped fixed-point quantizer C(Q(x, k)): round(x S) / S with S = 2^(k-1), clipped to [-1 + 1/S, 1 - 1/S].
 * `stochastic` rounds floor(x S + u), u ~ U(0, 1) (seeded).
 */
export function fixedPoint(
  x: tf.Tensor,
  bits: number,
  rounding: 'nearest' | 'stochastic' = 'nearest',
  seed?: number,
): tf.Tensor {
  levelsOf(bits, 'bits');
  if (bits >= 32) return x.clone();
  if (rounding === 'stochastic' && seed === undefined)
    throw new ConfigError('seed', seed, 'a seed for stochastic rounding');
  const S = wageScale(bits);
  return tf.tidy(() => {
    // The grid (k - S + 1) / S, k = 0 .. 2S - 2, is the narrow 2^k-level grid over [-1 + 1/S, 1 - 1/S]; stochastic
    // rounding floor(x S + u) is nearest rounding of x + (u - 1/2) / S.
    const edge = (S - 1) / S;
    const fused =
      rounding === 'nearest'
        ? fakeQuantFixedRange(x, -edge, edge, bits, true)
        : fakeQuantFixedRange(tf.add(x, tf.mul(centredNoise(x.shape, seed as number), 1 / S)), -edge, edge, bits, true);
    if (fused) return fused;
    const v = tf.mul(x, S);
    const q = rounding === 'nearest' ? tf.round(v) : tf.floor(tf.add(v, roundingNoise(x.shape, seed as number)));
    return tf.div(tf.clipByValue(q, -S + 1, S - 1), S);
  });
}

/** WAGE's power-of-two scale R(x) = 2^round(log2 max|x|) (a shift in hardware); 1 for an all-zero tensor. */
export function shiftScale(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const m = tf.max(tf.abs(x));
    return tf.where(
      tf.greater(m, 0),
      tf.pow(2, tf.round(tf.div(tf.log(tf.maximum(m, 1e-30)), Math.LN2))),
      tf.onesLike(m),
    ) as tf.Scalar;
  });
}

/** WAGEUBN weights: C(Q(w, k_W)), fixed point in (-1, 1). */
export function wageWeight(w: tf.Tensor, bits: number): tf.Tensor {
  return fixedPoint(w, bits, 'nearest');
}

/** WAGEUBN activations: C(Q(x, k_A)), fixed point in (-1, 1) (the network's input: see `QuantConfig.scheme`). */
export function wageActivation(x: tf.Tensor, bits: number): tf.Tensor {
  return fixedPoint(x, bits, 'nearest');
}

/**
 * WAGEUBN errors (the propagated output gradient): e scaled by its power-of-two range R(e), quantized to k_E bits of
 * fixed point and scaled back, R(e) C(Q(e / R(e), k_E)) (WAGEUBN's flag quantization keeps the scale for the update).
 */
export function wageError(e: tf.Tensor, bits: number): tf.Tensor {
  levelsOf(bits, 'error bits');
  if (bits >= 32) return e.clone();
  return tf.tidy(() => {
    const r = shiftScale(e);
    return tf.mul(fixedPoint(tf.div(e, r), bits, 'nearest'), r);
  });
}

/** WAGEUBN weight gradients: R(g) C(SQ(g / R(g), k_G)), stochastic rounding on the fixed-point grid (seeded). */
export function wageGradient(g: tf.Tensor, bits: number, seed: number): tf.Tensor {
  levelsOf(bits, 'gradient bits');
  if (bits >= 32) return g.clone();
  return tf.tidy(() => {
    const r = shiftScale(g);
    return tf.mul(fixedPoint(tf.div(g, r), bits, 'stochastic', seed), r);
  });
}
