/**
 * Probes of the reliability guarantees kept as tests: a training process killed with SIGKILL mid-run resumes to the
 * same parameters as an uninterrupted run, and the lab's API refuses a request without its token even when a user
 * configuration empties the token. They start processes (the compiled library, JupyterLab from the venv).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/src/config';
import { setupPaths } from '../kernel-ext/src/setup/paths';
import { tempDir } from './helpers';

const root = projectRoot();
const built = path.join(root, 'out', 'build', 'lib', 'src', 'index.js');

/** A training script: an MLP on synthetic images, checkpointed every 2 iterations, writing its final parameters. */
const script = (checkpoint: string, out: string, iterations: number) => `
const e = require(${JSON.stringify(built)});
(async () => {
  await e.initBackend({ backend: 'cpu' });
  const data = e.syntheticCifar(256, 3);
  const model = e.mlp({ inputShape: [32, 32, 3], hidden: [16], seed: 5 });
  await e.train({ model, train: data, batchSize: 16, epochs: 8, iterations: ${iterations}, lr: 0.005, seed: 2,
    optimizer: { kind: 'sgd', momentum: 0.9 }, schedule: { kind: 'cosine' }, normalize: e.channelStats(data),
    checkpoint: { file: ${JSON.stringify(checkpoint)}, every: 2, resume: true } });
  const values = model.params.all().map((p) => Array.from(p.variable.dataSync()));
  require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(values));
})().catch((err) => { console.error(err); process.exit(1); });
`;

const run = (code: string): ChildProcess =>
  spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
const exited = (c: ChildProcess) => new Promise<number | null>((r) => c.once('exit', (code) => r(code)));

describe('reliability probes', () => {
  it('kill -9 mid-run, then resume: the parameters equal an uninterrupted run, bit for bit', async () => {
    const dir = tempDir();
    const iterations = 120;
    const whole = path.join(dir, 'whole.json');
    expect(await exited(run(script(path.join(dir, 'a.ck'), whole, iterations)))).toBe(0);
    const ck = path.join(dir, 'b.ck');
    const resumed = path.join(dir, 'resumed.json');
    const first = run(script(ck, resumed, iterations));
    // Killed once its first confirmed checkpoint exists, mid-run.
    const until = Date.now() + 60_000;
    while (!fs.existsSync(ck) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(fs.existsSync(ck)).toBe(true);
    first.kill('SIGKILL');
    await exited(first);
    expect(fs.existsSync(resumed)).toBe(false);
    const at = (JSON.parse(fs.readFileSync(ck, 'utf8')) as { position: { iteration: number } }).position.iteration;
    expect(at).toBeLessThan(iterations);
    expect(await exited(run(script(ck, resumed, iterations)))).toBe(0);
    expect(fs.readFileSync(resumed, 'utf8')).toBe(fs.readFileSync(whole, 'utf8'));
  }, 120_000);

  it('the lab refuses the API without its token although a user configuration sets an empty token', async () => {
    const { labArguments } = await import('../kernel-ext/src/lab-args');
    const paths = setupPaths(root);
    const config = tempDir();
    fs.writeFileSync(path.join(config, 'jupyter_server_config.py'), 'c.IdentityProvider.token = ""\n');
    const token = 'cd'.repeat(24);
    const port = 18_000 + (process.pid % 1000);
    const args = labArguments(root, ['--port', String(port)], true, token);
    const lab = spawn(path.join(paths.venv, 'bin', 'jupyter'), args, {
      stdio: 'ignore',
      env: { ...process.env, JUPYTER_CONFIG_DIR: config, JUPYTER_RUNTIME_DIR: tempDir() },
    });
    try {
      const status = async (query: string) => {
        for (const until = Date.now() + 60_000; Date.now() < until; ) {
          try {
            return (await fetch(`http://127.0.0.1:${port}/api/contents${query}`)).status;
          } catch {
            await new Promise((r) => setTimeout(r, 250));
          }
        }
        return -1;
      };
      expect(await status('')).toBe(403);
      expect(await status(`?token=${token}`)).toBe(200);
    } finally {
      lab.kill('SIGTERM');
      await exited(lab);
    }
  }, 120_000);
});
