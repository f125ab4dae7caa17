import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkKeys } from '../errors';
import type { ParamStore } from '../models/params';
import { rnnGates } from './rnn-gate';
import type { BlockPlan, BlockSpec, ForwardContext, Model } from '../models/spec';
import type { Technique } from '../train/technique';
import { createRng, type Rng, type RngState } from '../random';
import type { StateValue, TensorRecord } from '../models/records';

/** Options of {@link selectiveLayerUpdate}. */
export interface SluOptions {
  readonly model: Model;
  /** Weight alpha of the computational-complexity regularizer of Eq. (1). */
  readonly alpha: number;
  readonly seed: number;
  /** Width of the gate projection and of the shared LSTM (default 10, appendix C). */
  readonly hidden?: number;
  /**
   * Initial bias of the gate output (default 2: gates start open, p ≈ 0.88; with `targetSkipRatio` t the default is
   * log((1 - t) / t), so that Bernoulli gates start near the target and alpha only has to correct).
   */
  readonly initialBias?: number;
  /**
   * Optimizer of the gate parameters (default: the run's optimizer). With sign-based weight updates
   * (PSG, signSGD) every gate parameter moves by ±lr per step whatever its gradient, so the
   * regularizer weight alpha loses its grip on the skip ratio; give the gates e.g. plain SGD here.
   */
  readonly gateOptimizer?: { readonly config: import('../train/optimizers').OptimizerConfig; readonly lr: number };
  /**
   * How training decisions are drawn from the gate probability p (evaluation always runs a block iff p > 0.5):
   * - `'bernoulli'` (default): run the block for an input with probability p (seeded). Every input keeps a chance
   *   to run every block, so the task loss keeps reaching each gate and the skip ratio settles where the
   *   regularizer and the task loss balance.
   * - `'threshold'`: run iff p > 0.5, as at inference. An input that skips a block gives that gate no task-loss
   *   gradient (the block's output is never computed), so only the regularizer acts on it: the gates tend to
   *   close for good early in training whatever alpha is (measured: ResNet-14 / CIFAR-10, alpha 0.05 to 0.5,
   *   all blocks skipped within the first quarter of the run).
   */
  readonly sampling?: 'bernoulli' | 'threshold' | 'gumbel';
  /**
   * Temperature tau of the straight-through Gumbel-sigmoid estimator (`sampling: 'gumbel'`, default 1): the decision
   * is [logit + L > 0] with L ~ Logistic(0, 1) drawn from the seeded source (so an input runs a block with
   * probability p, as with `'bernoulli'`), and the gradient to the gate is that of sigmoid((logit + L) / tau), as in
   * ConvNet-AIG (Veit and Belongie, 2018). A low tau sharpens the gradient around the decision boundary.
   */
  readonly temperature?: number;
  /**
   * The cost term the gates are trained against:
   * - `'expected-cost'` (default; the paper's Eq. 1): alpha x sum over blocks of (block MACs / skippable MACs) x mean p.
   *   One weight for all blocks: the regularizer pushes every gate down by the same force, and inputs differ only by
   *   the task-loss gradient.
   * - `'per-block'` (ConvNet-AIG's target-rate loss): alpha x sum over blocks of (mean p of the block in the batch -
   *   (1 - targetSkipRatio))^2. Every block must run on (1 - target) of each batch, and the task loss decides on which
   *   inputs; this is what makes test-time decisions differ by input. Requires `targetSkipRatio`; alpha is then fixed
   *   (no dual ascent).
   * - `'sign-flip'` (the authors' released code, GATECH-EIC/E2Train `main_all.py`): alpha x reg x the number of block
   *   executions in the batch (every block weighted 1; its gradient reaches every input's p, as through the code's
   *   straight-through decision), with reg = -1 when the step's computation percentage (executions / possible
   *   executions) is at or below 1 - targetSkipRatio (their `--minimum`) and +1 above it: the regularizer pushes the
   *   gates down when too many blocks run and up when too few, with the fixed weight alpha (their `--beta`, 1e-5).
   *   Requires `targetSkipRatio`; alpha stays fixed.
   */
  readonly budget?: 'expected-cost' | 'per-block' | 'sign-flip';
  /**
   * Standardise each gate's input features (the block input's channel means) by running statistics, as a batch norm
   * without scale would (default false: the paper's gate, pooled features straight into the projection). Channel
   * means of post-ReLU features vary little between images (measured: the std of p over test inputs was 0.005-0.014
   * with every variant of the paper's gate), so the gate's logit barely depends on the input; standardising puts
   * their differences on a unit scale, as ConvNet-AIG's gate does with its batch norm. Statistics are updated in
   * training (momentum 0.9) and used as they stand in inference, so a decision never depends on the rest of the batch.
   */
  readonly normalizeGateInput?: boolean;
  /**
   * Target fraction of skippable-block executions to skip in training. When set, `alpha` is only the
   * starting value of the regularizer weight, which then follows dual ascent on the constraint
   * "skip ratio = target": after each step alpha += alphaStep x (target - skip ratio of that step), kept >= 0 (a
   * negative weight would reward computation, the opposite of Eq. 1; below the target the task loss alone opens the
   * gates). With `budget: 'per-block'` the target is the per-block execution rate instead and alpha stays fixed. Table 3 of E²-Train reports runs at average skip
   * ratios of about 20/40/60%; this reaches a chosen ratio without a search over alpha.
   */
  readonly targetSkipRatio?: number;
  /** Dual-ascent step of alpha per training step when `targetSkipRatio` is set (default 0.1). */
  readonly alphaStep?: number;
  /**
   * Which inputs give the gate its task-loss gradient in training:
   * - `'executed'` (default): only the inputs that run the block. A skipped input's block output is never computed,
   *   so the training saving is real and a skipping input tells its gate nothing about what the block would have done.
   * - `'all-inputs'` (the authors' released code, GATECH-EIC/E2Train `models/new_resnet.py`: the block runs on every
   *   input and its output is mixed with the shortcut by the straight-through hard decision): in training the block
   *   runs on the whole batch, the residual of an input that skips is multiplied by 0 in the forward pass, and every
   *   input's p receives the gradient of the residual it would add. Decisions, skip counts and evaluation are as with
   *   `'executed'`; the ledger charges the block for every input in training (it ran on every input).
   */
  readonly gateGradient?: 'executed' | 'all-inputs';
}

/** SLU as a technique, with gate statistics and dynamic-inference plans. */
export interface Slu extends Technique {
  /** Per block: executions and skips so far in training. */
  blockCounts(): Array<{ block: string; executed: number; skipped: number }>;
  /** Fraction of skippable-block executions skipped so far. */
  skipRatio(): number;
  /** Plan for dynamic inference with the trained gates (pass as ctx.blockPlan in evaluation). */
  readonly evalPlan: (block: BlockSpec, x: tf.Tensor4D) => BlockPlan | undefined;
  /** Gate decisions per skippable block for a batch in inference mode: block name -> 1 (run) / 0 (skip) per input. */
  decisions(x: tf.Tensor, ctx?: Omit<ForwardContext, 'training' | 'blockPlan'>): Map<string, Uint8Array>;
  /** Gate probabilities p per skippable block for a batch in inference mode (the block runs where p > 0.5). */
  probabilities(x: tf.Tensor, ctx?: Omit<ForwardContext, 'training' | 'blockPlan'>): Map<string, Float32Array>;
  /** Fraction of skippable-block executions skipped in each training step. */
  readonly skipHistory: number[];
  /** Forward MACs of the gate network per input. */
  readonly gateMacsPerInput: number;
  /** Current regularizer weight (changes during training when a target skip ratio is set). */
  alpha(): number;
  /** Regularizer weight after each training step. */
  readonly alphaHistory: number[];
  readonly gateParams: ParamStore;
}

const SLU_OPTIONS = [
  'model',
  'alpha',
  'seed',
  'hidden',
  'initialBias',
  'gateOptimizer',
  'sampling',
  'temperature',
  'budget',
  'normalizeGateInput',
  'targetSkipRatio',
  'alphaStep',
  'gateGradient',
] as const;

/**
 * Straight-through residual scale of an input that runs a block: forward value 1 (the block's output counts in
 * full, whatever p is), identity gradient to p.
 */
const steOne = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const p = args[0] as tf.Tensor;
  return { value: tf.onesLike(p), gradFunc: (dy: tf.Tensor) => dy };
}) as Parameters<typeof tf.customGrad>[0]);

/**
 * Straight-through hard decision: forward value the 0/1 decisions `m`, identity gradient to `p` (none to `m`).
 */
const steMask = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const p = args[0] as tf.Tensor;
  const m = args[1] as tf.Tensor;
  return { value: tf.mul(m, tf.onesLike(p)), gradFunc: (dy: tf.Tensor) => [dy, tf.zerosLike(dy)] };
}) as Parameters<typeof tf.customGrad>[0]);

/**
 * E²-Train's input-dependent selective layer update (Sec. 3.2, appendix C). Every skippable residual
 * block gets an RNN gate: global average pooling of the block input, a linear projection to 10
 * dimensions (per block), one LSTM of size 10 whose weights are shared by all gates (its state runs
 * along the blocks), and a sigmoid output p. The decision is hard in the forward pass: in training the
 * block runs for an input with probability p (seeded Bernoulli draw; see {@link SluOptions.sampling}),
 * in evaluation iff p > 0.5; the block runs only on the inputs that select it, in both passes, so the
 * saving is real. Gradient estimators: the task loss reaches the gate through a straight-through
 * estimator on the residual branch (forward value 1, gradient to p); the complexity regularizer alpha * C(W, G)
 * of Eq. (1) uses the expected cost, C = sum over blocks of (block FLOPs / all skippable FLOPs) x mean p.
 * Gate MACs are charged to the ledger (forward and backward).
 */
export function selectiveLayerUpdate(options: SluOptions): Slu {
  checkKeys(options, SLU_OPTIONS, 'slu');
  if (!Number.isSafeInteger(options.seed)) throw new ConfigError('slu.seed', options.seed, 'an integer seed');
  const { model } = options;
  let alpha = options.alpha;
  if (!(Number.isFinite(alpha) && alpha >= 0)) throw new ConfigError('slu.alpha', alpha, 'a non-negative number');
  const target = options.targetSkipRatio;
  if (target !== undefined && !(target >= 0 && target <= 1))
    throw new ConfigError('slu.targetSkipRatio', target, 'a fraction in [0, 1]');
  const alphaStep = options.alphaStep ?? 0.1;
  if (!(Number.isFinite(alphaStep) && alphaStep > 0))
    throw new ConfigError('slu.alphaStep', alphaStep, 'a positive number');
  const sampling = options.sampling ?? 'bernoulli';
  if (sampling !== 'bernoulli' && sampling !== 'threshold' && sampling !== 'gumbel')
    throw new ConfigError('slu.sampling', sampling, "'bernoulli', 'threshold' or 'gumbel'");
  const temperature = options.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature > 0))
    throw new ConfigError('slu.temperature', temperature, 'a positive number');
  if (options.temperature !== undefined && sampling !== 'gumbel')
    throw new ConfigError('slu.temperature', options.temperature, "unset unless sampling is 'gumbel'");
  const gateGradient = options.gateGradient ?? 'executed';
  if (gateGradient !== 'executed' && gateGradient !== 'all-inputs')
    throw new ConfigError('slu.gateGradient', gateGradient, "'executed' or 'all-inputs'");
  if (gateGradient === 'all-inputs' && sampling === 'gumbel')
    throw new ConfigError('slu.gateGradient', gateGradient, "'executed' when sampling is 'gumbel'");
  const budget = options.budget ?? 'expected-cost';
  if (budget !== 'expected-cost' && budget !== 'per-block' && budget !== 'sign-flip')
    throw new ConfigError('slu.budget', budget, "'expected-cost', 'per-block' or 'sign-flip'");
  if ((budget === 'per-block' || budget === 'sign-flip') && target === undefined)
    throw new ConfigError('slu.targetSkipRatio', target, `a fraction in [0, 1] when budget is '${budget}'`);
  const alphaHistory: number[] = [];
  const skippable = model.blocks.filter((b) => b.skippable);
  if (skippable.length === 0) throw new ConfigError('slu.model', model.name, 'a model with skippable residual blocks');
  const totalMacs = skippable.reduce((a, b) => a + b.macs, 0);
  const clampedTarget = target === undefined ? undefined : Math.min(0.99, Math.max(0.01, target));
  const gates = rnnGates({
    model,
    blocks: skippable,
    seed: options.seed + 7777,
    hidden: options.hidden,
    outputs: 1,
    initialBias: [
      options.initialBias ?? (clampedTarget === undefined ? 2 : Math.log((1 - clampedTarget) / clampedTarget)),
    ],
    normalizeInput: options.normalizeGateInput,
  });
  const store = gates.store;
  const gateMacsPerInput = gates.macsPerInput;
  let rng: Rng = createRng(`slu/${options.seed}`);

  const counts = new Map(skippable.map((b) => [b.name, { executed: 0, skipped: 0 }]));
  const skipHistory: number[] = [];
  let lastTotals = { e: 0, s: 0 };
  let cost: tf.Scalar | undefined;
  let lastExamples = 0;

  /** One gate step: logits [n] for block `b` on input x (p = sigmoid(logit)), advancing the shared LSTM state. */
  const gate = (b: BlockSpec, x: tf.Tensor4D, training = false): tf.Tensor1D =>
    tf.reshape(gates.logits(b, x, training), [x.shape[0]]) as tf.Tensor1D;

  /** The block plan of the gate's decisions; `seen` receives the probabilities it read from the device. */
  const planFrom = (logit: tf.Tensor1D, train: boolean, b: BlockSpec, seen?: (p: Float32Array) => void): BlockPlan => {
    const p = tf.sigmoid(logit) as tf.Tensor1D;
    const d = p.dataSync() as Float32Array;
    seen?.(Float32Array.from(d));
    const active: number[] = [];
    const noise: number[] = [];
    d.forEach((v, i) => {
      if (!train || sampling === 'threshold') {
        if (v > 0.5) active.push(i);
        return;
      }
      const u = rng.next();
      if (sampling === 'bernoulli') {
        if (u < v) active.push(i);
        return;
      }
      // Gumbel-sigmoid: logit + L > 0 with L = log(u / (1 - u)) ~ Logistic(0, 1); the same event as 1 - u < p.
      const uu = Math.min(Math.max(u, 1e-7), 1 - 1e-7);
      if (1 - uu < v) {
        active.push(i);
        noise.push(Math.log(uu / (1 - uu)));
      }
    });
    if (train) {
      const k = counts.get(b.name)!;
      k.executed += active.length;
      k.skipped += d.length - active.length;
    }
    if (train && gateGradient === 'all-inputs') {
      // The block runs on every input; the hard decisions (1 run, 0 skip) scale its residual, the gradient reaches p.
      const m = new Float32Array(d.length);
      for (const i of active) m[i] = 1;
      const all = Int32Array.from(d, (_v, i) => i);
      return { groups: [{ indices: all, residualScale: steMask(p, tf.tensor1d(m)) as tf.Tensor1D }] };
    }
    if (active.length === 0) return { groups: [] };
    const idx = Int32Array.from(active);
    const chosen = tf.gather(train && sampling === 'gumbel' ? logit : p, tf.tensor1d(idx, 'int32')) as tf.Tensor1D;
    // Forward value 1 for every executed input; the gradient reaches p (or, for Gumbel, sigmoid((logit + L) / tau)).
    const soft =
      train && sampling === 'gumbel' ? tf.sigmoid(tf.div(tf.add(chosen, tf.tensor1d(noise)), temperature)) : chosen;
    const scale = steOne(soft) as tf.Tensor1D;
    return { groups: [{ indices: idx, residualScale: scale }] };
  };

  const isSkippable = new Set(skippable.map((b) => b.name));
  const totals = () => {
    let e = 0;
    let s = 0;
    for (const c of counts.values()) {
      e += c.executed;
      s += c.skipped;
    }
    return { e, s };
  };
  const skipRatio = () => {
    const { e, s } = totals();
    return e + s ? s / (e + s) : 0;
  };
  const evalPlan = (b: BlockSpec, x: tf.Tensor4D): BlockPlan | undefined =>
    isSkippable.has(b.name) ? planFrom(gate(b, x), false, b) : undefined;

  /** Gate probabilities of every skippable block for a batch, in inference mode (blocks run where p > 0.5). */
  const inferenceProbabilities = (
    x: tf.Tensor,
    ctx: Omit<ForwardContext, 'training' | 'blockPlan'>,
  ): Map<string, Float32Array> => {
    const out = new Map<string, Float32Array>();
    tf.tidy(() => {
      model.apply(x, {
        ...ctx,
        training: false,
        blockPlan: (b, xi) => {
          if (!isSkippable.has(b.name)) return undefined;
          return planFrom(gate(b, xi), false, b, (p) => out.set(b.name, p));
        },
      });
    });
    gates.reset();
    return out;
  };

  return {
    name: 'slu',
    settings: {
      ...{
        alpha: options.alpha,
        seed: options.seed,
        target: target ?? null,
        alphaStep,
        sampling,
        temperature,
        budget,
        gateGradient,
      },
      ...{ hidden: options.hidden ?? null, initialBias: options.initialBias ?? null },
      ...{
        normalizeGateInput: options.normalizeGateInput ?? null,
        gateOptimizer: JSON.stringify(options.gateOptimizer ?? null),
      },
    },
    gateParams: store,
    gateMacsPerInput,
    parameters: () => store.trainable(),
    parameterOptimizer: options.gateOptimizer,
    blockPlan(b, x) {
      if (!isSkippable.has(b.name)) return undefined;
      lastExamples = x.shape[0];
      const logit = gate(b, x, true);
      const meanP = tf.mean(tf.sigmoid(logit));
      const term = (
        budget === 'per-block'
          ? tf.square(tf.sub(meanP, 1 - (target as number)))
          : budget === 'sign-flip'
            ? tf.mul(meanP, x.shape[0])
            : tf.mul(meanP, b.macs / totalMacs)
      ) as tf.Scalar;
      cost = cost ? (tf.add(cost, term) as tf.Scalar) : term;
      return planFrom(logit, true, b);
    },
    lossTerm() {
      const c = cost;
      cost = undefined;
      gates.reset();
      if (!c || alpha === 0) return undefined;
      if (budget !== 'sign-flip') return tf.mul(c, alpha) as tf.Scalar;
      // This step's decisions are counted already (the plans ran in the forward pass).
      const { e, s } = totals();
      const de = e - lastTotals.e;
      const ds = s - lastTotals.s;
      const cp = de + ds > 0 ? de / (de + ds) : 1;
      return tf.mul(c, cp <= 1 - (target as number) ? -alpha : alpha) as tf.Scalar;
    },
    afterStep(info) {
      info.ledger?.chargeOverhead(3 * gateMacsPerInput * lastExamples);
      const { e, s } = totals();
      const de = e - lastTotals.e;
      const ds = s - lastTotals.s;
      const stepSkip = de + ds ? ds / (de + ds) : 0;
      skipHistory.push(stepSkip);
      lastTotals = { e, s };
      if (budget === 'expected-cost' && target !== undefined && de + ds > 0)
        alpha = Math.max(0, alpha + alphaStep * (target - stepSkip));
      alphaHistory.push(alpha);
    },
    skipHistory,
    alphaHistory,
    alpha: () => alpha,
    evalPlan,
    decisions(x, ctx = {}) {
      const out = new Map<string, Uint8Array>();
      for (const [block, p] of inferenceProbabilities(x, ctx))
        out.set(
          block,
          Uint8Array.from(p, (v) => (v > 0.5 ? 1 : 0)),
        );
      return out;
    },
    probabilities: (x, ctx = {}) => inferenceProbabilities(x, ctx),
    blockCounts: () => [...counts.entries()].map(([block, c]) => ({ block, ...c })),
    skipRatio,
    stats: () => ({ skipRatio: skipRatio(), alpha }),
    dispose: () => store.dispose(),
    state: (): StateValue => ({
      alpha,
      rng: rng.state(),
      counts: [...counts.entries()].map(([k, v]) => [k, v.executed, v.skipped]),
      skipHistory,
      alphaHistory,
      params: store.recordsSync(),
    }),
    restore(s: StateValue) {
      const st = s as unknown as {
        alpha: number;
        rng: RngState;
        counts: Array<[string, number, number]>;
        skipHistory: number[];
        alphaHistory: number[];
        params: Record<string, TensorRecord>;
      };
      store.restore(st.params);
      rng = createRng(`slu/${options.seed}`, st.rng);
      alpha = st.alpha;
      for (const [k, executed, skipped] of st.counts) counts.set(k, { executed, skipped });
      skipHistory.splice(0, skipHistory.length, ...st.skipHistory);
      alphaHistory.splice(0, alphaHistory.length, ...st.alphaHistory);
      lastTotals = totals();
    },
  };
}
