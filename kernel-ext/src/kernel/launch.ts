/**
 * The ecotrain Jupyter kernel: tslab's TypeScript kernel with the project environment.
 * Registered by `npm run setup` as `node launch.js {connection_file}`.
 *
 * On top of tslab it: chooses the compute backend at start and prints the session banner in the
 * first cell; reports failed cells as Jupyter `error` outputs (tslab prints them on stderr only);
 * and surfaces unhandled promise rejections and errors thrown in timers (which tslab swallows):
 * they are printed where they happen, shown as an error output, fail the cell that is running,
 * or, when none is, fail the next cell executed, so a headless run cannot pass over them.
 */
import * as fs from 'node:fs';
import * as util from 'node:util';
import { cellErrorFromStderr, cellErrorFromThrown, type CellError, describeThrown } from './errors';
import { environmentBanner, kernelEnvironment } from './environment';
import { tslabInternals, type ZmqMessage, type ZmqServerInstance } from './tslab-internals';

interface AsyncFailure {
  readonly kind: 'UnhandledPromiseRejection' | 'UncaughtException';
  /** The thrown value with its stack. */
  readonly text: string;
  /** Its name and whole message (every line of it), e.g. `Oops: first line\nsecond line`. */
  readonly message: string;
}

interface RunningCell {
  readonly sendError: (e: CellError) => void;
  readonly failures: AsyncFailure[];
}

let running: RunningCell | undefined;
let lastCell: RunningCell | undefined;
const pending: AsyncFailure[] = [];

function toCellError(failures: readonly AsyncFailure[], preface: string): CellError {
  const first = failures[0] as AsyncFailure;
  const text = failures.map((f) => `${f.kind}: ${f.text}`).join('\n');
  return { ename: first.kind, evalue: `${preface}${first.message}`, traceback: text.split('\n') };
}

function recordAsyncFailure(kind: AsyncFailure['kind'], reason: unknown): void {
  const text = describeThrown(reason);
  const message =
    reason instanceof Error ? `${reason.name || 'Error'}: ${reason.message}` : (text.split('\n')[0] ?? '');
  const failure: AsyncFailure = { kind, text, message };
  process.stderr.write(`${kind}: ${failure.text}\n`);
  if (running) {
    running.failures.push(failure);
  } else {
    pending.push(failure);
    lastCell?.sendError(toCellError([failure], 'after the cell finished: '));
  }
}

/** Timers, immediates and child processes the process holds (the kernel's own, plus any a notebook left). */
function scheduledWork(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate' || r === 'ProcessWrap')
    .length;
}

/**
 * One-shot timers by due time, including those `unref()` hides from {@link scheduledWork}: `setTimeout` is wrapped so
 * that the end-of-notebook check can wait for a timer a notebook left (ref'd or not) and see the failure it raises.
 */
const dueTimeouts = new Map<NodeJS.Timeout, number>();

/** The process's own setTimeout, for the kernel's waits (never tracked). */
const untrackedSetTimeout = globalThis.setTimeout;

function trackTimeouts(): void {
  const real = untrackedSetTimeout;
  const realClear = globalThis.clearTimeout;
  const tracked = ((callback: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const delay = Number.isFinite(ms) ? Math.max(0, Number(ms)) : 0;
    const timer: NodeJS.Timeout = real(
      (...a: unknown[]) => {
        dueTimeouts.delete(timer);
        callback(...a);
      },
      delay,
      ...args,
    );
    // Only timers a cell schedules (the notebook's, or a library's on its behalf): not the kernel's own machinery.
    if (running) dueTimeouts.set(timer, Date.now() + delay);
    return timer;
  }) as unknown as typeof setTimeout;
  // util.promisify(setTimeout) and other readers of the original's properties keep working.
  Object.defineProperties(tracked, Object.getOwnPropertyDescriptors(real));
  globalThis.setTimeout = tracked;
  globalThis.clearTimeout = ((timer?: NodeJS.Timeout | string | number) => {
    if (timer !== undefined && typeof timer === 'object') dueTimeouts.delete(timer);
    realClear(timer);
  }) as typeof clearTimeout;
}

/** Whether a tracked timer is due at or before `t` (ms since the epoch). */
function timeoutDueBy(t: number): boolean {
  for (const due of dueTimeouts.values()) if (due <= t) return true;
  return false;
}

/**
 * Hooks the end-of-notebook check (`endOfNotebook()` in the notebook session) calls through a global symbol: wait
 * until the timers the notebook scheduled have run (bounded), so that a failure they raise fails the check.
 */
export interface KernelHooks {
  /** Resolves with the number of notebook timers still pending after waiting at most `boundMs`. */
  settle(boundMs: number): Promise<number>;
}

function main(): void {
  trackTimeouts();
  const connectionFile = process.argv[2];
  if (!connectionFile) {
    console.error('usage: launch.js <connection_file>');
    process.exit(2);
  }
  const t = tslabInternals();
  let nodeConverter: { close(): void } | undefined;
  let browserConverter: { close(): void } | undefined;
  const convs = {
    get node() {
      nodeConverter ??= t.createConverter({ isJS: false, isBrowser: false });
      return nodeConverter;
    },
    get browser() {
      browserConverter ??= t.createConverter({ isJS: false, isBrowser: true });
      return browserConverter;
    },
    close() {
      nodeConverter?.close();
      browserConverter?.close();
    },
  };
  void convs.node; // warm the TypeScript converter, as tslab does
  // tslab reports a failed cell (TypeScript diagnostics, or the thrown value) through this sink; the kernel turns the
  // report into the cell's one error output instead of letting tslab print a copy of it on stderr.
  let reported: unknown[][] = [];
  const executor = t.createExecutor(process.cwd(), convs, {
    log: console.log,
    error: (...args: unknown[]) => void reported.push(args),
  });
  const handler = new t.JupyterHandlerImpl(executor, false);
  const server = new t.ZmqServer(handler, connectionFile) as ZmqServerInstance & {
    handleExecute(sock: unknown, msg: ZmqMessage): Promise<void>;
  };
  const environment = kernelEnvironment();
  let bannerShown = false;
  // The kernel's own scheduled work once it is up; anything above it at the end of a notebook is the notebook's.
  let baseline: number | undefined;
  const hooks: KernelHooks = {
    async settle(boundMs) {
      const own = baseline ?? 0;
      const until = Date.now() + boundMs;
      // Wait for ref'd work and child processes beyond the kernel's own, and for every one-shot timer (unref'd too)
      // due within the bound; an unref'd timer due later cannot keep the process alive and is not counted.
      while ((scheduledWork() > own || timeoutDueBy(until)) && Date.now() < until)
        await new Promise((r) => untrackedSetTimeout(r, 50).unref());
      return Math.max(0, scheduledWork() - own);
    },
  };
  (globalThis as Record<symbol, unknown>)[Symbol.for('ecotrain.kernel')] = hooks;

  server.handleExecute = async function handleExecute(
    this: ZmqServerInstance,
    sock: unknown,
    msg: ZmqMessage,
  ): Promise<void> {
    const send = (type: string, content: object) => {
      const m = msg.createReply();
      m.header.msg_type = type;
      m.content = content as Record<string, unknown>;
      try {
        m.signAndSend(this.connInfo.key, this.iopub);
      } catch (err) {
        // The front end has gone (the socket closes when the runner shuts the kernel down): output written after that,
        // e.g. by a late timer or a child process's exit, goes to the process's own stderr instead of throwing from
        // inside an output or error handler, which would crash the kernel with "Socket is closed".
        const text =
          type === 'stream'
            ? String((content as { text?: unknown }).text ?? '')
            : `${type}: ${JSON.stringify(content)}\n`;
        try {
          fs.writeSync(
            2,
            `[kernel output after the front end closed: ${describeThrown(err).split('\n')[0] ?? ''}] ${text}`,
          );
        } catch {
          // stderr is gone too: nothing left to tell.
        }
      }
    };
    let stderr = '';
    const writeStream = (name: string, text: string) => {
      if (name === 'stderr') stderr = (stderr + text).slice(-50_000);
      send('stream', { name, text });
    };
    const writeDisplayData = (data: unknown, update: boolean) =>
      send(update ? 'update_display_data' : 'display_data', data as object);
    const cell: RunningCell = { sendError: (e) => send('error', e), failures: [] };
    const replyWith = (content: object) => {
      const reply = msg.createReply();
      reply.header.msg_type = 'execute_reply';
      reply.content = content as Record<string, unknown>;
      reply.signAndSend(this.connInfo.key, sock);
    };

    // Announce the input with its execution count (tslab does not), so front ends number the cell.
    const count = this.handler.execCount + 1;
    send('execute_input', { code: msg.content.code, execution_count: count });

    if (!bannerShown) {
      bannerShown = true;
      baseline = scheduledWork();
      try {
        send('stream', { name: 'stdout', text: `${environmentBanner(await environment)}\n` });
      } catch (err) {
        const e: CellError = {
          ename: 'EcotrainSetupError',
          evalue: describeThrown(err).split('\n')[0] ?? '',
          traceback: describeThrown(err).split('\n'),
        };
        send('error', e);
        this.handler.execCount = count;
        replyWith({ status: 'error', execution_count: count, ...e });
        return;
      }
    }
    if (pending.length > 0) {
      const e = toCellError(pending.splice(0), 'an earlier cell left async work that failed; this cell was not run: ');
      send('error', e);
      this.handler.execCount = count;
      replyWith({ status: 'error', execution_count: count, ...e });
      return;
    }
    running = cell;
    reported = [];
    let content: { status: string; execution_count?: number };
    try {
      content = await this.handler.handleExecute(msg.content, writeStream, writeDisplayData);
    } finally {
      running = undefined;
      lastCell = cell;
    }
    const report = reported.splice(0);
    let error: CellError | undefined;
    if (content.status === 'error') {
      const thrown = report.find((args) => args.length === 1 && typeof args[0] === 'object' && args[0] !== null);
      error = thrown
        ? cellErrorFromThrown(thrown[0])
        : cellErrorFromStderr(report.length ? report.map((args) => util.format(...args)).join('\n') : stderr);
    } else {
      if (report.length) writeStream('stderr', `${report.map((args) => util.format(...args)).join('\n')}\n`);
      if (cell.failures.length > 0) error = toCellError(cell.failures, '');
    }
    if (error) {
      send('error', error);
      replyWith({ ...content, status: 'error', ...error });
    } else {
      replyWith(content);
    }
  };

  process.on('SIGINT', () => executor.interrupt());
  process.on('unhandledRejection', (reason) => recordAsyncFailure('UnhandledPromiseRejection', reason));
  process.on('uncaughtException', (err) => recordAsyncFailure('UncaughtException', err));
  environment.catch(() => undefined); // reported in the first cell
  void server.init();
}

main();
