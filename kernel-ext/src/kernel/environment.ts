import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendInfo, backendInfo, initBackend } from 'ecotrain';
import { type Settings, projectRoot, settingsFromEnv } from 'ecotrain/base';

/** What a notebook session runs with; printed at the top of every session and recorded in reports. */
export interface KernelEnvironment {
  readonly backend: BackendInfo;
  readonly settings: Settings;
  /** True when the headless runner executes the notebook. */
  readonly headless: boolean;
  /**
   * Whether the environment sets the scale and seed (`ECOTRAIN_SCALE`, `ECOTRAIN_SEED`: the headless runner does);
   * otherwise the notebook's parameters cell does, and `settings` holds only their defaults.
   */
  readonly scaleFromEnvironment: boolean;
  readonly node: string;
  readonly cpus: number;
}

/** True when running under `npm run reproduce` (the runner sets `ECOTRAIN_HEADLESS=1`). */
export function isHeadless(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ECOTRAIN_HEADLESS === '1';
}

/** Initialises the backend (once) and returns the session's {@link KernelEnvironment}. */
export async function kernelEnvironment(): Promise<KernelEnvironment> {
  const backend = backendInfo() ?? (await initBackend());
  return {
    backend,
    settings: settingsFromEnv(),
    headless: isHeadless(),
    scaleFromEnvironment: process.env.ECOTRAIN_SCALE !== undefined,
    node: process.version,
    cpus: os.cpus().length,
  };
}

/** A path as shown in banners and committed outputs: relative to the project root (no machine-specific prefix). */
function shown(p: string): string {
  return path.relative(projectRoot(), p) || '.';
}

/** One-paragraph banner of a {@link KernelEnvironment}. */
export function environmentBanner(e: KernelEnvironment): string {
  const s = e.settings;
  return [
    `ecotrain session: backend ${e.backend.name}${e.backend.skipped.length ? ` (skipped: ${e.backend.skipped.map((x) => `${x.name}: ${x.reason}`).join('; ')})` : ''}`,
    `  ${e.scaleFromEnvironment ? `scale ${s.scale}, seed ${s.seed}` : "scale and seed from the notebook's parameters cell"}, ${e.headless ? 'headless run' : 'interactive'}, node ${e.node}, ${e.cpus} cpus`,
    `  data dir ${shown(s.dataDir)}; mirror ${s.dataMirror ? shown(s.dataMirror) : '(none: set ECOTRAIN_DATA_MIRROR)'}; downloads ${s.allowDownload ? 'allowed' : 'off'}`,
    ...(e.backend.kernels
      ? [
          `  kernels: ${e.backend.kernels.kernels.length ? `oneDNN ${e.backend.kernels.kernels.join(', ')}` : 'stock TensorFlow convolutions'}` +
            (e.backend.kernels.ops.length ? `; oneDNN ${e.backend.kernels.ops.join(', ')} with its workspace` : '') +
            (e.backend.kernels.fallback.length
              ? `; stock ${e.backend.kernels.fallback.map((f) => `${f.kernel} (${f.reason})`).join(', ')}`
              : '') +
            '; fused batch norm and ReLU gradient',
        ]
      : []),
    ...(e.backend.warning ? [e.backend.warning] : []),
  ].join('\n');
}
