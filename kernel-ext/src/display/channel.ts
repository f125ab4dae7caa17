import * as path from 'node:path';

/** A Jupyter MIME bundle: MIME type to data (string, base64 string, or JSON object). */
export type MimeBundle = Record<string, unknown>;

type WriteDisplayData = (
  msg: { data: MimeBundle; metadata: object; transient: { display_id?: string } },
  update: boolean,
) => void;

function writer(): WriteDisplayData | undefined {
  try {
    const jupyter = require(path.join(path.dirname(require.resolve('tslab/package.json')), 'dist', 'jupyter.js')) as {
      lastWriteDisplayData?: WriteDisplayData | null;
    };
    return jupyter.lastWriteDisplayData ?? undefined;
  } catch {
    return undefined;
  }
}

/** True inside a tslab kernel that is executing a cell (rich display is possible). */
export function inKernel(): boolean {
  return writer() !== undefined;
}

/**
 * Sends a MIME bundle to the notebook; with `displayId`, later calls with `update: true` replace it
 * in place. Returns false (and sends nothing) outside a kernel.
 */
export function sendDisplay(bundle: MimeBundle, options: { displayId?: string; update?: boolean } = {}): boolean {
  const w = writer();
  if (!w) return false;
  w(
    { data: bundle, metadata: {}, transient: options.displayId ? { display_id: options.displayId } : {} },
    options.update ?? false,
  );
  return true;
}

/** Escapes text for HTML. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
