import { describe, expect, it } from 'vitest';
import { DataError } from '../lib/src/errors';
import { mnistFromIdx, parseIdx } from '../lib/src/data/mnist';
import { parseCifarBinary } from '../lib/src/data/cifar';
import { charVocabulary, encode, splitCorpus, wordTokens, wordVocabulary } from '../lib/src/data/text';
import { cifarRecords, gz, idxBytes } from './helpers';

describe('IDX (MNIST) reader', () => {
  const pixels = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => i);
  const labels = Uint8Array.from([3, 1, 4]);

  it('reads gzip and plain IDX images and labels', () => {
    const img = parseIdx(gz(idxBytes([3, 4, 5], pixels)), 3, 'img');
    const lab = parseIdx(idxBytes([3], labels), 1, 'lab');
    expect(img.dims).toEqual([3, 4, 5]);
    expect(Array.from(img.data.slice(0, 6))).toEqual([0, 1, 2, 3, 4, 5]);
    const ds = mnistFromIdx(img, lab, 'mnist/test');
    expect(ds.count).toBe(3);
    expect([ds.height, ds.width, ds.channels]).toEqual([4, 5, 1]);
    expect(Array.from(ds.labels)).toEqual([3, 1, 4]);
  });

  it('rejects a wrong magic number, naming the file and the expected magic', () => {
    const bytes = idxBytes([3], labels);
    expect(() => parseIdx(bytes, 3, 'train-images.gz')).toThrowError(
      /train-images\.gz: IDX magic number 0x00000801, expected 0x00000803/,
    );
  });

  it('rejects a truncated file with the expected size', () => {
    const bytes = idxBytes([3, 4, 5], pixels).subarray(0, 50);
    expect(() => parseIdx(bytes, 3, 'f')).toThrowError(/f: 50 bytes, expected 76 for dimensions 3x4x5/);
  });

  it('rejects a corrupt gzip stream', () => {
    const bytes = gz(idxBytes([3, 4, 5], pixels));
    expect(() => parseIdx(bytes.subarray(0, bytes.length - 10), 3, 'f')).toThrowError(DataError);
  });

  it('rejects labels outside 0..9 and mismatched counts', () => {
    const img = parseIdx(idxBytes([3, 4, 5], pixels), 3, 'img');
    expect(() => mnistFromIdx(img, parseIdx(idxBytes([3], Uint8Array.from([1, 12, 0])), 1, 'l'), 'm')).toThrowError(
      /label 12 at index 1/,
    );
    expect(() => mnistFromIdx(img, parseIdx(idxBytes([2], Uint8Array.from([1, 2])), 1, 'l'), 'm')).toThrowError(
      /3 images but 2 labels/,
    );
  });
});

describe('CIFAR binary reader', () => {
  it('converts CHW records to NHWC with labels (CIFAR-10)', () => {
    const { images, labels } = parseCifarBinary(cifarRecords([7, 2]), 'cifar10', 'b');
    expect(Array.from(labels)).toEqual([7, 2]);
    // image 1, pixel p=5: channels (i*7 + c*3 + p) = 7+0+5, 7+3+5, 7+6+5
    expect(Array.from(images.slice(3072 + 15, 3072 + 18))).toEqual([12, 15, 18]);
  });

  it('reads the fine label of CIFAR-100 records', () => {
    const { labels } = parseCifarBinary(cifarRecords([42, 99], 2), 'cifar100', 'b');
    expect(Array.from(labels)).toEqual([42, 99]);
  });

  it('rejects sizes that are not whole records and out-of-range labels', () => {
    expect(() => parseCifarBinary(cifarRecords([1]).subarray(0, 3000), 'cifar10', 'data_batch_1.bin')).toThrowError(
      /data_batch_1\.bin: 3000 bytes is not a whole number of 3073-byte cifar10 records/,
    );
    expect(() => parseCifarBinary(cifarRecords([10]), 'cifar10', 'b')).toThrowError(/label 10, expected 0\.\.9/);
  });
});

describe('text corpora', () => {
  const text = 'the cat sat\nthe dog <unk> sat\n\n';
  it('tokenises PTB-style with <eos> per line', () => {
    expect(wordTokens(text)).toEqual(['the', 'cat', 'sat', '<eos>', 'the', 'dog', '<unk>', 'sat', '<eos>']);
  });
  it('builds a frequency-ordered word vocabulary and maps rare words to <unk>', () => {
    const v = wordVocabulary(text, 4);
    expect(v.tokens.slice(0, 3)).toEqual(['<eos>', 'sat', 'the']);
    expect(v.tokens).toContain('<unk>');
    const ids = encode('the cat\n', v).ids;
    expect(v.tokens[ids[1] as number]).toBe('<unk>');
  });
  it('character vocabulary round-trips and rejects unknown characters', () => {
    const v = charVocabulary('abca');
    expect(v.tokens).toEqual(['a', 'b', 'c']);
    expect(Array.from(encode('cab', v).ids)).toEqual([2, 0, 1]);
    expect(() => encode('abz', v)).toThrowError(/"z" at position 2/);
  });
  it('splits a corpus into consecutive parts by share, the last running to the end when the shares sum to 1', () => {
    const ids = Int32Array.from({ length: 103 }, (_, i) => i);
    const [train, valid, test] = splitCorpus(ids, [0.9, 0.05, 0.05]);
    // floor(0.9 x 103) = 92, floor(0.05 x 103) = 5, the rest 6.
    expect([train?.length, valid?.length, test?.length]).toEqual([92, 5, 6]);
    expect([train?.[0], train?.[91], valid?.[0], valid?.[4], test?.[0], test?.[5]]).toEqual([0, 91, 92, 96, 97, 102]);
    // Shares below 1 leave the tail out.
    expect(splitCorpus(ids, [0.5, 0.25]).map((p) => [p[0], p.length])).toEqual([
      [0, 51],
      [51, 25],
    ]);
    expect(() => splitCorpus(ids, [0.9, 0.2])).toThrowError(/sum to 1\.1.*at most 1/);
    expect(() => splitCorpus(ids, [0.9, -0.1])).toThrowError(/share -0\.1 .*positive/);
    expect(() => splitCorpus(ids, [0.5, 0.001])).toThrowError(/share 0\.001 of 103 tokens is empty/);
  });
});
