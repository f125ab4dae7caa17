import * as tf from '@tensorflow/tfjs-core';
import { nativeBackend, type NativeAttr, type NativeBackend } from './onednn';

/**
 * Fused TensorFlow ops reached through the native backend: batch normalisation (`FusedBatchNormV3` and its
 * gradient) and the ReLU gradient (`ReluGrad`), each one kernel where tfjs would launch a chain of elementwise
 * ops. Used by the models when the backend is `tensorflow` and {@link setFusedOps} has not turned them off.
 */
let enabled = true;

/** Turns the fused native ops on or off (for before/after measurements and equivalence tests). */
export function setFusedOps(on: boolean): void {
  enabled = on;
}

/** The native backend when fused ops are on and available. */
export function fusedBackend(): NativeBackend | undefined {
  return enabled ? nativeBackend() : undefined;
}

/** Attributes of FusedBatchNormV3 (with its averaging factor) or FusedBatchNormGradV3 (factor undefined: it has none). */
function bnAttrs(b: NativeBackend, eps: number, factor: number | undefined): NativeAttr[] {
  return [
    { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    { name: 'U', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: eps },
    ...(factor !== undefined ? [{ name: 'exponential_avg_factor', type: b.binding.TF_ATTR_FLOAT, value: factor }] : []),
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
}

/**
 * Training-mode batch norm over N, H, W in one fused kernel, with the fused gradient: y, the batch mean and the
 * batch variance with Bessel's correction (n / (n - 1), as running averages use); with `running`, the returned
 * mean and variance are instead the running averages (1 - factor) * running + factor * batch, folded in by the
 * same kernel. Call inside a gradient scope or `tf.tidy`.
 */
export function fusedBatchNormTrain(
  b: NativeBackend,
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  running?: { mean: tf.Tensor1D; variance: tf.Tensor1D; factor: number },
): { y: tf.Tensor4D; mean: tf.Tensor1D; varianceUnbiased: tf.Tensor1D } {
  const empty = tf.tensor1d([], 'float32');
  const inputs = running ? [x, gamma, beta, running.mean, running.variance] : [x, gamma, beta, empty, empty];
  const [y0, mean, variance, r1, r2, r3] = b.executeMultipleOutputs(
    'FusedBatchNormV3',
    bnAttrs(b, eps, running?.factor ?? 1),
    inputs,
    6,
  ) as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor, tf.Tensor, tf.Tensor];
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, g] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    // Only saved tensors outlive the forward pass of a gradient scope.
    (args[3] as tf.GradSaveFunc)([xi, g, r1, r2, r3]);
    return {
      value: tf.clone(y0),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dg, db] = b.executeMultipleOutputs(
          'FusedBatchNormGradV3',
          bnAttrs(b, eps, undefined),
          [dy, ...saved],
          5,
        );
        return [dx as tf.Tensor, dg as tf.Tensor, db as tf.Tensor];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta) as tf.Tensor4D;
  y0.dispose();
  return { y, mean, varianceUnbiased: variance };
}

/** `dy * [y > 0]` in one kernel (TensorFlow's `ReluGrad`). */
export function reluGrad(b: NativeBackend, dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return b.executeSingleOutput(
    'ReluGrad',
    [{ name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT }],
    [dy, y],
  );
}
