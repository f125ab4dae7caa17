import { describe, expect, it } from 'vitest';
import { addEnergy, dramEnergy, energyProfile, HOROWITZ_45NM, macEnergy, multiplyEnergy, registerProfile, saving } from '../lib/src/cost/energy';
import { effectiveStepMacs, layerStepMacs, trainingCost } from '../lib/src/cost/macs';
import { bitFusionStep, bricksPerMac } from '../lib/src/cost/bitfusion';
import { layerTraffic } from '../lib/src/cost/movement';
import { EnergyLedger } from '../lib/src/cost/ledger';
import type { LayerSpec } from '../lib/src/models/spec';
import { FP32, fwbw } from '../lib/src/quant/precision';
import { ConfigError } from '../lib/src/errors';

const conv: LayerSpec = { name: 'c', kind: 'conv', inShape: [4, 4, 2], outShape: [4, 4, 3], weight: 'c/w', weightCount: 54, macs: 4 * 4 * 3 * 9 * 2, first: false };
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
  });
  it('accepts user profiles and rejects incomplete ones by name', () => {
    const mine = registerProfile({ ...HOROWITZ_45NM, name: 'mine', multiply: { int8: 0.1, fp32: 2 } });
    expect(energyProfile('mine')).toBe(mine);
    expect(() => registerProfile({ ...HOROWITZ_45NM, name: 'bad', add: { int8: 0.03 } })).toThrowError(/profile bad: add\.fp32/);
    expect(() => energyProfile('nope')).toThrowError(ConfigError);
  });
});

describe('MACs and FracTrain computational cost', () => {
  it('counts three products per training step; the first layer has no input gradient', () => {
    expect(layerStepMacs(conv)).toEqual({ forward: 864, inputGrad: 864, weightGrad: 864 });
    expect(layerStepMacs(first)).toEqual({ forward: 864, inputGrad: 0, weightGrad: 864 });
  });
  it('effective MACs = MACs x Bit_a/32 x Bit_b/32 per product', () => {
    expect(effectiveStepMacs(conv, fwbw(8, 16))).toEqual({ forward: 864 / 16, inputGrad: 864 / 8, weightGrad: 864 / 8 });
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
