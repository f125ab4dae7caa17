import type { LayerSpec } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import { dramEnergy, sramEnergy, type EnergyProfile } from './energy';

/** Bits moved by one training step of one layer for a batch, by tensor. */
export interface LayerTraffic {
  readonly weights: number;
  readonly activations: number;
  readonly gradients: number;
}

/** Options of the data-movement model. */
export interface MovementOptions {
  /** On-chip buffer size in bytes: a tensor that fits is served from SRAM, a larger one from DRAM. */
  readonly bufferBytes: number;
  readonly dram?: 'low' | 'mid' | 'high';
}

function perExample(shape: readonly number[]): number {
  return shape.reduce((a, v) => a * v, 1);
}

/**
 * Bits read and written by one training step of `layer` on `examples` inputs at precision `p`:
 * forward reads weights (p.weight) and input activations (p.activation) and writes outputs;
 * backward reads the output gradient twice (gradError, gradWeight), the weights again, the saved
 * activations (activationWeightGrad), and writes the input gradient and the weight gradient.
 * Outputs and gradients are written at the gradient or activation width of the layer.
 */
export function layerTraffic(layer: LayerSpec, examples: number, p: LayerPrecision, training = true): LayerTraffic {
  const inSize = perExample(layer.inShape) * examples;
  const outSize = perExample(layer.outShape) * examples;
  const w = layer.weightCount;
  const fwdAct = inSize * p.activation + outSize * p.activation;
  if (!training) return { weights: w * p.weight, activations: fwdAct, gradients: 0 };
  return {
    weights: w * p.weight * 2,
    activations: fwdAct + inSize * p.activationWeightGrad,
    gradients: outSize * (p.gradError + p.gradWeight) + (layer.first ? 0 : inSize * p.gradError) + w * p.gradWeight,
  };
}

/**
 * Energy of moving {@link layerTraffic}: each tensor whose size fits in the buffer is charged at the
 * SRAM energy of that buffer size, a larger one at DRAM energy (a simple, documented split; it does
 * not model tiling or reuse). `backward` says which backward products run (default both): a frozen layer
 * moves nothing for a product it skips.
 */
export function trafficEnergy(
  layer: LayerSpec,
  examples: number,
  p: LayerPrecision,
  profile: EnergyProfile,
  opts: MovementOptions,
  training = true,
  backward?: { readonly inputGrad: boolean; readonly weightGrad: boolean },
): { sram: number; dram: number } {
  const inBits = perExample(layer.inShape) * examples;
  const outBits = perExample(layer.outShape) * examples;
  // Which backward products run (frozen layers in fine-tuning skip some or all of them).
  const dx = training && (backward?.inputGrad ?? true);
  const dw = training && (backward?.weightGrad ?? true);
  const parts: Array<[number, number]> = [];
  const t = (elements: number, bits: number) => parts.push([elements, bits]);
  t(layer.weightCount, p.weight * (dx ? 2 : 1));
  t(inBits, p.activation + (dw ? p.activationWeightGrad : 0));
  t(outBits, p.activation);
  if (dx || dw) t(outBits, (dx ? p.gradError : 0) + (dw ? p.gradWeight : 0));
  if (dx && !layer.first) t(inBits, p.gradError);
  if (dw) t(layer.weightCount, p.gradWeight);
  return splitTraffic(parts, 1, profile, opts);
}

/**
 * SRAM and DRAM energy of moving `fraction` of each tensor (elements, bits): a tensor whose whole size fits in the
 * buffer is charged at the SRAM energy of that buffer size, a larger one at DRAM energy.
 */
function splitTraffic(
  parts: ReadonlyArray<readonly [number, number]>,
  fraction: number,
  profile: EnergyProfile,
  opts: MovementOptions,
): { sram: number; dram: number } {
  let sram = 0;
  let dram = 0;
  for (const [elements, bits] of parts) {
    const total = elements * bits * fraction;
    if ((elements * Math.max(bits, 1)) / 8 <= opts.bufferBytes) sram += sramEnergy(profile, total, opts.bufferBytes);
    else dram += dramEnergy(profile, total, opts.dram ?? 'mid');
  }
  return { sram, dram };
}

/**
 * Data movement of a partial weight-gradient recomputation (PSG's fallback, Eq. 2): the `fraction` of weight-gradient
 * elements whose sign the MSB predictor leaves undecided are recomputed at full precision, which needs the low-order
 * bits the predictor did not read: `extraActivationBits` of every input activation and `extraGradientBits` of every
 * output gradient, for that fraction (a dense-layout model: the fallback elements are spread over the layer, so their
 * operands are read in proportion). The split between SRAM and DRAM follows {@link trafficEnergy}.
 */
export function fallbackTrafficEnergy(
  layer: LayerSpec,
  examples: number,
  fraction: number,
  extraActivationBits: number,
  extraGradientBits: number,
  profile: EnergyProfile,
  opts: MovementOptions,
): { sram: number; dram: number } {
  if (!(fraction >= 0 && fraction <= 1))
    throw new RangeError(`fallback fraction = ${fraction} is invalid: expected a fraction in [0, 1]`);
  const parts: Array<[number, number]> = [
    [perExample(layer.inShape) * examples, extraActivationBits],
    [perExample(layer.outShape) * examples, extraGradientBits],
  ];
  return splitTraffic(parts, fraction, profile, opts);
}
