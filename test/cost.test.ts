import { describe, expect, it } from 'vitest';
import {
  addEnergy,
  dramEnergy,
  energyProfile,
  HOROWITZ_45NM,
  macEnergy,
  multiplyEnergy,
  registerProfile,
  saving,
} from '../lib/src/cost/energy';
import { effectiveStepMacs, layerStepMacs, trainingCost } from '../lib/src/cost/macs';
import { bitFusionStep, bricksPerMac } from '../lib/src/cost/bitfusion';
import { fallbackTrafficEnergy, layerTraffic, trafficEnergy } from '../lib/src/cost/movement';
import { EnergyLedger } from '../lib/src/cost/ledger';
import type { LayerSpec } from '../lib/src/models/spec';
import { FP32, fwbw } from '../lib/src/quant/precision';
import { ConfigError } from '../lib/src/errors';

const conv: LayerSpec = {
  name: 'c',
  kind: 'conv',
  inShape: [4, 4, 2],
  outShape: [4, 4, 3],
  weight: 'c/w',
  weightCount: 54,
  macs: 4 * 4 * 3 * 9 * 2,
  first: false,
};
const first: LayerSpec = { ...conv, name: 'stem', first: true };

describe('energy profiles (Horowitz, ISSCC 2014, 45 nm)', () => {
  it('holds the published per-operation energies', () => {
    const p = energyProfile();
    expect(p.add).toEqual({ int8: 0.03, int16: 0.05, int32: 0.1, fp16: 0.4, fp32: 0.9 });
    expect(p.multiply).toEqual({ int8: 0.2, int32: 3.1, fp16: 1.1, fp32: 3.7 });
    expect(p.dram64).toEqual({ low: 1300, high: 2600 });
  });
  it('gives the E²-Train savings of 8-bit over 32-bit float: multiply 95%, add 97%, data movement 75%', () => {
    expect(saving(multiplyEnergy(HOROWITZ_45NM, 8, 8), multiplyEnergy(HOROWITZ_45NM, 32, 32))).toBeCloseTo(0.946, 3);
    expect(saving(addEnergy(HOROWITZ_45NM, 8), addEnergy(HOROWITZ_45NM, 32, true))).toBeCloseTo(0.967, 3);
    expect(saving(dramEnergy(HOROWITZ_45NM, 8), dramEnergy(HOROWITZ_45NM, 32))).toBe(0.75);
  });
  it('scales multipliers with a*b and adders linearly between listed widths', () => {
    expect(multiplyEnergy(HOROWITZ_45NM, 4, 4)).toBeCloseTo(0.05, 10);
    expect(multiplyEnergy(HOROWITZ_45NM, 8, 16)).toBeCloseTo(0.4, 10);
    expect(addEnergy(HOROWITZ_45NM, 4)).toBeCloseTo(0.015, 10);
    expect(macEnergy(HOROWITZ_45NM, 32, 32)).toBeCloseTo(4.6, 10);
    expect(macEnergy(HOROWITZ_45NM, 8, 8)).toBeCloseTo(0.3, 10);
    // A product with a float operand is a float product (FW-8/BW-32's gradient products).
    expect(macEnergy(HOROWITZ_45NM, 32, 8)).toBeCloseTo(4.6, 10);
    expect(macEnergy(HOROWITZ_45NM, 8, 32)).toBeCloseTo(4.6, 10);
  });
  it('accepts user profiles and rejects incomplete ones by name', () => {
    const mine = registerProfile({ ...HOROWITZ_45NM, name: 'mine', multiply: { int8: 0.1, fp32: 2 } });
    expect(energyProfile('mine')).toBe(mine);
    expect(() => registerProfile({ ...HOROWITZ_45NM, name: 'bad', add: { int8: 0.03 } })).toThrowError(
      /profile bad: add\.fp32/,
    );
    expect(() => energyProfile('nope')).toThrowError(ConfigError);
  });
});

describe('MACs and FracTrain computational cost', () => {
  it('counts three products per training step; the first layer has no input gradient', () => {
    expect(layerStepMacs(conv)).toEqual({ forward: 864, inputGrad: 864, weightGrad: 864 });
    expect(layerStepMacs(first)).toEqual({ forward: 864, inputGrad: 0, weightGrad: 864 });
  });
  it('effective MACs = MACs x Bit_a/32 x Bit_b/32 per product', () => {
    expect(effectiveStepMacs(conv, fwbw(8, 16))).toEqual({
      forward: 864 / 16,
      inputGrad: 864 / 8,
      weightGrad: 864 / 8,
    });
  });
  it('sums over a run given images or iterations x batch size', () => {
    const model = { layers: [first, conv] };
    const a = trainingCost(model, { iterations: 10, batchSize: 5 }, fwbw(8, 8));
    const b = trainingCost(model, { images: 50 });
    expect(a.macs).toEqual(b.macs);
    expect(b.macs.total).toBe(50 * (864 * 2 + 864 * 3));
    expect(a.effective.total).toBeCloseTo(b.macs.total / 16, 6);
    expect(b.effective.total).toBe(b.macs.total);
  });
});

describe('data movement and accelerator model', () => {
  it('counts bits of weights, activations and gradients of a step', () => {
    const t = layerTraffic(conv, 2, FP32);
    expect(t.weights).toBe(54 * 32 * 2);
    expect(t.activations).toBe(2 * 32 * 32 + 2 * 48 * 32 + 2 * 32 * 32);
    expect(t.gradients).toBe(2 * 48 * 64 + 2 * 32 * 32 + 54 * 32);
  });
  it('trafficEnergy against a hand count, and a frozen layer moves nothing for the products it skips', () => {
    const p = energyProfile();
    const buf = 1 << 20;
    const level = p.sram64.find((l) => buf <= l.bytes) ?? p.sram64[p.sram64.length - 1]!;
    const pj = (bits: number) => (bits / 64) * level.pj;
    // 2 examples, FP32: weights read twice, input read for forward and weight gradient, output written,
    // output gradient read twice, input gradient written, weight gradient written; every tensor fits in 1 MB.
    const all = 54 * 64 + 64 * 64 + 96 * 32 + 96 * 64 + 64 * 32 + 54 * 32;
    expect(trafficEnergy(conv, 2, FP32, p, { bufferBytes: buf }).sram).toBeCloseTo(pj(all), 9);
    expect(trafficEnergy(conv, 2, FP32, p, { bufferBytes: buf }).dram).toBe(0);
    const frozen = 54 * 32 + 64 * 32 + 96 * 32;
    expect(
      trafficEnergy(conv, 2, FP32, p, { bufferBytes: buf }, true, { inputGrad: false, weightGrad: false }).sram,
    ).toBeCloseTo(pj(frozen), 9);
    const lastTrainable = 54 * 32 + 64 * 64 + 96 * 32 + 96 * 32 + 54 * 32;
    expect(
      trafficEnergy(conv, 2, FP32, p, { bufferBytes: buf }, true, { inputGrad: false, weightGrad: true }).sram,
    ).toBeCloseTo(pj(lastTrainable), 9);
    // A tensor larger than the buffer goes to DRAM (mid energy).
    expect(trafficEnergy(conv, 2, FP32, p, { bufferBytes: 64 }).dram).toBeGreaterThan(0);
  });

  it("PSG's fallback moves the low-order operand bits of the recomputed fraction (hand count)", () => {
    const p = energyProfile();
    const buf = 1 << 20;
    const level = p.sram64.find((l) => buf <= l.bytes) ?? p.sram64[p.sram64.length - 1]!;
    // conv: 32 input and 48 output elements per example; 2 examples; a quarter recomputed with 4 more activation
    // bits (8 - 4) and 6 more gradient bits (16 - 10).
    const e = fallbackTrafficEnergy(conv, 2, 0.25, 4, 6, p, { bufferBytes: buf });
    expect(e.sram).toBeCloseTo(((0.25 * (64 * 4 + 96 * 6)) / 64) * level.pj, 9);
    expect(e.dram).toBe(0);
    expect(fallbackTrafficEnergy(conv, 2, 0, 4, 6, p, { bufferBytes: buf }).sram).toBe(0);
    expect(() => fallbackTrafficEnergy(conv, 2, 1.5, 4, 6, p, { bufferBytes: buf })).toThrowError(
      /fallback fraction = 1.5 is invalid/,
    );
    const l = new EnergyLedger();
    // PSG charges it as extra work on the layer: a quarter of the weight-gradient MACs at 16 x 8 bits, and that traffic.
    l.chargeLayerExtra(conv.name, 0.25 * 864 * 2, [16, 8], (profile, opts) =>
      fallbackTrafficEnergy(conv, 2, 0.25, 4, 6, profile, opts),
    );
    const t = l.totals();
    expect(t.macs.overhead).toBeCloseTo(0.25 * 864 * 2, 9);
    expect(t.effectiveMacs).toBeCloseTo((0.25 * 864 * 2 * 16 * 8) / 1024, 9);
    expect(t.energy.sram).toBeCloseTo(e.sram * 1e-12, 20);
  });

  it('BitFusion latency and energy against a hand count; skipped products cost nothing', () => {
    // 864 forward MACs per example x 100 examples x 16 bricks per 8x8 MAC, on 8192 bricks at 500 MHz.
    const s = bitFusionStep(conv, 100, fwbw(8, 8));
    expect(s.forward.computeSeconds).toBeCloseTo((864 * 100 * 16) / 8192 / 500e6, 15);
    // Bytes: 54 weights + 3,200 inputs + 4,800 outputs at 8 bits, over 25.6 GB/s.
    expect(s.forward.memorySeconds).toBeCloseTo((54 + 3200 + 4800) / 25.6e9, 15);
    expect(s.forward.bound).toBe('compute');
    expect(s.forward.energyPJ).toBeCloseTo(864 * 100 * 16 * (0.2 / 16), 6);
    const frozen = bitFusionStep(conv, 100, fwbw(8, 8), undefined, { inputGrad: false, weightGrad: false });
    expect([
      frozen.inputGrad.seconds,
      frozen.weightGrad.seconds,
      frozen.inputGrad.energyPJ,
      frozen.weightGrad.energyPJ,
    ]).toEqual([0, 0, 0, 0]);
    expect(frozen.seconds).toBeCloseTo(s.forward.seconds, 15);
    // The first layer computes no input gradient: no time is charged for it.
    expect(bitFusionStep(first, 100, fwbw(8, 8)).inputGrad.seconds).toBe(0);
  });

  it('BitFusion bricks: ceil(a/2) * ceil(b/2); an 8x8 MAC costs 16 bricks and a 4x4 one 4', () => {
    expect(bricksPerMac(8, 8)).toBe(16);
    expect(bricksPerMac(4, 4)).toBe(4);
    expect(bricksPerMac(3, 8)).toBe(8);
    const s8 = bitFusionStep(conv, 100, fwbw(8, 8));
    const s4 = bitFusionStep(conv, 100, fwbw(4, 4));
    expect(s8.energyPJ / s4.energyPJ).toBeCloseTo(4, 10);
    expect(() => bricksPerMac(0, 8)).toThrowError(/operand bits/);
  });
});

describe('energy ledger', () => {
  it('charges executed layers only, per example and precision', () => {
    const ledger = new EnergyLedger({ bufferBytes: 1 << 20 });
    ledger.onExecute({ layer: conv, examples: 3, precision: undefined });
    ledger.onExecute({ layer: first, examples: 3, precision: fwbw(8, 8) });
    ledger.chargeOverhead(100);
    const p = ledger.endIteration(1);
    expect(p.macs.total).toBe(3 * 864 * 3 + 3 * 864 * 2 + 100);
    expect(p.effectiveMacs).toBeCloseTo(3 * 864 * 3 + (3 * 864 * 2) / 16 + 100, 6);
    expect(p.energy.compute).toBeCloseTo((3 * 864 * 3 * 4.6 + 3 * 864 * 2 * 0.3 + 100 * 4.6) * 1e-12, 18);
    expect(p.energy.sram).toBeGreaterThan(0);
    expect(p.energy.dram).toBe(0);
    expect(ledger.perLayer().map((l) => l.layer)).toEqual(['c', 'stem']);
    const copy = new EnergyLedger();
    copy.restore(ledger.state());
    expect(copy.totals()).toEqual(ledger.totals());
  });
});
