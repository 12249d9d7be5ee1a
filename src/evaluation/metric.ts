/**
 * The `Metric` plug-in interface: a pure computation over a profile table (features + metadata)
 * returning summary numbers and per-profile / per-group rows; the CLI formats, the metric computes.
 * Metrics are registered by name in {@link metrics}.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import type { ControlSpec } from '../profiles/correct.ts';
import { Registry } from '../util/registry.ts';

/** Which metadata columns mean what (names with or without the `Metadata_` prefix). */
export interface EvalColumns {
  /** Class label for kNN / linear probe (e.g. `moa`). */
  label?: string;
  plate?: string;
  /** Experimental batch (e.g. the week in BBBC021). */
  batch?: string;
  well?: string;
  /** Compound (perturbation) column, for NSC / NSCB exclusions. */
  compound?: string;
  /** Columns whose equal values make profiles replicates (a treatment), e.g. [compound, concentration]. */
  replicate?: string[];
  /** Negative controls (e.g. `Compound` = `DMSO`). */
  control?: ControlSpec;
  /** Positive controls (e.g. `Metadata_WellType` = `positive_control`), for control-separation metrics (Z'). */
  positiveControl?: ControlSpec;
  /** Numeric dose column, for dose-response metrics. */
  dose?: string;
  /** Train / test split column for the linear probe (values `train` / `test`). */
  split?: string;
}

/** A row filter `COL=VALUE` (`--include` / `--exclude`). */
export interface RowFilter {
  column: string;
  value: string;
}

/**
 * copairs' pair vocabulary: a positive pair is equal in every `posSameby` column and different in
 * every `posDiffby` column; negatives likewise. Any list may be empty.
 */
export interface PairLists {
  posSameby: string[];
  posDiffby: string[];
  negSameby: string[];
  negDiffby: string[];
}

/** Tunable parameters shared by the metrics (defaults in {@link defaultMetricParams}). */
export interface MetricParams {
  /** Similarity for replicate metrics (copairs default cosine). */
  similarity: string;
  /** Similarity for cytominer-eval metrics (its default Pearson). */
  correlation: string;
  /** Null size for mAP p-values. */
  nullSize: number;
  seed: number;
  /** p-value threshold for the fraction retrieved. */
  threshold: number;
  /** Quantile of non-replicate similarities for replicate_reproducibility. */
  quantile: number;
  /** k values for precision/recall@k. */
  precisionK: number[];
  /** kNN: neighbours, similarity, vote. */
  k: number;
  knnSimilarity: 'cosine' | 'pearson';
  vote: 'majority' | 'weighted';
  /** kNN exclusion modes: any of `none`, `well`, `plate`, `nsc`, `nscb`. */
  knnExclusions: string[];
  /** kNN on profiles averaged per treatment (replicate columns) rather than single profiles. */
  knnPerTreatment: boolean;
  /**
   * Values of the control column that mark rows that are neither treatments nor the negative
   * control (RxRx1's `positive_control`): never kNN queries, left out of the linear probe.
   */
  skipValues: string[];
  /** Linear probe L2 penalty (mean form, l2/2 |W|^2 added to the mean cross-entropy); absent: from `probeC`. */
  l2?: number;
  /** Linear probe inverse regularisation, scikit-learn's `C` (l2 = 1 / (C n_train)). */
  probeC: number;
  /** Linear probe L-BFGS iteration cap and gradient tolerance (scikit-learn's lbfgs `tol`). */
  probeMaxIter: number;
  probeTol: number;
  /** Preset of the `map` metric (see map-presets.ts); default `replicate`. Ignored for lists given in `pairs`. */
  mapPreset?: string;
  /** Explicit copairs lists for `map` (and sameby / diffby of percent replicating); each given list replaces the preset's. */
  pairs?: Partial<PairLists>;
  /** Rows kept before pairing (a row is kept when, for every column named, it equals one of the values). Replaces the preset's filters. */
  include?: RowFilter[];
  /** Rows dropped before pairing (a row matching any). Replaces the preset's filters when given. */
  exclude?: RowFilter[];
  /** copairs `assign_reference_index`: adds `Metadata_reference_index` = row number where COL=VALUE, -1 elsewhere. */
  referenceIndex?: RowFilter;
}

/** Defaults of {@link MetricParams}. */
export const defaultMetricParams: MetricParams = {
  similarity: 'cosine',
  correlation: 'pearson',
  nullSize: 10000,
  seed: 0,
  threshold: 0.05,
  quantile: 0.95,
  precisionK: [1, 5, 10],
  k: 1,
  knnSimilarity: 'cosine',
  vote: 'majority',
  knnExclusions: ['nsc', 'nscb'],
  knnPerTreatment: true,
  skipValues: [],
  probeC: 1,
  probeMaxIter: 1000,
  probeTol: 1e-4,
};

/** What a metric sees. */
export interface MetricContext {
  table: ProfileTable;
  columns: EvalColumns;
  params: MetricParams;
  /** Progress of a long metric (queries done of total), for a progress bar. */
  onProgress?: (done: number, total: number) => void;
}

/** Rows of a per-profile or per-group table. */
export type ResultRows = Record<string, string | number | boolean>[];

/** What a metric returns: summary values (flat) and named tables. */
export interface MetricResult {
  summary: Record<string, number | string>;
  tables: Record<string, ResultRows>;
}

/** A registered evaluation metric. */
export interface Metric {
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Columns that must be named for it to run. */
  requires: (keyof EvalColumns)[];
  /** Runs only when asked for by name, never in a default selection. */
  onRequest?: boolean;
  compute(ctx: MetricContext): Promise<MetricResult>;
}

/** Metrics by name. */
export const metrics = new Registry<Metric>('metric');
