import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { ternGrad } from '../techniques/terngrad';
import { checkJob, jobData, jobModel, jobTrainSettings, type TernGradJob } from './job';
import { levelBits, packLevels, readFloats, unpackTernary } from './wire';

/** Why a cluster run stopped: a worker died, hung, or reported an error. All processes are stopped when it is thrown. */
export class TernGradClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TernGradClusterError';
  }
}

/** Payload bytes that crossed the wire in a cluster run, per worker and direction (ZeroMQ's framing excluded). */
export interface WireBytes {
  /** Worker to server: packed ternary gradients (2 bits per element, each tensor in its own frame). */
  readonly ternaryUp: number;
  /** Server to worker: packed level sums (ceil(log2(2N+1)) bits per element). */
  readonly levelsDown: number;
  /** Scaler sharing: each worker's scalers up and the shared scalers down (32 bits each), plus the loss both ways. */
  readonly scalersUp: number;
  readonly scalersDown: number;
  /** The float baseline (`ternary: false`): float32 gradients up and their float32 average down, plus the loss. */
  readonly floatUp: number;
  readonly floatDown: number;
}

/** What {@link runTernGradCluster} returns. */
export interface ClusterResult {
  /** Worker 0's final parameters, in the model's parameter order. */
  readonly params: Float32Array[];
  /** Whether every worker ended with bit-identical parameters (parameter localization). */
  readonly workersAgree: boolean;
  /** Bytes per worker over the whole run (the same for every worker). */
  readonly bytesPerWorker: WireBytes;
  readonly steps: number;
  /** Wall seconds from every worker's first scalers to the last average (steps - 1 whole steps plus one exchange; worker start-up excluded). */
  readonly seconds: number;
  /** seconds / (steps - 1): the wall time of one distributed step (NaN for a one-step run). */
  readonly secondsPerStep: number;
  /**
   * Messages the server dropped: from a peer that is not one of its workers, malformed, or of another kind or step
   * than expected (a worker that never sends what is expected is caught by the timeout, named).
   */
  readonly droppedMessages: number;
}

/** The bytes a run of `steps` should put on the wire per worker for tensors of `sizes` elements and N workers. */
export function expectedWireBytes(sizes: readonly number[], workers: number, steps: number, ternary = true): WireBytes {
  const b = levelBits(workers);
  if (!ternary) {
    const f = steps * (4 * sizes.reduce((a, s) => a + s, 0) + 4);
    return { ternaryUp: 0, levelsDown: 0, scalersUp: 0, scalersDown: 0, floatUp: f, floatDown: f };
  }
  return {
    ternaryUp: steps * sizes.reduce((a, s) => a + Math.ceil((2 * s) / 8), 0),
    levelsDown: steps * sizes.reduce((a, s) => a + Math.ceil((b * s) / 8), 0),
    scalersUp: steps * 4 * (sizes.length + 1),
    scalersDown: steps * 4 * (sizes.length + 1),
    floatUp: 0,
    floatDown: 0,
  };
}

/** The compiled worker entry (next to this module once built; from the build output when this runs from sources). */
function workerScript(): string {
  const here = path.join(__dirname, 'terngrad-worker.js');
  if (existsSync(here)) return here;
  const built = path.resolve(__dirname, '../../../out/build/lib/src/distributed/terngrad-worker.js');
  if (existsSync(built)) return built;
  throw new TernGradClusterError(
    `terngrad worker script not found (looked for ${here} and ${built}): run npm run build first`,
  );
}

/**
 * Runs a TernGrad job with N real worker processes on this machine (Algorithm 1 over ZeroMQ on 127.0.0.1; with
 * `job.terngrad.ternary: false`, the float baseline exchanging float32 gradients and their average): the server
 * (this process) binds a ROUTER socket on a free port and forks the workers; every step it collects the workers'
 * scalers and returns their maximum (scaler sharing), collects their packed ternary gradients, sums the levels and
 * returns the packed sums. Every party waits at most `job.timeoutSeconds` for a message. A worker that exits early, hangs
 * or reports an error stops the run: the server aborts the others, kills every child still alive, and throws a
 * {@link TernGradClusterError} naming the worker and step; no process outlives the call.
 */
export async function runTernGradCluster(
  job: TernGradJob,
  options: {
    /** Called with the server's endpoint once it listens (monitoring; tests use it to play a stray peer). */
    readonly onListen?: (endpoint: string) => void;
  } = {},
): Promise<ClusterResult> {
  checkJob(job);
  const ternary = job.terngrad.ternary !== false;
  const n = job.terngrad.workers;
  const timeoutMs = Math.round((job.timeoutSeconds ?? 30) * 1000);
  const script = workerScript();
  const startupMs = Math.round((job.startupSeconds ?? 120) * 1000);
  // The first messages wait for the workers' start (backend, data); later ones for one phase of a step.
  // CURVE: the server's key pair is made for this job and its public key given only to the workers it forks, so a
  // stray local peer can neither send to the job nor take a worker's routing id.
  const keys = zmq.curveKeyPair();
  const router = new zmq.Router({
    ...{ linger: 0, receiveTimeout: startupMs, sendTimeout: timeoutMs },
    ...{ curveServer: true, curveSecretKey: keys.secretKey },
  });
  await router.bind('tcp://127.0.0.1:*');
  const endpoint = router.lastEndpoint as string;
  options.onListen?.(endpoint);
  const children: ChildProcess[] = [];
  let failure: TernGradClusterError | undefined;
  let failed: (e: TernGradClusterError) => void = () => {};
  const failurePromise = new Promise<never>((_, reject) => {
    failed = (e) => {
      if (!failure) {
        failure = e;
        reject(e);
      }
    };
  });
  failurePromise.catch(() => {});
  let finished = false;
  const stderr: string[] = Array.from({ length: n }, () => '');
  for (let id = 0; id < n; id++) {
    const child = fork(script, [], {
      env: {
        ...process.env,
        ECOTRAIN_TERNGRAD_WORKER: JSON.stringify({ job, id, endpoint, serverKey: keys.publicKey }),
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr[id] = (stderr[id] + d.toString()).slice(-2000);
    });
    child.on('exit', (code, signal) => {
      // A worker exits 0 only after sending its final parameters; if they never arrive, collect() times out instead.
      if (!finished && code !== 0)
        failed(
          new TernGradClusterError(
            `worker ${id} exited (${signal ?? `code ${code}`}) before the run finished${stderr[id] ? `: ${stderr[id]!.trim().split('\n').slice(-1)[0]}` : ''}`,
          ),
        );
    });
    children.push(child);
  }
  const stopAll = async () => {
    finished = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(
      children.map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined,
      ),
    );
    router.close();
  };
  const bytes = { ternaryUp: 0, levelsDown: 0, scalersUp: 0, scalersDown: 0, floatUp: 0, floatDown: 0 };
  let dropped = 0;
  /** Collects one message of `kind` for `step` from every worker. */
  const collect = async (kind: string, step: number): Promise<Buffer[][]> => {
    const got: Array<Buffer[] | undefined> = new Array(n).fill(undefined);
    while (got.some((g) => !g)) {
      let frames: Buffer[];
      try {
        const pending = router.receive();
        pending.catch(() => {});
        frames = (await Promise.race([pending, failurePromise])) as Buffer[];
      } catch (err) {
        if (err instanceof TernGradClusterError) throw err;
        const missing = got.map((g, i) => (g ? -1 : i)).filter((i) => i >= 0);
        throw new TernGradClusterError(
          `no ${kind} message from worker(s) ${missing.join(', ')} within ${router.receiveTimeout / 1000} s at step ${step}`,
        );
      }
      const peer = frames[0]?.toString() ?? '';
      const id = /^w\d+$/.test(peer) ? Number(peer.slice(1)) : Number.NaN;
      const type = frames[1]?.toString();
      if (Number.isInteger(id) && id >= 0 && id < n && type === 'E')
        throw new TernGradClusterError(`worker ${id} failed at step ${step}: ${frames[2]?.toString()}`);
      if (!(Number.isInteger(id) && id >= 0 && id < n) || type !== kind || Number(frames[2]?.toString()) !== step) {
        dropped += 1;
        continue;
      }
      got[id] = frames.slice(3);
    }
    router.receiveTimeout = timeoutMs;
    return got as Buffer[][];
  };
  const send = (id: number, frames: Array<string | Buffer>) => router.send([`w${id}`, ...frames]);
  /** Sends `frames` to every worker, waiting at most `ms` for each; a worker that is gone cannot be told. */
  const tellAll = async (frames: Array<string | Buffer>, ms: number): Promise<void> => {
    for (let id = 0; id < n; id++)
      await Promise.race([send(id, frames).catch(() => undefined), new Promise((r) => setTimeout(r, ms))]);
  };
  let t0 = Date.now();
  try {
    for (let step = 0; step < job.train.iterations; step++) {
      if (!ternary) {
        // The float baseline: float32 gradients up, their float32 average (summed in worker order) down.
        const f = await collect('F', step);
        if (step === 0) t0 = Date.now();
        const meanLoss = Float32Array.of(f.reduce((a, fr) => a + (readFloats(fr[0] as Buffer)[0] as number), 0) / n);
        const tensors = (f[0] as Buffer[]).length - 1;
        const avg = Array.from({ length: tensors }, (_, j) => {
          const parts = f.map((fr) => readFloats(fr[j + 1] as Buffer));
          const sum = new Float32Array((parts[0] as Float32Array).length);
          for (const part of parts)
            for (let e = 0; e < sum.length; e++) sum[e] = (sum[e] as number) + (part[e] as number);
          for (let e = 0; e < sum.length; e++) sum[e] = (sum[e] as number) / n;
          return Buffer.from(sum.buffer);
        });
        for (let id = 0; id < n; id++) {
          bytes.floatUp += (f[id] as Buffer[]).reduce((a, b) => a + b.byteLength, 0);
          await send(id, ['G', String(step), Buffer.from(meanLoss.buffer), ...avg]);
          bytes.floatDown += meanLoss.byteLength + avg.reduce((a, b) => a + b.byteLength, 0);
        }
        continue;
      }
      const s = await collect('S', step);
      if (step === 0) t0 = Date.now();
      const sizes = Array.from(new Int32Array(Uint8Array.from(s[0]![2] as Buffer).buffer));
      if (s.some((f) => Buffer.compare(f[2] as Buffer, s[0]![2] as Buffer) !== 0))
        throw new TernGradClusterError(`workers disagree on the gradient tensors' sizes at step ${step}`);
      const scalers = s.map((f) => readFloats(f[0] as Buffer));
      const losses = s.map((f) => readFloats(f[1] as Buffer)[0] as number);
      const shared = Float32Array.from(scalers[0] as Float32Array, (_, j) =>
        Math.max(...scalers.map((x) => x[j] as number)),
      );
      const meanLoss = Float32Array.of(losses.reduce((a, x) => a + x, 0) / n);
      for (let id = 0; id < n; id++) {
        bytes.scalersUp += (s[id]![0] as Buffer).byteLength + (s[id]![1] as Buffer).byteLength;
        await send(id, ['M', String(step), Buffer.from(shared.buffer), Buffer.from(meanLoss.buffer)]);
        bytes.scalersDown += shared.byteLength + meanLoss.byteLength;
      }
      const t = await collect('T', step);
      const levels = sizes.map((size, j) => {
        const k = new Int16Array(size);
        for (let id = 0; id < n; id++) {
          const frame = t[id]![j] as Buffer;
          bytes.ternaryUp += frame.byteLength;
          const v = unpackTernary(new Uint8Array(frame), size);
          for (let e = 0; e < size; e++) k[e] = (k[e] as number) + (v[e] as number);
        }
        return Buffer.from(packLevels(k, n));
      });
      for (let id = 0; id < n; id++) {
        await send(id, ['A', String(step), ...levels]);
        bytes.levelsDown += levels.reduce((a, b) => a + b.byteLength, 0);
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    const done = await collect('D', job.train.iterations);
    finished = true;
    // Acknowledge the final parameters: a worker exits only after this (or after its reply wait), so a large last
    // message still queued on its socket is not cut off by its exit.
    await tellAll(['K', String(job.train.iterations)], 1000);
    const params = (done[0] as Buffer[]).map((b) => readFloats(b));
    const workersAgree = done.every(
      (frames) =>
        frames.length === params.length &&
        frames.every((b, j) => Buffer.compare(b, Buffer.from((params[j] as Float32Array).buffer)) === 0),
    );
    const per = (x: number) => x / n;
    return {
      params,
      workersAgree,
      bytesPerWorker: {
        ternaryUp: per(bytes.ternaryUp),
        levelsDown: per(bytes.levelsDown),
        scalersUp: per(bytes.scalersUp),
        scalersDown: per(bytes.scalersDown),
        floatUp: per(bytes.floatUp),
        floatDown: per(bytes.floatDown),
      },
      steps: job.train.iterations,
      seconds,
      secondsPerStep: job.train.iterations > 1 ? seconds / (job.train.iterations - 1) : Number.NaN,
      droppedMessages: dropped,
    };
  } catch (err) {
    await tellAll(['X', (err as Error).message], 100);
    throw err;
  } finally {
    await stopAll();
  }
}

/** The same job with N simulated workers in this process (the `ternGrad` technique): final parameters in model order, and the training's wall seconds. */
export async function simulateTernGradJob(job: TernGradJob): Promise<Float32Array[] & { seconds: number }> {
  checkJob(job);
  const { train } = await import('../train/trainer');
  const model = jobModel(job);
  const data = await jobData(job);
  const tg = ternGrad({
    workers: job.terngrad.workers,
    seed: job.terngrad.seed,
    clip: job.terngrad.clip,
    layerWise: job.terngrad.layerWise,
    ternary: job.terngrad.ternary ?? true,
  });
  try {
    const t0 = Date.now();
    await train({ model, train: data, ...jobTrainSettings(job, data.count), techniques: [tg] });
    const seconds = (Date.now() - t0) / 1000;
    return Object.assign(
      model.params.all().map((p) => Float32Array.from(p.variable.dataSync())),
      { seconds },
    );
  } finally {
    tg.dispose?.();
    model.params.dispose();
  }
}
