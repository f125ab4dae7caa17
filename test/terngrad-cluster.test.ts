import { execSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../lib/src/backend/select';
import {
  expectedWireBytes,
  runTernGradCluster,
  simulateTernGradJob,
  TernGradClusterError,
} from '../lib/src/distributed/terngrad-cluster';
import type { TernGradJob } from '../lib/src/distributed/job';

beforeAll(async () => {
  await initBackend();
});

const job: TernGradJob = {
  model: { kind: 'mlp', hidden: [16], seed: 3 },
  data: { kind: 'synthetic-cifar', count: 64, seed: 5 },
  train: {
    batchSize: 8,
    iterations: 4,
    lr: 0.05,
    optimizer: { kind: 'sgd', momentum: 0.9 },
    schedule: { kind: 'constant' },
    seed: 2,
  },
  terngrad: { workers: 2, seed: 11, clip: 2.5, layerWise: true },
  timeoutSeconds: 20,
};

/** Worker processes of ours still alive (by their launch variable in the environment). */
function liveWorkers(): number {
  try {
    return Number(
      execSync('grep -l ECOTRAIN_TERNGRAD_WORKER /proc/[0-9]*/environ 2>/dev/null | wc -l', { shell: '/bin/bash' })
        .toString()
        .trim(),
    );
  } catch {
    return 0;
  }
}

describe('TernGrad with real worker processes over ZeroMQ (127.0.0.1)', () => {
  it('two worker processes end with the parameters of the simulated run, bit for bit; bytes on the wire equal the accounting', async () => {
    const before = liveWorkers();
    const real = await runTernGradCluster(job);
    const sim = await simulateTernGradJob(job);
    expect(real.workersAgree).toBe(true);
    expect(real.params.length).toBe(sim.length);
    real.params.forEach((p, j) => expect(Buffer.compare(Buffer.from(p.buffer), Buffer.from(sim[j]!.buffer))).toBe(0));
    // mlp 3072 -> 16 -> 10: tensors of 49152, 16, 160, 10 elements.
    expect(real.bytesPerWorker).toEqual(expectedWireBytes([3072 * 16, 16, 16 * 10, 10], 2, 4));
    expect(liveWorkers()).toBe(before);
  }, 60_000);

  it('the float baseline over the wire: float32 gradients up and their average down, parameters as the simulated float run within float rounding', async () => {
    const fjob = { ...job, terngrad: { ...job.terngrad, ternary: false } };
    const real = await runTernGradCluster(fjob);
    const sim = await simulateTernGradJob(fjob);
    expect(real.bytesPerWorker).toEqual(expectedWireBytes([3072 * 16, 16, 16 * 10, 10], 2, 4, false));
    expect(real.bytesPerWorker.floatUp).toBe(4 * (4 * (3072 * 16 + 16 + 160 + 10) + 4));
    const diff = Math.max(...real.params.map((p, j) => Math.max(...p.map((v, k) => Math.abs(v - sim[j]![k]!)))));
    expect(diff).toBeLessThan(1e-5);
    expect(real.workersAgree).toBe(true);
  }, 60_000);

  it('a worker that dies mid-run stops the run with an error naming it; no process is left', async () => {
    const before = liveWorkers();
    const t0 = Date.now();
    const err = await runTernGradCluster({ ...job, faultAt: { worker: 1, step: 2 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TernGradClusterError);
    expect((err as Error).message).toMatch(/worker 1 exited \(code 3\) before the run finished/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(liveWorkers()).toBe(before);
  }, 60_000);

  it('a worker that hangs is caught by the timeout; the others are stopped', async () => {
    const before = liveWorkers();
    const err = await runTernGradCluster({
      ...job,
      timeoutSeconds: 3,
      faultAt: { worker: 0, step: 1, mode: 'hang' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TernGradClusterError);
    expect((err as Error).message).toMatch(/no S message from worker\(s\) 0 within 3 s at step 1/);
    expect(liveWorkers()).toBe(before);
  }, 60_000);

  it('a stray local peer cannot disturb the job or take a worker slot (CURVE-authenticated workers)', async () => {
    const zmq = await import('zeromq');
    const strays: InstanceType<typeof zmq.Dealer>[] = [];
    const real = await runTernGradCluster(job, {
      onListen: (endpoint) => {
        // Connects before any worker has started: as "w0" (the first worker's routing id) and as "w7", and sends a
        // malformed message and a well-formed scaler message of step 0.
        for (const routingId of ['w0', 'w7']) {
          const s = new zmq.Dealer({ routingId, linger: 0, sendTimeout: 0 });
          s.connect(endpoint);
          s.send(['Z']).catch(() => undefined);
          s.send(['S', '0', Buffer.alloc(8), Buffer.alloc(4), Buffer.alloc(16)]).catch(() => undefined);
          strays.push(s);
        }
      },
    });
    for (const s of strays) s.close();
    const sim = await simulateTernGradJob(job);
    expect(real.workersAgree).toBe(true);
    // Nothing of theirs reached the server (CURVE refuses them before any message).
    expect(real.droppedMessages).toBe(0);
    real.params.forEach((p, j) => expect(Buffer.compare(Buffer.from(p.buffer), Buffer.from(sim[j]!.buffer))).toBe(0));
  }, 60_000);

  it("a worker's malformed or out-of-step message is dropped and counted; the run ends as the simulated one", async () => {
    const real = await runTernGradCluster({ ...job, faultAt: { worker: 1, step: 2, mode: 'garbage' } });
    const sim = await simulateTernGradJob(job);
    expect(real.droppedMessages).toBe(2);
    real.params.forEach((p, j) => expect(Buffer.compare(Buffer.from(p.buffer), Buffer.from(sim[j]!.buffer))).toBe(0));
  }, 60_000);

  it('refuses a bad job before starting any process', async () => {
    await expect(runTernGradCluster({ ...job, train: { ...job.train, batchSize: 9 } })).rejects.toThrow(
      /job.train.batchSize = 9 is invalid: expected a multiple of the 2 workers/,
    );
    await expect(runTernGradCluster({ ...job, terngrad: { ...job.terngrad, workers: 0 } })).rejects.toThrow(
      /job.terngrad.workers = 0/,
    );
  });
});
