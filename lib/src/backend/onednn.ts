import * as tf from '@tensorflow/tfjs-core';

/**
 * The slice of tfjs-node's `tensorflow` backend used here: run any TensorFlow op by name.
 * (tfjs-node types it only as its own class; this is what ecotrain relies on.)
 */
export interface NativeBackend {
  readonly binding: {
    readonly TF_ATTR_TYPE: number;
    readonly TF_ATTR_INT: number;
    readonly TF_ATTR_STRING: number;
    readonly TF_ATTR_BOOL: number;
    readonly TF_ATTR_FLOAT: number;
    readonly TF_FLOAT: number;
    readonly TF_INT32: number;
  };
  executeSingleOutput(name: string, attrs: NativeAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

/** One op attribute for {@link NativeBackend}. */
export interface NativeAttr {
  readonly name: string;
  readonly type: number;
  readonly value: number | string | boolean | number[];
}

/** What {@link registerOneDnnKernels} did. */
export interface OneDnnStatus {
  /** Kernels now running on oneDNN (empty when the library has none). */
  readonly kernels: readonly string[];
  /**
   * oneDNN ops the models call directly rather than through a tfjs kernel: `MaxPool` (the forward pass keeps
   * oneDNN's argmax workspace and the gradient scatters through it; see {@link maxPool2d}).
   */
  readonly ops: readonly string[];
  /** Why a kernel stayed on the stock TensorFlow implementation. */
  readonly fallback: ReadonlyArray<{ readonly kernel: string; readonly reason: string }>;
}

/** The active native backend, or undefined when tfjs runs on another backend. */
export function nativeBackend(): NativeBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  return tf.backend() as unknown as NativeBackend;
}

const MKL = (b: NativeBackend): NativeAttr => ({
  name: '_kernel',
  type: b.binding.TF_ATTR_STRING,
  value: 'MklNameChangeOp',
});

function convAttrs(b: NativeBackend, info: tf.backend_util.Conv2DInfo): NativeAttr[] {
  const p = info.padInfo;
  // SAME padding that pads nothing is VALID (always so for 1x1 kernels). oneDNN's filter gradient of a strided
  // 1x1 convolution is wrong under SAME (relative error 0.56-0.69 measured on 8x8 inputs, stride 2) and exact under VALID.
  const padding =
    p.type === 'SAME' && p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0 ? 'VALID' : p.type;
  const attrs: NativeAttr[] = [
    { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, info.strideHeight, info.strideWidth, 1] },
    { name: 'padding', type: b.binding.TF_ATTR_STRING, value: padding },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'use_cudnn_on_gpu', type: b.binding.TF_ATTR_BOOL, value: false },
    { name: 'dilations', type: b.binding.TF_ATTR_INT, value: [1, info.dilationHeight, info.dilationWidth, 1] },
    MKL(b),
  ];
  if (p.type === 'EXPLICIT') {
    attrs.push({
      name: 'explicit_paddings',
      type: b.binding.TF_ATTR_INT,
      value: [0, 0, p.top, p.bottom, p.left, p.right, 0, 0],
    });
  }
  return attrs;
}

type Attrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function checkLayout(a: Attrs): void {
  if ((a.dataFormat ?? 'NHWC') !== 'NHWC') throw new Error('oneDNN conv kernels: only NHWC is registered');
}

/** oneDNN implementations of the three training convolutions (NHWC, float32), as tfjs kernel functions. */
const KERNELS: Record<
  string,
  (args: { inputs: tf.NamedTensorMap; attrs: Attrs; backend: NativeBackend }) => tf.TensorInfo
> = {
  Conv2D: ({ inputs, attrs, backend }) => {
    checkLayout(attrs);
    const { x, filter } = inputs as { x: tf.Tensor4D; filter: tf.Tensor4D };
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filter.shape,
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    return backend.executeSingleOutput('_MklNativeConv2D', convAttrs(backend, info), [x, filter]);
  },
  DepthwiseConv2dNative: ({ inputs, attrs, backend }) => {
    checkLayout(attrs);
    const { x, filter } = inputs as { x: tf.Tensor4D; filter: tf.Tensor4D };
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filter.shape,
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      true,
      'channelsLast',
    );
    const a = convAttrs(backend, info).filter((t) => t.name !== 'use_cudnn_on_gpu');
    return backend.executeSingleOutput('_MklNativeDepthwiseConv2dNative', a, [x, filter]);
  },
  Conv2DBackpropInput: ({ inputs, attrs, backend }) => {
    checkLayout(attrs);
    const { dy, filter } = inputs as { dy: tf.Tensor4D; filter: tf.Tensor4D };
    const inputShape = (attrs as unknown as { inputShape: [number, number, number, number] }).inputShape;
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const sizes = tf.tensor1d(info.inShape, 'int32');
    try {
      return backend.executeSingleOutput('_MklNativeConv2DBackpropInput', convAttrs(backend, info), [
        sizes,
        filter,
        dy,
      ]);
    } finally {
      sizes.dispose();
    }
  },
  Conv2DBackpropFilter: ({ inputs, attrs, backend }) => {
    checkLayout(attrs);
    const { x, dy } = inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
    const filterShape = (attrs as unknown as { filterShape: [number, number, number, number] }).filterShape;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    // TF 2.21's oneDNN filter gradient of strided 1x1 convolutions is wrong (relative error 0.56-0.69 on 8x8
    // inputs at stride 2, SAME or VALID): those stay on the stock kernel (models subsample first anyway).
    if (info.filterHeight === 1 && info.filterWidth === 1 && (info.strideHeight > 1 || info.strideWidth > 1)) {
      return (stock.get('Conv2DBackpropFilter') as tf.KernelConfig).kernelFunc({
        inputs,
        attrs: attrs as unknown as tf.NamedAttrMap,
        backend: backend as unknown as tf.KernelBackend,
      }) as tf.TensorInfo;
    }
    const sizes = tf.tensor1d(info.filterShape, 'int32');
    try {
      return backend.executeSingleOutput('_MklNativeConv2DBackpropFilter', convAttrs(backend, info), [x, sizes, dy]);
    } finally {
      sizes.dispose();
    }
  },
};

let status: OneDnnStatus | undefined;
const stock = new Map<string, tf.KernelConfig>();

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(
    () =>
      (tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number) /
      Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0] as number),
  );
}

/**
 * Re-registers the tensorflow backend's Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter and DepthwiseConv2dNative
 * (forward; TensorFlow 2.21 has no oneDNN depthwise gradients) kernels to run TensorFlow's oneDNN implementations
 * (`_MklNative*` ops), so every tfjs convolution in the process uses them.
 * Each kernel is first probed on small shapes (including a strided 1x1 and an odd batch) against the stock
 * kernel; a kernel whose oneDNN op is missing (tfjs-node's own libtensorflow, other builds) or disagrees stays
 * on the stock implementation, with the reason recorded. Idempotent; a no-op on other backends.
 */
export function registerOneDnnKernels(): OneDnnStatus {
  const b = nativeBackend();
  if (!b)
    return {
      kernels: [],
      ops: [],
      fallback: [{ kernel: '*', reason: `backend is ${tf.getBackend()}, not tensorflow` }],
    };
  if (status) return status;
  const kernels: string[] = [];
  const fallback: Array<{ kernel: string; reason: string }> = [];
  const probes: Array<{
    x: [number, number, number, number];
    w: [number, number, number, number];
    stride: number;
    pad: 'same' | 'valid';
  }> = [
    { x: [3, 9, 9, 5], w: [3, 3, 5, 4], stride: 1, pad: 'same' },
    { x: [7, 8, 8, 4], w: [1, 1, 4, 6], stride: 2, pad: 'same' },
    { x: [25, 8, 8, 4], w: [1, 1, 4, 6], stride: 1, pad: 'same' },
    { x: [7, 8, 8, 4], w: [3, 3, 4, 6], stride: 2, pad: 'same' },
    { x: [2, 7, 7, 3], w: [3, 3, 3, 2], stride: 2, pad: 'valid' },
    { x: [5, 12, 12, 2], w: [5, 5, 2, 3], stride: 1, pad: 'valid' },
  ];
  for (const name of Object.keys(KERNELS)) {
    const cfg = tf.getKernel(name, 'tensorflow');
    if (!cfg) {
      fallback.push({ kernel: name, reason: 'no stock kernel registered' });
      continue;
    }
    const run = KERNELS[name] as (typeof KERNELS)[string];
    stock.set(name, cfg);
    try {
      for (const p of probes) {
        const worst = tf.tidy(() => {
          const x = tf.randomNormal(p.x, 0, 1, 'float32', 1) as tf.Tensor4D;
          const w = tf.randomNormal(p.w, 0, 1, 'float32', 2) as tf.Tensor4D;
          const depthwise = name === 'DepthwiseConv2dNative';
          const wd = depthwise ? (tf.randomNormal([p.w[0], p.w[1], p.x[3], 1], 0, 1, 'float32', 2) as tf.Tensor4D) : w;
          const y = depthwise ? tf.depthwiseConv2d(x, wd, p.stride, p.pad) : tf.conv2d(x, w, p.stride, p.pad);
          const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
          const attrs = {
            strides: p.stride,
            pad: p.pad,
            dataFormat: 'NHWC',
            dilations: 1,
            inputShape: x.shape,
            filterShape: w.shape,
          } as unknown as Attrs;
          const inputs: tf.NamedTensorMap =
            name === 'Conv2D'
              ? { x, filter: w }
              : depthwise
                ? { x, filter: wd }
                : name === 'Conv2DBackpropInput'
                  ? { dy, filter: w }
                  : { x, dy };
          const mine = tf.engine().makeTensorFromTensorInfo(run({ inputs, attrs, backend: b }));
          const theirs = tf.engine().makeTensorFromTensorInfo(
            cfg.kernelFunc({
              inputs,
              attrs: attrs as unknown as tf.NamedAttrMap,
              backend: b as unknown as tf.KernelBackend,
            }) as tf.TensorInfo,
          );
          return maxRelDiff(mine, theirs);
        });
        if (!(worst < 1e-4))
          throw new Error(
            `differs from the stock kernel by ${worst} (relative) on x [${p.x}], w [${p.w}], stride ${p.stride}`,
          );
      }
      tf.unregisterKernel(name, 'tensorflow');
      tf.registerKernel({ kernelName: name, backendName: 'tensorflow', kernelFunc: run as unknown as tf.KernelFunc });
      kernels.push(name);
    } catch (err) {
      stock.delete(name);
      fallback.push({
        kernel: name,
        reason: (err instanceof Error ? err.message : String(err)).split('\n')[0] as string,
      });
    }
  }
  const ops: string[] = [];
  try {
    probeMaxPool(b);
    ops.push('MaxPool');
  } catch (err) {
    fallback.push({
      kernel: 'MaxPool',
      reason: (err instanceof Error ? err.message : String(err)).split('\n')[0] as string,
    });
  }
  status = { kernels, ops, fallback };
  return status;
}

function poolAttrs(b: NativeBackend, size: number, stride: number, pad: 'valid' | 'same'): NativeAttr[] {
  return [
    { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    { name: 'ksize', type: b.binding.TF_ATTR_INT, value: [1, size, size, 1] },
    { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, stride, stride, 1] },
    { name: 'padding', type: b.binding.TF_ATTR_STRING, value: pad === 'same' ? 'SAME' : 'VALID' },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'workspace_enabled', type: b.binding.TF_ATTR_BOOL, value: true },
    MKL(b),
  ];
}

/**
 * oneDNN max pooling whose forward pass keeps the argmax workspace (uint8, held by tfjs as an opaque tensor that is
 * never read on the host) and whose gradient scatters through it. TensorFlow's stock `MaxPoolGrad` recomputes the
 * argmax and took a third of a CifarNet training step (14 of 41 ms at batch 64, 215 of 830 ms at 1,250).
 */
function maxPoolWithWorkspace(
  b: NativeBackend,
  x: tf.Tensor4D,
  size: number,
  stride: number,
  pad: 'valid' | 'same',
): tf.Tensor4D {
  const attrs = poolAttrs(b, size, stride, pad);
  const [y0, workspace] = b.executeMultipleOutputs('_MklNativeMaxPool', attrs, [x], 2) as [tf.Tensor4D, tf.Tensor];
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    // Only saved tensors outlive the forward pass of a gradient scope (saving a tensor only adds a reference).
    (args[1] as tf.GradSaveFunc)([args[0] as tf.Tensor, y0, workspace]);
    return {
      value: tf.clone(y0),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        b.executeSingleOutput('_MklNativeMaxPoolGrad', attrs, [
          saved[0] as tf.Tensor,
          saved[1] as tf.Tensor,
          dy,
          saved[2] as tf.Tensor,
        ]),
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  const y = op(x) as tf.Tensor4D;
  tf.dispose([y0, workspace]);
  return y;
}

/** Checks oneDNN max pooling, forward and gradient, against the stock kernels on small shapes; throws on a mismatch. */
function probeMaxPool(b: NativeBackend): void {
  const cases: Array<{ x: [number, number, number, number]; size: number; stride: number; pad: 'valid' | 'same' }> = [
    { x: [3, 9, 9, 5], size: 3, stride: 2, pad: 'valid' },
    { x: [7, 8, 8, 4], size: 3, stride: 2, pad: 'same' },
    { x: [5, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
    { x: [2, 11, 11, 6], size: 3, stride: 1, pad: 'same' },
  ];
  for (const c of cases) {
    const [fwd, grad] = tf.tidy(() => {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 4) as tf.Tensor4D;
      const dy = tf.randomNormal(tf.maxPool(x, c.size, c.stride, c.pad).shape, 0, 1, 'float32', 5);
      const run = (pool: (v: tf.Tensor4D) => tf.Tensor4D) => {
        const g = tf.valueAndGrad((v: tf.Tensor) => tf.sum(tf.mul(pool(v as tf.Tensor4D), dy)))(x);
        return [pool(x), g.grad];
      };
      const [y1, g1] = run((v) => maxPoolWithWorkspace(b, v, c.size, c.stride, c.pad));
      const [y2, g2] = run((v) => tf.maxPool(v, c.size, c.stride, c.pad));
      return [maxRelDiff(y1 as tf.Tensor, y2 as tf.Tensor), maxRelDiff(g1 as tf.Tensor, g2 as tf.Tensor)];
    });
    if (!(fwd === 0 && grad < 1e-5))
      throw new Error(
        `oneDNN max pooling differs from the stock kernels (forward ${fwd}, gradient ${grad}, relative) on x [${c.x}], size ${c.size}, stride ${c.stride}, ${c.pad}`,
      );
  }
}

/**
 * Max pooling (NHWC, float32, square window and stride): on oneDNN with its argmax workspace when
 * {@link registerOneDnnKernels} found it working, else `tf.maxPool`. Same values; the gradient equals the stock one
 * up to the summation order of overlapping windows (relative difference below 1e-5), and a window whose maximum is
 * tied may route its gradient to another of the tied elements.
 */
export function maxPool2d(x: tf.Tensor4D, size: number, stride: number, pad: 'valid' | 'same'): tf.Tensor4D {
  const b = nativeBackend();
  return b && status?.ops.includes('MaxPool')
    ? maxPoolWithWorkspace(b, x, size, stride, pad)
    : tf.maxPool(x, size, stride, pad);
}

/** Puts the stock kernels back (for before/after measurements and equivalence tests). */
export function unregisterOneDnnKernels(): void {
  for (const [name, cfg] of stock) {
    tf.unregisterKernel(name, 'tensorflow');
    tf.registerKernel(cfg);
  }
  stock.clear();
  status = undefined;
}

/** What {@link registerOneDnnKernels} last did (undefined before it ran). */
export function oneDnnStatus(): OneDnnStatus | undefined {
  return status;
}
