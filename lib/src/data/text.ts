import * as fs from 'node:fs';
import { acquireFile, type DataSettings } from './acquire';
import { TEXT, officialFile } from './sources';

/** A token vocabulary: ids are dense indices into `tokens`. */
export interface Vocabulary {
  readonly kind: 'char' | 'word';
  readonly tokens: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Id of `<unk>` (word vocabularies), used for tokens outside the vocabulary. */
  readonly unk: number | undefined;
}

/** A corpus encoded with its vocabulary. */
export interface EncodedCorpus {
  readonly vocab: Vocabulary;
  readonly ids: Int32Array;
}

/** Character vocabulary of `text`, sorted by code point. */
export function charVocabulary(text: string): Vocabulary {
  const tokens = [...new Set(Array.from(text))].sort();
  return { kind: 'char', tokens, index: new Map(tokens.map((t, i) => [t, i])), unk: undefined };
}

/**
 * Word vocabulary in the PTB style: whitespace tokens, `<eos>` at each line end, `<unk>` always
 * present; with `maxSize`, the most frequent words are kept (ties broken alphabetically) and the rest map to `<unk>`.
 */
export function wordVocabulary(text: string, maxSize?: number): Vocabulary {
  const freq = new Map<string, number>();
  for (const w of wordTokens(text)) freq.set(w, (freq.get(w) ?? 0) + 1);
  freq.set('<unk>', freq.get('<unk>') ?? 0);
  let words = [...freq.keys()].sort((a, b) => (freq.get(b) ?? 0) - (freq.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
  if (maxSize !== undefined) {
    if (!Number.isInteger(maxSize) || maxSize < 2)
      throw new RangeError(`wordVocabulary: maxSize = ${maxSize}, expected an integer >= 2`);
    words = words.slice(0, maxSize);
    if (!words.includes('<unk>')) words[words.length - 1] = '<unk>';
  }
  return { kind: 'word', tokens: words, index: new Map(words.map((t, i) => [t, i])), unk: words.indexOf('<unk>') };
}

/** Whitespace tokens of `text` with `<eos>` after every non-empty line. */
export function wordTokens(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w.length > 0);
    if (words.length === 0) continue;
    out.push(...words, '<eos>');
  }
  return out;
}

/** Encodes `text` with `vocab`; unknown characters throw, unknown words map to `<unk>`. */
export function encode(text: string, vocab: Vocabulary): EncodedCorpus {
  const toks = vocab.kind === 'char' ? Array.from(text) : wordTokens(text);
  const ids = new Int32Array(toks.length);
  toks.forEach((t, i) => {
    const id = vocab.index.get(t) ?? vocab.unk;
    if (id === undefined)
      throw new RangeError(`encode: token ${JSON.stringify(t)} at position ${i} is not in the character vocabulary`);
    ids[i] = id;
  });
  return { vocab, ids };
}

/** Names of the plain-text corpora ecotrain knows. */
export type CorpusName = 'tinyshakespeare' | 'ptb.valid' | 'ptb.test';

/** Reads a corpus as text through the cache, mirror or download. */
export async function loadCorpusText(name: CorpusName, settings: DataSettings): Promise<string> {
  const f = await acquireFile(TEXT, officialFile(TEXT, `${name}.txt`), { settings });
  return fs.readFileSync(f.path, 'utf8');
}

/**
 * Splits `ids` into consecutive parts of the given shares of its length, in order (e.g. [0.9, 0.05, 0.05] for
 * training, validation and test text): part k starts where part k - 1 ends, each is floor(share x length) long
 * except the last, which runs to the end when the shares sum to 1. Shares must be positive and sum to at most 1.
 */
export function splitCorpus(ids: Int32Array, shares: readonly number[]): Int32Array[] {
  if (shares.length === 0) throw new RangeError('splitCorpus: shares = [], expected one or more positive shares');
  for (const s of shares)
    if (!(Number.isFinite(s) && s > 0))
      throw new RangeError(`splitCorpus: share ${s} in [${shares.join(', ')}], expected positive shares`);
  const total = shares.reduce((a, s) => a + s, 0);
  if (total > 1 + 1e-12)
    throw new RangeError(`splitCorpus: shares [${shares.join(', ')}] sum to ${total}, expected at most 1`);
  const whole = Math.abs(total - 1) <= 1e-12;
  const parts: Int32Array[] = [];
  let start = 0;
  shares.forEach((s, k) => {
    const end = whole && k === shares.length - 1 ? ids.length : start + Math.floor(s * ids.length);
    if (end <= start)
      throw new RangeError(
        `splitCorpus: share ${s} of ${ids.length} tokens is empty, expected at least one token per part`,
      );
    parts.push(ids.slice(start, end));
    start = end;
  });
  return parts;
}
