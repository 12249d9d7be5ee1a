/** Embedding: the embedder (plate by plate, a BEN normalization mode), saved models, and the embed stage that writes Parquet. */
export { embedDataset, type EmbedStats } from './embedder.ts';
export { embedAndWrite, type EmbedAndWriteOptions, type EmbedAndWriteResult } from './embed-and-write.ts';
export { embedToParquet, type EmbedToParquetOptions, type EmbedToParquetSummary } from './run.ts';
export { loadEmbeddingModel, type EmbeddingModel } from './saved-model.ts';
export { matchModelChannels } from './model-channels.ts';
