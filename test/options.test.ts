import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { settingsFromEnv } from '../lib/src/config';
import { syntheticCifar, syntheticImages } from '../lib/src/data/synthetic';
import { cifarResNet } from '../lib/src/models/resnet';
import { mlp } from '../lib/src/models/small';
import { selectiveLayerUpdate, type SluOptions } from '../lib/src/techniques/slu';
import { predictiveSignGradient } from '../lib/src/techniques/psg';
import { stochasticMiniBatchDropping } from '../lib/src/techniques/smd';
import { checkOptimizerConfig, type OptimizerConfig } from '../lib/src/train/optimizers';
import { train } from '../lib/src/train/trainer';

beforeAll(async () => {
  await initBackend({});
});

describe('every option checked, by name and type, before any work', () => {
  it('technique options: unknown names and wrong types are refused, naming them', () => {
    const model = cifarResNet({ depth: 8, widths: [4, 8, 8], seed: 1, skippableTransitions: true });
    const slu = (o: Record<string, unknown>) => () =>
      selectiveLayerUpdate({ model, alpha: 1, seed: 0, ...o } as unknown as SluOptions);
    expect(slu({ targetSkip: 0.5 })).toThrowError(/slu.targetSkip/);
    expect(slu({ betta: 0.1 })).toThrowError(/slu.betta/);
    expect(slu({ seed: undefined })).toThrowError(/slu.seed = undefined is invalid: expected an integer seed/);
    expect(() => predictiveSignGradient({ betta: 0.1 } as never)).toThrowError(/psg.betta/);
    expect(() => stochasticMiniBatchDropping({ p: '0.3', seed: 1 } as never)).toThrowError(/smd.p = "0.3" is invalid/);
    expect(() => stochasticMiniBatchDropping({ rate: 0.3, seed: 1 } as never)).toThrowError(/smd.rate/);
    expect(() => stochasticMiniBatchDropping({ p: 0.3 } as never)).toThrowError(/smd.seed/);
    model.params.dispose();
  });

  it('optimizer and checkpoint options: types and finiteness', async () => {
    const opt = (c: Record<string, unknown>) => () => checkOptimizerConfig(c as unknown as OptimizerConfig);
    expect(opt({ kind: 'sgd', nesterov: 'yes' })).toThrowError(
      /optimizer.nesterov = "yes" is invalid: expected true or false/,
    );
    expect(opt({ kind: 'adam', epsilon: Number.POSITIVE_INFINITY })).toThrowError(/optimizer.epsilon = Infinity/);
    expect(opt({ kind: 'sgd', nesterov: true, momentum: 0.9 })).not.toThrow();
    const m = mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
    await expect(
      train({
        ...{ model: m, train: syntheticCifar(32, 1), batchSize: 16, epochs: 1, lr: 0.1, seed: 1 },
        ...{ optimizer: { kind: 'sgd' } as const, schedule: { kind: 'constant' } as const },
        checkpoint: { file: '/tmp/x.json', every: 1, resume: 'yes' as never },
      }),
    ).rejects.toThrowError(/checkpoint.resume = "yes" is invalid: expected true or false/);
    m.params.dispose();
  });

  it('on/off environment settings: yes/true/1 mean on, anything unknown is an error', () => {
    expect(settingsFromEnv({ ECOTRAIN_OFFLINE: 'yes' }).allowDownload).toBe(false);
    expect(settingsFromEnv({ ECOTRAIN_OFFLINE: '1' }).allowDownload).toBe(false);
    expect(settingsFromEnv({ ECOTRAIN_OFFLINE: 'false' }).allowDownload).toBe(true);
    expect(settingsFromEnv({}).allowDownload).toBe(true);
    expect(() => settingsFromEnv({ ECOTRAIN_OFFLINE: 'maybe' })).toThrowError(/ECOTRAIN_OFFLINE = "maybe" is invalid/);
  });
});

describe('rejected before any work, not after a step', () => {
  const m = () => mlp({ inputShape: [32, 32, 3], hidden: [4], seed: 1 });
  const base = (model: ReturnType<typeof m>) => ({
    ...{ model, train: syntheticCifar(32, 1), batchSize: 16, epochs: 1, lr: 0.1, seed: 1 },
    ...{ optimizer: { kind: 'sgd' } as const, schedule: { kind: 'constant' } as const },
  });
  it('bad schedule factor, unwritable paths, wrong shapes, bad sinks and normalisation: each named at once', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { schedule: { kind: 'steps', milestones: [0.5], factor: Number.POSITIVE_INFINITY } },
        /schedule.factor = Infinity/,
      ],
      [{ checkpoint: { file: '/etc/passwd/ck.json', every: 1 } }, /checkpoint.file .* \(\/etc\/passwd is a file\)/],
      [{ runLog: '/proc/self/x/run.jsonl' }, /runLog .* outside \/proc, \/sys and \/dev/],
      [
        { validation: syntheticImages(8, 1, { height: 28, width: 28, channels: 1, classes: 10, family: 'mnist' }) },
        /validation = "images of \[28,28,1\]"/,
      ],
      [{ progress: {} }, /progress .* tick\(\) and done\(\)/],
      [{ ledger: {} }, /ledger .* an EnergyLedger/],
      [{ trainable: ['fc/w'] }, /trainable .* a function of the parameter name/],
      [{ normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }, /normalize.std .* positive finite values/],
      [{ normalize: { mean: [0], std: [1] } }, /normalize .* a mean and std per channel \(3 each\)/],
    ];
    for (const [extra, message] of cases) {
      const model = m();
      let steps = 0;
      const counting = { name: 'count', afterStep: () => void steps++ };
      await expect(train({ ...base(model), techniques: [counting], ...extra } as never)).rejects.toThrowError(message);
      expect(steps).toBe(0);
      model.params.dispose();
    }
  });

  it('a TernGrad job with lr -1 and data settings {} are refused before any process or file is touched', async () => {
    const { checkJob } = await import('../lib/src/distributed/job');
    const { loadImageDataset } = await import('../lib/src/data/load');
    const job = {
      model: { kind: 'mlp', seed: 1 },
      data: { kind: 'synthetic-cifar', count: 16, seed: 1 },
      train: {
        batchSize: 8,
        iterations: 2,
        lr: -1,
        optimizer: { kind: 'sgd' },
        schedule: { kind: 'constant' },
        seed: 1,
      },
      terngrad: { workers: 2, seed: 1, clip: null, layerWise: true },
    };
    expect(() => checkJob(job as never)).toThrowError(/job.train.lr = -1 is invalid/);
    await expect(loadImageDataset('cifar10', 'train', {} as never)).rejects.toThrowError(/settings.dataDir/);
  });
});
