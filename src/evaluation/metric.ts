/**
 * The `Metric` plug-in interface: a pure computation over a profile table (features + metadata)
 * returning summary numbers and per-profile / per-group rows; the CLI formats, the metric computes.
 * Metrics are registered by name in {@link metrics}.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import type { ControlSpec } from '../profiles/correct.ts';
import { z } from 'zod';
import { Registry } from '../util/registry.ts';
import { UserError } from '../util/errors.ts';

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
  /**
   * Values of the control column that mark rows that are neither treatments nor the negative
   * control (RxRx1's `positive_control`): never kNN queries, left out of the linear probe.
   */
  skipValues?: string[];
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

/**
 * What a metric needs of a table before it can run; `ben evaluate` picks by default the metrics
 * whose needs the named columns meet, and a metric that cannot run says why instead of a NaN.
 * A function form sees the metric's options (e.g. mAP needs replicates only without explicit lists).
 */
export interface MetricNeeds<O> {
  /** Columns that must be named (`--label`, `--plate`, `--control`...). */
  columns?: (keyof EvalColumns)[];
  /** Replicate groups: the replicate columns (`--replicate-by`) or the compound column. */
  replicates?: boolean | ((options: O) => boolean);
  /** Profiles from at least this many plates (cross-plate comparisons), when the plate column is named. */
  plates?: number | ((options: O) => number);
}

/** What a metric sees. */
export interface MetricContext<O = Record<string, unknown>> {
  table: ProfileTable;
  columns: EvalColumns;
  /** The metric's options, parsed by its own schema (defaults filled in). */
  options: O;
  /** Seed of every random choice (nulls, splits, permutations). */
  seed: number;
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

/**
 * A registered evaluation metric. Its options are its own: a zod object whose fields carry their
 * defaults and one-line descriptions; `ben evaluate`'s flags (`nullSize` -> `--null-size`) and a
 * recipe's `evaluation.options.<metric>` derive from it. Metrics that declare an option of the
 * same name share its flag.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Metric<O extends Record<string, unknown> = any> {
  name: string;
  /** One line for `--help`. */
  description: string;
  needs: MetricNeeds<O>;
  options: z.ZodType<O, Record<string, unknown>> & { shape: Record<string, z.ZodType> };
  /** Runs only when asked for by name, never in a default selection. */
  onRequest?: boolean;
  compute(ctx: MetricContext<O>): Promise<MetricResult>;
}

/** A metric with its options' type inferred from its schema (no options: an empty object). */
export function defineMetric<S extends z.ZodObject = z.ZodObject<Record<string, never>>>(m: {
  name: string;
  description: string;
  needs?: MetricNeeds<z.infer<S>>;
  options?: S;
  onRequest?: boolean;
  compute(ctx: MetricContext<z.infer<S>>): Promise<MetricResult>;
}): Metric<z.infer<S>> {
  return { ...m, needs: m.needs ?? {}, options: (m.options ?? z.object({})).strict() as unknown as Metric<z.infer<S>>['options'] };
}

/** Metrics by name. */
export const metrics = new Registry<Metric>('metric');

/**
 * `options` checked against the metric's schema, defaults filled in; a UserError names the metric,
 * the field and where it was set (`where(field)`, e.g. `--null-size` or `evaluation.options.map.nullSize`).
 */
export function parseMetricOptions<O extends Record<string, unknown>>(m: Metric<O>, options: Record<string, unknown> = {}, where: (field: string) => string = (f) => f): O {
  const r = m.options.safeParse(options);
  if (r.success) return r.data;
  const msg = r.error.issues
    .map((i) => (i.code === 'unrecognized_keys' ? `${i.keys.map(where).join(', ')}: not an option of ${m.name} (its options: ${Object.keys(m.options.shape).join(', ') || 'none'})` : `${where(String(i.path[0] ?? '(root)'))}: ${i.message}`))
    .join('; ');
  throw new UserError(`Metric "${m.name}": ${msg}.`);
}

/** Whether `m` can run on a table with `columns` named, under `options`; else the reason. */
export function unmetNeeds<O extends Record<string, unknown>>(m: Metric<O>, columns: EvalColumns, options: O): string | undefined {
  const missing = (m.needs.columns ?? []).filter((c) => columns[c] === undefined);
  if (missing.length) return `needs the ${missing.join(', ')} column${missing.length > 1 ? 's' : ''} (--${missing.map(kebab).join(', --')})`;
  const reps = typeof m.needs.replicates === 'function' ? m.needs.replicates(options) : m.needs.replicates;
  if (reps && !(columns.replicate?.length || columns.compound)) return 'needs replicate groups (--replicate-by, or --compound)';
  return undefined;
}

/** Least number of plates `m` needs under `options` (1 when it compares within plates). */
export function platesNeeded<O extends Record<string, unknown>>(m: Metric<O>, options: O): number {
  return (typeof m.needs.plates === 'function' ? m.needs.plates(options) : m.needs.plates) ?? 1;
}

/**
 * Options given once by name (`{ nullSize: 1000, k: 5 }`) handed to every metric among `names`
 * whose schema has that field: how one flag or one recipe field sets a shared option. Undefined
 * values are left out.
 */
export function distributeOptions(flat: Record<string, unknown>, names: readonly string[] = metrics.inOrder()): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const name of names) {
    const shape = metrics.get(name).options.shape;
    for (const [k, v] of Object.entries(flat)) if (v !== undefined && k in shape) (out[name] ??= {})[k] = v;
  }
  return out;
}

/** `nullSize` -> `null-size`: an option's flag name. */
export const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
