/**
 * Training checkpoints: one directory holding `checkpoint.json` (step, RNG and sampler state,
 * optimizer step count, config, tensor manifest) and `tensors.bin` (every tensor's raw bytes,
 * little-endian, in manifest order). Written atomically: the new checkpoint is finished beside the
 * old one, the old one is renamed aside, the new one renamed in, the old one removed; so a run
 * killed at any instant, inside the save too, leaves a complete checkpoint (at its place, or aside,
 * from where {@link hasCheckpoint} and {@link loadCheckpoint} restore it). Only finite weights are
 * ever written.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { markerFile, recoverOutput, withAtomicOutput } from '../util/atomic.ts';
import { DataError, NumericalError, UserError } from '../util/errors.ts';

/** Format version written into checkpoints. */
export const CHECKPOINT_VERSION = 1;

/** One tensor's entry in the manifest. */
export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  /** Byte offset in tensors.bin. */
  offset: number;
}

/** The JSON half of a checkpoint. `state` holds the trainer's own fields. */
export interface CheckpointJson<S = Record<string, unknown>> {
  version: number;
  savedAt: string;
  state: S;
  tensors: TensorEntry[];
}

/** Writes `tensors` (by name) and `state` (JSON) to directory `dir`, atomically. */
export async function saveCheckpoint<S>(dir: string, state: S, tensors: Record<string, tf.Tensor>): Promise<void> {
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`checkpoint: tensor ${name} has unsupported dtype ${t.dtype}`);
    const data = t.dataSync() as Float32Array | Int32Array;
    if (t.dtype === 'float32') {
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) throw new NumericalError(`checkpoint: tensor ${name} holds ${data[i]} (element ${i}); a checkpoint is written only from finite weights, so the previous one in ${dir} is kept.`);
      }
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ name, shape: t.shape, dtype: t.dtype, offset });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const body: CheckpointJson<S> = { version: CHECKPOINT_VERSION, savedAt: new Date().toISOString(), state, tensors: entries };
  await withAtomicOutput(dir, async (tmp) => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'tensors.bin'), Buffer.concat(chunks));
    await writeFile(join(tmp, 'checkpoint.json'), JSON.stringify(body));
  }, { marker: markerFile('checkpoint.json'), markerName: 'checkpoint.json' });
}

/** Whether `dir` holds a checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  recoverOutput(dir);
  return existsSync(join(dir, 'checkpoint.json')) && existsSync(join(dir, 'tensors.bin'));
}

/** Reads a checkpoint written by {@link saveCheckpoint}; the caller owns (disposes) the tensors. */
export async function loadCheckpoint<S>(dir: string): Promise<{ state: S; tensors: Record<string, tf.Tensor>; savedAt: string }> {
  if (!hasCheckpoint(dir)) throw new UserError(`No checkpoint in ${dir} (checkpoint.json + tensors.bin). Start the run without --resume, or point to the run directory that holds it.`);
  let json: CheckpointJson<S>;
  try {
    json = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as CheckpointJson<S>;
  } catch (e) {
    throw new DataError(`${join(dir, 'checkpoint.json')} is unreadable (${(e as Error).message}); delete the checkpoint directory and restart the run.`);
  }
  if (json.version !== CHECKPOINT_VERSION) throw new UserError(`${dir}: checkpoint version ${json.version}, this ben-ssl reads version ${CHECKPOINT_VERSION}.`);
  const buf = await readFile(join(dir, 'tensors.bin'));
  const tensors: Record<string, tf.Tensor> = {};
  for (const e of json.tensors) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const end = e.offset + 4 * n;
    if (end > buf.byteLength) throw new DataError(`${dir}/tensors.bin is truncated (tensor ${e.name}); delete the checkpoint and restart.`);
    const copy = buf.buffer.slice(buf.byteOffset + e.offset, buf.byteOffset + end);
    const data = e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    tensors[e.name] = tf.tensor(data, e.shape, e.dtype);
  }
  return { state: json.state, tensors, savedAt: json.savedAt };
}
