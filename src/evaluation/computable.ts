/**
 * Why a metric cannot be computed on a table, said in words instead of a NaN: cross-plate metrics
 * on one plate, replicate metrics without replicates, a metric that found no pairs or queries.
 */
import type { EvalColumns, MetricParams, MetricResult } from './metric.ts';
import { metaColumn, type ProfileTable } from '../tables/profile-table.ts';

/** Metrics that compare profiles across plates (positives or queries on other plates). */
const CROSS_PLATE = new Set(['map', 'batch-predictability']);

function distinct(t: ProfileTable, column: string | undefined): string[] {
  if (!column) return [];
  try {
    return [...new Set(metaColumn(t, column))];
  } catch {
    return [];
  }
}

/** The reason `name` cannot run on `t` before computing it, or undefined. */
export function precondition(name: string, t: ProfileTable, columns: EvalColumns, params: MetricParams): string | undefined {
  const plates = distinct(t, columns.plate);
  // mAP is cross-plate only with the replicate preset's lists (pos_diffby = plate).
  const mapCrossPlate = name !== 'map' || (!params.pairs && (params.mapPreset ?? 'replicate') === 'replicate');
  const crossPlate = (CROSS_PLATE.has(name) && mapCrossPlate) || (name === 'knn' && params.knnExclusions.some((e) => e === 'plate' || e === 'nscb'));
  if (columns.plate && crossPlate && plates.length < 2) {
    return `needs profiles from 2 or more plates, and the table has ${plates.length} (${columns.plate} = ${plates.join(', ') || 'none'}); evaluate several plates together, or pick metrics that stay within a plate`;
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
