import * as tf from '@tensorflow/tfjs-core';

/** Quantization error statistics of one tensor. */
export interface QuantStats {
  /** Signal-to-quantization-noise ratio in dB: 10 log10(sum x^2 / sum (x - q)^2). */
  readonly snrDb: number;
  /** Fraction of elements whose value was clipped to the range edge (|x - q| > one step). */
  readonly clipRate: number;
  /** Fraction of quantized elements equal to zero. */
  readonly zeroFraction: number;
}

/** Statistics of quantizing `x` to `q` with grid step `step` (for clipping). */
export function quantStats(x: tf.Tensor, q: tf.Tensor, step?: number): QuantStats {
  const [signal, noise, clipped, zeros] = tf.tidy(() => {
    const err = tf.sub(x, q);
    return [
      tf.sum(tf.square(x)).dataSync()[0] as number,
      tf.sum(tf.square(err)).dataSync()[0] as number,
      step === undefined ? 0 : (tf.sum(tf.cast(tf.greater(tf.abs(err), step), 'float32')).dataSync()[0] as number),
      tf.sum(tf.cast(tf.equal(q, 0), 'float32')).dataSync()[0] as number,
    ];
  });
  const n = x.size;
  return {
    snrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
    clipRate: clipped / n,
    zeroFraction: zeros / n,
  };
}
