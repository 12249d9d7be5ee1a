/**
 * What turns a trained backbone into an embedding model for the embedder: the data layer's
 * deterministic model input (whole image resized to the training crop size, then standardised;
 * data/preprocess.ts) and a view of the backbone that accepts that input whatever the data set's
 * image size.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { modelInputBatch } from '../data/preprocess.ts';
import type { Preprocess } from '../embedding/embedder.ts';
import { loadModel, readModelMetadata } from '../models/io.ts';

/**
 * The backbone behind an input of any spatial size ([B, ?, ?, C] -> [B, D]), sharing its weights
 * and BEN layers. The embedder checks the model's input against the data set's images; this view
 * lets it embed images the preprocessing resized to the training size.
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
  return (images, shape) => modelInputBatch(images, shape, { size, standardize });
}

/** A saved backbone ready for the embedder, with the preprocessing it was trained with. */
export interface EmbeddingModel {
  /** The backbone behind an any-size input (see {@link anySizeInput}). Dispose with `dispose()`. */
  model: tfl.LayersModel;
  /** Model input of the training pipeline (resize to `inputSize`, standardise). */
  preprocess: Preprocess;
  /** Training crop size (model input size). */
  inputSize: number;
  /** The saved model's metadata (backbone, objective, normalization, recipe...). */
  metadata: Record<string, unknown>;
  dispose(): void;
}

/**
 * Loads a backbone saved by `pretrain` (or any saved embedding model) for embedding: its input size
 * and preprocessing come from the model metadata (`inputSize`, `preprocess`), defaulting to the
 * model's own input size and `standardize`.
 */
export async function loadEmbeddingModel(dir: string): Promise<EmbeddingModel> {
  const metadata = await readModelMetadata(dir);
  const backbone = await loadModel(dir);
  const own = backbone.inputs[0].shape[1];
  const inputSize = typeof metadata.inputSize === 'number' ? metadata.inputSize : typeof own === 'number' ? own : NaN;
  if (!Number.isFinite(inputSize)) throw new Error(`${dir}: cannot tell the model input size (no inputSize in its metadata and a variable input shape)`);
  const standardize = metadata.preprocess !== 'scale';
  const model = anySizeInput(backbone);
  return { model, preprocess: trainingInputPreprocess(inputSize, standardize), inputSize, metadata, dispose: () => backbone.dispose() };
}
