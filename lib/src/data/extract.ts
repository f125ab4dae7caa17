import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar';
import { DataError } from '../errors';
import { removeStaleTemporaries, sha256File, tempPathFor, writeFileAtomic } from './files';

const MARKER = '.ecotrain-complete.json';

/** True when `dir` was fully extracted by {@link extractTarGzAtomic} (by a version that records each file's SHA-256). */
export function isExtracted(dir: string): boolean {
  const marker = path.join(dir, MARKER);
  if (!fs.existsSync(marker)) return false;
  try {
    const m = JSON.parse(fs.readFileSync(marker, 'utf8')) as { files?: unknown };
    return m.files !== null && typeof m.files === 'object';
  } catch {
    return false;
  }
}

/**
 * Reads a file extracted by {@link extractTarGzAtomic} under `dir`, checking its SHA-256 against the one recorded at
 * extraction: a file changed since (even with the same size) is an error naming it and the fix.
 */
export function readExtracted(dir: string, relative: string): Buffer {
  const m = JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8')) as { files: Record<string, string> };
  const p = path.join(dir, relative);
  const expected = m.files[relative.split(path.sep).join('/')];
  if (!fs.existsSync(p) || expected === undefined)
    throw new DataError(`${p}: missing from the extracted archive; delete ${dir} and retry`);
  const bytes = fs.readFileSync(p);
  const actual = crypto.createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected)
    throw new DataError(
      `${p}: changed since it was extracted (SHA-256 ${actual.slice(0, 16)}..., recorded ${expected.slice(0, 16)}...); delete ${dir} and run again to extract it anew`,
    );
  return bytes;
}

/** Reasons an archive member may not be extracted, or undefined when it is safe. */
export function unsafeEntryReason(entryPath: string, type: string): string | undefined {
  if (type === 'SymbolicLink' || type === 'Link') return `${type} entries are not allowed`;
  if (path.isAbsolute(entryPath) || /^[a-zA-Z]:/.test(entryPath)) return 'absolute path';
  if (entryPath.split(/[\\/]+/).includes('..')) return "path contains '..'";
  return undefined;
}

/**
 * Extracts a .tar.gz archive into `dest` atomically: members go to a temporary folder beside
 * `dest`, which is renamed to `dest` only when extraction finished and every member was safe.
 * Any absolute path, `..` component or link aborts the whole extraction with a {@link DataError}.
 */
export async function extractTarGzAtomic(
  archive: string,
  dest: string,
  meta: Record<string, unknown> = {},
): Promise<void> {
  // Folders left by an extraction that was killed (their process is gone) are removed first.
  removeStaleTemporaries(dest);
  if (isExtracted(dest)) return;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = tempPathFor(dest);
  fs.mkdirSync(tmp);
  const violations: string[] = [];
  try {
    try {
      await tar.x({
        file: archive,
        cwd: tmp,
        strict: true,
        filter: (p: string, entry: tar.ReadEntry | fs.Stats) => {
          const type = 'type' in entry ? String(entry.type) : 'File';
          const reason = unsafeEntryReason(p, type);
          if (reason) violations.push(`${p} (${reason})`);
          return reason === undefined;
        },
      });
    } catch (err) {
      throw new DataError(
        `${archive}: not a readable .tar.gz archive (${err instanceof Error ? err.message : String(err)}); it is truncated or corrupt. ` +
          'Delete it and run again to fetch it anew (for a file in the data mirror, replace it with the official archive and its SHA256SUMS line).',
      );
    }
    if (violations.length > 0) {
      throw new DataError(`${archive}: refused to extract, unsafe members: ${violations.slice(0, 5).join(', ')}`);
    }
    // The SHA-256 of every extracted file, so that a file changed after extraction is caught when it is read.
    const files: Record<string, string> = {};
    const walk = async (dir: string): Promise<void> => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) files[path.relative(tmp, p).split(path.sep).join('/')] = await sha256File(p);
      }
    };
    await walk(tmp);
    writeFileAtomic(
      path.join(tmp, MARKER),
      JSON.stringify({ archive, extractedAt: new Date().toISOString(), ...meta, files }, null, 2),
    );
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
