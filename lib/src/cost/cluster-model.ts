import { ConfigError } from '../errors';

/**
 * A GPU cluster of the TernGrad performance model (thesis Appendix B): `machines` (j) of `gpusPerMachine` (i) GPUs,
 * bandwidths in bytes per second, latency in seconds.
 */
export interface ClusterSpec {
  readonly gpusPerMachine: number;
  readonly machines: number;
  /** C_gwd: GPU-to-GPU bandwidth within a machine (dedicated). */
  readonly gpuBandwidth: number;
  /** C_cwd (written C_cud in Eq. B.1): CPU-GPU bandwidth. */
  readonly cpuGpuBandwidth: number;
  /** C_nwd: network bandwidth between machines. */
  readonly networkBandwidth: number;
  /** C_ncost: network latency per all-reduce round. */
  readonly networkLatency: number;
}

/** One training configuration of the model: mini-batch K, gradient bytes |g| on the wire, and the profiled single-GPU time T(1, 1, K, |g|). */
export interface ScalingCase {
  readonly cluster: ClusterSpec;
  /** K: the mini-batch (strong scaling: in total; weak scaling: per worker). */
  readonly batch: number;
  /** |g|: bytes of the gradient as communicated (32-bit floats, or the packed ternary size for TernGrad). */
  readonly gradientBytes: number;
  /** T(1, 1, K, |g|): profiled seconds to train a mini-batch of K on one GPU, including one CPU-GPU transfer of the float gradient. */
  readonly singleGpuSeconds: number;
  /** Bytes of that profiled CPU-GPU transfer (default `gradientBytes`): the float gradient's size when the case communicates ternary gradients. */
  readonly profiledTransferBytes?: number;
}

function check(c: ScalingCase): void {
  const { cluster: k } = c;
  for (const [name, v] of [
    ['gpusPerMachine', k.gpusPerMachine],
    ['machines', k.machines],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new ConfigError(`cluster.${name}`, v, 'a positive integer');
  }
  for (const [name, v] of [
    ['gpuBandwidth', k.gpuBandwidth],
    ['cpuGpuBandwidth', k.cpuGpuBandwidth],
    ['networkBandwidth', k.networkBandwidth],
  ] as const) {
    if (!(Number.isFinite(v) && v > 0))
      throw new ConfigError(`cluster.${name}`, v, 'a positive bandwidth in bytes per second');
  }
  if (!(Number.isFinite(k.networkLatency) && k.networkLatency >= 0))
    throw new ConfigError('cluster.networkLatency', k.networkLatency, 'a non-negative latency in seconds');
  if (!(Number.isFinite(c.batch) && c.batch > 0)) throw new ConfigError('batch', c.batch, 'a positive mini-batch size');
  if (!(Number.isFinite(c.gradientBytes) && c.gradientBytes >= 0))
    throw new ConfigError('gradientBytes', c.gradientBytes, 'a non-negative size in bytes');
  if (!(Number.isFinite(c.singleGpuSeconds) && c.singleGpuSeconds > 0))
    throw new ConfigError('singleGpuSeconds', c.singleGpuSeconds, 'a positive profiled time in seconds');
}

/** T_comm of Appendix B: |g|/C_gwd log2 i + |g|/C_cwd + (C_ncost + |g|/C_nwd) log2 j. */
export function communicationSeconds(cluster: ClusterSpec, gradientBytes: number): number {
  const { gpusPerMachine: i, machines: j } = cluster;
  return (
    (gradientBytes / cluster.gpuBandwidth) * Math.log2(i) +
    gradientBytes / cluster.cpuGpuBandwidth +
    (cluster.networkLatency + gradientBytes / cluster.networkBandwidth) * Math.log2(j)
  );
}

/**
 * Strong scaling (Eq. B.1-B.2): the mini-batch K is split over N = i j workers. Time per mini-batch
 * (T(1,1,K) - |g_profiled|/C_cwd) / N + T_comm(|g|), throughput K / time (images per second).
 */
export function strongScaling(c: ScalingCase): {
  seconds: number;
  throughput: number;
  computeSeconds: number;
  communicationSeconds: number;
} {
  check(c);
  const n = c.cluster.gpusPerMachine * c.cluster.machines;
  const computeSeconds =
    (c.singleGpuSeconds - (c.profiledTransferBytes ?? c.gradientBytes) / c.cluster.cpuGpuBandwidth) / n;
  const comm = communicationSeconds(c.cluster, c.gradientBytes);
  const seconds = computeSeconds + comm;
  return { seconds, throughput: c.batch / seconds, computeSeconds, communicationSeconds: comm };
}

/**
 * Weak scaling (Eq. B.3-B.4): every worker trains K, the mini-batch is N K. Time per mini-batch
 * T(1,1,K) - |g_profiled|/C_cwd + T_comm(|g|) (which is Eq. B.3's last line when the two transfers are equal),
 * throughput N K / time.
 */
export function weakScaling(c: ScalingCase): {
  seconds: number;
  throughput: number;
  computeSeconds: number;
  communicationSeconds: number;
} {
  check(c);
  const n = c.cluster.gpusPerMachine * c.cluster.machines;
  const computeSeconds = c.singleGpuSeconds - (c.profiledTransferBytes ?? c.gradientBytes) / c.cluster.cpuGpuBandwidth;
  const comm = communicationSeconds(c.cluster, c.gradientBytes);
  const seconds = computeSeconds + comm;
  return { seconds, throughput: (n * c.batch) / seconds, computeSeconds, communicationSeconds: comm };
}

/** Bytes of a gradient of `elements` values at `bitsPerElement` (32 float, 2 packed ternary) plus `scalers` 32-bit scalers. */
export function gradientBytes(elements: number, bitsPerElement: number, scalers = 0): number {
  if (!(Number.isInteger(elements) && elements >= 0))
    throw new ConfigError('gradientBytes.elements', elements, 'a non-negative integer');
  if (!(Number.isFinite(bitsPerElement) && bitsPerElement > 0))
    throw new ConfigError('gradientBytes.bitsPerElement', bitsPerElement, 'a positive number of bits');
  return (elements * bitsPerElement + 32 * scalers) / 8;
}
