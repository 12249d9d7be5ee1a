/**
 * Public API of the profiles stage (DESIGN.md: embedding -> profiles -> evaluation): aggregate
 * sites / cells to wells and treatments, correct plate effects on controls, write Parquet.
 */
export { aggregateProfiles, AGGREGATE_METHODS, COUNT_COLUMN, WELL_COLUMNS, type AggregateMethod, type AggregateOptions } from './aggregate.ts';
export { correctProfiles, defaultFitOn, describeCorrections, groupingOf, PER_PLATE_CORRECTIONS, fitRowMask, CORRECTION_METHODS, type ControlSpec, type CorrectionMethod, type CorrectionOptions, type CorrectionResult, type CorrectionStep } from './correct.ts';
export { corrections, parseCorrectionOptions, type Correction, type CorrectionGrouping, type CorrectionInput, type CorrectionOutput, type FitOn, type RowGroup } from './correction.ts';
export { combat, type CombatOptions, type CombatResult } from './combat.ts';
export { harmonize, type HarmonyParams, type HarmonyResult } from './harmony.ts';
export { principalComponents, type PcaResult } from './pca.ts';
export { buildProfiles, writeProfiles, profileSteps, checkProfilesOutput, isProfilesParquet, PROFILE_STEPS_KEY, type ProfilesOptions, type ProfileStep } from './profiles.ts';
export { profilesToParquet, defaultWellKeys, type ProfilesToParquetOptions, type ProfilesSummary } from './run.ts';
