/**
 * Saving and loading models in the TensorFlow.js layers format (`model.json` + `weights.bin`) to a
 * directory on disk. tfjs-core has no `file://` handler without tfjs-node, so this is a small
 * IOHandler over node:fs. Saving is atomic (the directory is written under a temporary name and
 * renamed), and our custom layers (BEN BatchNorm) are registered on import, so a saved model loads
 * in a fresh process and in the tfjs-node/Python converters that know the classes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { markerFile, withAtomicOutput } from '../util/atomic.ts';
import { DataError, isUserError, UserError } from '../util/errors.ts';
// Registers BenBatchNorm with tf.serialization (side effect of the import).
import './ben-batchnorm.ts';
import type { PreprocessName, ResizeMode } from '../data/preprocess.ts';

/** File names inside a saved-model directory. */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** Joins tfjs 4.x weight data (one buffer or a list of shards) into one ArrayBuffer. */
function joinWeightData(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return tf.io.CompositeArrayBuffer.join(data);
}

/**
 * An IOHandler writing/reading `dir/model.json` and `dir/weights.bin`. `save` writes into `dir`
 * as it is (callers wanting atomicity pass a temporary directory, as {@link saveModel} does).
 */
export function fileHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('fileHandler: binary model topologies are not supported');
      const weights = joinWeightData(artifacts.weightData);
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as {},
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
      };
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
      await writeFile(join(dir, MODEL_JSON), JSON.stringify(json));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = join(dir, MODEL_JSON);
      if (!existsSync(jsonPath)) {
        throw new UserError(`No saved model at ${dir}: ${MODEL_JSON} is missing. Point to a directory written by \`ben train\` (or saveModel).`);
      }
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new DataError(`${jsonPath} is not valid JSON (${(e as Error).message}); the save was probably interrupted: save the model again.`);
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const path = join(dir, p);
          if (!existsSync(path)) throw new UserError(`Weights file ${path} named in ${jsonPath} is missing; save the model again.`);
          const b = await readFile(path);
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        }
      }
      const weightData = tf.io.CompositeArrayBuffer.join(buffers);
      const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * bytesPer(w.dtype), 0);
      if (expected !== weightData.byteLength) {
        throw new UserError(`Weights of ${dir} hold ${weightData.byteLength} bytes but ${jsonPath} describes ${expected}; the files do not belong together: save the model again.`);
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        userDefinedMetadata: json.userDefinedMetadata,
        trainingConfig: json.trainingConfig,
      };
    },
  };
}

function bytesPer(dtype: string): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'float16' || dtype === 'uint16' || dtype === 'int16' ? 2 : 4;
}

/**
 * Saves `model` to directory `dir` (`model.json` + `weights.bin`), atomically: a killed process
 * leaves the previous directory or the new one, never a mix. `metadata` (JSON values) is stored as
 * `userDefinedMetadata` (e.g. backbone name, embedding dimension, input shape, recipe).
 */
export async function saveModel(model: tfl.LayersModel, dir: string, metadata?: Record<string, unknown>): Promise<void> {
  if (metadata) model.setUserDefinedMetadata(metadata as { [key: string]: {} });
  await withAtomicOutput(dir, async (tmp) => {
    await model.save(fileHandler(tmp));
  }, { marker: markerFile(MODEL_JSON), markerName: MODEL_JSON });
}

/** Loads a model saved by {@link saveModel} (custom layers registered). Throws UserError on a bad directory. */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  try {
    return await tfl.loadLayersModel(fileHandler(dir));
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new DataError(`${join(dir, MODEL_JSON)} cannot be loaded as a model (${(e as Error).message.split('\n')[0]}); it is damaged or from another program: train or save it again.`);
  }
}

/** The `userDefinedMetadata` of a saved model, without loading its weights. */
export async function readModelMetadata(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, MODEL_JSON);
  if (!existsSync(path)) throw new UserError(`No saved model at ${dir}: ${MODEL_JSON} is missing.`);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new DataError(`${path} is not valid JSON (${(e as Error).message}); the model was damaged or its save interrupted: train or save it again.`);
  }
  if (json === null || typeof json !== 'object' || !json.modelTopology) throw new DataError(`${path} is not a tfjs model (no modelTopology); point --model to a folder written by ben pretrain / ben train.`);
  return (json.userDefinedMetadata ?? {}) as Record<string, unknown>;
}

/** What training records about the model input, stored in the saved model's metadata. */
export interface ModelInputMetadata {
  /** Square model input size in pixels (the training crop size). */
  inputSize: number;
  /** `standardize` (per image and channel after the [0, 1] scale) or `scale` ([0, 1] only). */
  preprocess: PreprocessName;
  /** How `ben embed` fits an image of another size by default. */
  resizeMode: ResizeMode;
  /** Height and width of the training images the crops came from. */
  trainImageSize?: [number, number];
}

/** The metadata fields of {@link ModelInputMetadata}, to spread into `saveModel`'s metadata. */
export function modelInputMetadata(m: ModelInputMetadata): Record<string, unknown> {
  return { inputSize: m.inputSize, preprocess: m.preprocess, resizeMode: m.resizeMode, ...(m.trainImageSize ? { trainImageSize: m.trainImageSize } : {}) };
}
