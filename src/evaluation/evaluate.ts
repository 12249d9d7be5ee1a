/**
 * `ben evaluate` as a library call: load a profile table, optionally correct it post hoc
 * (per-plate standardisation on controls, robust MAD, TVN), run the chosen metrics and collect a
 * JSON summary plus per-profile / per-group tables.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { metaColumn, metaName, withGroupKey } from '../tables/profile-table.ts';
import type { ReadProfileReport } from '../tables/read.ts';
import { loadProfiles } from '../tables/load.ts';
import { correctProfiles, groupingOf, type CorrectionMethod, type CorrectionStep } from '../profiles/correct.ts';
import { kebab, metrics, parseMetricOptions, unmetNeeds, type EvalColumns, type MetricResult } from './metric.ts';
import './metrics.ts';
import type { TextEncoding } from '../util/text.ts';
import { emptyResult, precondition } from './computable.ts';
import { UserError } from '../util/errors.ts';

/** Post-hoc correction applied before the metrics. */
export type Normalization = 'none' | CorrectionMethod;

/** Grouping columns that may name several columns, whose tuple is the key (`[Experiment, Plate]`). */
export const GROUPING_COLUMNS = ['label', 'plate', 'batch', 'well', 'compound'] as const;

/** {@link EvalColumns} as given: a grouping column may be a list of columns. */
export type EvalColumnsInput = Omit<EvalColumns, (typeof GROUPING_COLUMNS)[number]> & Partial<Record<(typeof GROUPING_COLUMNS)[number], string | string[]>>;

/** Options of {@link evaluateProfiles}. */
export interface EvaluateOptions {
  /** Named columns; `plate: ['Experiment', 'Plate']` makes the tuple the plate key. */
  columns: EvalColumnsInput;
  /**
   * Metric names from the registry; absent: every metric whose needs the named columns meet
   * (see {@link defaultMetrics}).
   */
  metrics?: string[];
  /** Options per metric (`{ map: { nullSize: 1000 } }`), checked against each metric's schema; defaults fill the rest. */
  options?: Record<string, Record<string, unknown>>;
  /** Names where an option was set, for messages (default the field name; the CLI says `--null-size`). */
  optionSource?: (field: string) => string;
  /** Seed of every random choice (default 0). */
  seed?: number;
  /**
   * Default none. The per-plate corrections (`standardize`, `mad_robustize`, `tvn`) need the plate
   * column (and the controls when fitted on them); `combat` and `harmony` correct between the batch
   * column, or the plates when no batch is named.
   */
  normalize?: Normalization;
  /** Rows the correction is fitted on (default: the correction's own; controls for the per-plate ones). */
  normalizeOn?: 'controls' | 'all';
  /** The correction's own options (e.g. `{ theta: 2 }` for harmony). */
  correctionOptions?: Record<string, unknown>;
  /** Called with each warning of the correction (e.g. fitted on fewer controls than features) when it runs. */
  onWarning?: (line: string) => void;
  /**
   * Derive `Metadata_Batch` from the plate name with a regular expression's first group
   * (e.g. `^(Week\d+)_` on BBBC021's `Week4_27481`); sets `columns.batch` when unset.
   */
  batchFromPlate?: string;
  /** Progress within a long metric (mAP on a large table): queries done of total. */
  onProgress?: (metric: string, done: number, total: number) => void;
  /** Called after each metric (progress). */
  onMetric?: (name: string, seconds: number) => void;
  /** Called for a metric that cannot be computed on this table, with the reason. */
  onNotComputed?: (name: string, reason: string) => void;
}

/** Everything `ben evaluate` reports. */
export interface EvaluationResult {
  input: { source: string; n: number; d: number; droppedConstant: number; droppedNaN: number; keyValue?: Record<string, string> };
  preprocessing: {
    normalize: Normalization;
    zeroScaleFeatures?: number;
    tvnComponents?: number;
    batchFromPlate?: string;
    /** The correction as `ben profiles` records it. */
    correction?: CorrectionStep;
    /** Grouping options that named several columns: the key column made for each. */
    groupKeys?: Record<string, string[]>;
  };
  columns: EvalColumns;
  seed: number;
  /** Each metric's options as it ran (its defaults filled in). */
  options: Record<string, Record<string, unknown>>;
  /** Per metric: its result, or `notComputed` (the reason) with `summary.not_computed`. */
  metrics: Record<string, MetricResult & { seconds: number; notComputed?: string }>;
}

/** Runs preprocessing and the metrics on `table`. */
export async function evaluateProfiles(
  table: ProfileTable,
  opts: EvaluateOptions,
  input: { source: string; report?: ReadProfileReport } = { source: '(table)' },
): Promise<EvaluationResult> {
  const seed = opts.seed ?? 0;
  for (const name of [...(opts.metrics ?? []), ...Object.keys(opts.options ?? {})]) metrics.get(name);
  let t = table;
  const preprocessing: EvaluationResult['preprocessing'] = { normalize: opts.normalize ?? 'none' };
  // A grouping option naming several columns becomes one key column of their tuple.
  const { label, plate, batch, well, compound, ...rest } = opts.columns;
  const columns: EvalColumns = { ...rest };
  const given = { label, plate, batch, well, compound };
  for (const key of GROUPING_COLUMNS) {
    const v = given[key];
    if (v === undefined) continue;
    const list = Array.isArray(v) ? v : [v];
    const r = withGroupKey(t, list);
    t = r.table;
    columns[key] = r.column;
    if (list.length > 1) (preprocessing.groupKeys ??= {})[r.column] = list.map((c) => metaName(t, c));
  }
  if (opts.batchFromPlate) {
    if (!columns.plate) throw new UserError('--batch-from-plate needs the plate column (--plate).');
    let re: RegExp;
    try {
      re = new RegExp(opts.batchFromPlate);
    } catch (e) {
      throw new UserError(`--batch-from-plate "${opts.batchFromPlate}" is not a valid regular expression: ${(e as Error).message}`);
    }
    const plates = metaColumn(t, columns.plate);
    const batch = plates.map((p) => {
      const m = re.exec(p);
      if (!m) throw new UserError(`--batch-from-plate "${opts.batchFromPlate}" does not match plate "${p}".`);
      return m[1] ?? m[0];
    });
    t = { ...t, meta: { ...t.meta, Metadata_Batch: batch } };
    columns.batch ??= 'Metadata_Batch';
    preprocessing.batchFromPlate = opts.batchFromPlate;
  }
  // Resolve names early so a typo fails before any work.
  if (columns.split) columns.split = metaName(t, columns.split);
  if (columns.replicate) columns.replicate = columns.replicate.map((c) => metaName(t, c));
  if (columns.control) columns.control = { ...columns.control, column: metaName(t, columns.control.column) };
  const options = (name: string) => parseMetricOptions(metrics.get(name), opts.options?.[name], opts.optionSource);
  const chosen = opts.metrics ?? defaultMetrics(columns, opts.options);
  if (!chosen.length) throw new UserError('No metric can run: name the columns (--replicate-by, --label, --plate...) or pick --metrics.');
  const resolved = Object.fromEntries(chosen.map((name) => [name, options(name)]));
  for (const name of chosen) {
    const missing = (metrics.get(name).needs.columns ?? []).filter((c) => !columns[c]);
    if (missing.length) throw new UserError(`Metric "${name}" needs the ${missing.join(', ')} column${missing.length > 1 ? 's' : ''} (--${missing.map(kebab).join(', --')}).`);
  }
  const norm = opts.normalize ?? 'none';
  if (norm !== 'none') {
    const grouping = groupingOf(norm);
    const between = grouping === 'between-batches';
    const fitOn = opts.normalizeOn ?? (between ? 'all' : 'controls');
    if (grouping === 'per-group' && !columns.plate) throw new UserError(`--normalize ${norm} needs --plate (the correction is fitted per plate).`);
    if (between && !columns.batch && !columns.plate) throw new UserError(`--normalize ${norm} corrects between batches: name them with --batch (or --batch-from-plate), or --plate for one batch per plate.`);
    if (fitOn === 'controls' && !columns.control) throw new UserError(`--normalize ${norm} fits on controls: name them with --control (e.g. --control Compound=DMSO), or fit on all wells.`);
    // Per-plate corrections per plate (TVN aligned per batch); sphering pooled over the table; ComBat and Harmony between the batches.
    const batchColumn = between ? (columns.batch ?? columns.plate) : norm === 'tvn' ? columns.batch : undefined;
    const r = correctProfiles(t, {
      method: norm,
      groupBy: grouping === 'per-group' ? [columns.plate!] : [],
      fitOn,
      controls: columns.control,
      batch: batchColumn ? [batchColumn] : undefined,
      params: opts.correctionOptions,
    });
    t = r.table;
    preprocessing.correction = r.step;
    if (r.step.components !== undefined && norm === 'tvn') preprocessing.tvnComponents = r.step.components;
    if (r.step.zeroScale !== undefined) preprocessing.zeroScaleFeatures = r.step.zeroScale;
    for (const w of r.step.warnings ?? []) opts.onWarning?.(w);
  }
  const out: EvaluationResult['metrics'] = {};
  for (const name of chosen) {
    const t0 = performance.now();
    const m = metrics.get(name);
    const why = precondition(m, t, columns, resolved[name]);
    const r = why ? { summary: {}, tables: {} } : await m.compute({ table: t, columns, options: resolved[name], seed, onProgress: opts.onProgress ? (done, total) => opts.onProgress!(name, done, total) : undefined });
    const notComputed = why ?? emptyResult(r);
    const seconds = (performance.now() - t0) / 1000;
    out[name] = notComputed ? { summary: { not_computed: notComputed }, tables: r.tables, notComputed, seconds } : { ...r, seconds };
    if (notComputed) opts.onNotComputed?.(name, notComputed);
    opts.onMetric?.(name, seconds);
  }
  return {
    input: {
      source: input.source,
      n: table.n,
      d: table.d,
      droppedConstant: input.report?.droppedConstant.length ?? 0,
      droppedNaN: input.report?.droppedNaN.length ?? 0,
      keyValue: table.keyValue,
    },
    preprocessing,
    columns,
    seed,
    options: resolved,
    metrics: out,
  };
}

/**
 * The metrics `ben evaluate` runs when none are named: in registration order, every metric not
 * kept for explicit requests whose needs the named columns meet under its options.
 */
export function defaultMetrics(columns: EvalColumns, options: Record<string, Record<string, unknown>> = {}): string[] {
  return metrics.inOrder().filter((name) => {
    const m = metrics.get(name);
    return !m.onRequest && unmetNeeds(m, columns, parseMetricOptions(m, options[name])) === undefined;
  });
}
