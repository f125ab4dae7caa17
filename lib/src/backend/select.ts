import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradients; the tfjs bundle (the same copy tfjs-node loads) registers them all.
import '@tensorflow/tfjs';
import { ConfigError } from '../errors';
import { registerWasmConvFilterGradient } from './wasm-grad';
import { registerOneDnnKernels, type OneDnnStatus } from './onednn';

/** Compute backends ecotrain can run on, fastest first. */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
/** A compute backend: native TensorFlow (tfjs-node), WebAssembly, or the pure-JS reference. */
export type BackendName = (typeof BACKENDS)[number];

/** What {@link initBackend} chose and why. */
export interface BackendInfo {
  /** The backend now active in tfjs. */
  readonly name: BackendName;
  /** The backend asked for through `ECOTRAIN_BACKEND` or the option, if any. */
  readonly requested: BackendName | undefined;
  /** Backends tried before this one, with the reason each was passed over. */
  readonly skipped: ReadonlyArray<{ readonly name: BackendName; readonly reason: string }>;
  /** A loud warning when the chosen backend is far slower than the native one. */
  readonly warning: string | undefined;
  /** Native backend: which convolution kernels run on oneDNN and which stayed stock (and why). */
  readonly kernels?: OneDnnStatus;
}

let current: BackendInfo | undefined;

/** Parses a backend name, or throws a {@link ConfigError} naming `field`. */
export function parseBackendName(value: string, field = 'ECOTRAIN_BACKEND'): BackendName {
  if ((BACKENDS as readonly string[]).includes(value)) return value as BackendName;
  throw new ConfigError(field, value, `one of ${BACKENDS.join(', ')}`);
}

async function tryBackend(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow':
      // Loading tfjs-node registers the 'tensorflow' backend on the shared tfjs-core.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-node');
      break;
    case 'wasm':
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      break;
    case 'cpu':
      break;
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  if (name === 'wasm') registerWasmConvFilterGradient();
}

/**
 * Chooses the compute backend: `tensorflow` (tfjs-node), then `wasm`, then the pure-JS `cpu`
 * backend. `ECOTRAIN_BACKEND` (or `options.backend`) forces one; a forced backend that cannot
 * load is an error rather than a silent fallback. Idempotent: later calls return the first choice
 * unless a different backend is forced.
 */
export async function initBackend(
  options: { backend?: BackendName; env?: NodeJS.ProcessEnv } = {},
): Promise<BackendInfo> {
  const env = options.env ?? process.env;
  const requested = options.backend ?? (env.ECOTRAIN_BACKEND ? parseBackendName(env.ECOTRAIN_BACKEND) : undefined);
  if (current && (requested === undefined || requested === current.name) && tf.getBackend() === current.name) {
    return current;
  }
  if (env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = '2';
  const order: BackendName[] = requested ? [requested] : [...BACKENDS];
  const skipped: Array<{ name: BackendName; reason: string }> = [];
  for (const name of order) {
    try {
      await tryBackend(name);
      const warning =
        name === 'cpu'
          ? 'ecotrain: WARNING: running on the pure-JS cpu backend, about 100x slower than tensorflow; ' +
            'only small tensors are practical. Run `npm run setup` to build the native backend.'
          : name === 'wasm'
            ? 'ecotrain: WARNING: running on the wasm backend, about 3x slower than tensorflow for training.'
            : undefined;
      if (warning) console.warn(warning);
      // oneDNN convolutions on the native backend (ECOTRAIN_ONEDNN=0 keeps TensorFlow's stock kernels).
      const kernels = name === 'tensorflow' && env.ECOTRAIN_ONEDNN !== '0' ? registerOneDnnKernels() : undefined;
      current = { name, requested, skipped, warning, kernels };
      return current;
    } catch (err) {
      const reason = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
      if (requested) {
        throw new Error(`ecotrain: ECOTRAIN_BACKEND=${requested} was requested but cannot be used: ${reason}`);
      }
      skipped.push({ name, reason });
    }
  }
  throw new Error(`ecotrain: no backend could be initialised: ${JSON.stringify(skipped)}`);
}

/** The backend chosen by {@link initBackend}, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}
