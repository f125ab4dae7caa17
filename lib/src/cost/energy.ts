import * as fs from 'node:fs';
import { ConfigError } from '../errors';
import horowitz from './profiles/horowitz45nm.json';

/** Energy per operation and per 64-bit access, in picojoules. */
export interface EnergyProfile {
  readonly name: string;
  readonly source: string;
  readonly unit: 'pJ';
  /** Adder energy by format: int8, int16, int32, fp16, fp32 (at least int8 and fp32). */
  readonly add: Readonly<Record<string, number>>;
  /** Multiplier energy by format (at least int8 and fp32). */
  readonly multiply: Readonly<Record<string, number>>;
  /** 64-bit SRAM read energy by buffer size, ascending. */
  readonly sram64: ReadonlyArray<{ readonly bytes: number; readonly pj: number }>;
  /** 64-bit DRAM access energy range. */
  readonly dram64: { readonly low: number; readonly high: number };
}

/** The default profile: Horowitz, ISSCC 2014, 45 nm. */
export const HOROWITZ_45NM: EnergyProfile = horowitz as EnergyProfile;

const profiles = new Map<string, EnergyProfile>([[HOROWITZ_45NM.name, HOROWITZ_45NM]]);

/** Checks a profile's fields and registers it under its name. */
export function registerProfile(p: EnergyProfile): EnergyProfile {
  for (const k of ['int8', 'fp32']) {
    if (!(typeof p.add[k] === 'number' && p.add[k]! > 0))
      throw new ConfigError(`profile ${p.name}: add.${k}`, p.add[k], 'a positive energy in pJ');
    if (!(typeof p.multiply[k] === 'number' && p.multiply[k]! > 0))
      throw new ConfigError(`profile ${p.name}: multiply.${k}`, p.multiply[k], 'a positive energy in pJ');
  }
  if (p.sram64.length === 0) throw new ConfigError(`profile ${p.name}: sram64`, p.sram64, 'at least one buffer size');
  profiles.set(p.name, p);
  return p;
}

/** Loads a profile from a JSON file (same shape as `horowitz45nm.json`) and registers it. */
export function loadProfile(file: string): EnergyProfile {
  return registerProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as EnergyProfile);
}

/** A registered profile by name. */
export function energyProfile(name = 'horowitz45nm'): EnergyProfile {
  const p = profiles.get(name);
  if (!p) throw new ConfigError('energy profile', name, `one of ${[...profiles.keys()].join(', ')}`);
  return p;
}

/**
 * Integer multiplier energy for an a-bit by b-bit product. Listed widths are used as given
 * (int8 x int8, int32 x int32); otherwise array-multiplier scaling from int8: proportional to a*b
 * (quadratic in the width for square products). 32 x 32 without an int32 entry is treated as fp32.
 */
export function multiplyEnergy(p: EnergyProfile, a: number, b: number): number {
  if (a >= 32 && b >= 32) return p.multiply.fp32 as number;
  if (a === b && p.multiply[`int${a}`] !== undefined) return p.multiply[`int${a}`] as number;
  return (p.multiply.int8 as number) * ((a * b) / 64);
}

/** Adder energy at `bits` (fp32 for 32-bit float accumulation); listed widths as given, else linear in the width from int8. */
export function addEnergy(p: EnergyProfile, bits: number, float = false): number {
  if (float) return (bits <= 16 ? p.add.fp16 : p.add.fp32) ?? (p.add.fp32 as number);
  if (p.add[`int${bits}`] !== undefined) return p.add[`int${bits}`] as number;
  return (p.add.int8 as number) * (bits / 8);
}

/**
 * Energy of one multiply-accumulate with a-bit and b-bit operands: a float32 MAC (multiply + add) when either
 * operand is 32-bit float (a product with a float operand runs on the float unit: FW-8/BW-32's gradient products
 * are float products), else an integer multiply plus an accumulation add at 32 bits.
 */
export function macEnergy(p: EnergyProfile, a: number, b: number): number {
  if (a >= 32 || b >= 32) return (p.multiply.fp32 as number) + (p.add.fp32 as number);
  return multiplyEnergy(p, a, b) + addEnergy(p, 32);
}

/** Energy of moving `bits` bits from a buffer of `bufferBytes` (linear in bits per 64-bit access). */
export function sramEnergy(p: EnergyProfile, bits: number, bufferBytes: number): number {
  const level = p.sram64.find((l) => bufferBytes <= l.bytes) ?? p.sram64[p.sram64.length - 1]!;
  return (bits / 64) * level.pj;
}

/** Energy of moving `bits` bits to or from DRAM (the middle of the profile's range by default). */
export function dramEnergy(p: EnergyProfile, bits: number, where: 'low' | 'mid' | 'high' = 'mid'): number {
  const e = where === 'low' ? p.dram64.low : where === 'high' ? p.dram64.high : (p.dram64.low + p.dram64.high) / 2;
  return (bits / 64) * e;
}

/** Relative saving of `low` over `high` energy: 1 - low / high. */
export function saving(low: number, high: number): number {
  return 1 - low / high;
}
