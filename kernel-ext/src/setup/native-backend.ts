import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, tail } from './proc';
import type { SetupPaths } from './paths';

/** The tensorflow-cpu wheel whose shared libraries back tfjs-node when its own download is blocked. */
export const TF_WHEEL = { name: 'tensorflow-cpu', version: '2.21.0' } as const;

/** How the native backend became available. */
export type NativeRoute = 'present' | 'official-download' | 'tensorflow-cpu-wheel';

/** True when `@tensorflow/tfjs-node` loads and runs an op in a fresh Node process. */
export function nativeBackendWorks(paths: SetupPaths): { ok: boolean; detail: string } {
  const r = run(
    process.execPath,
    [
      '-e',
      "const tf=require('@tensorflow/tfjs-node');const s=tf.add(tf.scalar(1),tf.scalar(2)).dataSync()[0];if(s!==3)throw new Error('1+2='+s);process.stdout.write(tf.getBackend())",
    ],
    {
      cwd: paths.root,
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
      timeoutMs: 120_000,
    },
  );
  return { ok: r.ok && r.stdout.trim() === 'tensorflow', detail: r.ok ? r.stdout.trim() : tail(r.stderr, 5) };
}

/** Node's own headers (for node-gyp without a download): the prefix holding include/node/node_api.h. */
export function nodeHeadersDir(): string | undefined {
  const candidates = [
    process.env.npm_config_nodedir,
    path.dirname(path.dirname(process.execPath)),
    '/usr',
    '/usr/local',
  ];
  return candidates.find((d): d is string => !!d && fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
}

function nodeGypBin(): string | undefined {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(path.dirname(process.execPath)),
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  const npmRoot = run('npm', ['root', '-g'], { timeoutMs: 30_000 });
  if (npmRoot.ok)
    candidates.push(path.join(npmRoot.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

/** Try the package's own install script (downloads libtensorflow 2.9.1 and builds or fetches the addon). */
function tryOfficialInstall(paths: SetupPaths, log: (l: string) => void): boolean {
  log("native backend: trying tfjs-node's own install (downloads libtensorflow)...");
  const r = run(process.execPath, ['scripts/install.js'], { cwd: paths.tfjsNode, timeoutMs: 10 * 60_000 });
  if (r.ok && nativeBackendWorks(paths).ok) return true;
  log(
    `native backend: official download unavailable (${
      tail(r.stderr + r.stdout, 40)
        .split('\n')
        .find((l) => /ENOTFOUND|ECONN|Error/.test(l)) ?? 'install failed'
    })`,
  );
  return false;
}

/** Members of the wheel to take: the two shared libraries and the C API headers (prefix in the wheel -> target under deps/). */
// biome-ignore lint/complexity/noUselessStringRaw: a Python program, kept raw so that an escape added to it stays literal
const WHEEL_EXTRACT = String.raw`
import sys, zipfile, re, os, shutil
wheel, deps = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
hdr = re.compile(r'tensorflow/include/(tensorflow/c/|tensorflow/core/platform/ctstring|tsl/platform/ctstring|xla/tsl/c/)')
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith('/'):
            continue
        if name in libs:
            target = os.path.join(deps, 'lib', os.path.basename(name))
        elif hdr.match(name):
            target = os.path.join(deps, 'include', name[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(name) as src, open(target + '.tmp', 'wb') as dst:
            shutil.copyfileobj(src, dst)
        os.replace(target + '.tmp', target)
        n += 1
print(n)
`;

/** Build the addon against libtensorflow taken from the tensorflow-cpu wheel that pip can fetch. */
function wheelInstall(paths: SetupPaths, log: (l: string) => void): void {
  const wheelDir = path.join(paths.cache, 'wheels');
  fs.mkdirSync(wheelDir, { recursive: true });
  const find = () =>
    fs.readdirSync(wheelDir).find((f) => f.startsWith(`tensorflow_cpu-${TF_WHEEL.version}-`) && f.endsWith('.whl'));
  let wheel = find();
  if (!wheel) {
    log(`native backend: fetching the ${TF_WHEEL.name}==${TF_WHEEL.version} wheel with pip...`);
    const r = run(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--retries',
        '0',
        '--timeout',
        '20',
        '-d',
        wheelDir,
        `${TF_WHEEL.name}==${TF_WHEEL.version}`,
      ],
      {
        env: { ...process.env, PIP_RETRIES: '0' },
        timeoutMs: 20 * 60_000,
      },
    );
    wheel = find();
    if (!r.ok || !wheel)
      throw new Error(`pip could not fetch ${TF_WHEEL.name}==${TF_WHEEL.version}:\n${tail(r.stderr)}`);
  }
  const deps = path.join(paths.tfjsNode, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  const x = run('python3', ['-c', WHEEL_EXTRACT, path.join(wheelDir, wheel), deps]);
  if (!x.ok) throw new Error(`extracting ${wheel} failed:\n${tail(x.stderr)}`);
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(deps, 'lib', 'libtensorflow.so'));
  fs.symlinkSync('libtensorflow_framework.so.2', path.join(deps, 'lib', 'libtensorflow_framework.so'));
  log(`native backend: took ${x.stdout.trim()} files from ${wheel}; building the addon with node-gyp...`);
  const nodedir = nodeHeadersDir();
  const gyp = nodeGypBin();
  if (!gyp) throw new Error('node-gyp not found (it ships with npm); cannot build the tfjs-node addon');
  const preGyp = path.join(
    require.resolve('@mapbox/node-pre-gyp/package.json', { paths: [paths.tfjsNode] }),
    '..',
    'bin',
    'node-pre-gyp',
  );
  const args = [preGyp, 'install', '--build-from-source', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const b = run(process.execPath, args, {
    cwd: paths.tfjsNode,
    env: { ...process.env, npm_config_node_gyp: gyp, PATH: `${path.dirname(gyp)}:${process.env.PATH ?? ''}` },
    timeoutMs: 20 * 60_000,
  });
  if (!b.ok) throw new Error(`building the tfjs-node addon failed:\n${tail(b.stderr + b.stdout, 30)}`);
}

/**
 * Makes `require('@tensorflow/tfjs-node')` work: a no-op when it already does; else the package's
 * normal install; else the tensorflow-cpu wheel route. Returns the route taken.
 */
export function ensureNativeBackend(paths: SetupPaths, log: (l: string) => void): NativeRoute {
  const before = nativeBackendWorks(paths);
  if (before.ok) return 'present';
  if (process.env.ECOTRAIN_SKIP_OFFICIAL_TFJS_DOWNLOAD !== '1' && tryOfficialInstall(paths, log))
    return 'official-download';
  wheelInstall(paths, log);
  const after = nativeBackendWorks(paths);
  if (!after.ok) throw new Error(`the tfjs-node addon was built but does not load:\n${after.detail}`);
  return 'tensorflow-cpu-wheel';
}
