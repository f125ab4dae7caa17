import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors';

/**
 * The relative modules a TypeScript source loads when it runs: its `import` and `export ... from` statements, without
 * the type-only ones (`import type`, `export type`, or every named member marked `type`), which compile to nothing.
 */
export function valueImports(text: string): string[] {
  const out: string[] = [];
  const statement = /(?:^|\n)\s*(import|export)\s+([^;]*?)\s*from\s*'(\.{1,2}\/[^']+)'/g;
  for (const m of text.matchAll(statement)) {
    const clause = (m[2] as string).trim();
    if (clause.startsWith('type ') || clause.startsWith('type{')) continue;
    const named = /^\{([\s\S]*)\}$/.exec(clause);
    if (named) {
      const members = (named[1] as string)
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      if (members.length > 0 && members.every((x) => x.startsWith('type '))) continue;
    }
    out.push(m[3] as string);
  }
  // Side-effect imports (`import './x';`) load the module too.
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*'(\.{1,2}\/[^']+)'/g)) out.push(m[1] as string);
  return out;
}

const closures = new Map<string, string>();

/**
 * SHA-256 (16 hex digits) over the sources of `roots` (paths relative to `srcDir`, without extension) and of every
 * module they load at run time, followed through value imports within `srcDir`; `opaque` modules count with their own
 * text only (registries whose imports are chosen per use). An edit anywhere in that closure changes it; an edit
 * elsewhere does not. Memoized per source folder and root set.
 */
export function codeFingerprint(
  roots: readonly string[],
  o: {
    srcDir: string;
    opaque?: readonly string[];
    /** The compiled modules' folder, when the code runs compiled: their JavaScript counts too (a stale build differs). */
    builtDir?: string;
  },
): string {
  const memo = `${o.srcDir}|${o.builtDir ?? ''}|${[...roots].sort().join(',')}|${[...(o.opaque ?? [])].sort().join(',')}`;
  const known = closures.get(memo);
  if (known) return known;
  const opaque = new Set(o.opaque ?? []);
  const seen = new Set<string>();
  const visit = (mod: string) => {
    if (seen.has(mod)) return;
    // A data module (`import profile from './x.json'`) counts with its content.
    if (/\.json$/.test(mod) && fs.existsSync(path.join(o.srcDir, mod))) {
      seen.add(mod);
      return;
    }
    const file = path.join(o.srcDir, `${mod}.ts`);
    const index = path.join(o.srcDir, mod, 'index.ts');
    const actual = fs.existsSync(file) ? file : fs.existsSync(index) ? index : undefined;
    if (!actual) throw new ConfigError('code fingerprint module', mod, `a module under ${o.srcDir}`);
    const name = path.relative(o.srcDir, actual).replace(/\.ts$/, '').split(path.sep).join('/');
    if (seen.has(name)) return;
    seen.add(name);
    if (opaque.has(name)) return;
    for (const spec of valueImports(fs.readFileSync(actual, 'utf8'))) {
      const target = path.relative(o.srcDir, path.resolve(path.dirname(actual), spec));
      if (!target.startsWith('..')) visit(target.split(path.sep).join('/'));
    }
  };
  for (const r of roots) visit(r);
  const h = crypto.createHash('sha256');
  for (const name of [...seen].sort()) {
    h.update(name);
    h.update(fs.readFileSync(path.join(o.srcDir, /\.json$/.test(name) ? name : `${name}.ts`)));
    if (o.builtDir && !/\.json$/.test(name)) {
      const js = path.join(o.builtDir, `${name}.js`);
      h.update(fs.existsSync(js) ? fs.readFileSync(js) : 'not compiled');
    }
  }
  const digest = h.digest('hex').slice(0, 16);
  closures.set(memo, digest);
  return digest;
}

/** Forgets memoized fingerprints (for tests that edit sources). */
export function clearCodeFingerprints(): void {
  closures.clear();
}
