import * as tf from '@tensorflow/tfjs-core';
import { checkKeys, ConfigError } from '../errors';
import type { LayerSpec } from '../models/spec';
import { checkBits, type LayerPrecision } from '../quant/precision';
import type { QuantConfig, WeightGradGeometry, WeightGradientRule } from '../quant/layers';
import { weightGradient } from '../quant/layers';
import { mostSignificantBits } from '../quant/quantizers';
import { layerStepMacs } from '../cost/macs';
import { fallbackTrafficEnergy } from '../cost/movement';
import type { StepInfo, Technique } from '../train/technique';
import type { EnergyLedger } from '../cost/ledger';
import type { StateValue } from '../models/records';

/** Options of {@link predictiveSignGradient} (defaults: the paper's Sec. 4.4 settings). */
export interface PsgOptions {
  /** Adaptive threshold ratio beta (default 0.05). */
  readonly beta?: number;
  /** Activations and weights (default 8 bits). */
  readonly fw?: number;
  /** Gradients (default 16 bits). */
  readonly bw?: number;
  /** MSBs of the activations used by the predictor (default 4). */
  readonly xMsb?: number;
  /** MSBs of the output gradient used by the predictor (default 10). */
  readonly gMsb?: number;
  /**
   * The predictor's threshold as an absolute value: the MSB prediction decides where |prediction| >= threshold, instead
   * of beta * max|prediction|. The authors' code (GATECH-EIC/E2Train, `main_all.py` `--threshold`, default 5e-5; a
   * negative value there means relative to the largest |prediction|) uses this form. Exclusive with `beta`.
   */
  readonly threshold?: number;
  /**
   * `false`: no MSB predictor; every weight-gradient sign is the sign of the full FW x BW product (the ladder's
   * "quantized operands, exact signs" rung). Charged as a fallback on every element. Default true.
   */
  readonly predictor?: boolean;
}

const PSG_OPTIONS = ['beta', 'fw', 'bw', 'xMsb', 'gMsb', 'threshold', 'predictor'] as const;

/** Per-layer PSG statistics of one step. */
export interface PsgLayerStep {
  readonly iteration: number;
  readonly layer: string;
  /** Fraction of weight-gradient signs decided by the predictor. */
  readonly predicted: number;
  /** Fraction of predictor-decided signs that differ from the full gradient's sign. */
  readonly disagree: number;
}

/** PSG as a technique, with its statistics. */
export interface Psg extends Technique {
  readonly beta: number;
  readonly layerPrecision: LayerPrecision;
  /** Every layer's statistics of every step so far. */
  readonly history: PsgLayerStep[];
  /** Mean predicted fraction over all recorded steps and layers. */
  meanPredicted(): number;
  /**
   * What a PSG layer computes in a training step, product by product: operand widths and the share of the product's
   * elements computed that way (the fallback's share is the measured mean over the recorded steps of `layer`, or of
   * every layer). The layer precision alone (weight gradient at gMsb x xMsb bits) describes only the predictor.
   */
  precisionRecord(layer?: string): PsgProductRecord[];
}

/** One product of a PSG layer's training step (see {@link Psg.precisionRecord}). */
export interface PsgProductRecord {
  readonly product: 'forward' | 'input gradient' | 'weight-gradient predictor' | 'weight-gradient fallback';
  /** Bits of the two operands (e.g. [10, 4]: output gradient MSBs x activation MSBs). */
  readonly bits: readonly [number, number];
  /** Share of the product's elements computed this way (NaN for the fallback before any step). */
  readonly share: number;
}

/**
 * E²-Train's predictive sign gradient descent (Sec. 3.3, Eq. 2) for every conv and dense layer:
 * forward at FW bits, error propagation at BW bits, and the weight gradient replaced by a sign: the
 * sign of the MSB predictor (xMsb of the FW-bit activations x gMsb of the BW-bit output gradient) where
 * |prediction| >= beta * max|prediction| in the layer, else the sign of the full-precision weight
 * gradient. Use it with the `signsgd` optimizer (the paper: lr 0.03, weight decay 5e-4, SWA); with `sgd` and momentum,
 * the update is momentum SGD over the signed weight gradients while batch-norm parameters and biases keep their real
 * gradients, as in the authors' code. `threshold` makes the predictor's threshold absolute (the authors' code);
 * `predictor: false` takes every sign from the full product (quantized operands, exact signs).
 *
 * Energy accounting: the layers report the weight-gradient product at predictor precision
 * (gMsb x xMsb bits) for every element; after each step the fallback elements are charged again at full
 * precision (BW x FW bits) in proportion to the measured fallback fraction of each layer.
 */
export function predictiveSignGradient(options: PsgOptions = {}): Psg {
  checkKeys(options, PSG_OPTIONS, 'psg');
  if (options.threshold !== undefined && options.beta !== undefined)
    throw new ConfigError('psg.threshold', options.threshold, 'unset when psg.beta is set (one threshold rule)');
  const beta = options.beta ?? 0.05;
  if (typeof beta !== 'number' || !(beta > 0 && beta < 1)) throw new ConfigError('psg.beta', beta, 'a ratio in (0, 1)');
  const threshold = options.threshold;
  if (threshold !== undefined && (typeof threshold !== 'number' || !(threshold > 0) || !Number.isFinite(threshold)))
    throw new ConfigError('psg.threshold', threshold, 'a positive finite number');
  const predictor = options.predictor ?? true;
  if (typeof predictor !== 'boolean') throw new ConfigError('psg.predictor', predictor, 'true or false');
  const fw = checkBits(options.fw ?? 8, 'psg.fw');
  const bw = checkBits(options.bw ?? 16, 'psg.bw');
  const xMsb = checkBits(options.xMsb ?? 4, 'psg.xMsb');
  const gMsb = checkBits(options.gMsb ?? 10, 'psg.gMsb');
  if (xMsb > fw) throw new ConfigError('psg.xMsb', xMsb, `at most fw = ${fw}`);
  if (gMsb > bw) throw new ConfigError('psg.gMsb', gMsb, `at most bw = ${bw}`);
  // Without the predictor the weight gradient is the full FW x BW product, charged as such by the layers.
  const layerPrecision: LayerPrecision = {
    weight: fw,
    activation: fw,
    gradError: bw,
    gradWeight: predictor ? gMsb : bw,
    activationWeightGrad: predictor ? xMsb : fw,
  };
  // The fallback (Eq. 2): the weight-gradient entries the predictor leaves undecided are recomputed at full
  // precision, as MACs at BW x FW bits, reading the low-order operand bits the predictor did not.
  const chargeFallback = (ledger: EnergyLedger, layer: LayerSpec, examples: number, fraction: number) =>
    ledger.chargeLayerExtra(
      layer.name,
      fraction * layerStepMacs(layer).weightGrad * examples,
      [bw, fw],
      (profile, opts) => fallbackTrafficEnergy(layer, examples, fraction, fw - xMsb, bw - gMsb, profile, opts),
    );
  const history: PsgLayerStep[] = [];
  let pending: Array<{ layer: string; predicted: tf.Scalar; disagree: tf.Scalar; examples: number }> = [];
  return {
    name: 'psg',
    settings: { beta, threshold: threshold ?? null, predictor, fw, bw, xMsb, gMsb },
    beta,
    layerPrecision,
    history,
    precision: (layer: LayerSpec) =>
      layer.kind === 'conv' || layer.kind === 'dense' || layer.kind === 'depthwise' ? layerPrecision : undefined,
    quant: (cfg: QuantConfig): QuantConfig => ({
      ...cfg,
      weightGradientRule: psgRule({
        beta,
        ...(threshold !== undefined ? { threshold } : {}),
        predictor,
        record: (layer, predicted, disagree, examples) => void pending.push({ layer, predicted, disagree, examples }),
      }),
    }),
    afterStep(info: StepInfo) {
      if (pending.length === 0) return;
      const specs = new Map(info.model.layers.map((l) => [l.name, l]));
      // One host read for every layer's statistics of the step.
      const flat = tf.tidy(() => tf.stack(pending.flatMap((r) => [r.predicted, r.disagree])));
      const values = flat.dataSync();
      flat.dispose();
      pending.forEach((r, i) => {
        const predicted = values[2 * i] as number;
        const disagree = values[2 * i + 1] as number;
        tf.dispose([r.predicted, r.disagree]);
        history.push({ iteration: info.iteration, layer: r.layer, predicted, disagree });
        const spec = specs.get(r.layer);
        // Per call: a block's layers run only on the inputs that execute it (a skipped input computes nothing).
        if (predictor && spec && info.ledger) chargeFallback(info.ledger, spec, r.examples, 1 - predicted);
      });
      pending = [];
    },
    // The statistics history survives a resume (notebooks plot it over the whole run).
    state: (): StateValue => ({ history: history.map((h) => [h.iteration, h.layer, h.predicted, h.disagree]) }),
    restore(s: StateValue) {
      const st = s as unknown as { history: Array<[number, string, number, number]> };
      history.splice(
        0,
        history.length,
        ...st.history.map(([iteration, layer, predicted, disagree]) => ({ iteration, layer, predicted, disagree })),
      );
    },
    dispose() {
      for (const r of pending) tf.dispose([r.predicted, r.disagree]);
      pending = [];
    },
    precisionRecord(layer?: string): PsgProductRecord[] {
      const rows = layer === undefined ? history : history.filter((h) => h.layer === layer);
      const fallback = rows.length ? rows.reduce((a, h) => a + (1 - h.predicted), 0) / rows.length : NaN;
      if (!predictor)
        return [
          { product: 'forward', bits: [fw, fw], share: 1 },
          { product: 'input gradient', bits: [bw, fw], share: 1 },
          { product: 'weight-gradient fallback', bits: [bw, fw], share: 1 },
        ];
      return [
        { product: 'forward', bits: [fw, fw], share: 1 },
        { product: 'input gradient', bits: [bw, fw], share: 1 },
        { product: 'weight-gradient predictor', bits: [gMsb, xMsb], share: 1 },
        { product: 'weight-gradient fallback', bits: [bw, fw], share: fallback },
      ];
    },
    meanPredicted: () => (history.length ? history.reduce((a, h) => a + h.predicted, 0) / history.length : 0),
    stats(): Record<string, number> {
      const recent = history.slice(-50);
      return recent.length
        ? {
            predicted: recent.reduce((a, h) => a + h.predicted, 0) / recent.length,
            disagree: recent.reduce((a, h) => a + h.disagree, 0) / recent.length,
          }
        : {};
    },
  };
}

/** What PSG's rule reports per layer and step (scalars the receiver must dispose), and the operands it saw. */
export interface PsgRuleSinks {
  /**
   * The fraction of signs decided by the predictor, the fraction of those that disagree with the full gradient's, and
   * how many examples the layer's call computed (a gated block's layers see only the inputs that execute it).
   */
  readonly record?: (layer: string, predicted: tf.Scalar, disagree: tf.Scalar, examples: number) => void;
  /** The weight gradient's operands: activations at FW bits, output gradient at BW bits (clone what you keep). */
  readonly operands?: (layer: string, x: tf.Tensor, dy: tf.Tensor, geometry: WeightGradGeometry) => void;
}

/**
 * PSG's weight-gradient rule for the quantized layers (Eq. 2): the full product of the layer's FW-bit activations and
 * BW-bit output gradient, and its prediction from their most significant bits (the precision's `activationWeightGrad`
 * x `gradWeight` bits), combined by {@link psgWeightGradient} at threshold `beta`.
 */
export function psgRule(
  o: { readonly beta: number; readonly threshold?: number; readonly predictor?: boolean } & PsgRuleSinks,
): WeightGradientRule {
  return {
    weightGradient({ layer, x, dy, geometry, precision: p }) {
      o.operands?.(layer, x, dy, geometry);
      const gFull = weightGradient(x, dy, geometry);
      if (o.predictor === false)
        return tf.tidy(() => {
          if (o.record) o.record(layer, tf.keep(tf.scalar(0)), tf.keep(tf.scalar(0)), x.shape[0]);
          return tf.sign(gFull);
        });
      const gMsb = weightGradient(
        mostSignificantBits(x, Math.min(p.activation, 31), p.activationWeightGrad),
        mostSignificantBits(dy, Math.min(p.gradError, 31), p.gradWeight),
        geometry,
      );
      return psgWeightGradient(gFull, gMsb, o, layer, x.shape[0]);
    },
  };
}

/**
 * PSG's weight gradient (Eq. 2) from the full-precision weight gradient and its MSB prediction:
 * sign(gMsb) where |gMsb| >= beta * max|gMsb| (or, with `threshold`, >= threshold), else sign(gFull). Records
 * statistics when asked, with `examples`, the
 * number of examples the product summed over.
 */
export function psgWeightGradient(
  gFull: tf.Tensor,
  gMsb: tf.Tensor,
  psg: { readonly beta: number; readonly threshold?: number; readonly record?: PsgRuleSinks['record'] },
  layer: string,
  examples = 1,
): tf.Tensor {
  return tf.tidy(() => {
    const a = tf.abs(gMsb);
    const mask = tf.greaterEqual(a, psg.threshold !== undefined ? psg.threshold : tf.mul(tf.max(a), psg.beta));
    const sMsb = tf.sign(gMsb);
    const sFull = tf.sign(gFull);
    if (psg.record) {
      const m = tf.cast(mask, 'float32');
      const predicted = tf.mean(m) as tf.Scalar;
      const disagree = tf.div(
        tf.sum(tf.mul(m, tf.cast(tf.notEqual(sMsb, sFull), 'float32'))),
        tf.maximum(tf.sum(m), 1),
      ) as tf.Scalar;
      psg.record(layer, tf.keep(predicted), tf.keep(disagree), examples);
    }
    return tf.where(mask, sMsb, sFull);
  });
}
