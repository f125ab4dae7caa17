/**
 * The parts of tslab 1.0.22's compiled internals the ecotrain kernel builds on. tslab publishes no
 * types for them; these interfaces describe exactly what is used, and `tslabInternals()` checks
 * their shape at start so a tslab upgrade that moves them fails loudly.
 */
import * as path from 'node:path';

/** One Jupyter wire message as tslab represents it. */
export interface ZmqMessage {
  header: { msg_type: string; msg_id: string };
  content: Record<string, unknown>;
  createReply(): ZmqMessage;
  signAndSend(key: string, sock: unknown): void;
}

/** tslab's execute-request handler. */
export interface JupyterHandler {
  execCount: number;
  handleExecute(
    req: Record<string, unknown>,
    writeStream: (name: string, text: string) => void,
    writeDisplayData: (data: unknown, update: boolean) => void,
  ): Promise<{ status: string; execution_count?: number }>;
}

export interface ZmqServerInstance {
  connInfo: { key: string };
  iopub: unknown;
  handler: JupyterHandler;
  init(): Promise<void>;
}

export interface TslabInternals {
  createConverter(opts: { isJS: boolean; isBrowser: boolean }): { close(): void };
  createExecutor(
    cwd: string,
    convs: unknown,
    console: { log: (...a: unknown[]) => void; error: (...a: unknown[]) => void },
  ): { interrupt(): void };
  JupyterHandlerImpl: new (executor: unknown, isJs: boolean) => JupyterHandler;
  ZmqServer: new (handler: JupyterHandler, configPath: string) => ZmqServerInstance;
}

/** Loads tslab's converter, executor and Jupyter server modules from the project's node_modules. */
export function tslabInternals(): TslabInternals {
  const dir = path.join(path.dirname(require.resolve('tslab/package.json')), 'dist');
  /* eslint-disable @typescript-eslint/no-require-imports */
  const converter = require(path.join(dir, 'converter.js')) as Pick<TslabInternals, 'createConverter'>;
  const executor = require(path.join(dir, 'executor.js')) as Pick<TslabInternals, 'createExecutor'>;
  const jupyter = require(path.join(dir, 'jupyter.js')) as Pick<TslabInternals, 'JupyterHandlerImpl' | 'ZmqServer'>;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const t: TslabInternals = { ...converter, ...executor, ...jupyter };
  for (const k of ['createConverter', 'createExecutor', 'JupyterHandlerImpl', 'ZmqServer'] as const) {
    if (typeof t[k] !== 'function')
      throw new Error(`ecotrain kernel: tslab internals changed (${k} not found in ${dir}); pin tslab 1.0.22`);
  }
  if (typeof (t.ZmqServer.prototype as unknown as Record<string, unknown>).handleExecute !== 'function') {
    throw new Error('ecotrain kernel: tslab ZmqServer.handleExecute not found; pin tslab 1.0.22');
  }
  return t;
}
