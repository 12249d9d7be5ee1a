/**
 * The report: a self-contained HTML page plus PNG figures for a run directory (UMAPs by plate and
 * by treatment for BEN and the baseline, training curves, metric tables, example images before
 * and after standardisation). `writeReport` is the entry point; the SVG builders and the UMAP
 * helper are exported for notebooks.
 */
export { writeReport, type WriteReportOptions, type ReportResult } from './report.ts';
export {
  PREFERRED_RUNS,
  discoverRuns,
  readRun,
  readExamplesJson,
  curvesFromRecords,
  parseMetricsJsonl,
  flattenMetrics,
  runLabel,
  type Curve,
  type ReportRun,
  type MetricEntry,
} from './run-dir.ts';
export { umapProfiles, sampleRows, DEFAULT_UMAP_MAX_POINTS, type UmapOptions, type Umap2d } from './umap.ts';
export { scatterSvg, lineChartSvg, categoryColor, naturalSort, niceTicks, escapeXml, type ScatterOptions, type LineSeries, type LineChartOptions } from './svg.ts';
export {
  standardizePerImage,
  loadImage,
  examplePngs,
  pickExamplesFromDataset,
  type RawImage,
  type ExampleImage,
} from './images.ts';
export { RUN_LAYOUT } from '../training/run-layout.ts';
