import { ConfigError } from '../errors';

/**
 * Bit widths of one layer's training step (FracTrain notation "FW-a/BW-b": weights and activations
 * at a bits, gradients at b bits). 32 means float32 (no quantization).
 */
export interface LayerPrecision {
  /** Forward weights. */
  readonly weight: number;
  /** Forward activations (the layer input). */
  readonly activation: number;
  /** Output gradient used for error propagation (input gradient). */
  readonly gradError: number;
  /** Output gradient used for the weight gradient. */
  readonly gradWeight: number;
  /** Activations used for the weight gradient. */
  readonly activationWeightGrad: number;
}

/** float32 everywhere. */
export const FP32: LayerPrecision = {
  weight: 32,
  activation: 32,
  gradError: 32,
  gradWeight: 32,
  activationWeightGrad: 32,
};

/** Checks a bit width (1..32), naming `field` in the error. */
export function checkBits(bits: number, field: string): number {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32)
    throw new ConfigError(field, bits, 'an integer bit width in 1..32');
  return bits;
}

/** FW-a/BW-b: weights and activations at `fw` bits, all gradients at `bw` bits. */
export function fwbw(fw: number, bw: number): LayerPrecision {
  checkBits(fw, 'FW bits');
  checkBits(bw, 'BW bits');
  return { weight: fw, activation: fw, gradError: bw, gradWeight: bw, activationWeightGrad: fw };
}

/** Parses "FW-8/BW-16" (or "fp32"); throws a ConfigError naming the text. */
export function parsePrecision(text: string): LayerPrecision {
  if (/^fp32$/i.test(text.trim())) return FP32;
  const m = /^\s*FW-(\d+)\s*\/\s*BW-(\d+)\s*$/i.exec(text);
  if (!m) throw new ConfigError('precision', text, '"FW-<bits>/BW-<bits>" (e.g. "FW-8/BW-16") or "fp32"');
  return fwbw(Number(m[1]), Number(m[2]));
}

/** "FW-a/BW-b" when weights/activations and gradients are uniform, else the full list. */
export function formatPrecision(p: LayerPrecision): string {
  if (p.weight === 32 && p.activation === 32 && p.gradError === 32 && p.gradWeight === 32) return 'FP32';
  if (p.weight === p.activation && p.activation === p.activationWeightGrad && p.gradError === p.gradWeight)
    return `FW-${p.weight}/BW-${p.gradError}`;
  return `W${p.weight}/A${p.activation}/GE${p.gradError}/GW${p.gradWeight}/AW${p.activationWeightGrad}`;
}

/** Validates every field of a {@link LayerPrecision}. */
export function checkPrecision(p: LayerPrecision, field = 'precision'): LayerPrecision {
  for (const k of ['weight', 'activation', 'gradError', 'gradWeight', 'activationWeightGrad'] as const)
    checkBits(p[k], `${field}.${k}`);
  return p;
}

const PRECISION_FIELDS = ['weight', 'activation', 'gradError', 'gradWeight', 'activationWeightGrad'] as const;

/** Field-by-field minimum of two precisions (the fewer bits win); undefined stands for float32. */
export function minPrecision(a: LayerPrecision | undefined, b: LayerPrecision | undefined): LayerPrecision | undefined {
  if (!a) return b;
  if (!b) return a;
  const out = {} as Record<(typeof PRECISION_FIELDS)[number], number>;
  for (const f of PRECISION_FIELDS) out[f] = Math.min(a[f], b[f]);
  return out;
}
