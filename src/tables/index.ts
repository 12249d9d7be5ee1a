/**
 * Profile tables (`Metadata_*` columns + features), the floor every stage from embedding on reads
 * and writes: reading CSV / Parquet / partitioned datasets, writing Parquet, and the table helpers.
 */
export { type ProfileTable, WELL_COLUMNS, rowOf, metaColumn, metaName, selectRows, filterRows, groupCodes, withGroupKey, parseColumnList } from './profile-table.ts';
export { readProfileTable, type ReadProfileOptions, type ReadProfileReport } from './read.ts';
export { loadProfiles, tableSources, type TableSource } from './load.ts';
export { readProfileDataset, isDatasetInput, type ReadDatasetOptions } from './partitioned-dataset.ts';
export { writeProfilesParquet, ProfileParquetWriter, isBenParquet, embeddingColumnNames, type ProfileParquetOptions, type ProfileParquetSummary } from './parquet.ts';
