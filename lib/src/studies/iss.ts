import * as tf from '@tensorflow/tfjs-core';
import type { Scale } from '../config';
import type { AnalysisKinds } from '../experiments/analyses';
import {
  type Arm,
  buildModel,
  type ModelDescription,
  type Recipe,
  runArm,
  type TokenArmData,
} from '../experiments/arm';
import type { RunOutcome } from '../experiments/run';
import type { Model } from '../models/spec';
import { maskStructure, removeStructure, type StructureRemoval } from '../models/surgery';
import { charVocabulary, encode, splitCorpus, type Vocabulary } from '../data/text';
import type { OptimizerConfig } from '../train/optimizers';
import { intrinsicSparseStructures } from '../techniques/iss';
import { groupLassoStrength } from '../techniques/ssl';
import { regimeAtScale } from './regime';

/**
 * The regime of the ISS notebook (thesis Sec. 2.3, Table 2.5 and Fig. 2.11): a 2-layer LSTM language model, its dense
 * baseline trained until the validation perplexity stops improving, ISS at group-Lasso strengths stated as `rho`
 * (see `groupLassoStrength`: how many times over the regularizer alone would shrink the median unit of the baseline's
 * layer with the smaller units to zero),
 * the compacted model's fine-tuning, a "direct design" of the compacted sizes from scratch, and the l1 arm of Fig. 2.11.
 */
export interface IssRegime {
  readonly scale: Scale;
  /**
   * Corpus: PTB's validation part split 90/10 into training and early-stopping words (the mirror has no PTB training
   * part), PTB train/valid, or tinyshakespeare's characters split 90/5/5 into training, early-stopping and test text.
   */
  readonly corpus: 'ptb-valid-90/10' | 'ptb' | 'tinyshakespeare-char-90/5/5';
  /** Words of the training, early-stopping and test parts (0: all). */
  readonly words: readonly [number, number, number];
  readonly embedding: number;
  readonly hidden: readonly number[];
  /** Vocabulary: the words of the training corpus, or a fixed size (the thesis's 10,000 of PTB). */
  readonly vocabulary: 'corpus' | number;
  readonly bptt: number;
  readonly batchSize: number;
  /** Learning rate of plain SGD for every arm, or for the ISS, l1 and compacted arms where `baseline` is set. */
  readonly lr: number;
  /** The baseline's and the direct design's optimizer and rate, where they differ from plain SGD at `lr`. */
  readonly baseline?: { readonly optimizer: OptimizerConfig; readonly lr: number };
  readonly clipNorm: number;
  /** Epochs the baseline (and the direct design) may train before early stopping stops them. */
  readonly maxEpochs: number;
  /** Dropout rate of the baseline and of the ISS and l1 arms (the thesis: keep 0.35 and 0.6). */
  readonly dropout: number;
  readonly issDropout: number;
  /** ISS from the trained baseline (fine-tuning, `issEpochs`) or from scratch (the thesis: 55 epochs). */
  readonly issFrom: 'baseline' | 'scratch';
  readonly issEpochs: number;
  /** ISS strengths as `rho` of `groupLassoStrength` relative to the smaller of the layers' median unit norms (the thesis tuned lambda with HyperDrive and lists none). */
  readonly rhos: readonly number[];
  /**
   * Thresholding: per group at the largest steady regularizer step (`'group'`), or the thesis's per-weight tau after
   * every mini-batch (`'weight'`, tau = 1e-4 on PTB).
   */
  readonly threshold: { readonly on: 'group' } | { readonly on: 'weight'; readonly tau: number };
  /** Fig. 2.11's l1 arm: lambda x sum |w| and the pruning threshold (the thesis: l1 weight decay 1e-4). */
  readonly l1: { readonly lambda: number; readonly threshold: number };
  readonly seeds: number;
}

/**
 * ISS regimes: `smoke` plumbing on a few thousand words; `lite` 2 x 200 on PTB valid (90/10) with PTB test, baseline up
 * to 15 epochs with early stopping, ISS fine-tuning the baseline for 5 epochs at rho 0.6, 0.7, 0.8 and 0.9 (why these:
 * notebook 31's header), l1 at the thesis's lambda 1e-4, 3 seeds; `paper` the
 * thesis's stacked LSTM (Zaremba et al.'s large model: 2 x 1500, embedding 1500, vocabulary 10,000, 35 steps, batch
 * 20, lr 1, clipping 10, 55 epochs, dropout keep 0.35 for the baseline and 0.6 for ISS, ISS from scratch, tau 1e-4 per
 * weight; l1 weight decay 1e-4), as configuration.
 */
export function issRegime(scale: Scale, seeds?: number): IssRegime {
  const r: Record<Scale, IssRegime> = {
    smoke: {
      scale,
      corpus: 'ptb-valid-90/10',
      words: [3000, 600, 1000],
      embedding: 16,
      hidden: [16, 16],
      vocabulary: 'corpus',
      bptt: 35,
      batchSize: 20,
      lr: 1,
      clipNorm: 5,
      maxEpochs: 2,
      dropout: 0.5,
      issDropout: 0.5,
      issFrom: 'baseline',
      issEpochs: 1,
      rhos: [0.5],
      threshold: { on: 'group' },
      l1: { lambda: 0.01, threshold: 0.01 },
      seeds: 1,
    },
    lite: {
      scale,
      corpus: 'ptb-valid-90/10',
      words: [0, 0, 0],
      embedding: 200,
      hidden: [200, 200],
      vocabulary: 'corpus',
      bptt: 35,
      batchSize: 20,
      lr: 1,
      clipNorm: 5,
      maxEpochs: 15,
      dropout: 0.5,
      issDropout: 0.5,
      issFrom: 'baseline',
      issEpochs: 5,
      rhos: [0.6, 0.7, 0.8, 0.9],
      threshold: { on: 'group' },
      l1: { lambda: 1e-4, threshold: 1e-4 },
      seeds: 3,
    },
    paper: {
      scale,
      corpus: 'ptb',
      words: [0, 0, 0],
      embedding: 1500,
      hidden: [1500, 1500],
      vocabulary: 10000,
      bptt: 35,
      batchSize: 20,
      lr: 1,
      clipNorm: 10,
      maxEpochs: 55,
      dropout: 0.65,
      issDropout: 0.4,
      issFrom: 'scratch',
      issEpochs: 55,
      rhos: [0.5, 1],
      threshold: { on: 'weight', tau: 1e-4 },
      l1: { lambda: 1e-4, threshold: 1e-4 },
      seeds: 10,
    },
  };
  return regimeAtScale(r, scale, seeds);
}

/**
 * ISS on a character-level language model: tinyshakespeare (the data mirror's largest text, about 1.1 million
 * characters) split 90/5/5 into training, early-stopping and test text, so that the baseline is trained on about 13 times
 * more tokens than notebook 31's PTB-valid words. `lite`: 2 x 200 LSTM (embedding 64), 50-character windows, batch 64,
 * dropout 0.2, the baseline by Adam at 0.002 (cosine, up to 6 epochs, early stopping), ISS fine-tuning it for 2 epochs
 * with plain SGD at `lr` 1 and the group Lasso at rho 0.8, 1, 1.25, 1.5 and 2 (the grid a held-out choice reads; see
 * `chooseIssStrength`), 3 seeds. `smoke`: plumbing on a few thousand characters. `paper`: the thesis's ISS protocol
 * (`issRegime('paper')`: 2 x 1500, plain SGD at 1, clipping 10, 55 epochs, keep 0.35 / 0.6, ISS from scratch, tau 1e-4
 * per weight) on this corpus, as configuration; the thesis has no character-level experiment.
 */
export function issCharRegime(scale: Scale, seeds?: number): IssRegime {
  const corpus = 'tinyshakespeare-char-90/5/5';
  const r: Record<Scale, IssRegime> = {
    smoke: {
      ...{ scale, corpus, words: [4000, 800, 800], embedding: 8, hidden: [16, 16], vocabulary: 'corpus', bptt: 20 },
      ...{ batchSize: 8, lr: 1, baseline: { optimizer: { kind: 'adam' }, lr: 0.01 }, clipNorm: 5, maxEpochs: 2 },
      ...{ dropout: 0.2, issDropout: 0.2, issFrom: 'baseline', issEpochs: 1, rhos: [1], threshold: { on: 'group' } },
      ...{ l1: { lambda: 0.01, threshold: 0.01 }, seeds: 1 },
    },
    lite: {
      ...{ scale, corpus, words: [0, 0, 0], embedding: 64, hidden: [200, 200], vocabulary: 'corpus', bptt: 50 },
      ...{ batchSize: 64, lr: 1, baseline: { optimizer: { kind: 'adam' }, lr: 0.002 }, clipNorm: 5, maxEpochs: 6 },
      ...{ dropout: 0.2, issDropout: 0.2, issFrom: 'baseline', issEpochs: 2, rhos: [0.8, 1, 1.25, 1.5, 2] },
      ...{ threshold: { on: 'group' }, l1: { lambda: 1e-4, threshold: 1e-4 }, seeds: 3 },
    },
    paper: { ...issRegime('paper'), corpus, vocabulary: 'corpus' },
  };
  return regimeAtScale(r, scale, seeds);
}

/**
 * The token parts of `issCharRegime`'s corpus from tinyshakespeare's `text`: its character vocabulary, and the text
 * encoded and split 90/5/5 into training, early-stopping and test characters, each cut to `plan.words` (0: all).
 * Refuses a plan of another corpus.
 */
export function issCharCorpus(
  text: string,
  plan: IssRegime,
): { vocab: Vocabulary; train: Int32Array; validation: Int32Array; test: Int32Array } {
  if (plan.corpus !== 'tinyshakespeare-char-90/5/5')
    throw new RangeError(`issCharCorpus: plan.corpus = ${plan.corpus}, expected 'tinyshakespeare-char-90/5/5'`);
  const vocab = charVocabulary(text);
  const parts = splitCorpus(encode(text, vocab).ids, [0.9, 0.05, 0.05]);
  const [train, validation, test] = parts.map((ids, k) => {
    const n = plan.words[k] ?? 0;
    return n ? ids.slice(0, n) : ids;
  }) as [Int32Array, Int32Array, Int32Array];
  return { vocab, train, validation, test };
}

/** One ISS run of a held-out strength scan: its strength, rate, units kept per layer and validation perplexity. */
export interface IssScanRow {
  readonly rho: number;
  readonly lr: number;
  /** Per LSTM layer: its units and how many of them ISS zeroed. */
  readonly units: ReadonlyArray<{ readonly units: number; readonly zero: number }>;
  /** Perplexity on the early-stopping (validation) text, never the test text. */
  readonly validationPpl: number;
}

/** What {@link chooseIssStrength} chose, and why. */
export interface IssStrengthChoice {
  /** The chosen run, or undefined when no run removed part of a layer without emptying one. */
  readonly chosen: IssScanRow | undefined;
  readonly reason: string;
}

/**
 * Chooses an ISS strength on held-out text, as Table 2.5 asks of ISS (smaller hidden sizes at the baseline's
 * perplexity): among the runs that zeroed at least one unit and left every layer at least one unit, the one with the
 * fewest units left whose validation perplexity is at most (1 + `tolerance`) x the baseline's (ties: the lower
 * perplexity); when none is within the tolerance, the lowest validation perplexity among them; undefined when no run
 * removed part of a layer. `tolerance` defaults to 0.02 (2%, notebook 31's margin for Fig. 2.11).
 */
export function chooseIssStrength(
  rows: readonly IssScanRow[],
  baselineValidationPpl: number,
  tolerance = 0.02,
): IssStrengthChoice {
  if (!(Number.isFinite(baselineValidationPpl) && baselineValidationPpl > 0))
    throw new RangeError(
      `chooseIssStrength: baselineValidationPpl = ${baselineValidationPpl}, expected a positive perplexity`,
    );
  if (!(Number.isFinite(tolerance) && tolerance >= 0))
    throw new RangeError(`chooseIssStrength: tolerance = ${tolerance}, expected a non-negative share`);
  const kept = (r: IssScanRow) => r.units.reduce((a, u) => a + u.units - u.zero, 0);
  const partial = rows.filter(
    (r) =>
      Number.isFinite(r.validationPpl) && r.units.some((u) => u.zero > 0) && r.units.every((u) => u.zero < u.units),
  );
  if (partial.length === 0) return { chosen: undefined, reason: 'no run removed part of a layer without emptying one' };
  const bound = (1 + tolerance) * baselineValidationPpl;
  const within = partial.filter((r) => r.validationPpl <= bound);
  if (within.length > 0) {
    const best = [...within].sort((a, b) => kept(a) - kept(b) || a.validationPpl - b.validationPpl)[0] as IssScanRow;
    return {
      chosen: best,
      reason: `fewest units left (${kept(best)}) among ${within.length} run(s) within ${100 * tolerance}% of the baseline's validation perplexity ${baselineValidationPpl.toFixed(3)}`,
    };
  }
  const best = [...partial].sort((a, b) => a.validationPpl - b.validationPpl)[0] as IssScanRow;
  return {
    chosen: best,
    reason: `no partial removal within ${100 * tolerance}% of the baseline's validation perplexity ${baselineValidationPpl.toFixed(3)}: the lowest validation perplexity (${best.validationPpl.toFixed(3)}) of ${partial.length} partial removal(s)`,
  };
}

/**
 * The arms of the ISS study (Table 2.5, Fig. 2.11) on `data` with a vocabulary of `vocabSize` words: the dense
 * baseline with early stopping (storing its weights), l1 and ISS fine-tuning of its model, the compacted ISS model's
 * fine-tuning (timed against the masked original), and the direct design of the compacted sizes trained from scratch
 * with early stopping.
 */
export function issArms(plan: IssRegime, data: TokenArmData, vocabSize: number) {
  const full = [...plan.hidden];
  const model = (hidden: readonly number[], dropout = plan.dropout): ModelDescription => ({
    kind: 'lstm',
    options: { vocabSize, embedding: plan.embedding, hidden: [...hidden], steps: plan.bptt, dropout },
  });
  const recipe = (epochs: number, stopEarly: boolean, from: 'baseline' | 'sgd' = 'sgd'): Recipe => {
    const own = from === 'baseline' ? plan.baseline : undefined;
    return {
      ...{
        batchSize: plan.batchSize,
        bptt: plan.bptt,
        epochs,
        lr: own?.lr ?? plan.lr,
        optimizer: own?.optimizer ?? { kind: 'sgd' },
      },
      ...{ schedule: { kind: 'cosine' }, clipNorm: plan.clipNorm },
      ...(stopEarly ? { earlyStopping: { patience: 1 } } : {}),
    };
  };
  return {
    /** The model of `hidden` units per layer (the baseline's sizes by default). */
    model,
    baseline(seed: number): Arm<'weights'> {
      return {
        label: 'baseline',
        seed,
        data,
        model: model(full),
        recipe: recipe(plan.maxEpochs, true, 'baseline'),
        techniques: [],
        analysis: 'weights',
      };
    },
    /** Fig. 2.11: l1 on every LSTM and output weight of the baseline's model (the pruning threshold makes exact zeros). */
    l1(seed: number, baseline: Arm<'weights'>): Arm<'lm-l1'> {
      return {
        ...{ label: `l1 λ=${plan.l1.lambda}`, seed, data, model: model(full, plan.issDropout), init: baseline },
        ...{ recipe: recipe(plan.issEpochs, false), techniques: [{ kind: 'l1', options: plan.l1 }], analysis: 'lm-l1' },
      };
    },
    /**
     * ISS at strength `lambda`, thresholding at `threshold` (see `plan.threshold`): fine-tuning the baseline's model, or
     * from scratch where `plan.issFrom` is `'scratch'` (the baseline then only sets the strength's scale).
     */
    iss(seed: number, baseline: Arm<'weights'>, o: { rho: number; lambda: number; threshold: number }): Arm<'iss'> {
      return {
        ...{ label: `ISS rho=${o.rho}`, seed, data, model: model(full, plan.issDropout) },
        ...(plan.issFrom === 'baseline' ? { init: baseline } : {}),
        recipe: recipe(plan.issEpochs, false),
        techniques: [
          { kind: 'iss', options: { lambda: o.lambda, threshold: o.threshold, thresholdOn: plan.threshold.on } },
        ],
        analysis: 'iss',
      };
    },
    /** One epoch of fine-tuning of the compacted ISS model, timed at batch 1 and the training batch against the original. */
    compacted(seed: number, iss: Arm<'iss'>, rho: number): Arm<'compact-inference'> {
      return {
        ...{ label: `ISS rho=${rho}, compacted`, seed, data, model: model(full), init: iss, initTransform: 'compact' },
        ...{ recipe: recipe(1, false), techniques: [], analysis: 'compact-inference' },
        analysisOptions: { batches: [1, plan.batchSize] },
      };
    },
    /** The compacted sizes trained from scratch with early stopping (the thesis's "direct design"). */
    direct(seed: number, sizes: readonly number[], rho: number): Arm<undefined> {
      return {
        ...{ label: `direct design (ISS rho=${rho} sizes)`, seed, data, model: model(sizes) },
        ...{ recipe: recipe(plan.maxEpochs, true, 'baseline'), techniques: [], analysis: undefined },
      };
    },
  };
}

/** One row of Table 2.5 at this scale: an arm's test perplexity, hidden sizes, weights, multiply-adds and speedups. */
export interface IssRow {
  readonly seed: number;
  readonly arm: string;
  readonly ppl: number;
  readonly hidden: readonly number[];
  readonly weights: number;
  readonly macs: number;
  readonly speed1: number;
  readonly speedBatch: number;
  /** Epochs the baseline trained before early stopping (NaN for the other arms). */
  readonly epochs: number;
}

/** What the ISS study measured: Table 2.5's rows and the outcomes the figures read. */
export interface IssStudy {
  readonly rows: IssRow[];
  readonly baselines: Array<RunOutcome<AnalysisKinds['weights']>>;
  readonly l1: Array<RunOutcome<AnalysisKinds['lm-l1']>>;
  readonly iss: Array<{
    readonly seed: number;
    readonly rho: number;
    readonly lambda: number;
    readonly threshold: number;
    readonly outcome: RunOutcome<AnalysisKinds['iss']>;
  }>;
  /** Strengths at which a layer lost every unit (no compacted or direct-design arm). */
  readonly collapsed: Array<{ readonly seed: number; readonly rho: number }>;
}

const layerSum = (m: Model, f: (l: Model['layers'][number]) => number) => m.layers.reduce((a, l) => a + f(l), 0);

/**
 * The smaller of the layers' median ISS unit norms in the model `description` with `weights` (the scale a strength
 * `rho` is stated against: one lambda acts on both layers, and the last layer's groups include its rows of the output
 * layer).
 */
export function issMedianUnitNorm(
  description: ModelDescription,
  seed: number,
  weights: Parameters<typeof buildModel>[2],
): number {
  const medians = issUnitNorms(description, seed, weights).map(
    (u) => [...u.norms].sort((x, y) => x - y)[Math.floor(u.norms.length / 2)] as number,
  );
  return Math.min(...medians);
}

/**
 * Per LSTM layer of the model `description` with `weights`: every unit's ISS group norm (Eq. 2.6, with epsilon: a
 * zeroed unit's norm is sqrt(epsilon)), and how many units are zero. Nothing is trained; the model is disposed.
 */
export function issUnitNorms(
  description: ModelDescription,
  seed: number,
  weights: Parameters<typeof buildModel>[2],
): Array<{ readonly layer: string; readonly norms: number[]; readonly units: number; readonly zero: number }> {
  const model = buildModel(description, seed, weights);
  const probe = intrinsicSparseStructures({ model, lambda: 0 });
  const counts = probe.unitCounts();
  const out = probe.unitNorms().map((u, i) => ({
    layer: u.layer,
    norms: u.norms,
    units: counts[i]?.units ?? u.norms.length,
    zero: counts[i]?.zero ?? 0,
  }));
  probe.dispose?.();
  model.params.dispose();
  return out;
}

/**
 * The compaction identity of ISS (thesis Sec. 2.3: removing ISS components leaves a dense LSTM with smaller hidden
 * sizes and the same function): the largest |difference| between the logits of the model `description` with
 * `weights` and `removal` masked and those of the compacted model (`removeStructure`), on the windows of `ids`
 * ([windows, steps], int32). The models are disposed.
 */
export function issCompactionError(
  description: ModelDescription,
  seed: number,
  weights: Parameters<typeof buildModel>[2],
  removal: StructureRemoval,
  ids: tf.Tensor2D,
): number {
  const full = buildModel(description, seed, weights);
  try {
    const small = removeStructure(full, removal);
    try {
      maskStructure(full, removal);
      return tf.tidy(
        () =>
          tf
            .max(tf.abs(tf.sub(full.apply(ids, { training: false }), small.apply(ids, { training: false }))))
            .dataSync()[0] as number,
      );
    } finally {
      small.params.dispose();
    }
  } finally {
    full.params.dispose();
  }
}

/**
 * The group-Lasso lambda and group threshold of strength `rho` for ISS under `plan` (plain SGD at `lr`, default
 * `plan.lr`, over `plan.issEpochs` epochs of `trainTokens` on a cosine schedule) against `medianNorm`
 * (`issMedianUnitNorm`); the threshold is `plan`'s tau where it thresholds weights.
 */
export function issStrength(
  plan: IssRegime,
  o: { readonly medianNorm: number; readonly trainTokens: number; readonly rho: number; readonly lr?: number },
): { lambda: number; threshold: number } {
  const stepsPerEpoch = Math.floor(o.trainTokens / (plan.batchSize * plan.bptt));
  const lr = o.lr ?? plan.lr;
  const g = groupLassoStrength({
    norm: o.medianNorm,
    rho: o.rho,
    lr,
    iterations: Math.max(1, plan.issEpochs * stepsPerEpoch),
    momentum: 0,
    schedule: { kind: 'cosine' },
  });
  return { lambda: g.lambda, threshold: plan.threshold.on === 'weight' ? plan.threshold.tau : g.threshold };
}

/** What {@link issStrengthScan} measured: the ISS runs of the grid, as rows for `chooseIssStrength` and as outcomes. */
export interface IssScan {
  readonly rows: IssScanRow[];
  readonly runs: Array<{
    readonly row: IssScanRow;
    readonly lambda: number;
    readonly outcome: RunOutcome<AnalysisKinds['iss']>;
  }>;
}

/**
 * ISS from a trained `baseline` (its arm and outcome, early-stopped on `data.validation`) at every strength of
 * `plan.rhos` and every learning rate of `lrs`, one seed: each run's units left per layer and its perplexity on the
 * validation text, for a held-out choice (`chooseIssStrength`). `data` should carry no test text: nothing here is
 * chosen on it.
 */
export async function issStrengthScan(
  plan: IssRegime,
  data: TokenArmData,
  vocabSize: number,
  o: {
    readonly baseline: { readonly arm: Arm<'weights'>; readonly outcome: RunOutcome<AnalysisKinds['weights']> };
    readonly lrs: readonly number[];
    readonly onRun?: (label: string, outcome: RunOutcome) => void;
  },
): Promise<IssScan> {
  if (o.lrs.length === 0 || o.lrs.some((lr) => !(Number.isFinite(lr) && lr > 0)))
    throw new RangeError(`issStrengthScan: lrs = [${o.lrs.join(', ')}], expected one or more positive learning rates`);
  const seed = o.baseline.arm.seed;
  const medianNorm = issMedianUnitNorm(o.baseline.arm.model, seed, o.baseline.outcome.analysis ?? {});
  const scan: IssScan = { rows: [], runs: [] };
  for (const lr of o.lrs) {
    const arms = issArms({ ...plan, lr }, data, vocabSize);
    for (const rho of plan.rhos) {
      const g = issStrength(plan, { medianNorm, trainTokens: data.train.length, rho, lr });
      const arm = { ...arms.iss(seed, o.baseline.arm, { rho, ...g }), label: `ISS rho=${rho} lr=${lr}` };
      const outcome = await runArm(arm);
      o.onRun?.(`${arm.label} (λ=${g.lambda.toPrecision(3)})`, outcome);
      const row: IssScanRow = {
        rho,
        lr,
        units: (outcome.analysis?.units ?? []).map((u) => ({ units: u.units, zero: u.zero })),
        validationPpl: outcome.perplexity ?? Number.NaN,
      };
      scan.rows.push(row);
      scan.runs.push({ row, lambda: g.lambda, outcome });
    }
  }
  return scan;
}

/**
 * Runs the ISS study for each seed: the baseline, l1, and per strength `rho` (as `groupLassoStrength` of the smaller of
 * the layers' median ISS unit norms in this seed's baseline, plain SGD over the ISS epochs' cosine schedule) the ISS
 * arm, its compacted model and the direct design of its sizes (skipped where a layer lost every unit). `onRun` sees
 * each outcome (progress).
 */
export async function issStudy(
  plan: IssRegime,
  data: TokenArmData,
  vocabSize: number,
  o: { readonly seeds: readonly number[]; readonly onRun?: (label: string, outcome: RunOutcome) => void },
): Promise<IssStudy> {
  const arms = issArms(plan, data, vocabSize);
  const full = arms.model(plan.hidden);
  const study: IssStudy = { rows: [], baselines: [], l1: [], iss: [], collapsed: [] };
  const tokens = vocabSize * plan.embedding;
  for (const seed of o.seeds) {
    const baseArm = arms.baseline(seed);
    const b = await runArm(baseArm);
    o.onRun?.(baseArm.label, b);
    study.baselines.push(b);
    const weights = b.analysis ?? {};
    const probe = buildModel(full, seed, weights);
    const dims = { weights: layerSum(probe, (l) => l.weightCount), macs: layerSum(probe, (l) => l.macs) };
    probe.params.dispose();
    const medianNorm = issMedianUnitNorm(full, seed, weights);
    const stoppedAt = b.stoppedAt;
    study.rows.push({
      ...{
        seed,
        arm: 'baseline',
        ppl: b.testPerplexity ?? Number.NaN,
        hidden: plan.hidden,
        ...dims,
        speed1: 1,
        speedBatch: 1,
      },
      epochs: stoppedAt === null || stoppedAt === undefined ? plan.maxEpochs : stoppedAt + 1,
    });
    const l1Arm = arms.l1(seed, baseArm);
    const l1 = await runArm(l1Arm);
    o.onRun?.(l1Arm.label, l1);
    study.l1.push(l1);
    const la = l1.analysis;
    study.rows.push({
      ...{
        seed,
        arm: l1Arm.label,
        ppl: l1.testPerplexity ?? Number.NaN,
        hidden: la?.profile.map((p) => p.units - p.zeroUnits) ?? [],
      },
      weights: (la?.zeroShare.reduce((a, z) => a + z.weights - z.zero, 0) ?? Number.NaN) + tokens,
      ...{ macs: Number.NaN, speed1: Number.NaN, speedBatch: Number.NaN, epochs: Number.NaN },
    });
    for (const rho of plan.rhos) {
      const g = issStrength(plan, { medianNorm, trainTokens: data.train.length, rho });
      const threshold = g.threshold;
      const issArm = arms.iss(seed, baseArm, { rho, lambda: g.lambda, threshold });
      const iss = await runArm(issArm);
      o.onRun?.(`${issArm.label} (λ=${g.lambda.toPrecision(3)})`, iss);
      study.iss.push({ seed, rho, lambda: g.lambda, threshold, outcome: iss });
      const sizes = (iss.analysis?.units ?? []).map((u) => u.units - u.zero);
      if (sizes.length === 0 || sizes.some((n) => n === 0)) {
        study.collapsed.push({ seed, rho });
        continue;
      }
      const compactArm = arms.compacted(seed, issArm, rho);
      const c = await runArm(compactArm);
      o.onRun?.(compactArm.label, c);
      const inference = (batch: number) => c.analysis?.inference.find((x) => x.batch === batch);
      const speed = (batch: number) => {
        const t = inference(batch);
        return t ? t.originalMs / t.compactedMs : Number.NaN;
      };
      const compactDims = {
        weights: (c.analysis?.macs ?? []).reduce((a, l) => a + l.weights, 0),
        macs: (c.analysis?.macs ?? []).reduce((a, l) => a + l.macs, 0),
      };
      study.rows.push({
        ...{ seed, arm: `ISS rho=${rho}`, ppl: c.testPerplexity ?? Number.NaN, hidden: sizes, ...compactDims },
        ...{ speed1: speed(1), speedBatch: speed(plan.batchSize), epochs: Number.NaN },
      });
      const directArm = arms.direct(seed, sizes, rho);
      const d = await runArm(directArm);
      o.onRun?.(directArm.label, d);
      study.rows.push({
        ...{ seed, arm: directArm.label, ppl: d.testPerplexity ?? Number.NaN, hidden: sizes, ...compactDims },
        ...{ speed1: Number.NaN, speedBatch: Number.NaN, epochs: Number.NaN },
      });
    }
  }
  return study;
}
