import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireFile } from '../lib/src/data/acquire';
import { extractTarGzAtomic, isExtracted } from '../lib/src/data/extract';
import { loadCifar } from '../lib/src/data/cifar';
import { loadMnist } from '../lib/src/data/mnist';
import type { DatasetSource } from '../lib/src/data/sources';
import { DataError } from '../lib/src/errors';
import { cifarRecords, gz, idxBytes, tempDir } from './helpers';

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

describe('acquisition from a mirror folder', () => {
  it('loads MNIST from a mirror laid out as the official files, checked against SHA256SUMS', async () => {
    const mirror = tempDir();
    fs.mkdirSync(path.join(mirror, 'mnist'));
    const files: Record<string, Buffer> = {
      't10k-images-idx3-ubyte.gz': gz(idxBytes([2, 28, 28], new Uint8Array(2 * 784).fill(9))),
      't10k-labels-idx1-ubyte.gz': gz(idxBytes([2], Uint8Array.from([5, 6]))),
    };
    const sums: string[] = [];
    for (const [name, bytes] of Object.entries(files)) {
      fs.writeFileSync(path.join(mirror, 'mnist', name), bytes);
      sums.push(`${sha(bytes)}  mnist/${name}`);
    }
    fs.writeFileSync(path.join(mirror, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    const settings = { dataDir: tempDir(), dataMirror: mirror, allowDownload: false };
    const ds = await loadMnist('test', settings);
    expect(ds.count).toBe(2);
    expect(Array.from(ds.labels)).toEqual([5, 6]);

    // A corrupted mirror file fails with the file name and the checksum it should have.
    fs.writeFileSync(path.join(mirror, 'mnist', 't10k-labels-idx1-ubyte.gz'), Buffer.from('garbage'));
    await expect(loadMnist('test', settings)).rejects.toThrowError(
      /t10k-labels-idx1-ubyte\.gz: SHA-256 [0-9a-f]{64} does not match/,
    );
  });

  it('explains how to fix a missing file when nothing can be had', async () => {
    const settings = { dataDir: tempDir(), dataMirror: undefined, allowDownload: false };
    await expect(loadMnist('train', settings)).rejects.toThrowError(
      /train-images-idx3-ubyte\.gz of mnist is not in the cache .*ECOTRAIN_DATA_MIRROR is not set.*To fix/,
    );
  });

  it('extracts a CIFAR-10 archive from the mirror atomically into the cache and reads it', async () => {
    const work = tempDir();
    const src = path.join(work, 'src', 'cifar-10-batches-bin');
    fs.mkdirSync(src, { recursive: true });
    for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(src, `data_batch_${b}.bin`), cifarRecords([b, b + 1]));
    fs.writeFileSync(path.join(src, 'test_batch.bin'), cifarRecords([0, 9, 3]));
    fs.writeFileSync(
      path.join(src, 'batches.meta.txt'),
      'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n',
    );
    const mirror = path.join(work, 'mirror');
    fs.mkdirSync(path.join(mirror, 'cifar10'), { recursive: true });
    await tar.c(
      { gzip: true, file: path.join(mirror, 'cifar10', 'cifar-10-binary.tar.gz'), cwd: path.join(work, 'src') },
      ['cifar-10-batches-bin'],
    );
    fs.writeFileSync(
      path.join(mirror, 'SHA256SUMS'),
      `${sha(fs.readFileSync(path.join(mirror, 'cifar10', 'cifar-10-binary.tar.gz')))}  cifar10/cifar-10-binary.tar.gz\n`,
    );
    // A stale extraction folder of a killed process (pid above Linux's limit: never running) is removed.
    const stale = path.join(work, 'cache', 'cifar10', `extracted.${2 ** 22 + 1}.abcd.tmp`);
    fs.mkdirSync(path.join(stale, 'cifar-10-batches-bin'), { recursive: true });
    const settings = { dataDir: path.join(work, 'cache'), dataMirror: mirror, allowDownload: false };
    const train = await loadCifar('cifar10', 'train', settings);
    const test = await loadCifar('cifar10', 'test', settings);
    expect(train.count).toBe(10);
    expect(test.count).toBe(3);
    expect(test.classNames[9]).toBe('truck');
    expect(isExtracted(path.join(work, 'cache', 'cifar10', 'extracted'))).toBe(true);
    expect(fs.readdirSync(path.join(work, 'cache', 'cifar10')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // A same-size change of an extracted file (one label) is caught when the file is read, naming it.
    const extractedTest = path.join(work, 'cache', 'cifar10', 'extracted', 'cifar-10-batches-bin', 'test_batch.bin');
    const bytes = fs.readFileSync(extractedTest);
    bytes[0] = (bytes[0]! + 1) % 10;
    const { mtime } = fs.statSync(extractedTest);
    fs.writeFileSync(extractedTest, bytes);
    fs.utimesSync(extractedTest, mtime, mtime);
    await expect(loadCifar('cifar10', 'test', settings)).rejects.toThrowError(
      /test_batch\.bin: changed since it was extracted .*delete .*extracted and run again/,
    );
    expect((await loadCifar('cifar10', 'train', settings)).count).toBe(10);
  });

  it('refuses a mirror file without a SHA256SUMS entry unless unverified files are allowed (then warns)', async () => {
    const mirror = tempDir();
    fs.mkdirSync(path.join(mirror, 'mnist'));
    fs.writeFileSync(
      path.join(mirror, 'mnist', 't10k-images-idx3-ubyte.gz'),
      gz(idxBytes([1, 28, 28], new Uint8Array(784))),
    );
    fs.writeFileSync(path.join(mirror, 'mnist', 't10k-labels-idx1-ubyte.gz'), gz(idxBytes([1], Uint8Array.from([3]))));
    const settings = { dataDir: tempDir(), dataMirror: mirror, allowDownload: false };
    await expect(loadMnist('test', settings)).rejects.toThrowError(
      /t10k-images-idx3-ubyte\.gz: the mirror's SHA256SUMS .* has no entry for mnist\/t10k-images-idx3-ubyte\.gz.*ECOTRAIN_ALLOW_UNVERIFIED=1/,
    );
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => void warnings.push(m);
    try {
      const ds = await loadMnist('test', { ...settings, allowUnverified: true });
      expect(ds.count).toBe(1);
    } finally {
      console.warn = warn;
    }
    expect(warnings.join('\n')).toMatch(/WARNING: t10k-images-idx3-ubyte\.gz taken from mirror .* without a checksum/);
  });
});

describe('cache records', () => {
  it('a cached file is hashed on every use (a same-size change with the old mtime is caught), its check recorded', async () => {
    const dataDir = tempDir();
    const bytes = Buffer.from('official bytes');
    const source = { id: 'toy', files: [] } as unknown as DatasetSource;
    const file = { name: 'toy.bin', sha256: sha(bytes), urls: [] };
    fs.mkdirSync(path.join(dataDir, 'toy'));
    const cached = path.join(dataDir, 'toy', 'toy.bin');
    fs.writeFileSync(cached, bytes);
    const settings = { dataDir, dataMirror: undefined, allowDownload: false };
    expect((await acquireFile(source, file, { settings })).verified).toBe('official-sha256');
    const rec = JSON.parse(fs.readFileSync(`${cached}.ecotrain.json`, 'utf8')) as { sha256: string; size: number };
    expect(rec).toMatchObject({ sha256: sha(bytes), size: bytes.length });
    const { mtime } = fs.statSync(cached);
    fs.writeFileSync(cached, 'OFFICIAL bytes');
    fs.utimesSync(cached, mtime, mtime);
    await expect(acquireFile(source, file, { settings })).rejects.toThrowError(
      /toy\.bin: cached copy has SHA-256 [0-9a-f]{64}, the official file [0-9a-f]{64} .*delete it and run again/,
    );
  });
});

describe('archive extraction safety', () => {
  it('refuses an archive with a path-traversal member and leaves nothing behind', async () => {
    const work = tempDir();
    fs.mkdirSync(path.join(work, 'a'));
    fs.writeFileSync(path.join(work, 'evil.txt'), 'x');
    fs.writeFileSync(path.join(work, 'a', 'ok.txt'), 'ok');
    const archive = path.join(work, 'evil.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: path.join(work, 'a'), preservePaths: true }, [
      'ok.txt',
      '../evil.txt',
    ]);
    const entries: string[] = [];
    await tar.t({ file: archive, onReadEntry: (e) => void entries.push(e.path) });
    expect(entries).toContain('../evil.txt');
    const dest = path.join(work, 'out', 'x');
    await expect(extractTarGzAtomic(archive, dest)).rejects.toThrowError(DataError);
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(path.join(work, 'out'))).toBe(true);
    expect(fs.readdirSync(path.join(work, 'out'))).toEqual([]);
  });

  it('reports a truncated archive as corrupt', async () => {
    const work = tempDir();
    fs.writeFileSync(path.join(work, 'f.bin'), crypto.randomBytes(100_000));
    const archive = path.join(work, 'a.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: work }, ['f.bin']);
    const bytes = fs.readFileSync(archive);
    fs.writeFileSync(archive, bytes.subarray(0, bytes.length / 2));
    await expect(extractTarGzAtomic(archive, path.join(work, 'dest'))).rejects.toThrowError(
      /truncated or corrupt\. Delete it and run again/,
    );
    expect(fs.existsSync(path.join(work, 'dest'))).toBe(false);
  });
});

describe('download from an HTTP server on 127.0.0.1', () => {
  const payload = Buffer.from('official bytes '.repeat(1000));
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/file.bin') {
        res.writeHead(200, { 'content-length': payload.length });
        res.end(payload);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const source = (sha256: string, url: string): DatasetSource => ({
    id: 'demo',
    files: [{ name: 'file.bin', urls: [url], sha256 }],
  });

  it('downloads, verifies the SHA-256 and caches the file', async () => {
    const s = source(sha(payload), `${base}/file.bin`);
    const settings = { dataDir: tempDir(), dataMirror: undefined, allowDownload: true };
    const got = await acquireFile(s, s.files[0]!, { settings });
    expect(got.origin).toBe('download');
    expect(fs.readFileSync(got.path).equals(payload)).toBe(true);
    const again = await acquireFile(s, s.files[0]!, { settings });
    expect(again.origin).toBe('cache');
  });

  it('rejects a checksum mismatch and leaves no file in the cache', async () => {
    const s = source('0'.repeat(64), `${base}/file.bin`);
    const dataDir = tempDir();
    await expect(
      acquireFile(s, s.files[0]!, { settings: { dataDir, dataMirror: undefined, allowDownload: true } }),
    ).rejects.toThrowError(/does not match the official 0{64}/);
    expect(fs.readdirSync(path.join(dataDir, 'demo'))).toEqual([]);
  });

  it('reports HTTP errors with the URL', async () => {
    const s = source(sha(payload), `${base}/missing.bin`);
    await expect(
      acquireFile(s, s.files[0]!, { settings: { dataDir: tempDir(), dataMirror: undefined, allowDownload: true } }),
    ).rejects.toThrowError(/missing\.bin: HTTP 404/);
  });
});

describe('synthetic stand-ins', () => {
  it("take the requested dataset's shape and classes, and say so", async () => {
    const { loadImageDataset } = await import('../lib/src/data/load');
    const settings = { dataDir: tempDir(), dataMirror: undefined, allowDownload: false, seed: 0 };
    const logs: string[] = [];
    const log = (l: string) => void logs.push(l);
    const mnist = await loadImageDataset('mnist', 'train', settings, {
      fallbackToSynthetic: true,
      syntheticCount: 20,
      log,
    });
    expect([mnist.height, mnist.width, mnist.channels, mnist.classNames.length, mnist.origin]).toEqual([
      28,
      28,
      1,
      10,
      'synthetic',
    ]);
    expect(mnist.images.length).toBe(20 * 28 * 28);
    expect(logs.some((l) => /SYNTHETIC 28x28x1 stand-in for mnist/.test(l))).toBe(true);
    const c100 = await loadImageDataset('cifar100', 'test', settings, {
      fallbackToSynthetic: true,
      syntheticCount: 200,
      log,
    });
    expect([c100.height, c100.channels, c100.classNames.length]).toEqual([32, 3, 100]);
    const c10 = await loadImageDataset('cifar10', 'train', settings, {
      fallbackToSynthetic: true,
      syntheticCount: 20,
      log,
    });
    expect([c10.height, c10.channels, c10.classNames.length]).toEqual([32, 3, 10]);
    await expect(loadImageDataset('mnist', 'train', settings)).rejects.toThrow();
  });
});
