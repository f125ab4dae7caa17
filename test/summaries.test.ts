/**
 * TensorBoard summaries: the scalars a run's outcome gives, the event files `tf.node.summaryFileWriter` writes read
 * back through TensorBoard's own loader (the project's .venv), and `npm run board`'s arguments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { type SummarySource, summaryPoints, summaryRunName, writeRunSummaries } from '../lib/src/experiments/summaries';
import { setupPaths } from '../kernel-ext/src/setup/paths';
import { boardArguments, summaryFolders } from '../kernel-ext/src/board-args';
import { tempDir } from './helpers';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { type Arm, runArm } from '../lib/src/experiments/arm';
import { cacheEvents } from '../lib/src/experiments/run-cache';

const outcome: SummarySource = {
  top1: 0.61,
  testLoss: 1.1,
  iterations: 40,
  energyJ: 4,
  history: [
    { iteration: 20, trainLoss: 2.5, lr: 0.1, techniques: { psg: { predicted: 0.3 } }, effectiveMacs: 1e9 },
    {
      iteration: 40,
      trainLoss: Number.NaN,
      lr: 0.05,
      validation: { top1: 0.5, loss: 1.3 },
      techniques: { psg: { predicted: 0.45 } },
    },
  ],
  accuracyCurve: [{ iteration: 20, top1: 0.4, loss: 1.7, energyJ: 2 }],
  energyCurve: Array.from({ length: 1000 }, (_, i) => [i + 1, (i + 1) / 250] as const),
};

/** Tag -> [step, value] pairs as TensorBoard's EventAccumulator reads them. */
function readBack(dir: string): Record<string, Array<[number, number]>> {
  const paths = setupPaths();
  const r = spawnSync(paths.python, [path.join(paths.root, 'kernel-ext', 'python', 'read_events.py'), dir], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`read_events.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, Array<[number, number]>>;
}

describe('TensorBoard summaries', () => {
  it('gives loss, lr, test accuracy, energy and technique statistics at their iterations, non-finite values left out', () => {
    const pts = summaryPoints(outcome);
    const of = (tag: string) => pts.filter((p) => p.tag === tag).map((p) => [p.step, p.value]);
    expect(of('train/loss')).toEqual([[20, 2.5]]);
    expect(of('train/lr')).toEqual([
      [20, 0.1],
      [40, 0.05],
    ]);
    expect(of('test/top1')).toEqual([
      [20, 0.4],
      [40, 0.61],
    ]);
    expect(of('validation/top1')).toEqual([[40, 0.5]]);
    expect(of('technique/psg/predicted')).toEqual([
      [20, 0.3],
      [40, 0.45],
    ]);
    expect(of('cost/effective_macs')).toEqual([[20, 1e9]]);
    const energy = of('energy/joules');
    // 1000 points thinned to every 5th (200), and the last.
    expect(energy.length).toBe(201);
    expect(energy[0]).toEqual([1, 0.004]);
    expect(energy[energy.length - 1]).toEqual([1000, 4]);
  });

  it('names a run folder without path separators', () => {
    expect(summaryRunName('FW-8/BW-16: a\\b', 2, 'abcdef0123456789')).toBe('FW-8_BW-16_ a_b · seed 2 · abcdef01');
  });

  describe('event files', () => {
    beforeAll(async () => {
      await initBackend({ backend: 'tensorflow' });
    });

    it('read back through TensorBoard with the points written, and a rewrite replaces them', () => {
      const dir = path.join(tempDir(), 'run');
      expect(writeRunSummaries(dir, outcome)).toBe(true);
      const back = readBack(dir);
      const expected = new Map<string, Array<[number, number]>>();
      for (const p of summaryPoints(outcome)) expected.set(p.tag, [...(expected.get(p.tag) ?? []), [p.step, p.value]]);
      expect(Object.keys(back).sort()).toEqual([...expected.keys()].sort());
      for (const [tag, pts] of expected) {
        const got = back[tag] as Array<[number, number]>;
        expect(got.map((p) => p[0])).toEqual(pts.map((p) => p[0]));
        got.forEach((p, i) => expect(p[1]).toBeCloseTo((pts[i] as [number, number])[1], 5));
      }
      // Written again (a cache hit): one event file, the same points, not twice as many.
      expect(writeRunSummaries(dir, { ...outcome, top1: 0.7 })).toBe(true);
      expect(fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents'))).toHaveLength(1);
      const again = readBack(dir);
      expect(again['test/top1']?.map((p) => p[0])).toEqual([20, 40]);
      expect(again['test/top1']?.[1]?.[1]).toBeCloseTo(0.7, 5);
      expect(fs.readdirSync(path.dirname(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    }, 60_000);

    it('every cached run writes its summaries beside the run cache, on a miss and on a hit whose folder is missing', async () => {
      const root = tempDir();
      const cache = { dir: path.join(root, 'runs'), fresh: false };
      const arm: Arm = {
        ...{ label: 'mlp/a', seed: 3, data: { train: syntheticCifar(64, 1), test: syntheticCifar(32, 2) } },
        model: { kind: 'mlp', options: { inputShape: [32, 32, 3], hidden: [8] } },
        recipe: {
          ...{ batchSize: 16, epochs: 2, lr: 0.01, optimizer: { kind: 'sgd', momentum: 0.9 }, evalEvery: 4 },
          ...{ schedule: { kind: 'constant' }, augment: 'none', input: 'standardize' },
        },
        ...{ techniques: [], analysis: undefined },
      };
      const first = await runArm(arm, { cache });
      expect(first.cache).toBe('miss');
      const key = cacheEvents().at(-1)?.key as string;
      const dir = path.join(root, 'tensorboard', summaryRunName('mlp/a', 3, key));
      const back = readBack(dir);
      expect(back['train/loss']?.map((p) => p[0])).toEqual([4, 8]);
      expect(back['test/top1']?.map((p) => p[0])).toEqual([4, 8]);
      expect(back['test/top1']?.[1]?.[1]).toBeCloseTo(first.top1, 5);
      expect((back['energy/joules'] ?? []).length).toBeGreaterThan(0);
      fs.rmSync(dir, { recursive: true });
      expect((await runArm(arm, { cache })).cache).toBe('hit');
      expect(readBack(dir)['test/top1']?.[1]?.[1]).toBeCloseTo(first.top1, 5);
      // A hit whose folder exists leaves it as it is (the key names one outcome).
      const events = fs.readdirSync(dir);
      expect((await runArm(arm, { cache })).cache).toBe('hit');
      expect(fs.readdirSync(dir)).toEqual(events);
    }, 60_000);
  });

  it("board: 127.0.0.1 over each scale's summary folder; address and log-directory arguments refused", () => {
    const out = tempDir();
    expect(() => boardArguments(out, [])).toThrow(/summaries.*run a notebook first/);
    fs.mkdirSync(path.join(out, 'lite', 'tensorboard', 'SGD · seed 0'), { recursive: true });
    fs.mkdirSync(path.join(out, 'smoke', 'tensorboard'), { recursive: true });
    fs.mkdirSync(path.join(out, 'bench-venv', 'lib'), { recursive: true });
    expect(summaryFolders(out).map((f) => f.name)).toEqual(['lite', 'smoke']);
    expect(boardArguments(out, ['--port', '6007'])).toEqual([
      '--port',
      '6007',
      '--host=127.0.0.1',
      `--logdir_spec=lite:${path.join(out, 'lite', 'tensorboard')},smoke:${path.join(out, 'smoke', 'tensorboard')}`,
    ]);
    expect(() => boardArguments(out, ['--bind_all'])).toThrow(/--bind_all/);
    expect(() => boardArguments(out, ['--logdir=/'])).toThrow(/--logdir=\//);
    expect(() => boardArguments(out, ['--host', '0.0.0.0'])).toThrow(/--host/);
  });
});
