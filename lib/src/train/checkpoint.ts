import * as fs from 'node:fs';
import { ConfigError } from '../errors';
import { removeStaleTemporaries, writeFileAtomic } from '../data/files';
import type { StateValue, TensorRecord } from '../models/records';

/**
 * What shaped a run, recorded in its checkpoints: resuming with any of these changed would silently
 * continue a different experiment, so {@link checkResumable} refuses it, naming the field.
 */
export interface RunSignature {
  readonly task: string;
  readonly model: string;
  /** Parameter names and shapes, hashed. */
  readonly architecture: string;
  readonly dataset: string;
  readonly datasetSize: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly iterations: number | null;
  readonly totalIterations: number;
  readonly seed: number;
  readonly lr: number;
  readonly optimizer: string;
  readonly schedule: string;
  readonly techniques: string;
  /** The user's training-loop units (`TrainConfig.callbacks`), by name. */
  readonly units: string;
  readonly precision: string;
  /** `true`: pad-crop-flip, `'flip'`: flips only, `false`: none. */
  readonly augment: boolean | 'flip';
  readonly bptt: number | null;
  /** SHA-256 of the training data (images and labels, or token ids): a same-size different subset is another run. */
  readonly data: string;
  /** Input standardisation, gradient clipping, quantizer settings, divergence rule and SWA, as JSON. */
  readonly normalize: string;
  readonly clipNorm: number | null;
  readonly quant: string;
  readonly divergence: string;
  readonly swa: string;
}

/** The checkpoint file format (version 3: training-loop units keep their state under `callbacks`). */
export interface CheckpointData {
  readonly version: 3;
  readonly run: RunSignature;
  readonly position: { epoch: number; batch: number; batchesSeen: number; iteration: number };
  readonly params: Record<string, TensorRecord>;
  readonly optimizer: StateValue;
  readonly groupOptimizers: Record<string, StateValue>;
  readonly techniques: Record<string, StateValue>;
  readonly task: StateValue;
  readonly ledger?: object;
  readonly guard: StateValue;
  /** State of the loop's units (SWA's average, early stopping's record, ...) by unit name. */
  readonly callbacks: Record<string, StateValue>;
  readonly history: unknown[];
  readonly curve: unknown[];
  readonly epochLoss: { sum: number; n: number };
}

/** Writes a checkpoint as JSON atomically (temporary file, then rename). */
export function writeCheckpoint(file: string, data: CheckpointData): void {
  writeFileAtomic(file, JSON.stringify(data));
}

/**
 * Reads a checkpoint, or undefined when the file does not exist. Temporaries left by a writer that was
 * killed are removed first. An empty, truncated or foreign file is an error naming the file and the fix.
 */
export function readCheckpoint(file: string): CheckpointData | undefined {
  removeStaleTemporaries(file);
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file, 'utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(
      `checkpoint ${file} is not a complete checkpoint (${text.length} bytes; ${(err as Error).message}): ` +
        'delete it to start afresh, or set checkpoint.resume to false',
    );
  }
  const v = (data as { version?: unknown } | null)?.version;
  if (v !== 3)
    throw new Error(
      `checkpoint ${file} has format version ${JSON.stringify(v)}; this ecotrain reads version 3: delete it to start afresh`,
    );
  return data as CheckpointData;
}

/** Refuses to resume from a checkpoint whose run differs from this one, naming the first differing field. */
export function checkResumable(file: string, saved: RunSignature, current: RunSignature): void {
  for (const k of Object.keys(current) as Array<keyof RunSignature>) {
    if (JSON.stringify(saved[k]) !== JSON.stringify(current[k])) {
      throw new ConfigError(
        `checkpoint.resume`,
        file,
        `a checkpoint of the same run: it was written with ${k} = ${JSON.stringify(saved[k])}, this run has ${k} = ${JSON.stringify(current[k])}`,
      );
    }
  }
}
