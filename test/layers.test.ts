import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The library's folders are layers: a module may import from its own folder or from a folder below it, never above.
 * Root files other than the entry points (`errors`, `config`, `random`) are the bottom layer.
 */
const ENTRY_POINTS = ['index.ts', 'base.ts'];
const LAYERS = [
  '',
  'backend',
  'data',
  'quant',
  'models',
  'cost',
  'train',
  'techniques',
  'distributed',
  'analysis',
  'experiments',
  'studies',
];
const libRoot = path.resolve(__dirname, '../lib/src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers of a source text: static imports and exports, `import()` types and calls, `require`. */
function relativeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']*)'/gm))
    out.push(m[1] as string);
  return out;
}

/** The layer folder of a file under lib/src ('' for the root files). */
function folderOf(file: string): string {
  const rel = path.relative(libRoot, file);
  return rel.includes(path.sep) ? (rel.split(path.sep)[0] as string) : '';
}

function violations(): string[] {
  const out: string[] = [];
  for (const file of sources(libRoot)) {
    if (ENTRY_POINTS.includes(path.relative(libRoot, file))) continue;
    const from = folderOf(file);
    for (const spec of relativeImports(fs.readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(libRoot)) {
        out.push(`${path.relative(libRoot, file)} imports ${spec}, outside lib/src`);
        continue;
      }
      const to = folderOf(`${target}.ts`);
      if (LAYERS.indexOf(from) < 0 || LAYERS.indexOf(to) < 0)
        out.push(`${path.relative(libRoot, file)} -> ${spec}: folder not in the layer list`);
      else if (LAYERS.indexOf(to) > LAYERS.indexOf(from))
        out.push(`${path.relative(libRoot, file)} (${from || 'root'}) imports ${spec} (${to}), a layer above`);
    }
  }
  return out;
}

describe('library layers', () => {
  it('finds every kind of relative import', () => {
    const text =
      "import { a } from './a';\nimport type { B } from '../b/c';\nexport * from './d';\nconst x: import('../e').X = 1;\nrequire('./f');";
    expect(relativeImports(text)).toEqual(['./a', '../b/c', './d', '../e', './f']);
  });

  it('no module imports from a layer above its own', () => {
    expect(violations()).toEqual([]);
  });

  it('kernel-ext reaches the library only through its entry points (ecotrain, ecotrain/base)', () => {
    const kernelRoot = path.resolve(__dirname, '../kernel-ext/src');
    const reaching = sources(kernelRoot).flatMap((file) =>
      relativeImports(fs.readFileSync(file, 'utf8'))
        .filter((spec) => !path.resolve(path.dirname(file), spec).startsWith(kernelRoot))
        .map((spec) => `${path.relative(kernelRoot, file)} imports ${spec}`),
    );
    expect(reaching).toEqual([]);
  });

  it('every folder of lib/src is a listed layer', () => {
    const folders = fs
      .readdirSync(libRoot, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !LAYERS.includes(f))).toEqual([]);
  });
});
