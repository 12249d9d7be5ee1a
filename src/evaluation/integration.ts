/**
 * The rows the batch-correction metrics of Arevalo et al. (Nature Communications 2024, after scIB,
 * Luecken et al. 2022) score: silhouette on label and on batch, iLISI / cLISI and graph
 * connectivity. Treatment profiles only (negative controls and the control column's skip values
 * left out, as kNN and the probe do), their label, and their batch: the batch column when named,
 * else the plate. Tables above {@link MAX_INTEGRATION_ROWS} treatment rows are scored on a seeded
 * sample of that many (the metrics are O(n^2)), which the summary says.
 */
import { z } from 'zod';
import type { MetricContext } from './metric.ts';
import { metaColumn, type ProfileTable } from '../tables/profile-table.ts';
import { Rng } from '../util/rng.ts';

/** Largest number of profiles the batch-correction metrics score (a seeded sample above it). */
export const MAX_INTEGRATION_ROWS = 10000;

/** Profiles, labels and batches a batch-correction metric scores. */
export interface IntegrationInput {
  /** Features of the scored rows, row-major [n, d]. */
  x: Float32Array;
  n: number;
  d: number;
  labels: string[];
  batches: string[];
  /** The batch column used (the batch, or the plate when no batch is named). */
  batchColumn: string;
  /** Treatment rows in the table, and whether they were sampled down to {@link MAX_INTEGRATION_ROWS}. */
  treatmentRows: number;
  sampled: boolean;
}

/** Whether to score over the batch column (default, falling back to the plate) or the plate. */
export type IntegrationOver = 'batch' | 'plate';

/** The batches the batch-correction metrics mix: the batch column (the plate when none is named) or always the plate. */
export const batchOverOption = z.enum(['batch', 'plate']).default('batch').describe('Batches the batch-correction metrics score: the batch column (the plate when none is named) or the plate');

/** The scored rows of `ctx.table` (see the module comment). */
export function integrationInput(ctx: MetricContext, over: IntegrationOver = 'batch'): IntegrationInput {
  const t: ProfileTable = ctx.table;
  const batchColumn = over === 'plate' ? ctx.columns.plate! : (ctx.columns.batch ?? ctx.columns.plate!);
  const label = metaColumn(t, ctx.columns.label!);
  const batch = metaColumn(t, batchColumn);
  const c = ctx.columns.control;
  const ctl = c ? metaColumn(t, c.column) : undefined;
  const skip = new Set(ctx.columns.skipValues ?? []);
  let rows: number[] = [];
  for (let i = 0; i < t.n; i++) if (!ctl || (ctl[i] !== c!.value && !skip.has(ctl[i]))) rows.push(i);
  const treatmentRows = rows.length;
  const sampled = rows.length > MAX_INTEGRATION_ROWS;
  if (sampled) rows = new Rng(ctx.seed + 11).shuffle(rows).slice(0, MAX_INTEGRATION_ROWS).sort((a, b) => a - b) as number[];
  const x = new Float32Array(rows.length * t.d);
  rows.forEach((r, a) => x.set(t.features.subarray(r * t.d, (r + 1) * t.d), a * t.d));
  return { x, n: rows.length, d: t.d, labels: rows.map((r) => label[r]), batches: rows.map((r) => batch[r]), batchColumn, treatmentRows, sampled };
}
