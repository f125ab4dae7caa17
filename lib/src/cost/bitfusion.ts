import { ConfigError } from '../errors';
import type { LayerSpec } from '../models/spec';
import type { LayerPrecision } from '../quant/precision';
import { layerStepMacs } from './macs';

/** A bit-flexible accelerator in the style of BitFusion (Sharma et al., ISCA 2018). */
export interface BitFusionConfig {
  /** Number of 2-bit x 2-bit BitBricks. */
  readonly bricks: number;
  readonly clockHz: number;
  /** Off-chip bandwidth in bytes per second. */
  readonly dramBytesPerSecond: number;
  /** Energy of one BitBrick operation in pJ. */
  readonly brickEnergyPJ: number;
}

/** Defaults close to the published BitFusion configuration (45 nm, 500 MHz, 16x32 fusion units of 16 bricks). */
export const BITFUSION_45NM: BitFusionConfig = {
  bricks: 8192,
  clockHz: 500e6,
  dramBytesPerSecond: 25.6e9,
  brickEnergyPJ: 0.2 / 16,
};

/** BitBricks (2x2-bit) needed by one a-bit x b-bit MAC: ceil(a/2) * ceil(b/2); float32 is treated as 32 x 32 bits. */
export function bricksPerMac(a: number, b: number): number {
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b < 1 || a > 32 || b > 32)
    throw new ConfigError('operand bits', [a, b], 'integers in 1..32');
  return Math.ceil(a / 2) * Math.ceil(b / 2);
}

/** Latency and energy of one product on the accelerator. */
export interface ProductCost {
  readonly seconds: number;
  readonly computeSeconds: number;
  readonly memorySeconds: number;
  readonly bound: 'compute' | 'bandwidth';
  readonly energyPJ: number;
}

function product(macs: number, a: number, b: number, bytes: number, cfg: BitFusionConfig): ProductCost {
  const brickOps = macs * bricksPerMac(a, b);
  const computeSeconds = brickOps / cfg.bricks / cfg.clockHz;
  const memorySeconds = bytes / cfg.dramBytesPerSecond;
  return {
    seconds: Math.max(computeSeconds, memorySeconds),
    computeSeconds,
    memorySeconds,
    bound: computeSeconds >= memorySeconds ? 'compute' : 'bandwidth',
    energyPJ: brickOps * cfg.brickEnergyPJ,
  };
}

/**
 * The three convolutions of a training step of `layer` on `examples` inputs, run one after the other
 * (as FracTrain evaluates with BitFusion): each costs brick operations = MACs x bricks per MAC, and
 * takes max(compute time, bytes moved / bandwidth).
 */
export function bitFusionStep(
  layer: LayerSpec,
  examples: number,
  p: LayerPrecision,
  cfg: BitFusionConfig = BITFUSION_45NM,
  backward?: { readonly inputGrad: boolean; readonly weightGrad: boolean },
): { forward: ProductCost; inputGrad: ProductCost; weightGrad: ProductCost; seconds: number; energyPJ: number } {
  const all = layerStepMacs(layer);
  // A product a frozen layer skips costs neither time nor traffic.
  const m = {
    forward: all.forward,
    inputGrad: backward?.inputGrad === false ? 0 : all.inputGrad,
    weightGrad: backward?.weightGrad === false ? 0 : all.weightGrad,
  };
  const inEl = layer.inShape.reduce((a, v) => a * v, 1) * examples;
  const outEl = layer.outShape.reduce((a, v) => a * v, 1) * examples;
  const w = layer.weightCount;
  const forward = product(
    m.forward * examples,
    p.weight,
    p.activation,
    (w * p.weight + inEl * p.activation + outEl * p.activation) / 8,
    cfg,
  );
  const inputGrad = product(
    m.inputGrad * examples,
    p.gradError,
    p.weight,
    m.inputGrad ? (w * p.weight + outEl * p.gradError + inEl * p.gradError) / 8 : 0,
    cfg,
  );
  const weightGrad = product(
    m.weightGrad * examples,
    p.gradWeight,
    p.activationWeightGrad,
    m.weightGrad ? (inEl * p.activationWeightGrad + outEl * p.gradWeight + w * p.gradWeight) / 8 : 0,
    cfg,
  );
  return {
    forward,
    inputGrad,
    weightGrad,
    seconds: forward.seconds + inputGrad.seconds + weightGrad.seconds,
    energyPJ: forward.energyPJ + inputGrad.energyPJ + weightGrad.energyPJ,
  };
}
