import type { Scale } from '../config';
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
  /** Corpus: PTB's validation part split 90/10 into training and early-stopping words (the mirror has no PTB training part), or PTB train/valid. */
  readonly corpus: 'ptb-valid-90/10' | 'ptb';
  /** Words of the training, early-stopping and test parts (0: all). */
  readonly words: readonly [number, number, number];
  readonly embedding: number;
  readonly hidden: readonly number[];
  /** Vocabulary: the words of the training corpus, or a fixed size (the thesis's 10,000 of PTB). */
  readonly vocabulary: 'corpus' | number;
  readonly bptt: number;
  readonly batchSize: number;
  readonly lr: number;
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
 * to 15 epochs with early stopping, ISS fine-tuning the baseline for 5 epochs at rho 0.6, 0.7, 0.8 and 0.9 (a first run at
 * rho 0.5 removed no unit and at rho 1 a whole layer in every seed), l1 at the thesis's lambda 1e-4 (a first run at 1e-3
 * emptied the first layer), 3 seeds; `paper` the
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
