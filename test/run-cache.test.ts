import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { mlp } from '../lib/src/models/small';
import { runExperiment, type RunSpec } from '../lib/src/experiments/run';
import { cacheEvents, ownsArm } from '../lib/src/experiments/run-cache';
import { parseShard } from '../lib/src/config';
import { parseReproduceArgs } from '../kernel-ext/src/runner/args';
import { tempDir } from './helpers';
import { tf } from '../lib/src/index';
import { DivergenceError } from '../lib/src/train/trainer';
import type { Technique } from '../lib/src/train/technique';

const train = syntheticCifar(64, 1);
const test = syntheticCifar(32, 2);
const spec = (dir: string, over: Partial<RunSpec> = {}): RunSpec => ({
  arm: 'mlp',
  seed: 0,
  model: (s) => mlp({ inputShape: [32, 32, 3], hidden: [8], seed: s }),
  train,
  test,
  batchSize: 16,
  iterations: 4,
  lr: 0.05,
  optimizer: { kind: 'sgd', momentum: 0.9 },
  schedule: { kind: 'constant' },
  augment: false,
  cacheKey: { model: { mlp: [8] } },
  cache: { dir, fresh: false },
  ...over,
});

beforeAll(async () => {
  await initBackend({});
});

describe('run cache', () => {
  it('stores an arm, loads it when asked again, and misses when anything that shapes the run changes', async () => {
    const dir = tempDir();
    const first = await runExperiment(spec(dir));
    expect(first.cache).toBe('miss');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const again = await runExperiment(spec(dir, { arm: 'the same arm, another label' }));
    expect(again.cache).toBe('hit');
    expect(again.top1).toBe(first.top1);
    expect(again.energyJ).toBe(first.energyJ);
    expect(again.arm).toBe('the same arm, another label');
    expect((await runExperiment(spec(dir, { lr: 0.1 }))).cache).toBe('miss');
    expect((await runExperiment(spec(dir, { seed: 1 }))).cache).toBe('miss');
    expect((await runExperiment(spec(dir, { cacheKey: { model: { mlp: [8] }, techniques: ['x'] } }))).cache).toBe(
      'miss',
    );
    expect((await runExperiment(spec(dir, { train: syntheticCifar(64, 9) }))).cache).toBe('miss');
    const fresh = await runExperiment(spec(dir, { cache: { dir, fresh: true } }));
    expect(fresh.cache).toBe('fresh');
    expect(fresh.top1).toBe(first.top1);
    expect((await runExperiment(spec(dir, { cacheKey: undefined }))).cache).toBe('uncached');
    expect(cacheEvents().filter((e) => e.event === 'hit').length).toBeGreaterThanOrEqual(1);
  });

  it('input scaling: standardized by default, unit-range on request (another cache entry, another run); a bad value fails before the model is built', async () => {
    const dir = tempDir();
    const seen: Array<{ mean: readonly number[]; std: readonly number[] }> = [];
    const analyze = (_m: unknown, _t: unknown, norm: { mean: readonly number[]; std: readonly number[] }) => {
      seen.push(norm);
      return {};
    };
    const std = await runExperiment(spec(dir, { analyze, cacheKey: { model: { mlp: [8] }, analysis: 'norm' } }));
    const unit = await runExperiment(
      spec(dir, { input: 'unit-range', analyze, cacheKey: { model: { mlp: [8] }, analysis: 'norm' } }),
    );
    expect([std.cache, unit.cache]).toEqual(['miss', 'miss']);
    expect(seen[1]).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
    expect(seen[0]!.std.every((v) => v > 0 && v < 1)).toBe(true);
    // The explicit default is the default's cache entry.
    expect(
      (
        await runExperiment(
          spec(dir, { input: 'standardize', analyze, cacheKey: { model: { mlp: [8] }, analysis: 'norm' } }),
        )
      ).cache,
    ).toBe('hit');
    expect(unit.testLoss).not.toBe(std.testLoss);
    let built = 0;
    await expect(
      runExperiment(
        spec(dir, {
          input: 'raw' as 'unit-range',
          cacheKey: undefined,
          model: (k) => {
            built += 1;
            return mlp({ inputShape: [32, 32, 3], hidden: [8], seed: k });
          },
        }),
      ),
    ).rejects.toThrowError(/RunSpec.input = "?raw"? is invalid: expected 'standardize' or 'unit-range'/);
    expect(built).toBe(0);
  });

  it('an analysis of the trained model is stored with the outcome and loaded with it; inspect always trains', async () => {
    const dir = tempDir();
    let calls = 0;
    const analyze = (m: { params: { count(): number } }) => {
      calls += 1;
      return { params: m.params.count(), at: 'end' };
    };
    const a = await runExperiment(spec(dir, { analyze, cacheKey: { model: { mlp: [8] }, analysis: 'count' } }));
    expect(a.cache).toBe('miss');
    expect(a.analysis).toEqual({ params: 32 * 32 * 3 * 8 + 8 + 8 * 10 + 10, at: 'end' });
    const b = await runExperiment(spec(dir, { analyze, cacheKey: { model: { mlp: [8] }, analysis: 'count' } }));
    expect(b.cache).toBe('hit');
    expect(b.analysis).toEqual(a.analysis);
    expect(calls).toBe(1);
    expect(
      (
        await runExperiment(
          spec(dir, { inspect: () => undefined, cacheKey: { model: { mlp: [8] }, analysis: 'count' } }),
        )
      ).cache,
    ).toBe('uncached');
  });

  it('two local shards compute disjoint slices into one cache; an unsharded run then loads every arm', async () => {
    const dir = tempDir();
    const seeds = [0, 1, 2, 3, 4, 5];
    const shard1: Awaited<ReturnType<typeof runExperiment>>[] = [];
    for (const s of seeds)
      shard1.push(await runExperiment(spec(dir, { seed: s, cache: { dir, fresh: false, shard: parseShard('1/2') } })));
    const shard2: Awaited<ReturnType<typeof runExperiment>>[] = [];
    for (const s of seeds)
      shard2.push(await runExperiment(spec(dir, { seed: s, cache: { dir, fresh: false, shard: parseShard('2/2') } })));
    const computed1 = shard1.filter((o) => o.cache === 'miss').length;
    const computed2 = shard2.filter((o) => o.cache === 'miss').length;
    expect(computed1 + computed2).toBe(seeds.length);
    // What shard 2 did not compute, shard 1 had stored (hits); placeholders carry NaN, never numbers.
    expect(shard1.filter((o) => o.cache === 'other shard').every((o) => Number.isNaN(o.top1))).toBe(true);
    expect(shard2.every((o) => o.cache === 'miss' || o.cache === 'hit')).toBe(true);
    const assembled: Awaited<ReturnType<typeof runExperiment>>[] = [];
    for (const s of seeds) assembled.push(await runExperiment(spec(dir, { seed: s })));
    expect(assembled.every((o) => o.cache === 'hit')).toBe(true);
    expect(ownsArm('00000001', { index: 2, count: 2 })).toBe(true);
    expect(() => parseShard('3/2')).toThrowError(/--shard = "3\/2" is invalid/);
  });

  it('the runner takes --fresh and --shard k/N', () => {
    expect(parseReproduceArgs(['--fresh', '--shard', '2/3'])).toMatchObject({
      fresh: true,
      shard: { index: 2, count: 3 },
    });
    // Per-cell timeout: 1 hour at smoke, 4 hours at lite (a training cell runs every arm), or as given.
    expect(parseReproduceArgs([]).timeout).toBe(3600);
    expect(parseReproduceArgs(['--scale', 'lite']).timeout).toBe(14400);
    expect(parseReproduceArgs(['--scale', 'lite', '--timeout', '60']).timeout).toBe(60);
    expect(() => parseReproduceArgs(['--shard', '0/3'])).toThrowError(/--shard = "0\/3"/);
  });
  it('a run that diverges is an outcome with divergence.action stop (evaluated before the bad step, cached as such) and an error without it', async () => {
    const dir = tempDir();
    // A loss term that turns NaN at iteration 3: the guard stops before that step is applied.
    const poison = (): Technique[] => [
      { name: 'poison', lossTerm: (i) => (i.iteration === 3 ? tf.scalar(NaN) : undefined) },
    ];
    const err = await runExperiment(spec(dir, { techniques: poison, cache: false })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    const stopped = await runExperiment(
      spec(dir, { techniques: poison, divergence: { action: 'stop' }, cacheKey: { poison: 3 } }),
    );
    expect(stopped.stopped).toBe('diverged');
    expect(stopped.divergence?.iteration).toBe(3);
    expect(stopped.divergence?.reason).toMatch(/NaN/);
    expect(stopped.iterations).toBe(3); // steps 0-2 applied, step 3 not
    expect(Number.isFinite(stopped.top1)).toBe(true);
    expect(stopped.cache).toBe('miss');
    const again = await runExperiment(
      spec(dir, { techniques: poison, divergence: { action: 'stop' }, cacheKey: { poison: 3 } }),
    );
    expect(again.cache).toBe('hit');
    expect(again.stopped).toBe('diverged');
    expect(again.divergence).toEqual(stopped.divergence);
    // A run that does not diverge carries no stop marker.
    expect((await runExperiment(spec(dir, { divergence: { action: 'stop' } }))).stopped).toBeUndefined();
  });
});
