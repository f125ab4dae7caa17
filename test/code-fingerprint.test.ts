import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticCifar } from '../lib/src/data/synthetic';
import { ANALYSIS_MODULES } from '../lib/src/experiments/analyses';
import { type Arm, armDescription, CORE_MODULES, MODEL_MODULES, TECHNIQUE_MODULES } from '../lib/src/experiments/arm';
import { clearCodeFingerprints, valueImports } from '../lib/src/experiments/code-fingerprint';
import { armKey } from '../lib/src/experiments/run-cache';
import { tempDir } from './helpers';

const src = path.resolve(__dirname, '../lib/src');
const modulesOf = (file: string) =>
  valueImports(fs.readFileSync(path.join(src, file), 'utf8')).map((s) =>
    path
      .relative(src, path.resolve(path.dirname(path.join(src, file)), s))
      .split(path.sep)
      .join('/'),
  );

describe('code fingerprint of an arm', () => {
  it('follows the imports that run: not type-only imports or exports', () => {
    const text = [
      "import { a } from './a';",
      "import type { B } from './b';",
      "import { type C, type D } from './cd';",
      "import { type E, f } from './ef';",
      "import * as g from '../g';",
      "export * from './h';",
      "export type { I } from './i';",
      "export { j } from './j';",
      "import './k';",
      "const x: import('./l').L = 1;",
      "import {\n  m,\n  type N,\n} from './mn';",
    ].join('\n');
    expect(valueImports(text)).toEqual(['./a', './ef', '../g', './h', './j', './mn', './k']);
  });

  it('the registries route every module they load: arm.ts and analyses.ts import nothing the tables leave out', () => {
    const routed = new Set([
      ...CORE_MODULES,
      ...Object.values(MODEL_MODULES),
      ...Object.values(TECHNIQUE_MODULES),
      ...Object.values(ANALYSIS_MODULES).flat(),
      'experiments/analyses',
      'models/surgery',
      'models/low-rank',
    ]);
    // What computes the key itself, not the run.
    const bookkeeping = new Set(['experiments/code-fingerprint', 'config']);
    const missing = [...modulesOf('experiments/arm.ts'), ...modulesOf('experiments/analyses.ts')].filter(
      (m) => !routed.has(m) && !bookkeeping.has(m),
    );
    expect(missing).toEqual([]);
  });

  it("an edit of a technique another arm does not run keeps that arm's key; an edit of the trainer changes every key", () => {
    const copy = path.join(tempDir(), 'src');
    fs.cpSync(src, copy, { recursive: true });
    const data = { train: syntheticCifar(8, 1), test: syntheticCifar(8, 2) };
    const arm = (techniques: Arm['techniques']): Arm => ({
      ...{ label: 'x', seed: 0, data, model: { kind: 'mlp', options: { inputShape: [32, 32, 3], hidden: [4] } } },
      recipe: {
        ...{ batchSize: 4, iterations: 2, lr: 0.1, optimizer: { kind: 'sgd' }, schedule: { kind: 'constant' } },
        ...{ augment: 'none', input: 'standardize' },
      },
      techniques,
      analysis: undefined,
    });
    const smd = arm([{ kind: 'smd', options: { p: 0.5 } }]);
    const psg = arm([{ kind: 'psg', options: { beta: 0.05 } }]);
    const keys = () => {
      clearCodeFingerprints();
      return [smd, psg].map((a) => armKey(armDescription(a, copy)));
    };
    const before = keys();
    expect(before[0]).not.toBe(before[1]);
    fs.appendFileSync(path.join(copy, 'techniques/smd.ts'), '\n// an edit\n');
    const afterSmd = keys();
    expect(afterSmd[0]).not.toBe(before[0]);
    expect(afterSmd[1]).toBe(before[1]);
    fs.appendFileSync(path.join(copy, 'techniques/smoothout.ts'), '\n// an edit of a technique neither arm runs\n');
    expect(keys()).toEqual(afterSmd);
    fs.appendFileSync(path.join(copy, 'train/trainer.ts'), '\n// an edit\n');
    const afterTrainer = keys();
    expect(afterTrainer[0]).not.toBe(afterSmd[0]);
    expect(afterTrainer[1]).not.toBe(afterSmd[1]);
    clearCodeFingerprints();
    fs.rmSync(path.dirname(copy), { recursive: true, force: true });
  });
});
