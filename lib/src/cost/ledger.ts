import type { LayerExecution, LayerSpec } from '../models/spec';
import { FP32, type LayerPrecision } from '../quant/precision';
import { BITFUSION_45NM, bitFusionStep, type BitFusionConfig } from './bitfusion';
import { energyProfile, macEnergy, type EnergyProfile } from './energy';
import { effectiveStepMacs, layerStepMacs } from './macs';
import { type MovementOptions, trafficEnergy } from './movement';

/** Running totals of a {@link EnergyLedger}. */
export interface LedgerTotals {
  /** Training iterations charged. */
  readonly iterations: number;
  /** Examples that ran forward passes, summed over layers' first execution per step. */
  readonly macs: { forward: number; inputGrad: number; weightGrad: number; overhead: number; total: number };
  /** FracTrain's computational cost (effective MACs). */
  readonly effectiveMacs: number;
  /** Energy in joules: compute, data movement (SRAM, DRAM), total. */
  readonly energy: { compute: number; sram: number; dram: number; total: number };
  /** Accelerator latency in seconds (BitFusion-style model). */
  readonly latency: number;
  /** Accelerator energy in joules (BitFusion-style model: brick operations x energy per brick, compute only). */
  readonly acceleratorEnergy: number;
}

/** One point of the ledger's per-iteration series (cumulative values). */
export interface LedgerPoint extends LedgerTotals {
  readonly step: number;
}

/** Options of {@link EnergyLedger}. */
export interface LedgerOptions {
  readonly profile?: EnergyProfile;
  /** On-chip buffer for the data-movement split (default 1 MB). */
  readonly bufferBytes?: number;
  readonly accelerator?: BitFusionConfig;
}

const PJ = 1e-12;

/**
 * Energy ledger of a training run. Attach {@link EnergyLedger.onExecute} to the forward context:
 * every layer execution of a training step is charged for its forward, input-gradient and
 * weight-gradient products on the examples that ran it, at their precision: raw MACs, effective MACs,
 * compute energy, data-movement energy and accelerator latency, per layer and cumulatively.
 * Skipped blocks and skipped mini-batches are not charged because they do not execute.
 */
export class EnergyLedger {
  private readonly profile: EnergyProfile;
  private readonly bufferBytes: number;
  private readonly accel: BitFusionConfig;
  private t = {
    iterations: 0,
    forward: 0,
    inputGrad: 0,
    weightGrad: 0,
    overhead: 0,
    effective: 0,
    compute: 0,
    sram: 0,
    dram: 0,
    latency: 0,
    accelEnergy: 0,
  };
  private readonly layers = new Map<string, { macs: number; effective: number; energy: number }>();
  readonly series: LedgerPoint[] = [];

  constructor(options: LedgerOptions = {}) {
    this.profile = options.profile ?? energyProfile();
    this.bufferBytes = options.bufferBytes ?? 1 << 20;
    this.accel = options.accelerator ?? BITFUSION_45NM;
  }

  /** Forward-context hook for training steps. */
  readonly onExecute = (e: LayerExecution): void =>
    this.chargeLayer(e.layer, e.examples, e.precision ?? FP32, e.backward);

  /** Charges one training step of `layer` on `examples` inputs at `p`. */
  chargeLayer(
    layer: LayerSpec,
    examples: number,
    p: LayerPrecision,
    backward?: { inputGrad: boolean; weightGrad: boolean },
  ): void {
    // Frozen layers (fine-tuning) skip the backward products they do not need.
    const needed = <T extends { forward: number; inputGrad: number; weightGrad: number }>(c: T) =>
      backward
        ? {
            forward: c.forward,
            inputGrad: backward.inputGrad ? c.inputGrad : 0,
            weightGrad: backward.weightGrad ? c.weightGrad : 0,
          }
        : c;
    const m = needed(layerStepMacs(layer));
    const eff = needed(effectiveStepMacs(layer, p));
    const compute =
      (m.forward * macEnergy(this.profile, p.weight, p.activation) +
        m.inputGrad * macEnergy(this.profile, p.gradError, p.weight) +
        m.weightGrad * macEnergy(this.profile, p.gradWeight, p.activationWeightGrad)) *
      examples *
      PJ;
    const move = trafficEnergy(layer, examples, p, this.profile, { bufferBytes: this.bufferBytes }, true, backward);
    const t = this.t;
    t.forward += m.forward * examples;
    t.inputGrad += m.inputGrad * examples;
    t.weightGrad += m.weightGrad * examples;
    const effTotal = (eff.forward + eff.inputGrad + eff.weightGrad) * examples;
    t.effective += effTotal;
    t.compute += compute;
    t.sram += move.sram * PJ;
    t.dram += move.dram * PJ;
    const accel = bitFusionStep(layer, examples, p, this.accel, backward);
    t.latency += accel.seconds;
    t.accelEnergy += accel.energyPJ * PJ;
    this.addToLayer(
      layer.name,
      (m.forward + m.inputGrad + m.weightGrad) * examples,
      effTotal,
      compute + (move.sram + move.dram) * PJ,
    );
  }

  /** Adds raw MACs, effective MACs and energy (J) to a layer's running totals. */
  private addToLayer(name: string, macs: number, effective: number, energy: number): void {
    const l = this.layers.get(name) ?? { macs: 0, effective: 0, energy: 0 };
    l.macs += macs;
    l.effective += effective;
    l.energy += energy;
    this.layers.set(name, l);
  }

  /** Charges extra work outside the model's layers (e.g. gate networks, predictors): MACs at a-bit x b-bit. */
  chargeOverhead(macs: number, a = 32, b = 32): void {
    this.t.overhead += macs;
    this.t.effective += (macs * a * b) / 1024;
    this.t.compute += macs * macEnergy(this.profile, a, b) * PJ;
  }

  /**
   * Charges extra work on `layer` outside its three products (e.g. a partial recomputation of its weight gradient):
   * `macs` at `bits[0]` x `bits[1]` counted as overhead, and the data movement `traffic` computes with this ledger's
   * energy profile and buffer (energies in pJ, split SRAM/DRAM).
   */
  chargeLayerExtra(
    layer: string,
    macs: number,
    bits: readonly [number, number],
    traffic?: (profile: EnergyProfile, opts: MovementOptions) => { sram: number; dram: number },
  ): void {
    const [a, b] = bits;
    this.chargeOverhead(macs, a, b);
    const move = traffic?.(this.profile, { bufferBytes: this.bufferBytes }) ?? { sram: 0, dram: 0 };
    this.t.sram += move.sram * PJ;
    this.t.dram += move.dram * PJ;
    this.addToLayer(
      layer,
      macs,
      (macs * a * b) / 1024,
      macs * macEnergy(this.profile, a, b) * PJ + (move.sram + move.dram) * PJ,
    );
  }

  /** Closes a training iteration and appends a cumulative point to {@link series}. */
  endIteration(step: number): LedgerPoint {
    this.t.iterations += 1;
    const p = { step, ...this.totals() };
    this.series.push(p);
    return p;
  }

  totals(): LedgerTotals {
    const t = this.t;
    return {
      iterations: t.iterations,
      macs: {
        forward: t.forward,
        inputGrad: t.inputGrad,
        weightGrad: t.weightGrad,
        overhead: t.overhead,
        total: t.forward + t.inputGrad + t.weightGrad + t.overhead,
      },
      effectiveMacs: t.effective,
      energy: { compute: t.compute, sram: t.sram, dram: t.dram, total: t.compute + t.sram + t.dram },
      latency: t.latency,
      acceleratorEnergy: t.accelEnergy,
    };
  }

  /** Per-layer raw MACs, effective MACs and energy (J). */
  perLayer(): Array<{ layer: string; macs: number; effective: number; energy: number }> {
    return [...this.layers.entries()].map(([layer, v]) => ({ layer, ...v }));
  }

  /** State for checkpoints. */
  state(): object {
    return { t: { ...this.t }, layers: [...this.layers.entries()], series: this.series };
  }

  /** Restores {@link state}. */
  restore(s: object): void {
    const st = s as {
      t: EnergyLedger['t'];
      layers: Array<[string, { macs: number; effective: number; energy: number }]>;
      series: LedgerPoint[];
    };
    this.t = { ...st.t, accelEnergy: st.t.accelEnergy ?? 0 };
    this.layers.clear();
    for (const [k, v] of st.layers) this.layers.set(k, { ...v });
    this.series.splice(0, this.series.length, ...st.series);
  }
}
