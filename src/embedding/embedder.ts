/**
 * The embedder: runs a model (images [B, H, W, C] -> embeddings [B, D]) over a data set
 * PLATE BY PLATE with a chosen BEN BatchNorm normalization mode (Lin & Lu, MLCB 2022),
 * producing one profile per image with the `Metadata_*` columns users expect.
 *
 * Modes (see models/ben-batchnorm.ts):
 * - `running`: moving averages from training;
 * - `batch`: each batch's statistics; batches are drawn from one plate and sized evenly so no
 *   tiny last batch is normalised on a handful of images;
 * - `plate`: a first pass fits each plate's exact statistics, then the plate is embedded. The exact
 *   fit costs one pass per BN depth of the network (models/ben-batchnorm.ts); a plate small enough
 *   to be one batch (`singlePassMaxPixels`) is instead embedded as ONE batch in `batch` mode,
 *   which gives the same statistics in a single forward pass;
 * - `controls`: the same, fitted on the plate's negative-control images only.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../data/image-dataset.ts';
import type { ImageShape } from '../data/image-store.ts';
import { plateKey, type Pixels, type SiteRecord } from '../data/types.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
import { benLayers, isNormalizationMode, NORMALIZATION_MODES, type NormalizationMode } from '../models/ben-batchnorm.ts';
import { inferPlateByPlate } from '../models/plate-inference.ts';
import { maxSampleValue, standardizeBatch } from '../data/preprocess.ts';
import { UserError } from '../util/errors.ts';
import { embeddingColumnNames } from '../tables/parquet.ts';

/** The metadata columns of every embedding table, in file order. */
export const EMBEDDING_META_COLUMNS = [
  'Metadata_Experiment',
  'Metadata_Plate',
  'Metadata_PlateKey',
  'Metadata_Well',
  'Metadata_Site',
  'Metadata_CellType',
  'Metadata_Label',
  'Metadata_WellType',
  'Metadata_Split',
] as const;

const FIELD_OF: Record<(typeof EMBEDDING_META_COLUMNS)[number], (r: SiteRecord) => string> = {
  Metadata_Experiment: (r) => r.experiment,
  Metadata_Plate: (r) => r.plate,
  Metadata_PlateKey: (r) => plateKey(r),
  Metadata_Well: (r) => r.well,
  Metadata_Site: (r) => String(r.site),
  Metadata_CellType: (r) => r.cellType,
  Metadata_Label: (r) => r.label,
  Metadata_WellType: (r) => r.wellType,
  Metadata_Split: (r) => r.split,
};

/** The {@link EMBEDDING_META_COLUMNS} of `rows`, one value per row: what any per-site profile table carries. */
export function siteMetadata(rows: readonly SiteRecord[]): Record<string, string[]> {
  return Object.fromEntries(EMBEDDING_META_COLUMNS.map((m) => [m, rows.map(FIELD_OF[m])]));
}

/**
 * Turns decoded images (HWC uint8/uint16, one per image) into the model input [B * k, H, W, C]
 * float32: k inputs per image, consecutive (k = 1 but for tiles, embedding/input.ts), whose
 * embeddings the embedder averages into the image's. Must match what the model was trained on.
 */
export type Preprocess = (images: Pixels[], shape: ImageShape) => tf.Tensor4D;

export type { PreprocessName } from '../data/preprocess.ts';
import type { PreprocessName } from '../data/preprocess.ts';

/**
 * Per-image, per-channel standardisation of the image scaled to [0, 1] ((x - mean_c) / sd_c over
 * H x W), as BEN and WILDS feed RxRx1 images. It is the data layer's `standardizeBatch`
 * (data/preprocess.ts), the same kernels the training augmentation chain ends with, so embedding
 * sees exactly the input a `standardize` model was trained on.
 */
export const standardizeImages: Preprocess = (images, s) => standardizeBatch(images, s);

/** Scales samples to [0, 1] by the dtype's maximum (255, 65535; float images as they are). */
export const scaleImages: Preprocess = (images, s) => {
  const per = s.height * s.width * s.channels;
  const inv = 1 / maxSampleValue(s.dtype);
  const out = new Float32Array(images.length * per);
  images.forEach((img, b) => {
    for (let p = 0; p < per; p++) out[b * per + p] = img[p] * inv;
  });
  return tf.tensor4d(out, [images.length, s.height, s.width, s.channels]);
};

/** Preprocessings by name. */
export const PREPROCESS: Record<PreprocessName, Preprocess> = { standardize: standardizeImages, scale: scaleImages };

/** Options of {@link embedDataset}. */
export interface EmbedOptions {
  /** BN statistics at inference (see the module doc). */
  normalization: NormalizationMode;
  /**
   * Model inputs per forward pass (default 64): images, or with `inputsPerImage` k > 1 (tiles) the
   * tiles of floor(batchSize / k) images (at least one). In `batch` mode, also the normalised batch.
   */
  batchSize?: number;
  /** Model inputs the preprocessing makes per image (tiles; default 1). */
  inputsPerImage?: number;
  /** Image -> model input conversion (default `standardize`); a name is recorded in the metadata. */
  preprocess?: PreprocessName | Preprocess;
  /**
   * Square spatial size the preprocessing produces (e.g. a saved model's training crop size),
   * checked against the model input; default the data set's image size.
   */
  inputSize?: number;
  /**
   * `plate` mode: a plate whose images hold at most this many pixels (images x H x W) is embedded
   * as one batch with batch statistics (identical to the plate statistics, one forward pass instead
   * of one per BN depth). Default 2^20 (256 images of 64x64); 0 always fits the statistics.
   */
  singlePassMaxPixels?: number;
  /**
   * Key-value metadata to carry in the table (model, recipe...); the mode and preprocessing are
   * added (a custom preprocessing keeps the `preprocess` given here, else is recorded as `custom`).
   */
  keyValue?: Record<string, string>;
  /** Called after each forward pass of the embedding pass with the number of images embedded. */
  onImages?: (n: number) => void;
  /** Called once per plate, in order, with that plate's profiles (views into the returned table). */
  onPlate?: (plate: ProfileTable, key: { experiment: string; plate: string }) => void | Promise<void>;
}

/** Timings of one {@link embedDataset} call. */
export interface EmbedStats {
  images: number;
  plates: number;
  /** Seconds in forward passes that produce embeddings (incl. preprocessing and image access). */
  embedSeconds: number;
  /** Seconds fitting plate statistics (`plate` / `controls` only). */
  statsSeconds: number;
  /** Plates embedded in one batch-statistics pass instead of a statistics fit (`plate` mode). */
  singlePassPlates: number;
  /** Seconds in `onPlate` callbacks (e.g. writing). */
  callbackSeconds: number;
}

/** Result of {@link embedDataset}. */
export interface EmbedResult {
  /** One row per image, plates contiguous (plates in first-seen order, images in data set order). */
  table: ProfileTable;
  stats: EmbedStats;
}

/** [start, end) ranges splitting `n` items into ceil(n / max) nearly equal batches. */
export function evenBatches(n: number, max: number): [number, number][] {
  const k = Math.ceil(n / max);
  const out: [number, number][] = [];
  for (let b = 0; b < k; b++) out.push([Math.floor((b * n) / k), Math.floor(((b + 1) * n) / k)]);
  return out;
}

/**
 * Embeds every image of `data` with `model`, plate by plate, in the given normalization mode.
 * Input shape is checked against the model ([B, H, W, C] with the data set's H, W, C); the model
 * must output [B, D]. For `batch`, `plate` and `controls` the model must contain BEN BatchNorm
 * layers (otherwise the mode would silently do nothing). `controls` needs negative-control images
 * (`wellType` `negative_control`) on every plate. The model's normalization mode is restored and
 * plate statistics cleared afterwards.
 */
export async function embedDataset(model: tfl.LayersModel, data: Dataset, opts: EmbedOptions): Promise<EmbedResult> {
  const mode = opts.normalization;
  if (!isNormalizationMode(mode)) throw new UserError(`Unknown normalization "${String(mode)}"; choose one of ${NORMALIZATION_MODES.join(', ')}.`);
  const batchSize = opts.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batch size must be a positive integer, got ${batchSize}`);
  const imageBatch = Math.max(1, Math.floor(batchSize / (opts.inputsPerImage ?? 1)));
  const pre = typeof opts.preprocess === 'function' ? opts.preprocess : PREPROCESS[opts.preprocess ?? 'standardize'];
  if (!pre) throw new UserError(`Unknown preprocessing "${String(opts.preprocess)}"; choose one of ${Object.keys(PREPROCESS).join(', ')}.`);
  const d = checkModel(model, data, opts.inputSize);
  if (mode !== 'running' && benLayers(model).length === 0) {
    throw new UserError(`The model has no BEN BatchNorm layers, so --normalization ${mode} would have no effect. Use --normalization running, or a model built with BEN BatchNorm.`);
  }

  const plates = data.groups(['experiment', 'plate']);
  if (mode === 'controls') {
    for (const [key, rows] of plates) {
      if (!rows.some((i) => data.rows[i].wellType === 'negative_control')) {
        throw new UserError(`Plate ${key} has no negative-control images, so --normalization controls cannot fit its statistics. Use --normalization plate, or fix the well types of ${data.rows[rows[0]].source}.`);
      }
    }
  }

  const n = data.size;
  const features = new Float32Array(n * d);
  const meta: Record<string, string[]> = Object.fromEntries(EMBEDDING_META_COLUMNS.map((m) => [m, new Array<string>(n)]));
  const stats: EmbedStats = { images: n, plates: plates.size, embedSeconds: 0, statsSeconds: 0, callbackSeconds: 0, singlePassPlates: 0 };
  const shape: ImageShape = data.images;
  const batchOf = async (rows: number[]) => pre(await Promise.all(rows.map((i) => data.images.get(i))), shape);

  let out = 0;
  const statsStart = new Map<string, number>();
  await inferPlateByPlate(model, plates, mode, {
    singlePass: ([, rows]) => {
      const single = rows.length * shape.height * shape.width <= (opts.singlePassMaxPixels ?? 2 ** 20);
      if (single) stats.singlePassPlates++;
      return single;
    },
    statistics: ([key, rows], m) => {
      const fitRows = m === 'plate' ? rows : rows.filter((i) => data.rows[i].wellType === 'negative_control');
      statsStart.set(key, performance.now());
      return async function* () {
        for (const [a, b] of evenBatches(fitRows.length, imageBatch)) yield await batchOf(fitRows.slice(a, b));
      };
    },
    run: async ([key, rows], m) => {
      const fitStart = statsStart.get(key);
      if (fitStart !== undefined) stats.statsSeconds += (performance.now() - fitStart) / 1000;
      const first = data.rows[rows[0]];
      const plateStart = out;
      const t0 = performance.now();
      for (const [a, b] of evenBatches(rows.length, m === 'batch' && mode === 'plate' ? rows.length : imageBatch)) {
        const idx = rows.slice(a, b);
        const x = await batchOf(idx);
        const inputs = x.shape[0];
        if (inputs % idx.length !== 0) throw new Error(`preprocessing made ${inputs} model inputs for ${idx.length} images`);
        const y = tf.tidy(() => model.predict(x, { batchSize: inputs }) as tf.Tensor);
        x.dispose();
        const v = (await y.data()) as Float32Array;
        y.dispose();
        if (v.length !== inputs * d) throw new Error(`model output has ${v.length} values for ${inputs} inputs x ${d}`);
        features.set(meanOfGroups(v, inputs / idx.length, d), out * d);
        for (let k = 0; k < idx.length; k++) {
          const r = data.rows[idx[k]];
          for (const mc of EMBEDDING_META_COLUMNS) meta[mc][out + k] = FIELD_OF[mc](r);
        }
        out += idx.length;
        opts.onImages?.(idx.length);
      }
      stats.embedSeconds += (performance.now() - t0) / 1000;
      if (opts.onPlate) {
        const t1 = performance.now();
        const plateMeta: Record<string, string[]> = {};
        for (const mc of EMBEDDING_META_COLUMNS) plateMeta[mc] = meta[mc].slice(plateStart, out);
        await opts.onPlate(
          {
            n: out - plateStart,
            d,
            meta: plateMeta,
            featureNames: embeddingColumnNames(d),
            features: features.subarray(plateStart * d, out * d),
          },
          { experiment: first.experiment, plate: first.plate },
        );
        stats.callbackSeconds += (performance.now() - t1) / 1000;
      }
    },
  });

  const keyValue: Record<string, string> = {
    ...opts.keyValue,
    normalization: mode,
    intensity: JSON.stringify(data.intensity),
    illumination: JSON.stringify(data.illumination),
    plate_key: 'Metadata_PlateKey = Metadata_Experiment/Metadata_Plate (Metadata_Plate without an experiment), unique in the data set',
    preprocess: typeof opts.preprocess === 'function' ? (opts.keyValue?.preprocess ?? 'custom') : (opts.preprocess ?? 'standardize'),
    batch_size: String(batchSize),
    ...(opts.inputsPerImage && opts.inputsPerImage > 1 ? { inputs_per_image: String(opts.inputsPerImage) } : {}),
    embedding_dim: String(d),
    plates: String(plates.size),
  };
  return { table: { n, d, meta, featureNames: embeddingColumnNames(d), features, keyValue }, stats };
}

/**
 * Rows of `v` ([n * k, d]) averaged in consecutive groups of `k` -> [n, d] (an image's tiles into
 * its embedding); `v` itself when k = 1.
 */
export function meanOfGroups(v: Float32Array, k: number, d: number): Float32Array {
  if (k === 1) return v;
  const n = v.length / (k * d);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += v[(i * k + t) * d + j];
      out[i * d + j] = s / k;
    }
  }
  return out;
}

/**
 * Checks the model's input against the preprocessed images (`inputSize` square, else the data
 * set's image size, and its channel count); returns the embedding dimension D.
 */
function checkModel(model: tfl.LayersModel, data: Dataset, inputSize?: number): number {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UserError(`The model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; an embedding model maps one image batch to one embedding batch.`);
  }
  const inShape = model.inputs[0].shape; // [null, H, W, C]
  const want = [inputSize ?? data.images.height, inputSize ?? data.images.width, data.images.channels];
  const got = inShape.slice(1);
  if (got.length === 3 && got[2] !== null && got[2] !== want[2]) {
    throw new UserError(`The model takes images of ${got[2]} channels but the data set's images have ${want[2]} (${data.channels.join(', ')}; ${data.root}). Embed with a model trained on these channels, or choose the data set's channels to match.`);
  }
  if (got.length !== 3 || got.some((v, i) => v !== null && v !== want[i])) {
    throw new UserError(`The model expects images of shape [${got.map((v) => v ?? '?').join(', ')}] (H, W, C) but the data set's images are [${want.join(', ')}] (${data.root}). Load it with loadEmbeddingModel (embedding/saved-model.ts), which fits any image size to the model input (resize, center-crop or tiles).`);
  }
  const outShape = model.outputs[0].shape;
  const d = outShape[1];
  if (outShape.length !== 2 || d === null) {
    throw new UserError(`The model outputs shape [${outShape.map((v) => v ?? '?').join(', ')}]; an embedding model outputs [B, D]. Save the backbone (pooled embedding), not a model with a spatial output.`);
  }
  return d;
}
