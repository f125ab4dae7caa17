import * as path from 'node:path';
import { projectRoot } from 'ecotrain/base';

/** Locations setup creates, all inside the project (git-ignored). */
export interface SetupPaths {
  readonly root: string;
  /** Project-local Python virtual environment with Jupyter. */
  readonly venv: string;
  readonly python: string;
  /** Downloaded wheels and other setup caches. */
  readonly cache: string;
  /** The registered kernel spec folder. */
  readonly kernelDir: string;
  /** Setup's record of what it did. */
  readonly stamp: string;
  /** The tfjs-node package folder. */
  readonly tfjsNode: string;
}

/** Kernel name registered in the venv. */
export const KERNEL_NAME = 'ecotrain';

/** Computes {@link SetupPaths} for the current checkout. */
export function setupPaths(root = projectRoot()): SetupPaths {
  const venv = path.join(root, '.venv');
  return {
    root,
    venv,
    python: path.join(venv, 'bin', 'python'),
    cache: path.join(root, '.cache', 'ecotrain'),
    kernelDir: path.join(venv, 'share', 'jupyter', 'kernels', KERNEL_NAME),
    stamp: path.join(venv, 'ecotrain-setup.json'),
    tfjsNode: path.dirname(require.resolve('@tensorflow/tfjs-node/package.json', { paths: [root] })),
  };
}
