/**
 * The one home of "a saved model, ready to embed": what training records about the model input
 * (size, preprocessing, default resize mode) and how `ben embed`, the recipe's embed stage and the
 * benchmarks load it back. A saved backbone takes images of its training crop size; behind
 * {@link anySizeInput} it embeds images of any size, which {@link modelInputFor} fits to it.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { loadModel, readModelMetadata } from '../models/io.ts';
import { UserError } from '../util/errors.ts';
import type { Preprocess, PreprocessName } from './embedder.ts';
import { inputsPerImage, isResizeMode, modelInputFor, RESIZE_MODES, type ResizeMode } from './input.ts';

/** The preprocessing names a saved model may declare (`preprocess` in its metadata). */
const PREPROCESS_NAMES: readonly PreprocessName[] = ['standardize', 'scale'];


/**
 * The backbone behind an input of any spatial size ([B, ?, ?, C] -> [B, D]), sharing its weights
 * and BEN layers: the embedder checks the model's input against what the preprocessing produces,
 * and this view accepts the training-size input whatever the backbone was built with.
 */
export function anySizeInput(backbone: tfl.LayersModel): tfl.LayersModel {
  const c = backbone.inputs[0].shape[3];
  if (c === null || c === undefined) throw new Error('anySizeInput: the backbone input has no channel dimension');
  const input = tfl.input({ shape: [null, null, c] });
  return tfl.model({ inputs: input, outputs: backbone.apply(input) as tfl.SymbolicTensor, name: `${backbone.name}_any_size` });
}

/**
 * The embedder preprocessing that equals the training pipeline without its random parts: samples
 * to [0, 1], the whole image resized to `size` x `size`, per-image per-channel standardisation
 * (unless `standardize` is false).
 */
export function trainingInputPreprocess(size: number, standardize = true): Preprocess {
  return modelInputFor({ mode: 'resize', size, standardize });
}

/** Choices at embedding time; absent ones come from the model metadata. */
export interface LoadEmbeddingModelOptions {
  preprocess?: PreprocessName;
  resizeMode?: ResizeMode;
}

/** A saved backbone ready for the embedder. */
export interface EmbeddingModel {
  /** The backbone behind an any-size input (see {@link anySizeInput}). Dispose with `dispose()`. */
  model: tfl.LayersModel;
  /** Images -> model input of the chosen mode (see embedding/input.ts). */
  preprocess: Preprocess;
  /** Model input size (training crop size). */
  inputSize: number;
  /** Channels the model takes. */
  channels: number;
  /** Embedding dimension D. */
  embeddingDim: number;
  preprocessName: PreprocessName;
  resizeMode: ResizeMode;
  /** The saved model's metadata (backbone, objective, normalization, recipe...). */
  metadata: Record<string, unknown>;
  /** Key-value metadata for the embeddings file: the model input choices. */
  keyValue: Record<string, string>;
  /** Model inputs per image of `shape` in the chosen mode (the tile count, else 1): the embedder's `inputsPerImage`. */
  inputsPerImage(shape: { height: number; width: number }): number;
  dispose(): void;
}

/**
 * Loads a saved backbone for embedding. Input size, preprocessing and resize mode come from the
 * options, else the model metadata (`inputSize`, `preprocess`, `resizeMode`), else the model's own
 * input size, `standardize` and `resize` (models saved before these were recorded). Checks that the
 * model maps one image batch to [B, D] with D its declared `embeddingDim`.
 */
export async function loadEmbeddingModel(dir: string, opts: LoadEmbeddingModelOptions = {}): Promise<EmbeddingModel> {
  const metadata = await readModelMetadata(dir);
  const preprocessName = opts.preprocess ?? declared(metadata, 'preprocess', PREPROCESS_NAMES, 'standardize', dir, '--preprocess');
  const resizeMode = opts.resizeMode ?? declared(metadata, 'resizeMode', RESIZE_MODES, 'resize', dir, '--resize-mode');
  if (!isResizeMode(resizeMode)) throw new UserError(`--resize-mode ${String(resizeMode)}: choose one of ${RESIZE_MODES.join(', ')}.`);
  const backbone = await loadModel(dir);
  try {
    if (backbone.inputs.length !== 1 || backbone.outputs.length !== 1) {
      throw new UserError(`${dir}: the model has ${backbone.inputs.length} inputs and ${backbone.outputs.length} outputs; an embedding model maps one image batch to one embedding batch.`);
    }
    const inShape = backbone.inputs[0].shape;
    const outShape = backbone.outputs[0].shape;
    if (inShape.length !== 4 || typeof inShape[3] !== 'number') {
      throw new UserError(`${dir}: the model input has shape [${inShape.map((v) => v ?? '?').join(', ')}]; an image model takes [B, H, W, C].`);
    }
    const d = outShape[1];
    if (outShape.length !== 2 || typeof d !== 'number') {
      throw new UserError(`${dir}: the model outputs shape [${outShape.map((v) => v ?? '?').join(', ')}]; an embedding model outputs [B, D]. Save the backbone (pooled embedding), not a model with a spatial output.`);
    }
    const dim = metadata.embeddingDim;
    if (typeof dim === 'number' && d !== dim) {
      throw new UserError(`${dir}: the model outputs ${d} values per image but its metadata declares embeddingDim ${dim}; it may be a classifier rather than the backbone. Save and embed the backbone.`);
    }
    const own = inShape[1];
    const inputSize = typeof metadata.inputSize === 'number' ? metadata.inputSize : typeof own === 'number' ? own : NaN;
    if (!(Number.isInteger(inputSize) && inputSize > 0)) {
      throw new UserError(`${dir}: cannot tell the model input size (no inputSize in its metadata and a variable input shape). Add "inputSize": <training crop size> to userDefinedMetadata in ${dir}/model.json.`);
    }
    const model = anySizeInput(backbone);
    return {
      model,
      preprocess: modelInputFor({ mode: resizeMode, size: inputSize, standardize: preprocessName !== 'scale' }),
      inputSize,
      channels: inShape[3],
      embeddingDim: d,
      preprocessName,
      resizeMode,
      metadata,
      keyValue: { preprocess: preprocessName, resize_mode: resizeMode, input_size: String(inputSize) },
      inputsPerImage: (shape) => inputsPerImage({ mode: resizeMode, size: inputSize }, shape),
      dispose: () => backbone.dispose(),
    };
  } catch (e) {
    backbone.dispose();
    throw e;
  }
}

/** A string field of the model metadata restricted to `allowed`, `fallback` when absent. */
function declared<T extends string>(meta: Record<string, unknown>, key: string, allowed: readonly T[], fallback: T, dir: string, flag: string): T {
  const v = meta[key];
  if (v === undefined) return fallback;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new UserError(`${dir}: the model metadata names ${key} ${JSON.stringify(v)}, which ben embed does not know (${allowed.join(', ')}). Pass ${flag} explicitly.`);
}
