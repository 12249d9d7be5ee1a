/**
 * The library API of ben-ssl: what the `ben` commands call, for notebooks, scripts and tests.
 * Each stage is a function of typed options; the registries hold the plug-ins by name.
 */
export { initBackend, type BackendInfo } from './engine/backend.ts';
export { engineFlags, setEngineFlags, withEngineFlags, type EngineFlags } from './engine/flags.ts';

export { readDataset } from './data/readers/index.ts';
export type { Dataset } from './data/image-dataset.ts';
export { generateSynthetic } from './data/synth/generate.ts';
export { resolveSynthConfig, type SynthConfig } from './data/synth/config.ts';
export { samplers } from './data/samplers/index.ts';
export { readProfileTable } from './tables/read.ts';
export { loadProfiles, tableSources, type TableSource } from './tables/load.ts';
export { loadBbbc021Gallery } from './datasets/index.ts';
export type { ProfileTable } from './tables/profile-table.ts';

export { backbones } from './models/index.ts';
export { setNormalization, NORMALIZATION_MODES, type NormalizationMode } from './models/ben-batchnorm.ts';
export { loadModel, saveModel } from './models/io.ts';
export { objectives } from './objectives/index.ts';
export type { Objective } from './objectives/objective.ts';

export { trainBackbone, type TrainBackboneOptions, type TrainedBackbone } from './training/train-backbone.ts';
export { trainSupervised, type TrainSupervisedOptions } from './training/supervised.ts';
export { optimizers } from './training/optimizers.ts';
export { RUN_LAYOUT } from './training/run-layout.ts';

export { embedDataset } from './embedding/embedder.ts';
export { embedToParquet } from './embedding/run.ts';
export { loadEmbeddingModel } from './embedding/saved-model.ts';

export { aggregateProfiles } from './profiles/aggregate.ts';
export { correctProfiles, CORRECTION_METHODS } from './profiles/correct.ts';
export { corrections, type Correction } from './profiles/correction.ts';
export { profilesToParquet } from './profiles/run.ts';

export { evaluateProfiles } from './evaluation/evaluate.ts';
export { metrics, type Metric } from './evaluation/metric.ts';
import './evaluation/metrics.ts';

export { writeReport } from './report/report.ts';

export { loadRecipe, validateRecipe } from './recipe/load.ts';
export type { Recipe } from './recipe/schema.ts';
export { pretrain } from './recipe/train-stage.ts';
export { runRecipe } from './recipe/run.ts';
