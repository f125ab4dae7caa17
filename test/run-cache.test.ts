import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { type Arm, armStepMilliseconds, runArm } from '../lib/src/experiments/arm';
import { cacheEvents, ownsArm } from '../lib/src/experiments/run-cache';
import { parseShard } from '../lib/src/config';
import { parseReproduceArgs } from '../kernel-ext/src/runner/args';
import { tempDir } from './helpers';
import { DivergenceError } from '../lib/src/train/trainer';

const train = syntheticCifar(64, 1);
const test = syntheticCifar(32, 2);
const arm = (over: Partial<Arm> = {}): Arm => ({
  label: 'mlp',
  seed: 0,
  data: { train, test },
  model: { kind: 'mlp', options: { inputShape: [32, 32, 3], hidden: [8] } },
  recipe: {
    ...{ batchSize: 16, iterations: 4, lr: 0.01, optimizer: { kind: 'sgd', momentum: 0.9 } },
    ...{ schedule: { kind: 'constant' }, augment: 'none', input: 'standardize' },
  },
  techniques: [],
  analysis: undefined,
  ...over,
});
const run = (a: Arm, dir: string, fresh = false) => runArm(a, { cache: { dir, fresh } });

beforeAll(async () => {
  await initBackend({});
});

describe('armStepMilliseconds', () => {
  it('times warm-up + steps trained iterations of an arm and stops there, uncached; refuses what it cannot time', async () => {
    const long = arm({ recipe: { ...arm().recipe, iterations: 40 } });
    const events = cacheEvents().length;
    const t = await armStepMilliseconds(long, { warmup: 2, steps: 5 });
    expect(cacheEvents().length).toBe(events);
    expect(t.timed).toBe(5);
    expect(t.iterations).toBe(40);
    expect(t.msPerIteration).toBeGreaterThan(0);
    expect(t.msPerIteration).toBeLessThan(5000);
    await expect(armStepMilliseconds(arm(), { warmup: 2, steps: 5 })).rejects.toThrowError(
      /arm mlp trained iterations = 4 is invalid: expected at least warmup \+ steps = 7/,
    );
    await expect(armStepMilliseconds(long, { warmup: 0 })).rejects.toThrowError(/warmup = 0 is invalid/);
    await expect(
      armStepMilliseconds(
        { ...long, initTransform: 'compact', init: { ...long, analysis: 'sparse' } },
        { warmup: 1, steps: 1 },
      ),
    ).rejects.toThrowError(/initTransform/);
  });
});

describe('run cache', () => {
  it('stores an arm, loads it when asked again, and misses when anything that shapes the run changes', async () => {
    const dir = tempDir();
    const first = await run(arm(), dir);
    expect(first.cache).toBe('miss');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const again = await run(arm({ label: 'the same arm, another label' }), dir);
    expect(again.cache).toBe('hit');
    expect(again.top1).toBe(first.top1);
    expect(again.energyJ).toBe(first.energyJ);
    expect(again.arm).toBe('the same arm, another label');
    expect((await run(arm({ recipe: { ...arm().recipe, lr: 0.1 } }), dir)).cache).toBe('miss');
    expect((await run(arm({ seed: 1 }), dir)).cache).toBe('miss');
    expect((await run(arm({ techniques: [{ kind: 'smd', options: { p: 0.5 } }] }), dir)).cache).toBe('miss');
    expect(
      (await run(arm({ model: { kind: 'mlp', options: { inputShape: [32, 32, 3], hidden: [9] } } }), dir)).cache,
    ).toBe('miss');
    expect((await run(arm({ data: { train: syntheticCifar(64, 9), test } }), dir)).cache).toBe('miss');
    const fresh = await run(arm(), dir, true);
    expect(fresh.cache).toBe('fresh');
    expect(fresh.top1).toBe(first.top1);
    // Once per process: asked again (e.g. as another arm's initial weights), the entry retrained here is read.
    const freshAgain = await run(arm({ label: 'asked again' }), dir, true);
    expect(freshAgain.cache).toBe('hit');
    expect(freshAgain.top1).toBe(first.top1);
    // Another arm under fresh is still retrained.
    expect((await run(arm({ seed: 2 }), dir, true)).cache).toBe('fresh');
    expect((await runArm(arm(), { cache: false })).cache).toBe('uncached');
    expect(cacheEvents().filter((e) => e.event === 'hit').length).toBeGreaterThanOrEqual(1);
  });

  it('input scaling: standardized or unit range (another cache entry, another run); a bad value fails before any work', async () => {
    const dir = tempDir();
    const std = await run(arm(), dir);
    const unit = await run(arm({ recipe: { ...arm().recipe, input: 'unit-range' } }), dir);
    expect([std.cache, unit.cache]).toEqual(['miss', 'miss']);
    expect(unit.testLoss).not.toBe(std.testLoss);
    const bad = arm({ recipe: { ...arm().recipe, input: 'raw' as 'unit-range' } });
    await expect(run(bad, dir)).rejects.toThrowError(
      /arm mlp recipe.input = "raw" is invalid: expected 'standardize' or 'unit-range'/,
    );
    const noAugment = arm({ recipe: { ...arm().recipe, augment: undefined } });
    await expect(run(noAugment, dir)).rejects.toThrowError(/recipe.augment/);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(2);
  });

  it('an analysis of the trained model is stored with the outcome and loaded with it; inspect always trains', async () => {
    const dir = tempDir();
    const a = await run(arm({ analysis: 'weights' }), dir);
    expect(a.cache).toBe('miss');
    expect(Object.keys(a.analysis ?? {}).sort()).toEqual(['fc1/b', 'fc1/w', 'fc2/b', 'fc2/w']);
    const b = await run(arm({ analysis: 'weights' }), dir);
    expect(b.cache).toBe('hit');
    expect(b.analysis).toEqual(a.analysis);
    let inspected = 0;
    const c = await runArm(arm({ analysis: 'weights' }), {
      cache: { dir, fresh: false },
      inspect: () => {
        inspected += 1;
      },
    });
    expect([c.cache, inspected]).toEqual(['uncached', 1]);
  });

  it('an arm that starts from another arm trains that arm first (through the cache) and starts from its weights', async () => {
    const dir = tempDir();
    const base = { ...arm(), analysis: 'weights' as const };
    const tuned = arm({ label: 'fine-tune', init: base, recipe: { ...arm().recipe, lr: 1e-12 } });
    const t = await run(tuned, dir);
    // lr 1e-12 moves no float32 weight: the fine-tuned model is the base arm's, so it evaluates the same.
    const b = await run(base, dir);
    expect(b.cache).toBe('hit');
    expect(t.top1).toBe(b.top1);
    // Its key covers the base arm's: another base is another entry.
    expect((await run(arm({ label: 'fine-tune', init: { ...base, seed: 5 }, recipe: tuned.recipe }), dir)).cache).toBe(
      'miss',
    );
    await expect(run(arm({ init: arm({ analysis: undefined }) as never }), dir)).rejects.toThrowError(/init.analysis/);
    // A bad recipe is refused before any work (the init arm is not trained).
    const files = fs.readdirSync(dir).length;
    const badInit = { ...base, seed: 9 };
    await expect(run(arm({ init: badInit, recipe: { ...arm().recipe, lr: 0 } }), dir)).rejects.toThrowError(
      /recipe.lr = 0/,
    );
    expect(fs.readdirSync(dir)).toHaveLength(files);
  });

  it('an interrupted arm resumes from its checkpoint in the cache folder, ending bit-identical to an uninterrupted run', async () => {
    // 64 images of 16: 4 iterations an epoch, a checkpoint each epoch; 12 iterations with an accuracy curve.
    const a = arm({ recipe: { ...arm().recipe, iterations: 12, evalEvery: 2 }, analysis: 'weights' });
    const whole = await runArm(a, { cache: { dir: tempDir(), fresh: false } });
    const dir = tempDir();
    let ticks = 0;
    const interrupting = {
      tick: () => {
        ticks += 1;
        if (ticks === 7) throw new Error('interrupted');
      },
      done: () => undefined,
    };
    await expect(runArm(a, { cache: { dir, fresh: false }, progress: interrupting })).rejects.toThrowError(
      /interrupted/,
    );
    const kept = fs.readdirSync(dir).filter((f) => f.endsWith('.checkpoint.json'));
    expect(kept).toHaveLength(1);
    const resumedFrom = JSON.parse(fs.readFileSync(path.join(dir, kept[0]!), 'utf8')) as {
      position: { iteration: number };
    };
    expect(resumedFrom.position.iteration).toBe(4);
    let resumedTicks = 0;
    const counting = { tick: () => void resumedTicks++, done: () => undefined };
    const resumed = await runArm(a, { cache: { dir, fresh: false }, progress: counting });
    // It trained iterations 5-12 only.
    expect(resumedTicks).toBe(8);
    expect(resumed.cache).toBe('miss');
    expect([resumed.top1, resumed.testLoss, resumed.energyJ, resumed.iterations]).toEqual([
      whole.top1,
      whole.testLoss,
      whole.energyJ,
      whole.iterations,
    ]);
    expect(resumed.accuracyCurve).toEqual(whole.accuracyCurve);
    expect(resumed.analysis).toEqual(whole.analysis);
    // Once stored, the checkpoint is gone.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.checkpoint.json'))).toEqual([]);
  });

  it('two local shards compute disjoint slices into one cache; an unsharded run then loads every arm', async () => {
    const dir = tempDir();
    const seeds = [0, 1, 2, 3, 4, 5];
    const sharded = (s: number, shard: string) =>
      runArm(arm({ seed: s }), { cache: { dir, fresh: false, shard: parseShard(shard) } });
    const shard1: Awaited<ReturnType<typeof runArm>>[] = [];
    for (const s of seeds) shard1.push(await sharded(s, '1/2'));
    const shard2: Awaited<ReturnType<typeof runArm>>[] = [];
    for (const s of seeds) shard2.push(await sharded(s, '2/2'));
    const computed1 = shard1.filter((o) => o.cache === 'miss').length;
    const computed2 = shard2.filter((o) => o.cache === 'miss').length;
    expect(computed1 + computed2).toBe(seeds.length);
    // What shard 2 did not compute, shard 1 had stored (hits); placeholders carry NaN, never numbers.
    expect(shard1.filter((o) => o.cache === 'other shard').every((o) => Number.isNaN(o.top1))).toBe(true);
    expect(shard2.every((o) => o.cache === 'miss' || o.cache === 'hit')).toBe(true);
    const assembled: Awaited<ReturnType<typeof runArm>>[] = [];
    for (const s of seeds) assembled.push(await run(arm({ seed: s }), dir));
    expect(assembled.every((o) => o.cache === 'hit')).toBe(true);
    expect(ownsArm('00000001', { index: 2, count: 2 })).toBe(true);
    expect(() => parseShard('3/2')).toThrowError(/--shard = "3\/2" is invalid/);
  });

  it("a shard that owns an arm starting from another shard's arm computes that arm too; the assembled run equals one unsharded", async () => {
    const dir = tempDir();
    const { armKey } = await import('../lib/src/experiments/run-cache');
    const { armDescription } = await import('../lib/src/experiments/arm');
    // Find a base seed whose base arm and fine-tuned arm fall in different shards of 2.
    const pair = (s: number) => {
      const base = { ...arm({ seed: s }), analysis: 'weights' as const };
      return { base, tuned: arm({ seed: s, label: 'fine-tune', init: base, recipe: { ...arm().recipe, lr: 0.001 } }) };
    };
    const shardOf = (a: Arm) => (parseInt(armKey(armDescription(a)).slice(0, 8), 16) % 2) + 1;
    // Keys depend on the library's code fingerprint: search enough seeds that some pair splits (each does with p = 1/2).
    const s = Array.from({ length: 64 }, (_, k) => k).find((k) => shardOf(pair(k).base) !== shardOf(pair(k).tuned));
    if (s === undefined) throw new Error('no seed in 0-63 puts the base and fine-tuned arms in different shards');
    const { base, tuned } = pair(s);
    const owner = shardOf(tuned);
    const t = await runArm(tuned, { cache: { dir, fresh: false, shard: parseShard(`${owner}/2`) } });
    expect(t.cache).toBe('miss');
    expect(Number.isFinite(t.top1)).toBe(true);
    // The other shard finds the base arm stored; an unsharded run loads both.
    expect((await runArm(base, { cache: { dir, fresh: false, shard: parseShard(`${3 - owner}/2`) } })).cache).toBe(
      'hit',
    );
    const alone = await runArm(tuned, { cache: { dir: tempDir(), fresh: false } });
    expect((await run(tuned, dir)).cache).toBe('hit');
    expect((await run(tuned, dir)).top1).toBe(alone.top1);
  });

  it('nothing read back is trusted unverified: tampered, emptied or misnamed entries are misses; stale temporaries go', async () => {
    const dir = tempDir();
    const a = arm();
    const first = await run(a, dir);
    const [name] = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    const file = path.join(dir, name!);
    const original = fs.readFileSync(file, 'utf8');
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (l: string) => void warnings.push(l);
    try {
      const edits: Array<[(e: Record<string, unknown>) => void, RegExp]> = [
        [
          (e) => {
            (e.outcome as Record<string, unknown>).top1 = 0.99;
          },
          /does not match its digest/,
        ],
        [
          (e) => {
            e.outcome = {};
          },
          /does not match its digest/,
        ],
        [
          (e) => {
            e.key = 'f'.repeat(64);
          },
          /names key ffffffffffffffff/,
        ],
        [
          (e) => {
            (e.description as Record<string, unknown>).seed = 5;
          },
          /does not hash to its key/,
        ],
      ];
      for (const [edit, why] of edits) {
        const entry = JSON.parse(original) as Record<string, unknown>;
        edit(entry);
        fs.writeFileSync(file, JSON.stringify(entry));
        const again = await run(a, dir);
        expect(again.cache).toBe('miss');
        expect(again.top1).toBe(first.top1);
        expect(warnings.pop()).toMatch(why);
      }
      // A hit again once the retrained entry is stored; a killed writer's temporary is removed on the next read.
      const stale = `${file}.999999.abcdef.tmp`;
      fs.writeFileSync(stale, '{');
      expect((await run(a, dir)).cache).toBe('hit');
      expect(fs.existsSync(stale)).toBe(false);
    } finally {
      console.warn = warn;
    }
  });

  it('the backend is part of the key: an outcome of one backend is not served to another', async () => {
    const { armDescription } = await import('../lib/src/experiments/arm');
    const { backendInfo } = await import('../lib/src/backend/select');
    expect((armDescription(arm()) as { backend: string }).backend).toBe(backendInfo()?.name);
  });

  it('running compiled, the compiled JavaScript is part of the code fingerprint (a stale build is other code)', async () => {
    const { codeFingerprint, clearCodeFingerprints } = await import('../lib/src/experiments/code-fingerprint');
    const src = tempDir();
    const built = tempDir();
    fs.writeFileSync(path.join(src, 'a.ts'), 'export const a = 1;\n');
    fs.writeFileSync(path.join(built, 'a.js'), 'exports.a = 1;\n');
    const fp = () => {
      clearCodeFingerprints();
      return codeFingerprint(['a'], { srcDir: src, builtDir: built });
    };
    const before = fp();
    fs.writeFileSync(path.join(built, 'a.js'), 'exports.a = 2;\n');
    expect(fp()).not.toBe(before);
    expect(codeFingerprint(['a'], { srcDir: src })).not.toBe(before);
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
    // lr 1e4 on a loss that may grow to twice its first iteration's: the guard stops the run before the bad step.
    const wild = (action?: 'stop') =>
      arm({
        recipe: {
          ...arm().recipe,
          lr: 1e4,
          divergence: { lossFactor: 2, window: 1, lossFloor: 0, ...(action ? { action } : {}) },
        },
      });
    const err = await runArm(wild(), { cache: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    const stopped = await run(wild('stop'), dir);
    expect(stopped.stopped).toBe('diverged');
    expect(stopped.divergence?.iteration).toBeGreaterThanOrEqual(1);
    expect(stopped.iterations).toBe(stopped.divergence?.iteration); // the steps before it applied, that one not
    expect(stopped.divergence?.reason).toMatch(/loss/);
    expect(stopped.cache).toBe('miss');
    const again = await run(wild('stop'), dir);
    expect(again.cache).toBe('hit');
    expect(again.stopped).toBe('diverged');
    expect(again.divergence).toEqual(stopped.divergence);
    // A run that does not diverge carries no stop marker.
    expect(
      (await run(arm({ recipe: { ...arm().recipe, divergence: { action: 'stop' } } }), dir)).stopped,
    ).toBeUndefined();
  });
});

describe('a shard ends its notebook where it needs another shard', () => {
  it('reading the analysis of an arm another shard computes throws ShardSliceDone; serialising the outcome does not', async () => {
    const { ShardSliceDone } = await import('../lib/src/experiments/arm');
    const dir = tempDir();
    const { armKey } = await import('../lib/src/experiments/run-cache');
    const { armDescription } = await import('../lib/src/experiments/arm');
    const a = { ...arm(), analysis: 'weights' as const };
    const owner = (parseInt(armKey(armDescription(a)).slice(0, 8), 16) % 2) + 1;
    const o = await runArm(a, { cache: { dir, fresh: false, shard: parseShard(`${3 - owner}/2`) } });
    expect(o.cache).toBe('other shard');
    expect(JSON.parse(JSON.stringify(o)).analysis).toEqual({});
    expect(() => (o.analysis as Record<string, unknown>)['conv1/w']).toThrowError(ShardSliceDone);
  });
});
