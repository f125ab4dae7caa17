import * as tf from '@tensorflow/tfjs-core';

let registered = false;

/**
 * The wasm backend has no `Conv2DBackpropFilter` kernel, so `Conv2D` cannot be trained on it.
 * This replaces the `Conv2D` gradient with one whose weight gradient is itself a convolution:
 * with x padded and transposed to [Cin, H, W, N] and dy transposed to [OH, OW, N, Cout], a
 * stride-1 convolution dilated by the forward stride contracts over the batch and gives
 * [Cin, KH, KW, Cout], transposed to the filter layout [KH, KW, Cin, Cout].
 * Registered only when the wasm backend is chosen (gradients are registered per kernel name).
 */
export function registerWasmConvFilterGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = dy as tf.Tensor4D;
      const a = attrs as unknown as tf.Conv2DAttrs;
      if (a.dataFormat !== 'NHWC')
        throw new Error(`wasm Conv2D gradient: dataFormat ${a.dataFormat} unsupported, expected NHWC`);
      return {
        x: () =>
          tf.engine().runKernel(
            tf.Conv2DBackpropInput,
            { dy: g, filter } as unknown as tf.NamedTensorMap,
            {
              strides: a.strides,
              pad: a.pad,
              dataFormat: a.dataFormat,
              dimRoundingMode: a.dimRoundingMode,
              inputShape: x.shape,
            } as unknown as tf.NamedAttrMap,
          ) as tf.Tensor,
        filter: () => conv2dFilterGradient(x, g, filter.shape, a),
      };
    },
  });
}

/** Weight gradient of an NHWC `conv2d` computed with a dilated convolution (see above). */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: Pick<tf.Conv2DAttrs, 'strides' | 'pad' | 'dilations' | 'dimRoundingMode'>,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape,
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
      throw new Error('wasm Conv2D gradient: dilated forward convolutions are not supported');
    }
    const [kh, kw] = [info.filterHeight, info.filterWidth];
    const p = info.padInfo;
    const xp = tf.pad(x, [
      [0, 0],
      [p.top, p.bottom],
      [p.left, p.right],
      [0, 0],
    ]);
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const r = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]);
    const cropped = tf.slice(r, [0, 0, 0, 0], [-1, kh, kw, -1]);
    return tf.transpose(cropped, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}
