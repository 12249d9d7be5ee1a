/**
 * The library API of ben-ssl: what the `ben` commands call, for notebooks, scripts and tests.
 * Each stage is a function of typed options; the registries hold the plug-ins by name. Every name
 * comes through its area's front door (`<area>/index.ts`), which a script can also import on its
 * own: `ben-ssl/data`, `ben-ssl/tables`, `ben-ssl/evaluation`, `ben-ssl/profiles`, `ben-ssl/engine`,
 * `ben-ssl/report` (package.json `exports`).
 */
export { initBackend, engineFlags, setEngineFlags, withEngineFlags, type BackendInfo, type EngineFlags } from './engine/index.ts';

export { readDataset, readLocations, generateSynthetic, resolveSynthConfig, samplers, type Dataset, type SynthConfig } from './data/index.ts';
export { readProfileTable, loadProfiles, tableSources, writeProfilesParquet, type ProfileTable, type TableSource } from './tables/index.ts';
export { loadBbbc021Gallery } from './datasets/index.ts';

export { backbones, setNormalization, NORMALIZATION_MODES, loadModel, saveModel, type NormalizationMode } from './models/index.ts';
export { objectives, type Objective } from './objectives/index.ts';

export { trainBackbone, trainSupervised, optimizers, RUN_LAYOUT, type TrainBackboneOptions, type TrainedBackbone, type TrainSupervisedOptions } from './training/index.ts';

export { embedDataset, embedAndWrite, embedToParquet, loadEmbeddingModel } from './embedding/index.ts';

export { aggregateProfiles, correctProfiles, CORRECTION_METHODS, corrections, profilesToParquet, type Correction } from './profiles/index.ts';

export { evaluateProfiles, defaultMetrics, defineMetric, metrics, type Metric } from './evaluation/index.ts';

export { writeReport } from './report/index.ts';

export { loadRecipe, validateRecipe, pretrain, runRecipe, type Recipe } from './recipe/index.ts';
