import type { LayerSpec, Model } from '../models/spec';
import { type LayerPrecision, FP32 } from '../quant/precision';

/** MACs of the three products of one training step of one layer for one example. */
export interface StepMacs {
  /** Forward: weights x activations. */
  readonly forward: number;
  /** Input gradient (error propagation): output gradient x weights. Not needed for the first layer. */
  readonly inputGrad: number;
  /** Weight gradient: output gradient x activations. */
  readonly weightGrad: number;
}

/** MACs of a training step of `layer` per example. */
export function layerStepMacs(layer: LayerSpec): StepMacs {
  const m = layer.macs;
  if (layer.kind === 'embedding') return { forward: 0, inputGrad: 0, weightGrad: 0 };
  return { forward: m, inputGrad: layer.first ? 0 : m, weightGrad: m };
}

/**
 * Effective MACs (FracTrain's computational cost): MACs x Bit_a / 32 x Bit_b / 32 for each product.
 * Forward: weights x activations; input gradient: output gradient (gradError) x weights; weight
 * gradient: output gradient (gradWeight) x activations (activationWeightGrad).
 */
export function effectiveStepMacs(layer: LayerSpec, p: LayerPrecision): StepMacs {
  const m = layerStepMacs(layer);
  return {
    forward: (m.forward * p.weight * p.activation) / 1024,
    inputGrad: (m.inputGrad * p.gradError * p.weight) / 1024,
    weightGrad: (m.weightGrad * p.gradWeight * p.activationWeightGrad) / 1024,
  };
}

/** How much training: images processed, or iterations x batch size. */
export type TrainingAmount = { readonly images: number } | { readonly iterations: number; readonly batchSize: number };

/** Result of {@link trainingCost}. */
export interface TrainingCost {
  readonly images: number;
  /** Raw MACs of the run by product. */
  readonly macs: StepMacs & { readonly total: number };
  /** Effective MACs (bit-weighted) by product, and their total: the computational cost. */
  readonly effective: StepMacs & { readonly total: number };
  /** Per layer, per image. */
  readonly perLayer: ReadonlyArray<{ readonly layer: string; readonly macs: StepMacs; readonly effective: StepMacs }>;
}

/**
 * Computational cost of a training run (FracTrain, Sec. 4.1): a model, the amount of training and the
 * precision (one setting, or one per layer) give forward, input-gradient and weight-gradient MACs and
 * the effective cost MACs x Bit_a/32 x Bit_b/32. Batch norm, pooling and activations are not counted.
 */
export function trainingCost(
  model: Pick<Model, 'layers'>,
  amount: TrainingAmount,
  precision: LayerPrecision | ((layer: LayerSpec) => LayerPrecision) = FP32,
): TrainingCost {
  const images = 'images' in amount ? amount.images : amount.iterations * amount.batchSize;
  if (!Number.isFinite(images) || images < 0)
    throw new RangeError(`trainingCost: images = ${images}, expected a non-negative number`);
  const pOf = typeof precision === 'function' ? precision : () => precision;
  const perLayer = model.layers.map((l) => ({
    layer: l.name,
    macs: layerStepMacs(l),
    effective: effectiveStepMacs(l, pOf(l)),
  }));
  const sum = (pick: (x: (typeof perLayer)[number]) => StepMacs) => {
    const f = perLayer.reduce((a, x) => a + pick(x).forward, 0) * images;
    const i = perLayer.reduce((a, x) => a + pick(x).inputGrad, 0) * images;
    const w = perLayer.reduce((a, x) => a + pick(x).weightGrad, 0) * images;
    return { forward: f, inputGrad: i, weightGrad: w, total: f + i + w };
  };
  return { images, macs: sum((x) => x.macs), effective: sum((x) => x.effective), perLayer };
}
