import { isHeadless } from '../kernel/environment';
import { escapeHtml, sendDisplay } from './channel';

/** Extra values shown beside the bar (loss, accuracy, ...). */
export type ProgressInfo = Readonly<Record<string, number | string>>;

/** A running progress indicator; see {@link progress}. */
export interface Progress {
  /** Advances by `n` steps (default 1) and updates the shown values. */
  tick(n?: number, info?: ProgressInfo): void;
  /** Marks the loop finished and prints the final line. */
  done(info?: ProgressInfo): void;
}

/** Options of {@link progress}. */
export interface ProgressOptions {
  readonly total: number;
  readonly label: string;
  /** Headless/text mode: print a line at every this fraction of the total (default 0.1). */
  readonly every?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
  /** Text sink, for tests (default console.log). */
  readonly print?: (line: string) => void;
}

let counter = 0;

function fmtInfo(info: ProgressInfo | undefined): string {
  if (!info) return '';
  return Object.entries(info)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : Number(v.toPrecision(4))) : v}`)
    .join(' ');
}

/**
 * A progress bar for long loops. In JupyterLab it is one HTML bar updated in place (at most a few
 * times a second); in a headless run or plain Node it prints a text line at every 10% of the total
 * (and at the end), so logs stay readable: never one line per step.
 */
export function progress(options: ProgressOptions): Progress {
  const { total, label } = options;
  if (!Number.isInteger(total) || total <= 0)
    throw new RangeError(`progress ${label}: total = ${total}, expected a positive integer`);
  const now = options.now ?? Date.now;
  const print = options.print ?? ((l: string) => console.log(l));
  const every = options.every ?? 0.1;
  const t0 = now();
  const displayId = `ecotrain-progress-${process.pid}-${++counter}`;
  const rich =
    !isHeadless() &&
    options.print === undefined &&
    sendDisplay({ 'text/plain': `${label}: 0/${total}` }, { displayId });
  let done = 0;
  let nextMark = every;
  let lastDraw = 0;
  let last: ProgressInfo | undefined;
  const line = () => {
    const s = (now() - t0) / 1000;
    const pct = Math.round((100 * done) / total);
    return `${label}: ${done}/${total} (${pct}%) ${s.toFixed(1)} s ${fmtInfo(last)}`.trimEnd();
  };
  const draw = (force: boolean) => {
    if (rich) {
      if (!force && now() - lastDraw < 250) return;
      lastDraw = now();
      const html = `<div style="font-family:monospace">${escapeHtml(label)} <progress value="${done}" max="${total}" style="width:40%"></progress> ${escapeHtml(line().slice(label.length + 2))}</div>`;
      sendDisplay({ 'text/html': html, 'text/plain': line() }, { displayId, update: true });
    } else if (force || done / total >= nextMark - 1e-12) {
      print(line());
      while (nextMark <= done / total + 1e-12) nextMark += every;
    }
  };
  return {
    tick(n = 1, info) {
      done = Math.min(total, done + n);
      if (info) last = info;
      if (done < total) draw(false);
    },
    done(info) {
      if (info) last = info;
      done = total;
      draw(true);
    },
  };
}
