/**
 * Public API of the evaluation stage (DESIGN.md: evaluation/): correct a profile table post hoc
 * (profiles/) and score it (tables come from tables/). `ben evaluate` is a thin call into {@link evaluateProfiles}.
 */
export { varianceComponents, medianRatios, cellProfilerFeatureKind, type FeatureComponents, type VarianceComponentsOptions } from './variance-components.ts';
export { similarities, computeCosine, computePearson, computeSpearman, computeKendall, type SimilarityFn } from './similarity.ts';
export { findPairs, computePairSimilarities, type PairRule } from './pairs.ts';
export {
  buildRankLists,
  computeAveragePrecision,
  computeNullAveragePrecision,
  computeAveragePrecisionTable,
  computeMeanAveragePrecision,
  averagePrecisionOf,
  type RankLists,
  type AveragePrecisionOptions,
  type AveragePrecisionResult,
  type MeanAveragePrecisionRow,
} from './map.ts';
export { computeReplicateReproducibility, computePrecisionRecall, computePercentReplicating } from './replicate.ts';
export { unitRows, unitRows64, rowNormalizers } from '../util/unit-rows.ts';
export { searchNearest, searchNearestJs, mergeTopK, type Neighbors, type ExclusionCodes, type SearchOptions } from './topk.ts';
export { searchNearestTfjs, type TfjsSearchOptions } from './topk-tfjs.ts';
export { computeKnnAccuracy, voteLabel, type KnnAccuracyOptions, type KnnAccuracy } from './knn.ts';
export { computeLinearProbe, fitLogisticRegression, predictLogistic, splitRows, type LinearProbeResult } from './linear-probe.ts';
export { adjustBenjaminiHochberg, quantile, median, wilsonInterval } from '../util/stats.ts';
export { metrics, defineMetric, parseMetricOptions, distributeOptions, type Metric, type MetricNeeds, type MetricContext, type MetricResult, type EvalColumns, type PairLists, type RowFilter } from './metric.ts';
export { mapPresets, resolveMapConfig, applyRowFilters, withReferenceIndex, parseRowFilter, REFERENCE_INDEX, type MapConfig, type MapPreset } from './map-presets.ts';
import './metrics.ts';
export { evaluateProfiles, defaultMetrics, GROUPING_COLUMNS, type EvaluateOptions, type EvalColumnsInput, type EvaluationResult, type Normalization } from './evaluate.ts';
export { summarizeEvaluation, formatMarkdown, writeEvaluation, toCsv } from './report.ts';
