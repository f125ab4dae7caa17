/**
 * `npm run reproduce -- [--scale smoke|lite|paper] [--only <pattern>] [--seeds N] [--seed N] [--timeout S]`
 *
 * Executes every notebook in notebooks/ (or those whose file name matches the pattern, a regular
 * expression) with the ecotrain kernel, after injecting parameters papermill-style. Writes the executed
 * copies to out/<scale>/notebooks/, figures to out/<scale>/figures/, results to out/<scale>/results/ and
 * out/<scale>/REPORT.md. Exits 1 if any notebook fails, naming it, the failing cell and the error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { projectRoot, writeFileAtomic } from 'ecotrain/base';
import { KERNEL_NAME, setupPaths } from '../setup/paths';
import { parseReproduceArgs } from './args';
import { injectParameters, type Notebook, type ParamValue } from './inject';
import { type NotebookResult, renderReport, reportFiles, type RunInfo } from './report';

const PROBE = 'import { endOfNotebook } from "ecotrain-kernel";\nconst ecotrainSessionRecord = await endOfNotebook();';

/** The checked-out commit, with `+dirty` when tracked files differ from it; `unknown` outside a git work tree. */
function gitCommit(root: string): string {
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.status === 0 && dirty.stdout.trim() ? '+dirty' : ''}`;
}

/** Node and the versions of the packages the notebooks run on, read from their installed package.json files. */
function runtimeVersions(root: string): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-core', 'tslab', 'danfojs-node', 'plotly.js']) {
    const file = path.join(root, 'node_modules', ...pkg.split('/'), 'package.json');
    const v = readJson<{ version?: string }>(file)?.version;
    if (v) out[pkg] = v;
  }
  const own = readJson<{ version?: string }>(path.join(root, 'lib', 'package.json'))?.version;
  if (own) out.ecotrain = own;
  return out;
}

function readJson<T>(file: string): T | null {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : null;
}

function main(): number {
  const args = parseReproduceArgs(process.argv.slice(2));
  const root = projectRoot();
  const paths = setupPaths(root);
  const nbDir = path.join(root, 'notebooks');
  const outDir = path.join(root, 'out', args.scale);
  const pattern = args.only ? new RegExp(args.only, 'i') : undefined;
  const names = fs
    .readdirSync(nbDir)
    .filter((f) => f.endsWith('.ipynb') && (!pattern || pattern.test(f)))
    .sort();
  if (names.length === 0) {
    console.error(`reproduce: no notebook in ${nbDir} matches ${args.only ?? '*'}`);
    return 1;
  }
  for (const d of ['notebooks', 'figures', 'results', 'tables'])
    fs.mkdirSync(path.join(outDir, d), { recursive: true });
  const startedAt = new Date().toISOString();
  const results: NotebookResult[] = [];
  for (const name of names) {
    const stem = name.replace(/\.ipynb$/, '');
    const params: Record<string, ParamValue> = { scale: args.scale, seed: args.seed };
    if (args.seeds !== undefined) params.seeds = args.seeds;
    const nb = JSON.parse(fs.readFileSync(path.join(nbDir, name), 'utf8')) as Notebook;
    const { notebook, injected, ignored } = injectParameters(nb, params, name);
    if (ignored.length)
      console.error(`[${stem}] note: parameters not declared by the notebook, not injected: ${ignored.join(', ')}`);
    // A shard writes its executed copies under its own folder, so that shards sharing out/ never overwrite each other
    // (or the assembled notebooks).
    const ownDir = args.shard ? path.join(outDir, 'shards', `${args.shard.index}-of-${args.shard.count}`) : outDir;
    const notebooksOut = path.join(ownDir, 'notebooks');
    const input = path.join(notebooksOut, `.${stem}.input.ipynb`);
    const executed = path.join(notebooksOut, name);
    writeFileAtomic(input, JSON.stringify(notebook, null, 1));
    for (const suffix of ['findings', 'session'])
      fs.rmSync(path.join(outDir, 'results', `${stem}.${suffix}.json`), { force: true });
    console.error(
      `[${stem}] running at scale ${args.scale}${args.shard ? `, shard ${args.shard.index}/${args.shard.count} (computes its slice of the cached arms into ${path.relative(root, path.join(outDir, 'runs'))}; run once more without --shard to assemble the notebooks)` : ''} ...`,
    );
    const r = spawnSync(
      paths.python,
      [
        path.join(root, 'kernel-ext', 'python', 'execute_notebook.py'),
        input,
        executed,
        '--kernel',
        KERNEL_NAME,
        '--cwd',
        nbDir,
        '--timeout',
        String(args.timeout),
        '--probe',
        PROBE,
        '--echo-prefix',
        `[${stem}] `,
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 16 * 1024 * 1024,
        env: {
          ...process.env,
          ECOTRAIN_HEADLESS: '1',
          ECOTRAIN_SCALE: args.scale,
          ECOTRAIN_SEED: String(args.seed),
          ECOTRAIN_NOTEBOOK: stem,
          // Results and figures go to the shard's own folder; the run cache is shared.
          ECOTRAIN_OUT_DIR: ownDir,
          ECOTRAIN_RUN_CACHE: path.join(outDir, 'runs'),
          ...(args.fresh ? { ECOTRAIN_FRESH: '1' } : {}),
          ...(args.shard ? { ECOTRAIN_SHARD: `${args.shard.index}/${args.shard.count}` } : {}),
          TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
        },
      },
    );
    fs.rmSync(input, { force: true });
    const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    let parsed: { status: 'ok' | 'failed'; seconds: number; failed_cell: NotebookResult['failedCell'] } | undefined;
    try {
      parsed = JSON.parse(last) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    const result: NotebookResult = {
      notebook: name,
      status: parsed?.status === 'ok' && r.status === 0 ? 'ok' : 'failed',
      seconds: parsed?.seconds ?? 0,
      executed: path.relative(root, executed),
      failedCell:
        parsed?.failed_cell ??
        (parsed
          ? null
          : {
              index: null,
              ename: 'RunnerError',
              evalue: `executor exited ${r.status}: ${(r.stdout ?? '').slice(-1500)}${r.error?.message ?? ''}`,
              source: '',
            }),
      session: readJson(path.join(ownDir, 'results', `${stem}.session.json`)),
      findings: readJson(path.join(ownDir, 'results', `${stem}.findings.json`)),
      injected,
    };
    results.push(result);
    console.error(`[${stem}] ${result.status} in ${result.seconds.toFixed(1)} s`);
  }
  const info: RunInfo = {
    scale: args.scale,
    startedAt,
    endedAt: new Date().toISOString(),
    commit: gitCommit(root),
    versions: runtimeVersions(root),
    selection: args.shard
      ? { kind: 'shard', index: args.shard.index, count: args.shard.count }
      : args.only
        ? { kind: 'only', pattern: args.only }
        : { kind: 'all' },
  };
  const files = reportFiles(info.selection);
  writeFileAtomic(path.join(outDir, files.markdown), renderReport(info, results));
  writeFileAtomic(path.join(outDir, files.json), `${JSON.stringify({ ...info, results }, null, 2)}\n`);
  console.error(`reproduce: report written to ${path.relative(root, path.join(outDir, files.markdown))}`);
  const failed = results.filter((x) => x.status === 'failed');
  for (const f of failed) {
    const c = f.failedCell;
    console.error(
      `reproduce: FAILED ${f.notebook}${c ? ` at cell ${c.index ?? '?'}: ${c.ename}: ${c.evalue.slice(0, 2000)}` : ''}`,
    );
    if (c?.source) console.error(`  cell source: ${c.source.split('\n').slice(0, 5).join('\n  ')}`);
  }
  return failed.length > 0 ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`reproduce: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
