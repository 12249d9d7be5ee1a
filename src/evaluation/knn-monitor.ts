/**
 * The online kNN monitor (solo-learn's online kNN, Wu et al. 2018's kNN protocol): every N steps,
 * embed held-out images (a plate the sampler never draws from) plate by plate with the run's
 * inference normalization, and report the leave-one-well-out kNN treatment accuracy
 * (evaluation/knn.ts). Plugs into the trainer's {@link TrainMonitor} hook, which logs the values
 * to metrics.jsonl as `monitor/knn_accuracy`.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../data/image-dataset.ts';
import { embedDataset } from '../embedding/embedder.ts';
import { computeKnnAccuracy } from './knn.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';
import { UserError } from '../util/errors.ts';
import { anySizeInput, trainingInputPreprocess } from '../embedding/saved-model.ts';
import type { TrainMonitor } from '../training/trainer.ts';

/** Options of {@link createKnnMonitor}. */
export interface KnnMonitorOptions {
  /** Run every N optimizer steps (and after the last). */
  every: number;
  /** The backbone being trained (images [B, size, size, C] -> [B, D]). */
  backbone: tfl.LayersModel;
  /** Held-out images with labels (typically one plate not trained on); loaded into memory here. */
  data: Dataset;
  /** Model input size (the training crop size). */
  size: number;
  /** BN statistics at inference (BEN: `plate`; baseline: `running`). Default `plate`. */
  normalization?: NormalizationMode;
  /** Neighbours. Default 1 (one held-out plate has few replicate wells per treatment). */
  k?: number;
  /** Standardise the input (as the training pipeline does). Default true. */
  standardize?: boolean;
}

/**
 * A {@link TrainMonitor} returning `knn_accuracy` (treatment wells; a query's neighbours exclude
 * its own well, whose other sites are near-duplicates) and `knn_queries`.
 */
export function createKnnMonitor(o: KnnMonitorOptions): TrainMonitor {
  if (!(Number.isInteger(o.every) && o.every > 0)) throw new UserError(`training.knnMonitorEvery must be a positive integer, got ${o.every}.`);
  if (!o.data.images.inMemory) throw new Error('createKnnMonitor: load the held-out images first (dataset.load())');
  const model = anySizeInput(o.backbone);
  const preprocess = trainingInputPreprocess(o.size, o.standardize ?? true);
  return {
    every: o.every,
    async run() {
      const { table } = await embedDataset(model, o.data, { normalization: o.normalization ?? 'plate', preprocess, batchSize: 256 });
      const wellType = table.meta.Metadata_WellType;
      const r = await computeKnnAccuracy(table, {
        label: 'Metadata_Label',
        k: o.k ?? 1,
        excludeSame: [['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well']],
        skipRows: (i) => wellType[i] !== 'treatment',
      });
      return { knn_accuracy: r.accuracy, knn_queries: r.nQueries };
    },
  };
}
