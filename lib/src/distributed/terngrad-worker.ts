import * as tf from '@tensorflow/tfjs-core';
import * as zmq from 'zeromq';
import { ternaryParts } from '../quant/quantizers';
import { ternGradSeed, workerScalers } from '../techniques/terngrad';
import type { GradientResult, Technique } from '../train/technique';
import { floatFrame, packTernary, readFloats, unpackLevels } from './wire';
import { checkJob, jobData, jobModel, jobTrainSettings, workerWaitMs, type TernGradJob } from './job';
import { ConfigError } from '../errors';

/** What a worker process is started with (environment variable `ECOTRAIN_TERNGRAD_WORKER`, JSON). */
export interface WorkerLaunch {
  readonly job: TernGradJob;
  readonly id: number;
  readonly endpoint: string;
  /**
   * The server's CURVE public key (Z85): the worker connects with CURVE encryption and authentication, so only a
   * process given this key (the server's own children, through their environment) can talk to the server.
   */
  readonly serverKey: string;
}

/**
 * The worker side of TernGrad over ZeroMQ (Algorithm 1, worker i): its shard's gradient, clipped, with its scalers sent
 * to the server; the shared scalers back; its ternary gradient packed at 2 bits per element; the level sums of all
 * workers back, from which it forms the average k s / N (the simulated server's arithmetic) and updates its own copy
 * of the parameters (parameter localization). With `job.terngrad.ternary: false` (the float baseline) it sends its
 * float32 gradient and receives the float32 average instead.
 */
export function remoteTernGrad(o: {
  socket: zmq.Dealer;
  id: number;
  job: TernGradJob;
  onStep?: (step: number) => undefined | Promise<unknown>;
}): Technique {
  const waitMs = workerWaitMs(o.job);
  const { workers: n, seed, clip, layerWise } = o.job.terngrad;
  const receive = async (kind: string, step: number): Promise<Buffer[]> => {
    let frames: Buffer[];
    try {
      frames = (await o.socket.receive()) as Buffer[];
      o.socket.receiveTimeout = waitMs;
    } catch (err) {
      throw new Error(`worker ${o.id}: no ${kind} reply from the server at step ${step} (${(err as Error).message})`);
    }
    const type = frames[0]?.toString();
    if (type === 'X') throw new Error(`worker ${o.id}: the server aborted: ${frames[1]?.toString()}`);
    if (type !== kind || Number(frames[1]?.toString()) !== step)
      throw new Error(`worker ${o.id}: expected ${kind} for step ${step}, got ${type} ${frames[1]?.toString()}`);
    return frames.slice(2);
  };
  return {
    name: 'terngrad-remote',
    async computeGradients(problem, info): Promise<GradientResult> {
      const step = info.iteration;
      const stall = o.onStep?.(step);
      if (stall) await stall;
      const shard = (problem.shards(n) as ReturnType<typeof problem.shards>)[o.id];
      const r = problem.gradients(shard);
      const names = [...r.grads.keys()];
      if (o.job.terngrad.ternary === false) {
        const loss = r.loss.dataSync()[0] as number;
        const frames = names.map((p) => floatFrame((r.grads.get(p) as tf.Tensor).dataSync()));
        const shapes = names.map((p) => (r.grads.get(p) as tf.Tensor).shape);
        tf.dispose([r.loss, ...r.grads.values()]);
        await o.socket.send(['F', String(step), floatFrame([loss]), ...frames]);
        const [lossBuf, ...avg] = await receive('G', step);
        const grads = new Map(
          names.map((p, j) => [p, tf.tensor(readFloats(avg[j] as Buffer), shapes[j])] as [string, tf.Tensor]),
        );
        return { loss: tf.scalar(readFloats(lossBuf as Buffer)[0] as number), grads };
      }
      const { clipped, scalers } = workerScalers(r.grads, names, { clip, layerWise });
      const own = names.map((p) => (scalers.get(p) as tf.Scalar).dataSync()[0] as number);
      const loss = r.loss.dataSync()[0] as number;
      tf.dispose([r.loss, ...r.grads.values(), ...scalers.values()]);
      try {
        const sizes = Buffer.from(Int32Array.from(names.map((p) => (clipped.get(p) as tf.Tensor).size)).buffer);
        await o.socket.send(['S', String(step), floatFrame(own), floatFrame([loss]), sizes]);
        const [sharedBuf, lossBuf] = await receive('M', step);
        const shared = readFloats(sharedBuf as Buffer);
        const meanLoss = readFloats(lossBuf as Buffer)[0] as number;
        const packed = names.map((p, j) => {
          const t = ternaryParts(
            clipped.get(p) as tf.Tensor,
            ternGradSeed(seed, step, o.id, p),
            tf.scalar(shared[j] as number),
          );
          const bytes = packTernary(t.ternary.dataSync());
          tf.dispose([t.ternary, t.scaler]);
          return Buffer.from(bytes);
        });
        await o.socket.send(['T', String(step), ...packed]);
        const levels = await receive('A', step);
        const grads = new Map<string, tf.Tensor>();
        names.forEach((p, j) => {
          const g = clipped.get(p) as tf.Tensor;
          const k = unpackLevels(new Uint8Array(levels[j] as Buffer), g.size, n);
          grads.set(
            p,
            tf.tidy(() => tf.div(tf.mul(tf.tensor(Float32Array.from(k), g.shape), tf.scalar(shared[j] as number)), n)),
          );
        });
        return { loss: tf.scalar(meanLoss), grads };
      } finally {
        tf.dispose([...clipped.values()]);
      }
    },
  };
}

/** A worker process: trains the job with {@link remoteTernGrad}, then sends its final parameters. */
export async function workerMain(launch: WorkerLaunch): Promise<void> {
  const job = checkJob(launch.job);
  const { initBackend } = await import('../backend/select');
  const { train } = await import('../train/trainer');
  await initBackend();
  const waitMs = workerWaitMs(job);
  // The first reply also waits for the slowest worker's start (the server's startup allowance).
  const firstMs = waitMs + Math.round((job.startupSeconds ?? 120) * 1000);
  // linger: close() waits (up to a timeout) for queued messages, so the final parameters are not dropped on exit.
  if (typeof launch.serverKey !== 'string' || launch.serverKey.length !== 40)
    throw new ConfigError(
      'worker launch serverKey',
      launch.serverKey,
      "the server's 40-character Z85 CURVE public key",
    );
  const own = zmq.curveKeyPair();
  const socket = new zmq.Dealer({
    ...{ routingId: `w${launch.id}`, linger: waitMs, receiveTimeout: firstMs },
    ...{ curveServerKey: launch.serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey },
  });
  socket.connect(launch.endpoint);
  try {
    const model = jobModel(job);
    const data = await jobData(job);
    const technique = remoteTernGrad({
      socket,
      id: launch.id,
      job,
      onStep: (step) => {
        if (job.faultAt && job.faultAt.worker === launch.id && job.faultAt.step === step) {
          if (job.faultAt.mode === 'garbage') {
            // A malformed message and one of a wrong step, then the run goes on: the server drops and counts them.
            return (async () => {
              await socket.send(['Z']);
              await socket.send(['S', String(step + 7)]);
            })();
          }
          if (job.faultAt.mode === 'hang') {
            // Stop answering: the server's timeout must catch it (it kills this process).
            const forever = (): void => void setTimeout(forever, 60_000);
            forever();
            return new Promise<never>(() => {});
          }
          process.exit(3);
        }
      },
    });
    await train({ model, train: data, ...jobTrainSettings(job, data.count), techniques: [technique] });
    await socket.send([
      'D',
      String(job.train.iterations),
      ...model.params.all().map((p) => floatFrame(p.variable.dataSync())),
    ]);
    model.params.dispose();
    // A sent message is only queued: exit once the server acknowledges the final parameters (LeNet's are 1.7 MB), or
    // after the reply wait if it never does. (A CI run once waited 60 s for worker 0's final message after its last step.)
    try {
      await socket.receive();
    } catch {
      // the server is gone or silent: nothing more this worker can do
    }
  } catch (err) {
    try {
      await socket.send(['E', (err as Error).message]);
    } catch {
      // the server is gone: nothing to tell
    }
    throw err;
  } finally {
    socket.close();
  }
}

if (require.main === module) {
  const raw = process.env.ECOTRAIN_TERNGRAD_WORKER;
  // The parent's death closes the IPC channel: a worker never outlives its server.
  process.on('disconnect', () => process.exit(4));
  if (!raw) {
    console.error('terngrad worker: ECOTRAIN_TERNGRAD_WORKER (the launch JSON) is not set');
    process.exit(2);
  }
  workerMain(JSON.parse(raw) as WorkerLaunch).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`terngrad worker: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
