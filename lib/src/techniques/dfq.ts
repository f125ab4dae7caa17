import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { ParamStore } from '../models/params';
import type { BlockGroup, BlockPlan, BlockSpec, ForwardContext, LayerSpec, Model } from '../models/spec';
import { trainingCost } from '../cost/macs';
import { checkBits, formatPrecision, type LayerPrecision } from '../quant/precision';
import type { StateValue, TensorRecord } from '../models/records';
import type { OptimizerConfig } from '../train/optimizers';
import type { Technique } from '../train/technique';
import { rnnGates } from './rnn-gate';
import { createRng, type Rng, type RngState } from '../random';
import { StageClock, checkStageSwitching, parsePrecisionSchedule, type StageSwitch, type StageSwitching } from './pfq';
import type { IndicatorStep } from './loss-indicator';

/** Options of {@link dynamicFractionalQuantization}. */
export interface DfqOptions {
  readonly model: Model;
  /**
   * The non-zero precision options, lowest first, as FW-a/BW-b precisions or FracTrain's notation
   * "FW(3,4,6,8)/BW(6,6,8,8)"; the last is the setting's full precision (e.g. FW-8/BW-8), which every layer outside the
   * gated blocks runs at. Each option sets the activation and gradient bits of a block's layers for the inputs that
   * choose it (and their weights, unless `weightBits` fixes them).
   */
  readonly options: readonly LayerPrecision[] | string;
  /** Offer the 0-bit option (skip the block) where the block is skippable (default true). */
  readonly skip?: boolean;
  /**
   * Weight bits of every option. Default: each option's FW bits, so an option is the convolution "executed with k bits"
   * of Eq. (1) in the paper's FW-a/BW-b notation (weights and activations at a bits, gradients at b bits). A number fixes
   * the weights at that precision in every option, as the authors' code does (only activations and gradients vary).
   */
  readonly weightBits?: number;
  /**
   * Target cp in percent of the float32 cost (FracTrain: cp = 3 means 3%). A number for DFQ; for FracTrain a list of
   * targets stepped through by `switching` (Algorithm 2, e.g. 1.5/2/2.5/3).
   */
  readonly targetCp: number | readonly number[];
  /** How a list of targets advances (required with a list; see {@link StageSwitching}). */
  readonly switching?: StageSwitching;
  /** Weight beta of the cost term of Eq. (2) (its sign is set every step, see {@link dynamicFractionalQuantization}). */
  readonly beta: number;
  readonly seed: number;
  /** Width of the gate projection and shared LSTM (default 10). */
  readonly hidden?: number;
  /** Initial output bias per option, skip first when offered (default: 0 for every option and 1 for the full precision). */
  readonly initialBias?: readonly number[];
  /** Standardise the gate inputs by running statistics (see SLU's `normalizeGateInput`; default false). */
  readonly normalizeGateInput?: boolean;
  /** Optimizer of the gate parameters (default: the run's). */
  readonly gateOptimizer?: { readonly config: OptimizerConfig; readonly lr: number };
  /**
   * How a training step chooses each input's option: `'argmax'` (default; the paper: "the highest-probability
   * precision option is selected") or `'gumbel'`: the argmax of logits + Gumbel noise (seeded), i.e. a draw from the
   * gate's softmax, with straight-through gradients of softmax((logits + noise) / temperature), a standard remedy when
   * argmax gates settle on one option for every input. Inference always takes the argmax.
   */
  readonly sampling?: 'argmax' | 'gumbel';
  /** Temperature of the Gumbel-softmax gradient (`sampling: 'gumbel'`, default 1). */
  readonly temperature?: number;
  /** Technique name in logs and cache keys (default 'dfq', or 'fractrain' with a list of targets). */
  readonly name?: string;
}

/** Per gated block, how often each option was chosen. */
export interface OptionCounts {
  readonly block: string;
  /** Counts per option, in option order (skip first when offered; `labels` names them). */
  readonly counts: number[];
}

/** DFQ (and FracTrain) as a technique, with its records. */
export interface Dfq extends Technique {
  /** Option labels in gate-output order: "skip" (when offered) then "FW-a/BW-b". */
  readonly labels: readonly string[];
  /** The precision of each option (undefined for skip). */
  readonly precisions: ReadonlyArray<LayerPrecision | undefined>;
  /** The step's cp (percent of the float32 cost of the step, gates excluded) after each training step. */
  readonly cpHistory: number[];
  /** Sign of beta used in each training step (+1 above the target, -1 below). */
  readonly signHistory: number[];
  /** Target cp in force at each training step. */
  readonly targetHistory: number[];
  /** Current target cp (percent). */
  target(): number;
  /** Training choices per block and option so far. */
  optionCounts(): OptionCounts[];
  /** Inference choices (option index per input) of every gated block for a batch. */
  choices(x: tf.Tensor, ctx?: Omit<ForwardContext, 'training' | 'blockPlan'>): Map<string, Int32Array>;
  /** Plan for inference with the trained gates (pass as the evaluation context's blockPlan). */
  readonly evalPlan: (block: BlockSpec, x: tf.Tensor4D) => BlockPlan | undefined;
  /** Effective MACs per example of each option of each gated block (three products), and of the layers outside them. */
  readonly costs: {
    readonly perBlock: ReadonlyMap<string, readonly number[]>;
    readonly outside: number;
    readonly float32: number;
  };
  /** Forward MACs of the gates per input. */
  readonly gateMacsPerInput: number;
  readonly gateParams: ParamStore;
  /** Stage changes of the target schedule (FracTrain). */
  readonly switches: readonly StageSwitch[];
  /** The indicator's periods (FracTrain). */
  periods(): readonly IndicatorStep[];
}

/** Straight-through value: forward `hard` (kept by the closure), gradient identity to `soft`. */
function straightThrough(hard: tf.Tensor): (soft: tf.Tensor) => tf.Tensor {
  return tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const soft = args[0] as tf.Tensor;
    return { value: tf.add(tf.mul(soft, 0), hard), gradFunc: (dy: tf.Tensor) => dy };
  }) as Parameters<typeof tf.customGrad>[0]) as (soft: tf.Tensor) => tf.Tensor;
}

/**
 * FracTrain's dynamic fractional quantization (Sec. 3.2, Eq. 1 and 2). Every residual block gets an RNN gate (the
 * SLU gate of E²-Train with one output per option) that scores, per input, the options {0 bits (skip; skippable
 * blocks only), the intermediate precisions, the full precision}; the highest-probability option runs the block
 * for that input in both passes (its layers' weights, activations and gradients at the option's bits), so each input's
 * block costs what its option costs. Gradients reach the gate by straight-through estimators: an executed input's
 * residual branch is multiplied by a value that is 1 forward and passes its gradient to the chosen option's
 * probability, and the cost term uses one-hot choices forward with softmax gradients.
 *
 * Loss: L + beta' x cp, with cp the step's effective MACs (three products per layer, MACs x Bit_a/32 x Bit_b/32)
 * in percent of the float32 step, and beta' = +beta when the step's cp is at or above the target, -beta below it
 * (the sign flipping of Sec. 3.2 as in the authors' code), so cp settles around the target. Layers outside the
 * gated blocks run at the full option's precision. Gate MACs are charged to the ledger (forward and backward, in
 * float32) but are not part of cp. With a list of targets and a switching rule this is FracTrain (Algorithm 2).
 */
export function dynamicFractionalQuantization(options: DfqOptions): Dfq {
  checkKeys(
    options,
    [
      'model',
      'options',
      'skip',
      'weightBits',
      'targetCp',
      'switching',
      'beta',
      'seed',
      'hidden',
      'initialBias',
      'normalizeGateInput',
      'gateOptimizer',
      'sampling',
      'temperature',
      'name',
    ],
    'dfq',
  );
  const sampling = options.sampling ?? 'argmax';
  if (sampling !== 'argmax' && sampling !== 'gumbel')
    throw new ConfigError('dfq.sampling', sampling, "'argmax' or 'gumbel'");
  const temperature = options.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature > 0))
    throw new ConfigError('dfq.temperature', temperature, 'a positive number');
  if (options.temperature !== undefined && sampling !== 'gumbel')
    throw new ConfigError('dfq.temperature', options.temperature, "unset unless sampling is 'gumbel'");
  let rng: Rng = createRng(`dfq/${options.seed}`);
  const { model } = options;
  const opts = typeof options.options === 'string' ? parsePrecisionSchedule(options.options) : [...options.options];
  if (opts.length === 0) throw new ConfigError('dfq.options', options.options, 'at least one precision option');
  const full = opts[opts.length - 1] as LayerPrecision;
  const weightBits = options.weightBits === undefined ? undefined : checkBits(options.weightBits, 'dfq.weightBits');
  opts.forEach((p, i) => {
    if (p.activation > full.activation || p.gradError > full.gradError || p.gradWeight > full.gradWeight)
      throw new ConfigError(
        `dfq.options[${i}]`,
        formatPrecision(p),
        `at most the full option ${formatPrecision(full)} in every field (options are listed lowest first)`,
      );
  });
  const targets = typeof options.targetCp === 'number' ? [options.targetCp] : [...options.targetCp];
  if (targets.length === 0 || targets.some((t) => !(Number.isFinite(t) && t > 0 && t <= 100)))
    throw new ConfigError(
      'dfq.targetCp',
      options.targetCp,
      'a target (or list of targets) in percent of the float32 cost, in (0, 100]',
    );
  if (targets.length > 1 && !options.switching)
    throw new ConfigError(
      'dfq.switching',
      options.switching,
      'a switching rule when several targets are given (FracTrain)',
    );
  if (options.switching) checkStageSwitching(options.switching, targets.length, 'dfq.switching');
  if (!(Number.isFinite(options.beta) && options.beta >= 0))
    throw new ConfigError('dfq.beta', options.beta, 'a non-negative number');
  const offerSkip = options.skip ?? true;
  const precisions: Array<LayerPrecision | undefined> = [
    ...(offerSkip ? [undefined] : []),
    ...opts.map((p) => ({
      weight: weightBits ?? p.weight,
      activation: p.activation,
      activationWeightGrad: p.activationWeightGrad,
      gradError: p.gradError,
      gradWeight: p.gradWeight,
    })),
  ];
  // Labels in the paper's FW/BW notation (with `weightBits` set, the weights are at that precision in every option).
  const labels = [...(offerSkip ? ['skip'] : []), ...opts.map((p) => formatPrecision(p))];
  const K = precisions.length;
  const fullPrecision = precisions[K - 1] as LayerPrecision;
  const initialBias = options.initialBias ?? precisions.map((_, k) => (k === K - 1 ? 1 : 0));
  if (initialBias.length !== K || initialBias.some((v) => !Number.isFinite(v)))
    throw new ConfigError('dfq.initialBias', initialBias, `${K} finite numbers (${labels.join(', ')})`);

  const gated = model.blocks;
  if (gated.length === 0) throw new ConfigError('dfq.model', model.name, 'a model with residual blocks');
  const layerByName = new Map(model.layers.map((l) => [l.name, l]));
  /** Effective MACs of one training step on one example of `layers` at `p` (FracTrain's cost, three products). */
  const cost = (layers: readonly LayerSpec[], p: LayerPrecision) =>
    trainingCost({ layers }, { images: 1 }, p).effective.total;
  const inBlocks = new Set(gated.flatMap((b) => b.layers));
  const outside = cost(
    model.layers.filter((l) => !inBlocks.has(l.name)),
    fullPrecision,
  );
  const float32 = trainingCost(model, { images: 1 }).macs.total;
  const perBlock = new Map<string, number[]>();
  for (const b of gated) {
    const layers = b.layers.map((n) => layerByName.get(n) as LayerSpec);
    // A skipped input of a block that changes shape still runs its projection shortcut (at the full precision).
    const skipCost = cost(
      layers.filter((l) => l.name.endsWith('/proj')),
      fullPrecision,
    );
    perBlock.set(
      b.name,
      precisions.map((p) => (p ? cost(layers, p) : b.skippable ? skipCost : Number.NaN)),
    );
  }

  const gates = rnnGates({
    model,
    blocks: gated,
    seed: options.seed + 9091,
    hidden: options.hidden,
    outputs: K,
    initialBias,
    normalizeInput: options.normalizeGateInput,
  });
  const clock = options.switching ? new StageClock(targets.length, options.switching) : undefined;
  const target = () => targets[clock ? clock.stage() : 0] as number;

  const counts = new Map(gated.map((b) => [b.name, new Array<number>(K).fill(0)]));
  const cpHistory: number[] = [];
  const signHistory: number[] = [];
  const targetHistory: number[] = [];
  let softCost: tf.Scalar | undefined;
  let hardCost = 0;
  let examples = 0;
  /** Large negative logit for the skip option of a block that cannot be skipped. */
  const NO = -1e9;

  /** Logits [n, K] of block b's options (skip masked where the block cannot be skipped). */
  const maskedLogits = (b: BlockSpec, x: tf.Tensor4D, training: boolean): tf.Tensor2D => {
    const logits = gates.logits(b, x, training);
    return offerSkip && !b.skippable
      ? (tf.add(logits, tf.tensor1d(precisions.map((_, k) => (k === 0 ? NO : 0)))) as tf.Tensor2D)
      : logits;
  };
  /** Probabilities [n, K] of block b's options. */
  const probabilities = (b: BlockSpec, x: tf.Tensor4D, training: boolean): tf.Tensor2D =>
    tf.softmax(maskedLogits(b, x, training)) as tf.Tensor2D;
  /** Seeded Gumbel noise [n, K] for `'gumbel'` sampling. */
  const gumbel = (n: number): tf.Tensor2D => {
    const g = new Float32Array(n * K);
    for (let i = 0; i < g.length; i++) g[i] = -Math.log(-Math.log(Math.min(Math.max(rng.next(), 1e-12), 1 - 1e-12)));
    return tf.tensor2d(g, [n, K]);
  };

  /** Groups of a block from the chosen options; `scale` gives an executed group's residual multiplier. */
  const groupsOf = (
    choice: Int32Array,
    scale: (k: number, idx: tf.Tensor1D) => tf.Tensor1D | undefined,
  ): BlockGroup[] => {
    const groups: BlockGroup[] = [];
    for (let k = 0; k < K; k++) {
      const p = precisions[k];
      if (!p) continue;
      const members: number[] = [];
      choice.forEach((c, i) => {
        if (c === k) members.push(i);
      });
      if (members.length === 0) continue;
      const indices = Int32Array.from(members);
      groups.push({ indices, precision: p, residualScale: scale(k, tf.tensor1d(indices, 'int32')) });
    }
    return groups;
  };

  const choose = (probs: tf.Tensor2D): Int32Array => {
    const arg = tf.argMax(probs, 1);
    const c = arg.dataSync() as Int32Array;
    arg.dispose();
    return Int32Array.from(c);
  };

  const evalPlan = (b: BlockSpec, x: tf.Tensor4D): BlockPlan | undefined => {
    const choice = choose(probabilities(b, x, false));
    return { groups: groupsOf(choice, () => undefined) };
  };

  return {
    name: options.name ?? (targets.length > 1 ? 'fractrain' : 'dfq'),
    precisionCombine: 'min',
    labels,
    precisions,
    cpHistory,
    signHistory,
    targetHistory,
    target,
    costs: { perBlock, outside, float32 },
    gateMacsPerInput: gates.macsPerInput,
    gateParams: gates.store,
    switches: clock?.switches ?? [],
    periods: () => clock?.periods() ?? [],
    parameters: () => gates.store.trainable(),
    parameterOptimizer: options.gateOptimizer,
    precision: () => fullPrecision,
    blockPlan(b, x) {
      const n = x.shape[0];
      if (b.name === gated[0]?.name) {
        examples = n;
        hardCost = outside * n;
      }
      // 'gumbel': choose by argmax(logits + G) and pass gradients through softmax((logits + G) / temperature).
      const probs =
        sampling === 'gumbel'
          ? (tf.softmax(tf.div(tf.add(maskedLogits(b, x, true), gumbel(n)), temperature)) as tf.Tensor2D)
          : probabilities(b, x, true);
      const choice = choose(probs);
      const cost = perBlock.get(b.name) as number[];
      const c = counts.get(b.name) as number[];
      const hard = tf.tidy(() => tf.oneHot(tf.tensor1d(choice, 'int32'), K).toFloat());
      choice.forEach((k) => {
        c[k] = (c[k] as number) + 1;
        hardCost += cost[k] as number;
      });
      // Cost of the block in the batch: one-hot choices forward, softmax gradients (NaN skip costs are never chosen).
      const costVec = tf.tensor1d(cost.map((v) => (Number.isFinite(v) ? v : 0)));
      const term = tf.sum(
        tf.matMul(straightThrough(hard)(probs) as tf.Tensor2D, tf.reshape(costVec, [K, 1])),
      ) as tf.Scalar;
      hard.dispose();
      softCost = softCost ? (tf.add(softCost, term) as tf.Scalar) : term;
      return {
        groups: groupsOf(choice, (k, idx) => {
          const pk = tf.gather(tf.slice(probs, [0, k], [n, 1]).reshape([n]), idx) as tf.Tensor1D;
          return straightThrough(tf.onesLike(pk))(pk) as tf.Tensor1D;
        }),
      };
    },
    lossTerm() {
      const s = softCost;
      softCost = undefined;
      gates.reset();
      if (!s || examples === 0) return undefined;
      const cp = (100 * hardCost) / (examples * float32);
      const sign = cp >= target() ? 1 : -1;
      cpHistory.push(cp);
      signHistory.push(sign);
      targetHistory.push(target());
      if (options.beta === 0) return undefined;
      return tf.mul(tf.add(s, outside * examples), (sign * options.beta * 100) / (examples * float32)) as tf.Scalar;
    },
    afterStep(info) {
      info.ledger?.chargeOverhead(3 * gates.macsPerInput * examples);
      clock?.afterStep(info.iteration, info.loss);
    },
    evalPlan,
    choices(x, ctx = {}) {
      const out = new Map<string, Int32Array>();
      tf.tidy(() => {
        model.apply(x, {
          ...ctx,
          training: false,
          blockPlan: (b, xi) => {
            const choice = choose(probabilities(b, xi, false));
            out.set(b.name, choice);
            return { groups: groupsOf(choice, () => undefined) };
          },
        });
      });
      gates.reset();
      return out;
    },
    optionCounts: () => [...counts.entries()].map(([block, c]) => ({ block, counts: [...c] })),
    stats: () => ({ cp: cpHistory[cpHistory.length - 1] ?? Number.NaN, target: target() }),
    dispose: () => gates.store.dispose(),
    state: (): StateValue =>
      ({
        counts: [...counts.entries()].map(([k, v]) => [k, ...v]),
        cpHistory,
        signHistory,
        targetHistory,
        clock: clock?.state() ?? null,
        rng: rng.state(),
        params: gates.store.recordsSync(),
      }) as unknown as StateValue,
    restore(s: StateValue) {
      const st = s as unknown as {
        counts: Array<[string, ...number[]]>;
        cpHistory: number[];
        signHistory: number[];
        targetHistory: number[];
        clock: StateValue | null;
        rng: RngState;
        params: Record<string, TensorRecord>;
      };
      gates.store.restore(st.params);
      rng = createRng(`dfq/${options.seed}`, st.rng);
      for (const [k, ...v] of st.counts) counts.set(k, v);
      cpHistory.splice(0, cpHistory.length, ...st.cpHistory);
      signHistory.splice(0, signHistory.length, ...st.signHistory);
      targetHistory.splice(0, targetHistory.length, ...st.targetHistory);
      if (clock && st.clock) clock.restore(st.clock);
    },
  };
}

/** FracTrain (Algorithm 2): DFQ whose target cp steps up through `targetCp` (e.g. [1.5, 2, 2.5, 3]) at the switch points of PFQ's indicator. */
export function fracTrain(
  options: DfqOptions & { readonly targetCp: readonly number[]; readonly switching: StageSwitching },
): Dfq {
  if (!Array.isArray(options.targetCp) || options.targetCp.length < 2)
    throw new ConfigError(
      'fractrain.targetCp',
      options.targetCp,
      'a list of at least two targets, lowest first (e.g. [1.5, 2, 2.5, 3])',
    );
  return dynamicFractionalQuantization({ ...options, name: options.name ?? 'fractrain' });
}
