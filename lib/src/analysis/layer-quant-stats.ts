import * as tf from '@tensorflow/tfjs-core';
import type { LayerSpec, Model } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import { quantize, type RangeMode } from '../quant/quantizers';
import { quantStats, type QuantStats } from '../quant/stats';

/** Quantization statistics of one layer's weights and input activations. */
export interface LayerQuantStats {
  readonly layer: string;
  readonly weightBits: number;
  readonly activationBits: number;
  readonly weights: QuantStats;
  readonly activations: QuantStats;
}

/**
 * Per-layer quantization noise (SNR), clipping rate and zero fraction of the weights and of the input
 * activations of a float forward pass on `x`, if each layer were quantized at `precision(layer)`.
 */
export function layerQuantStats(
  model: Model,
  x: tf.Tensor,
  precision: (layer: LayerSpec) => LayerPrecision,
  ranges: { activation: RangeMode; weight: RangeMode } = { activation: 'sample-mean', weight: 'channel' },
): LayerQuantStats[] {
  const out: LayerQuantStats[] = [];
  tf.tidy(() => {
    model.apply(x, {
      training: false,
      observe: (layer, input) => {
        if (layer.kind === 'embedding' || layer.kind === 'lstm') return;
        const p = precision(layer);
        const w = model.params.get(layer.weight);
        const step = (t: tf.Tensor, bits: number, range: RangeMode) => {
          if (bits >= 32) return 0;
          const axes =
            range === 'tensor'
              ? undefined
              : Array.from({ length: t.rank - 1 }, (_, i) => (range === 'channel' ? i : i + 1));
          const m = axes
            ? range === 'channel'
              ? tf.min(tf.max(tf.abs(t), axes))
              : tf.mean(tf.max(tf.abs(t), axes))
            : tf.max(tf.abs(t));
          return (m.dataSync()[0] as number) / (2 ** (bits - 1) - 1);
        };
        out.push({
          layer: layer.name,
          weightBits: p.weight,
          activationBits: p.activation,
          weights: quantStats(
            w,
            quantize(w, { bits: p.weight, range: ranges.weight }),
            step(w, p.weight, ranges.weight),
          ),
          activations: quantStats(
            input,
            quantize(input, { bits: p.activation, range: ranges.activation }),
            step(input, p.activation, ranges.activation),
          ),
        });
      },
    });
  });
  return out;
}
