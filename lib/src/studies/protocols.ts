import { regimeIterations, type CifarRegime } from './regime';
import type { ForceRegime } from './force';
import type { IssRegime } from './iss';
import { type SparsityRegime, sslConvnetCodePhases } from './sparsity';

/**
 * One row of a protocol table: a setting as the paper states it (quoted, with its location), as the authors' released
 * code sets it (file and value), as a run of this library at the given regime sets it, and why the last differs.
 */
export interface ProtocolRow {
  readonly setting: string;
  readonly paper: string;
  readonly code: string;
  readonly run: string;
  readonly why: string;
  /** The notebooks whose arms the row concerns (e.g. `'12'`). */
  readonly notebooks: readonly string[];
}

const E2 = 'GATECH-EIC/E2Train';
const FT = 'GATECH-EIC/FracTrain';

/**
 * E²-Train's protocol (notebooks 10-13): the paper (Sec. 3-4 and appendices B-C), the authors' released code
 * (GATECH-EIC/E2Train at 457504c: `main_all.py`, `models/predictive.py`) and this library's runs in `regime`.
 */
export function e2trainProtocol(regime: CifarRegime): ProtocolRow[] {
  const its = regimeIterations(regime);
  const epochs = Math.round((its * regime.batchSize) / regime.trainCount);
  return [
    {
      setting: 'model and length',
      paper: '"ResNet-74 ... Models are trained for 64k iterations" (Sec. 4.1)',
      code: `${E2} main_all.py: arch cifar10_rnn_gate_74, --iters 64000 drawn batches, --batch-size 128`,
      run: `ResNet-${regime.depth} (${regime.widths.join('-')}), ${its} iterations of ${regime.batchSize} (${epochs} epochs)`,
      why: 'what 2 CPU cores train in a 90-minute notebook',
      notebooks: ['10', '11', '12', '13'],
    },
    {
      setting: 'baseline optimizer',
      paper: '"an SGD with a momentum of 0.9 and a weight decaying factor of 0.0001" (Sec. 4.1)',
      code: `${E2} main_all.py: torch.optim.SGD, --momentum 0.9, --weight-decay 1e-4, --lr 0.1`,
      run: `SGD, momentum ${regime.momentum}, weight decay ${regime.weightDecay}, lr ${regime.lr}`,
      why: 'weight decay 5e-4, the usual CIFAR value for short ResNet schedules; the 1e-4 of He et al. suits 64k iterations',
      notebooks: ['10', '11', '12', '13'],
    },
    {
      setting: 'learning-rate schedule',
      paper:
        '"decayed by 10 at the 32k and 48k iterations" (Sec. 4.1); SMD: "learning rate schedule ... remain unchanged" (Sec. 3.1)',
      code: `${E2} main_all.py adjust_learning_rate: x0.1 at drawn iteration int(32000 x 4/3) = 42,666 and int(48000 x 4/3) = 64,000; with --iters 64000 the second step is never reached`,
      run: `cosine from ${regime.lr} over the trained iterations`,
      why: 'at 10 epochs the step schedule spends half the run at lr 0.1 and ends several points lower',
      notebooks: ['10', '11', '12', '13'],
    },
    {
      setting: 'initialisation, augmentation',
      paper: '"the initialization introduced in [63]"; "mirroring/shifting" (Sec. 4.1)',
      code: `${E2} data.py: RandomCrop(32, padding=4), RandomHorizontalFlip, Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)); models/new_resnet.py: conv weights N(0, sqrt(2 / n))`,
      run: 'He-normal initialisation; pad-4 crop and flip; inputs standardised by the training set statistics',
      why: 'as the paper and code (statistics computed, not typed in)',
      notebooks: ['10', '11', '12', '13'],
    },
    {
      setting: 'SMD: a dropped batch',
      paper: '"SMD simply skips every mini-batch with a default probability of 0.5" (Sec. 3.1)',
      code: `${E2} main_all.py: rand_flag = random.uniform(0, 1) > 0.5; on a dropped batch optimizer.zero_grad(); optimizer.step() (PyTorch 1.0: zero gradients, so momentum and weight decay still move the weights); the iteration counter and the schedule count drawn batches`,
      run: "default: nothing happens (the paper's text), schedule over trained iterations; option smd.dropped = 'step' does the code's zero-gradient step",
      why: "the paper's description; the code's variant is an arm of notebook 13's ladder",
      notebooks: ['10', '13'],
    },
    {
      setting: 'PSG: where the sign is taken',
      paper:
        'Eq. 2: the sign of the MSB prediction where |g_msb| >= beta max|g_msb|, else of the full gradient (Sec. 3.3)',
      code: `${E2} models/predictive.py PredictiveWeightQuantFunction.backward: grad_weight.sign_() for conv and linear weights only; batch-norm parameters and biases keep real gradients`,
      run: 'the sign of each conv/dense weight gradient (as the code); batch-norm parameters get their real gradients',
      why: 'as the code',
      notebooks: ['12', '13'],
    },
    {
      setting: 'PSG: optimizer and learning rate',
      paper:
        '"SGD with a momentum of 0.9" and "the initial learning rate is adjusted to 0.03" (Sec. 4.1); "a learning rate of 0.03 and a weight decay of 0.0005 for SignSGD [20] and PSG" (App. B)',
      code: `${E2} main_all.py: the same torch.optim.SGD (momentum 0.9, --weight-decay 1e-4, --lr 0.1) over the signed weight gradients`,
      run: "paper recipe: signsgd (w -= lr (sign(g) + 5e-4 w), no momentum), lr 0.03; ladder rungs: the code's momentum SGD over signs at lr 0.1, wd 1e-4, and at the paper's lr 0.03, wd 5e-4",
      why: 'the appendix names SignSGD [20], whose update has no momentum; Sec. 4.1 and the code apply momentum SGD to the signs: both are run',
      notebooks: ['12', '13'],
    },
    {
      setting: 'PSG: threshold',
      paper: '"adaptive threshold ... beta = 0.05" (Sec. 4.4)',
      code: `${E2} main_all.py --threshold 5e-5: absolute (relative to max|g_msb| only when negative)`,
      run: 'beta 0.05 relative (paper); the ladder\'s "authors\' update" rung uses the absolute 5e-5',
      why: 'the paper states the relative rule',
      notebooks: ['12', '13'],
    },
    {
      setting: 'PSG: precisions',
      paper:
        '"8-bit precision for the activations/weights and 16-bit for the gradients ... predictors are 4-bit and 10-bit" (Sec. 4.4)',
      code: `${E2} main_all.py: --num_bits 8, --num_bits_weight 8, --num_bits_grad 32, --msb_bits 4, --msb_bits_weight 4, --msb_bits_grad 16`,
      run: 'FW-8/BW-16, predictors 4 (activations) and 10 (gradients) bits',
      why: "the paper's numbers (the code's defaults differ: 32-bit gradients, 16-bit gradient predictor)",
      notebooks: ['12', '13'],
    },
    {
      setting: 'gradient quantizer ranges',
      paper: 'not stated (Sec. 4.4 gives only the bit widths)',
      code: `${E2} models/quantize.py quantize_grad: calculate_qparams(..., reduce_type='extreme'), one range per tensor (the batch's largest |dy|), nearest rounding (stochastic=False)`,
      run: "the batch's largest |dy| per tensor, stochastic rounding (a ladder rung: per-example ranges averaged over the batch, which clip)",
      why: 'range as the code; stochastic rounding as SBM (at 16 bits the rounding changes little)',
      notebooks: ['12', '13'],
    },
    {
      setting: 'SWA',
      paper:
        '"stochastic weight averaging (SWA) technique [64] when PSG is adopted" (Sec. 4.1); no start, frequency or batch-norm update given',
      code: `${E2}: no SWA in main_all.py`,
      run: 'average every iteration of the last quarter; batch-norm statistics re-estimated over the whole augmented training set, as torch.optim.swa_utils.update_bn over a training loader (a ladder rung: over 50 un-augmented batches of 128)',
      why: 'the paper gives no settings; the code has none',
      notebooks: ['12', '13'],
    },
    {
      setting: 'SLU regularizer',
      paper: 'Eq. 1: task loss + alpha C(W, G), C the computational cost of the executed blocks (Sec. 3.2)',
      code: `${E2} main_all.py: loss + beta energy reg, energy = executed blocks x inputs (energy_parameter all 1), reg = -1 when the computation percentage <= --minimum, else +1; --beta 1e-5`,
      run: "expected cost x alpha with dual ascent to a target skip ratio, or the per-block target-rate loss (main gates); option budget 'sign-flip' is the code's rule",
      why: "Eq. 1 has no rule for reaching a skip ratio; the code's sign flip and the dual ascent both hold one",
      notebooks: ['11', '13'],
    },
  ];
}

/**
 * FracTrain's protocol (notebooks 20, 21, 21b): the paper (Sec. 3-4, supplement) and the authors' released code
 * (GATECH-EIC/FracTrain: `fractrain_cifar/train_pfq.py`, `train_dfq.py`, `train_frac.py`, README).
 */
export function fractrainProtocol(regime: CifarRegime): ProtocolRow[] {
  const its = regimeIterations(regime);
  const period = Math.max(1, Math.round(its / 160));
  return [
    {
      setting: 'model, length, optimizer',
      paper:
        'ResNet-38/74 on CIFAR-10/100 (Sec. 4.1); "the first learning rate annealing at the 80-th epoch" (Sec. 3.1, Fig. 1); "SOTA settings in [9]" (Sec. 4.1)',
      code: `${FT} train_pfq.py: --iters 64000, --batch_size 128, SGD --lr 0.1, --momentum 0.9, --weight_decay 1e-4, piecewise x0.1 at 32,000 and 48,000`,
      run: `ResNet-${regime.depth}, ${its} iterations of ${regime.batchSize}, SGD momentum ${regime.momentum}, wd ${regime.weightDecay}, cosine from ${regime.lr}`,
      why: 'the E²-Train lite regime, so the 32-bit baseline is the same run',
      notebooks: ['20', '21', '21b'],
    },
    {
      setting: 'PFQ indicator',
      paper:
        '"the loss difference in the previous five epochs is smaller than a preset threshold epsilon" (Sec. 3.1, Algorithm 1); "epsilon and alpha (0.05 and 0.3, respectively)" (Sec. 4.1)',
      code: `${FT} train_pfq.py defaults: --initial_threshold 0.15, --decay 0.4 (applied at turning points 1 and 2), a loss every --eval_every 400 iterations, 5 kept, scale = mean of the first <= 10 periods' losses; the README's command passes 0.05 and 0.3`,
      run: `paper: epsilon 0.05, alpha 0.3, a period every ${period} iterations (1/160 of the run), final stage by half the run; code: epsilon 0.15, alpha 0.4, no forced final stage`,
      why: "periods scaled to the run's length; the forced final stage stands for the paper's switch before the first lr decay",
      notebooks: ['20'],
    },
    {
      setting: 'DFQ options and weights',
      paper:
        "gates choose each layer's precision for its activations and gradients among options, skipping included (Sec. 3.2, Eq. 2); the main text lists no option set",
      code: `${FT} train_dfq.py: bits = [3, 4, 4, 6, 6], grad_bits = [6, 6, 8, 8, 12], weights at a fixed --weight_bits (README: 4)`,
      run: "the code's options: activations 3/4/4/6/6 bits, gradients 6/6/8/8/12, weights fixed at 4 bits; this library's set FW(3,4,6,8)/BW(6,6,8,8) with weights per option is a rung of 20b's ladder",
      why: "the paper gives no option set; 20b's ladder measured the library's set as the rung that cost DFQ its points",
      notebooks: ['21', '21b'],
    },
    {
      setting: "FracTrain's targets",
      paper:
        'FracTrain at "cp=1.5/2/2.5/3" against SBM FW-8/BW-8 (Table 3); "the DFQ based training process is automatically divided into multiple stages controlled by the PFQ indicator ... and each stage is assigned with different target cp" (Sec. 3.3)',
      code: `${FT} train_frac.py: targets --target_ratio + i x --target_ratio_step for i = 0..--num_turning_point (3), the README's command --target_ratio 1.5 --target_ratio_step 0.5 --initial_threshold 0.05 --decay 0.3 --weight_bits 4; a loss every --eval_every 390 iterations`,
      run: `targets 1.5/2/2.5/3 stepped by the paper's indicator (epsilon 0.05, alpha 0.3, a period every ${period} iterations, last target by half the run), the code's options`,
      why: "the README's command; periods scaled to the run's length",
      notebooks: ['21b'],
    },
    {
      setting: 'static baselines',
      paper:
        '"SBM [14], WAGEUBN [22], and DoReFa [37]"; "all the batch normalization layers [46] in floating point precision" (Sec. 4.1)',
      code: `${FT} modules/quantize.py: QuantMeasure and quantize_grad reduce per-sample extrema with reduce_type='extreme'; weights per output channel`,
      run: "SBM with the code's ranges (batch extremes, per-channel weights), DoReFa and WAGEUBN per their papers; batch norm in float",
      why: 'as the code',
      notebooks: ['20', '21', '21b'],
    },
  ];
}

const TG = 'wenwei202/terngrad';
const SO = 'wenwei202/smoothout';

/**
 * TernGrad's protocol (notebook 40): the thesis (ch. 4) and the authors' released code (wenwei202/terngrad at ec4f75e:
 * `terngrad/inception/inception_train.py`, `bingrad_common.py`, `inception_model.py`).
 */
export function terngradProtocol(): ProtocolRow[] {
  return [
    {
      setting: 'weight decay and ternarizing',
      paper:
        '"All are trained using polynomial LR decay with weight decay of 0.0005" (Sec. 4.2.1); the order is not stated',
      code: `${TG} inception_train.py: the tower gradient of total_loss = cross-entropy + slim's weight-decay regularizers on conv and fc weights (inception_model.py) is ternarized by stochastical_binarize_gradients`,
      run: "default: decay added by the optimizer after the workers' ternary gradients are averaged, on every parameter; arm option decayInside: the code's order",
      why: 'the thesis does not say; both are run',
      notebooks: ['40', '40b'],
    },
    {
      setting: 'clipping and scaler',
      paper:
        '"we ... obtained the optimal c = 2.5" (Sec. 4.1.3, Eq. 4.21); scaler s = max|g| (Eq. 4.2), shared by workers (Eq. 4.4)',
      code: `${TG} bingrad_common.py gradient_binarizing_scalers: with clipping the scaler is clip_factor x stddev (2.5 sigma), without it max|g|`,
      run: 'clip at 2.5 sigma, scaler max|clipped g| shared by workers (equal to 2.5 sigma whenever an entry reaches the clip)',
      why: "the thesis's Eq. 4.2 on the clipped gradient",
      notebooks: ['40', '40b'],
    },
    {
      setting: 'LeNet recipe',
      paper: '"base learning rates of momentum SGD and vanilla SGD are 0.01 and 0.1" (Sec. 4.2.1, Fig. 4.3)',
      code: `${TG}: LeNet runs through slim's train_image_classifier (no TernGrad-specific LeNet script in the repository)`,
      run: 'LeNet on the whole MNIST, momentum SGD 0.01 and vanilla SGD 0.1 (unit-range inputs), poly decay (power 0.5), weight decay 5e-4',
      why: "the thesis's rates; lite is about 5 epochs",
      notebooks: ['40', '40b'],
    },
  ];
}

/**
 * SmoothOut's protocol (notebooks 41, 41b): the thesis (ch. 5) and the authors' released code (wenwei202/smoothout at
 * d6db540: `main_gbn.py`, `run_experiments.sh`).
 */
export function smoothoutProtocol(): ProtocolRow[] {
  return [
    {
      setting: 'large-batch batch norm',
      paper:
        '"we select Learning Rate Scaling (LRS), Ghost Batch Normalization (GBN) and Training Longer (TL) techniques" as baselines (Sec. 5.2.2)',
      code: `${SO} main_gbn.py: the batch (-b, default 2048) is cut into mini-batches of --mini-batch-size (default 128; run_experiments.sh: 128 for the shallow CIFAR nets at -b 4096, 256 for ResNet-44), each its own forward/backward (ghost batch norm), gradients accumulated`,
      run: 'batch norm over the whole large batch; ghost batches (`ghostBatches`, SmoothOut `ghostBatch`) are options for the ladder',
      why: 'the thesis names GBN only for its ResNet-44 baselines; the code uses it for every large-batch run',
      notebooks: ['41', '41b', '41c'],
    },
    {
      setting: 'learning rate at the large batch',
      paper:
        '"square root LRS is preferable for the others" (Sec. 5.2.2); Fig. 5.2: "Adam with 0.001 initial learning rate"',
      code: `${SO} main_gbn.py --lr_bb_fix (default on), --lr_fix_policy sqrt: lr x (batch / mini-batch size)^0.5`,
      run: 'the same learning rate at both batch sizes; square-root scaling is an arm option (`lrScaling`) for the ladder',
      why: 'Fig. 5.2 gives one rate for both batches',
      notebooks: ['41', '41b', '41c'],
    },
    {
      setting: 'noise: where and when',
      paper:
        'Sec. 5.1.3, Algorithm 2: theta_t added to w_t before the forward pass and removed before the update (de-noising, Eq. 5.11)',
      code: `${SO} main_gbn.py: a fresh noise per mini-batch of --mini-batch-size inside the large batch; --exclude-bn (default on) leaves batch-norm parameters unperturbed; --denoise default on; --smoothing-type constant, anneal (--anneal-index 0.55) or tanh (--tanh-scale 10); --adapt-type none, weight or filter; --noise-type uniform or normal`,
      run: 'one noise per step over the whole batch on weights and biases (batch norm unperturbed), de-noised, constant strength; a noise per ghost batch is an option',
      why: "Algorithm 2 perturbs once per step; the code's annealed and tanh schedules are not implemented here",
      notebooks: ['41', '41b', '41c'],
    },
  ];
}

const CAFFE = 'wenwei202/caffe';

/**
 * SSL's depth regularization of a CIFAR ResNet (notebook 30b): the thesis (Sec. 2.2, Fig. 2.7) and the authors' released
 * code (wenwei202/caffe, branch `scnn`, `examples/cifar10/readme.md` "Train, SSL regularize and fine-tune ResNets" and
 * its solver templates), against this library's `regime` (`resnetDepthRegime`).
 */
export function sslDepthProtocol(
  regime: Pick<
    SparsityRegime,
    'baselineEpochs' | 'sparseEpochs' | 'compactEpochs' | 'lr' | 'fineTuneLr' | 'weightDecay'
  >,
): ProtocolRow[] {
  return [
    {
      setting: 'baseline',
      paper:
        '"We use the same data augmentation and training hyper-parameters as that in [HZRS16]" (Sec. 2.2, ResNet-20)',
      code: `${CAFFE}@scnn examples/cifar10: train_script.sh 0.1 0.0001 ... template_resnet_solver.prototxt: lr 0.1, weight decay 1e-4, 64,000 iterations, x0.1 at 32,000 and 48,000`,
      run: `E²-Train's shared SGD arm: ${regime.baselineEpochs} epochs, cosine from ${regime.lr}, weight decay ${regime.weightDecay}`,
      why: 'the shared baseline of the lite regime',
      notebooks: ['30b', '30d'],
    },
    {
      setting: 'depth group Lasso phase',
      paper:
        '"Group Lasso regularization is only enforced on the convolutional layers between each pair of shortcut endpoints ... After SSL converges, layers with all zero weights are removed" (Sec. 2.2); the phase\'s learning rate and length are not stated',
      code: `${CAFFE}@scnn: train_script.sh 0.1 0.0001 0.0 0.0 0.007 ... template_resnet_depth_solver.prototxt from the baseline's caffemodel: lr 0.1, weight decay 1e-4, block group Lasso 0.007, a whole 64,000-iteration schedule (x0.1 at 32,000 and 48,000)`,
      run: `${regime.sparseEpochs} epochs from lr ${regime.fineTuneLr} (cosine), weight decay 0 besides the group Lasso, strengths set by rho from the weakest block's norm`,
      why: "the fine-tuning rate of the next phase was used for this one, and the phase is a fifth of the baseline's length: a ladder rung runs the code's phase (a whole schedule from the baseline's rate)",
      notebooks: ['30b', '30d'],
    },
    {
      setting: 'fine-tuning the shallower network',
      paper:
        '"the net is finally fine-tuned with a base learning rate of 0.01, which is lower than that (i.e., 0.1) in the baseline" (Sec. 2.2)',
      code: `${CAFFE}@scnn: train_script.sh 0.01 0.0001 ... template_resnet_finetune_solver.prototxt with connectivity_mode DISCONNECTED_GRPWISE: lr 0.01, 96,000 iterations (x0.1 at 32,000 and 64,000)`,
      run: `${regime.compactEpochs} epoch(s) of the compacted network from lr ${regime.fineTuneLr} (cosine), weight decay ${regime.weightDecay}`,
      why: "lite's budget; the code fine-tunes for 1.5 baseline schedules: a ladder rung runs that length",
      notebooks: ['30b', '30d'],
    },
  ];
}

const ISS = 'wenwei202/iss-rnns';

/** A learning-rate phase of a sparsity regime as a run sets it: length, rate, schedule and weight decay. */
function phase(epochs: number, lr: number, weightDecay: number, batch: number): string {
  const n = Number.isInteger(epochs) ? String(epochs) : epochs.toFixed(2);
  return `${n} epoch${epochs === 1 ? '' : 's'} of ${batch}, lr ${lr} (cosine), weight decay ${weightDecay}`;
}

/**
 * SSL on MNIST (notebook 30: LeNet and the MLP): the thesis (Sec. 2.2.2) and the authors' released code
 * (wenwei202/caffe, branch `scnn`, `examples/mnist`), against this library's `regime` (`lenetRegime`).
 */
export function sslMnistProtocol(regime: SparsityRegime): ProtocolRow[] {
  return [
    {
      setting: 'LeNet baseline',
      paper: '"LeNet [LBBH98] implemented by Caffe ... trained without data augmentation" (Sec. 2.2.2)',
      code: `${CAFFE}@scnn examples/mnist/lenet_solver.prototxt: lr 0.01, momentum 0.9, weight decay 5e-4, policy inv (gamma 1e-4, power 0.75), 10,000 iterations of 64`,
      run: `${phase(regime.baselineEpochs, regime.lr, regime.weightDecay, regime.batchSize)}, momentum 0.9`,
      why: "the code's rate and length; cosine instead of Caffe's inv decay (one schedule family for every notebook)",
      notebooks: ['30'],
    },
    {
      setting: 'SSL phase (LeNet)',
      paper:
        "group Lasso on filters and filter shapes (Eq. 2.3-2.4); the phase's learning rate and length are not stated",
      code: `${CAFFE}@scnn examples/mnist/lenet_grouplasso_solver.prototxt: lr 0.01, breadth_decay 0.005 (rows), kernel_shape_decay 0.005 (columns), weight_decay 0, 10,000 iterations, x0.1 at 6,000 and 8,000`,
      run: `${phase(regime.sparseEpochs, regime.fineTuneLr, 0, regime.batchSize)} from the baseline; strengths from rho and the weakest group's norm`,
      why: "half the code's rate and a shorter phase (lite's budget); strengths are stated as rho, scaled by the weakest group's norm, so that one setting carries across layers and phase lengths",
      notebooks: ['30'],
    },
    {
      setting: 'MLP',
      paper:
        '"we enforce the group Lasso regularization on all the input (or output) connections of each neuron" (Sec. 2.2.2, Fig. 2.5)',
      code: `${CAFFE}@scnn examples/mnist/mlp_solver.prototxt: lr 0.01, momentum 0.9, weight decay 5e-4, 20,000 iterations, x0.1 at 10,000, 14,000 and 18,000; group decays set per run`,
      run: `the LeNet regime's phases on the MLP (${phase(regime.baselineEpochs, regime.lr, regime.weightDecay, regime.batchSize)})`,
      why: 'one MNIST regime for both networks',
      notebooks: ['30'],
    },
    {
      setting: 'fine-tuning the compacted network',
      paper: 'not stated: Sec. 2.2.2 gives no fine-tuning settings for LeNet and the MLP',
      code: `${CAFFE}@scnn: connectivity_mode DISCONNECTED_GRPWISE freezes the removed rows and columns while fine-tuning`,
      run: `the compacted network (structures removed by surgery), ${phase(regime.compactEpochs, regime.fineTuneLr, regime.weightDecay, regime.batchSize)}`,
      why: 'removal by surgery is equivalent to freezing the removed groups at zero',
      notebooks: ['30'],
    },
  ];
}

/**
 * SSL on the CIFAR-10 ConvNet (notebooks 30c and 30e): the thesis (Sec. 2.2.2, Table 2.3) and the authors' released code
 * (wenwei202/caffe, branch `scnn`, `examples/cifar10/readme.md` and its solvers), against `regime` (`convnetRegime`).
 */
export function sslConvnetProtocol(regime: SparsityRegime): ProtocolRow[] {
  const code = sslConvnetCodePhases(regime);
  return [
    {
      setting: 'ConvNet baseline',
      paper:
        '"All the configurations remain the same as the original implementation except that we added a dropout layer with a ratio of 0.5 in the fully-connected layer ... trained without data augmentation" (Sec. 2.2.2)',
      code: `${CAFFE}@scnn examples/cifar10/cifar10_full_baseline_multistep_solver.prototxt: batch 100, lr 0.001, momentum 0.9, weight decay 0.004, 300,000 iterations, x0.1 at 100,000 and 200,000`,
      run: `${phase(regime.baselineEpochs, regime.lr, regime.weightDecay, regime.batchSize)}, momentum 0.9, no augmentation`,
      why: "the code's schedule is 600 epochs; lite trains 12 at ten times the code's rate (the regime's choice for its 75% floor)",
      notebooks: ['30c', '30e', '32'],
    },
    {
      setting: 'SSL phase (rows and columns)',
      paper:
        'Table 2.3: "Learning row-wise and column-wise sparsity of ConvNet"; the phase\'s rate and length are not stated',
      code: `${CAFFE}@scnn readme: train_script.sh 0.001 0.0 0.003 0.003 0.0 ... template_group_solver.prototxt from the baseline: lr 0.001, weight decay 0, group Lasso 0.003 on columns and on rows, 200,000 iterations (x0.1 at 100,000, 160,000, 180,000)`,
      run: `${phase(regime.sparseEpochs, regime.fineTuneLr, 0, regime.batchSize)} from the baseline; group Lasso at the notebook's λ on the rows and on the columns of every conv layer`,
      why: "the code's phase is 400 epochs at the baseline's rate; lite runs a short phase at half the lite baseline's rate",
      notebooks: ['30c', '30e'],
    },
    {
      setting: 'fine-tuning the compacted network',
      paper: 'not stated: Sec. 2.2.2 gives no fine-tuning settings for the ConvNet',
      code: `${CAFFE}@scnn readme: train_script.sh 0.0001 0.004 ... template_finetune_solver.prototxt (connectivity_mode DISCONNECTED_GRPWISE): lr 1e-4, weight decay 0.004, 150,000 iterations (x0.1 at 50,000 and 100,000)`,
      run: `the compacted network, ${phase(regime.compactEpochs, regime.fineTuneLr, regime.weightDecay, regime.batchSize)}`,
      why: "lite's budget",
      notebooks: ['30c', '30e'],
    },
    {
      setting: "the code's phases on this regime's length (30e's ladder)",
      paper: "not stated: Sec. 2.2.2 and Table 2.3 give neither phase's rate nor its length for the ConvNet",
      code: `${CAFFE}@scnn readme and solvers: the group-Lasso phase 200,000 iterations at the baseline's lr 0.001 with weight decay 0, fine-tuning 150,000 at 1e-4 with weight decay 0.004, against the baseline's 300,000`,
      run: `group Lasso ${phase(code.sparse.epochs, code.sparse.lr, code.sparse.weightDecay, regime.batchSize)}; the compacted network ${phase(code.compact.epochs, code.compact.lr, code.compact.weightDecay, regime.batchSize)}`,
      why: "the code's proportions (2/3 and 1/2 of the baseline's schedule, its rate and a tenth of it) on this regime's baseline",
      notebooks: ['30e'],
    },
  ];
}

/**
 * ISS in stacked LSTMs (notebook 31): the thesis (Sec. 2.3.1-2.3.3, Table 2.5) and the authors' released code
 * (wenwei202/iss-rnns at 88cc1a7: `ptb/ptb_word_lm.py`, `ptb/structure_grouplasso.json`), against `regime`
 * (`issRegime`).
 */
export function issProtocol(regime: IssRegime): ProtocolRow[] {
  const keep = (drop: number) => (1 - drop).toFixed(2);
  return [
    {
      setting: 'model and data',
      paper:
        '"two stacked LSTM layers ... hidden sizes of 1500 ... vocabulary of 10000 words. The dimension of word embedding ... is 1500" (Sec. 2.3.3), Penn Treebank',
      code: `${ISS} ptb_word_lm.py SparseLargeConfig: 2 x 1500, 35 steps, batch 20, init scale 0.04, PTB's train split`,
      run: `${regime.hidden.join(' x ')} (embedding ${regime.embedding}), ${regime.bptt} steps, batch ${regime.batchSize}, corpus ${regime.corpus}`,
      why:
        regime.corpus === 'ptb'
          ? 'as the thesis'
          : regime.corpus === 'ptb-valid-90/10'
            ? "PTB's train split is not in the data mirror; lite trains on 90% of its validation split"
            : "PTB's train split is not in the data mirror; tinyshakespeare's characters give about 13 times the training tokens of PTB's validation split (the thesis has no character-level model)",
      notebooks: ['31', '31b', '31c'],
    },
    {
      setting: 'schedule and dropout',
      paper:
        '"a larger dropout keep ratio of 0.6 versus 0.35 of the baseline ... All models are trained from scratch for 55 epochs" (Sec. 2.3.3)',
      code: `${ISS} ptb_word_lm.py: lr 1.0 (plain gradient descent), clip 10; baseline LargeConfig keep 0.35, lr x1/1.15 per epoch after 14 of 55; SparseLargeConfig keep 0.6, lr x0.1 per epoch after epoch 14`,
      run: `${regime.baseline ? `baseline ${regime.baseline.optimizer.kind} at ${regime.baseline.lr}, ISS and l1 plain SGD at ${regime.lr}` : `lr ${regime.lr}`} (cosine), clip ${regime.clipNorm}, up to ${regime.maxEpochs} epochs with early stopping; keep ${keep(regime.dropout)} for the baseline and ${keep(regime.issDropout)} for ISS`,
      why: regime.baseline
        ? "the thesis's keep ratios are for the 2 x 1500 model on PTB's train split; a character model's baseline is trained by an adaptive optimizer here, as character-level LSTMs usually are (notebook 31b compares it with the thesis's plain SGD on held-out text); ISS keeps plain SGD, for which its strength is stated (groupLassoStrength)"
        : "the thesis's keep ratios are for the 2 x 1500 model on PTB's train split; lite's model and corpus are smaller",
      notebooks: ['31', '31b', '31c'],
    },
    {
      setting: 'ISS group Lasso',
      paper:
        '"The sizes of \'ISS weight groups\' of two LSTM layers are 24000 and 28000" (Sec. 2.3.1); ISS learned from scratch (Table 2.5)',
      code: `${ISS} structure_grouplasso.json: global_decay 0.00245, the first layer coupled with the second's weights, the second with softmax_w; add_structure_grouplasso sums a unit's row and its four gate columns (the 4 shared entries counted twice); learned from scratch`,
      run: `ISS ${regime.issFrom === 'baseline' ? 'fine-tuning the dense baseline' : 'from scratch'} for ${regime.issEpochs} epochs at rho ${regime.rhos.join(', ')}`,
      why:
        regime.issFrom === 'baseline'
          ? 'fine-tuning a trained baseline fits the lite budget; strengths from rho'
          : 'as the thesis',
      notebooks: ['31', '31b', '31c'],
    },
    {
      setting: 'zeroing',
      paper:
        '"we zero out the weights whose absolute values are smaller than a pre-defined threshold tau. The process of thresholding is applied per mini-batch" (Sec. 2.3.2)',
      code: `${ISS} ptb_word_lm.py: after every step each weight below max(1e-4, 2 x weight decay) in magnitude is set to zero (zero_threshold)`,
      run:
        regime.threshold.on === 'weight'
          ? `each weight below tau ${regime.threshold.tau} zeroed`
          : 'a whole ISS group zeroed when its norm falls below the threshold the strength gives',
      why:
        regime.threshold.on === 'weight'
          ? 'as the code'
          : 'a per-weight threshold leaves scattered zeros in a group; the group threshold removes whole components only',
      notebooks: ['31', '31b', '31c'],
    },
  ];
}

/**
 * Force Regularization (notebook 32): the thesis (Sec. 3.2-3.3) and the authors' released code (wenwei202/caffe,
 * master: `README.md`, `src/caffe/solvers/sgd_solver.cpp` ForceRegularize,
 * `examples/cifar10/template_cifar10_full_multistep_solver_force.prototxt`), against `regime` (`forceRegime`).
 */
export function forceProtocol(regime: ForceRegime): ProtocolRow[] {
  return [
    {
      setting: 'starting point and rate',
      paper:
        '"the training from the baseline can achieve a better tradeoff ... During the training with Force Regularization on CIFAR-10, we use the same base learning rate as the baseline" (Sec. 3.3.1)',
      code: `${CAFFE} examples/cifar10/template_cifar10_full_multistep_solver_force.prototxt: momentum 0.9, weight decay 0.004, 240,000 iterations (x0.1 at 200,000 and 220,000), base_lr and force_decay given to train_script_force.sh`,
      run: `from the ConvNet baseline, ${phase(regime.forceEpochs, regime.fineTuneLr, regime.weightDecay, regime.batchSize)}`,
      why: "the baseline's rate, as the thesis; lite's phase is 2 epochs against the code's 480",
      notebooks: ['32'],
    },
    {
      setting: 'force strength',
      paper: '"We select lambda_s by cross-validation in this work" (Sec. 3.2.1)',
      code: `${CAFFE} README: force_decay in the solver (LeNet example 0.001, "Constant" = the l1-norm force, "Degradation" = the l2-norm force), force_mult per layer`,
      run: `angles ${regime.angles.l2.join(', ')} degrees (l2), ${regime.angles.l1} (l1), ${regime.angles.inverse} (1/||W||): the strength that turns a filter by that angle over the phase`,
      why: 'the thesis gives no value for the ConvNet; an angle is comparable across layers and phase lengths',
      notebooks: ['32'],
    },
    {
      setting: 'rank',
      paper:
        '"we define rank M of a convolutional layer as the minimal M which has <= 5% reconstruction error by PCA" (Sec. 3.3.2)',
      code: `${CAFFE} python/nn_decomposer.py: --rankratio 0.95 keeps 95% of the information, --lra_type pca (default), svd or kmeans; each conv becomes a low-rank conv and a 1x1 linear combination`,
      run: `PCA rank at ${100 * regime.maxErrorShare}% reconstruction error, reported together with the arm's accuracy; the decomposed network takes SVD factors at that rank`,
      why: "the thesis's rank; SVD is one of the code's --lra_type options",
      notebooks: ['32'],
    },
  ];
}
