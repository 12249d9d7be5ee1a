/**
 * Why a metric cannot be computed on a table, said in words instead of a NaN: cross-plate metrics
 * on one plate, replicate metrics without replicates, a metric that found no pairs or queries.
 * What a metric needs is declared by the metric itself (`Metric.needs`).
 */
import { platesNeeded, type EvalColumns, type Metric, type MetricResult } from './metric.ts';
import { metaColumn, type ProfileTable } from '../tables/profile-table.ts';

function distinct(t: ProfileTable, column: string | undefined): string[] {
  if (!column) return [];
  try {
    return [...new Set(metaColumn(t, column))];
  } catch {
    return [];
  }
}

/** The reason `m` cannot run on `t` under `options` before computing it, or undefined. */
export function precondition<O extends Record<string, unknown>>(m: Metric<O>, t: ProfileTable, columns: EvalColumns, options: O): string | undefined {
  const plates = distinct(t, columns.plate);
  const need = platesNeeded(m, options);
  if (columns.plate && need > plates.length) {
    return `needs profiles from ${need} or more plates, and the table has ${plates.length} (${columns.plate} = ${plates.join(', ') || 'none'}); evaluate several plates together, or pick metrics that stay within a plate`;
  }
  if (t.n < 2) return `needs 2 or more profiles; the table has ${t.n}`;
  return undefined;
}

/** The reason a computed result is empty (NaN headline, no groups or queries), or undefined. */
export function emptyResult(r: MetricResult): string | undefined {
  const nan = Object.entries(r.summary).filter(([, v]) => typeof v === 'number' && Number.isNaN(v)).map(([k]) => k);
  if (nan.length === 0) return undefined;
  const counts = Object.entries(r.summary).filter(([k, v]) => /groups|profiles|queries|pairs/.test(k) && v === 0).map(([k]) => k);
  return `no valid ${counts.length ? counts.join('/') : 'pairs or queries'} (${nan.join(', ')} undefined): check that replicates share the replicate columns and that the plate, label and control columns are the ones meant`;
}
