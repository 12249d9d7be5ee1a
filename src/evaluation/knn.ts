/**
 * kNN classification accuracy of profiles (e.g. MoA prediction on BBBC021, Ljosa et al. 2013):
 * each query takes the label of its nearest references under exclusions: same well, same plate,
 * same compound (NSC, "not same compound"), same compound or batch (NSCB).
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes, metaColumn } from '../tables/profile-table.ts';
import { searchNearest, type ExclusionCodes, type Neighbors } from './topk.ts';
import { unitRows } from '../util/unit-rows.ts';
import { wilsonInterval } from '../util/stats.ts';

/** Options of {@link computeKnnAccuracy}. */
export interface KnnAccuracyOptions {
  /** Label column (e.g. `Metadata_moa`). */
  label: string;
  /** Neighbours. Default 1. */
  k?: number;
  /** `cosine` or `pearson`. Default cosine. */
  similarity?: 'cosine' | 'pearson';
  /** `majority` (ties: larger summed similarity) or `weighted` (sum of similarities). Default majority. */
  vote?: 'majority' | 'weighted';
  /**
   * Exclusion rules: a reference is skipped for a query when it equals the query on every column of
   * any rule, e.g. [[compound]] = NSC, [[compound], [batch]] = NSCB, [[plate, well]] = not same well.
   * The query itself is always skipped.
   */
  excludeSame?: string[][];
  /** Rows that are neither queries nor references (e.g. DMSO controls). */
  skipRows?: (i: number) => boolean;
  /**
   * Drop queries whose label has no admissible reference (they cannot be right; e.g. NSCB on an MoA
   * whose compounds all sit in one batch, as Ando et al. 2017 do). Default true.
   */
  dropUnreachable?: boolean;
  /** Search kernel; default the engine's exact top-k search (native, int16 wasm or plain JS by size). */
  search?: (queries: Float32Array, refs: Float32Array, d: number, opts: { k: number; exclude?: ExclusionCodes[] }) => Neighbors | Promise<Neighbors>;
}

/** Per-query result rows. */
export interface KnnQueryRow {
  index: number;
  label: string;
  predicted: string;
  correct: boolean;
  /** Row index of the nearest admissible reference (-1 if none). */
  nearest: number;
  similarity: number;
}

/** Result of {@link computeKnnAccuracy}. */
export interface KnnAccuracy {
  accuracy: number;
  nCorrect: number;
  nQueries: number;
  /** Wilson 95 % interval of the accuracy. */
  ci95: [number, number];
  /** Queries that had no admissible reference, or none with their label (not counted). */
  nWithoutNeighbor: number;
  perLabel: { label: string; n: number; accuracy: number }[];
  rows: KnnQueryRow[];
}

/** Votes a label from neighbour labels and similarities (best first). */
export function voteLabel(labels: string[], sims: ArrayLike<number>, vote: 'majority' | 'weighted'): string {
  const score = new Map<string, { count: number; sum: number; first: number }>();
  labels.forEach((l, r) => {
    const s = score.get(l) ?? { count: 0, sum: 0, first: r };
    s.count++;
    s.sum += sims[r];
    score.set(l, s);
  });
  let best = '';
  let bestKey: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  for (const [l, s] of score) {
    const key: [number, number, number] = vote === 'weighted' ? [s.sum, s.count, -s.first] : [s.count, s.sum, -s.first];
    if (key[0] > bestKey[0] || (key[0] === bestKey[0] && (key[1] > bestKey[1] || (key[1] === bestKey[1] && key[2] > bestKey[2])))) {
      best = l;
      bestKey = key;
    }
  }
  return best;
}

/** Leave-one-out kNN accuracy over the rows of `t` not skipped. */
export async function computeKnnAccuracy(t: ProfileTable, opts: KnnAccuracyOptions): Promise<KnnAccuracy> {
  const k = opts.k ?? 1;
  const labels = metaColumn(t, opts.label);
  const rowsUsed: number[] = [];
  for (let i = 0; i < t.n; i++) if (!opts.skipRows?.(i)) rowsUsed.push(i);
  const m = rowsUsed.length;
  const d = t.d;
  const x = new Float32Array(m * d);
  rowsUsed.forEach((i, a) => x.set(t.features.subarray(i * d, (i + 1) * d), a * d));
  const unit = unitRows(x, d, opts.similarity === 'pearson');
  const self = Int32Array.from({ length: m }, (_, a) => a);
  const exclude: ExclusionCodes[] = [{ query: self, ref: self }];
  for (const cols of opts.excludeSame ?? []) {
    const codes = groupCodes(t, cols).codes;
    const c = Int32Array.from(rowsUsed, (i) => codes[i]);
    exclude.push({ query: c, ref: c });
  }
  const search = opts.search ?? searchNearest;
  const nb = await search(unit, unit, d, { k, exclude });
  const reachable = new Uint8Array(m).fill(1);
  if (opts.dropUnreachable ?? true) {
    const byLabel = new Map<string, number[]>();
    rowsUsed.forEach((i, a) => {
      const l = labels[i];
      if (!byLabel.has(l)) byLabel.set(l, []);
      byLabel.get(l)!.push(a);
    });
    for (let a = 0; a < m; a++) {
      reachable[a] = byLabel.get(labels[rowsUsed[a]])!.some((b) => exclude.every((e) => e.query[a] !== e.ref[b])) ? 1 : 0;
    }
  }
  const rows: KnnQueryRow[] = [];
  let nWithout = 0;
  for (let a = 0; a < m; a++) {
    if (!reachable[a]) {
      nWithout++;
      continue;
    }
    const idx = Array.from(nb.indices.subarray(a * k, (a + 1) * k)).filter((j) => j >= 0);
    if (idx.length === 0) {
      nWithout++;
      continue;
    }
    const sims = nb.similarities.subarray(a * k, a * k + idx.length);
    const predicted = voteLabel(
      idx.map((j) => labels[rowsUsed[j]]),
      sims,
      opts.vote ?? 'majority',
    );
    const label = labels[rowsUsed[a]];
    rows.push({ index: rowsUsed[a], label, predicted, correct: predicted === label, nearest: rowsUsed[idx[0]], similarity: sims[0] });
  }
  const nCorrect = rows.filter((r) => r.correct).length;
  const by = new Map<string, { n: number; c: number }>();
  for (const r of rows) {
    const s = by.get(r.label) ?? { n: 0, c: 0 };
    s.n++;
    if (r.correct) s.c++;
    by.set(r.label, s);
  }
  return {
    accuracy: rows.length ? nCorrect / rows.length : NaN,
    nCorrect,
    nQueries: rows.length,
    ci95: wilsonInterval(nCorrect, rows.length),
    nWithoutNeighbor: nWithout,
    perLabel: [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([label, s]) => ({ label, n: s.n, accuracy: s.c / s.n })),
    rows,
  };
}

/**
 * How far kNN neighbours drawn from other plates stay in the query's own batch: the fraction of
 * queries whose nearest admissible neighbour shares the query's batch, and that fraction if the
 * neighbour were drawn at random from the admissible references (other plates, `isRef`).
 */
export function nearestSameBatch(rows: { index: number; nearest: number }[], batches: string[], plates: string[], isRef: (i: number) => boolean): { observed: number; random: number } {
  // References per plate and per batch, to get each query's share of same-batch admissible references.
  const perPlate = new Map<string, number>();
  const perBatch = new Map<string, number>();
  let total = 0;
  plates.forEach((p, i) => {
    if (!isRef(i)) return;
    perPlate.set(p, (perPlate.get(p) ?? 0) + 1);
    perBatch.set(batches[i], (perBatch.get(batches[i]) ?? 0) + 1);
    total++;
  });
  let observed = 0;
  let random = 0;
  let n = 0;
  for (const r of rows) {
    if (r.nearest < 0) continue;
    const ownPlate = perPlate.get(plates[r.index]) ?? 0;
    random += ((perBatch.get(batches[r.index]) ?? 0) - ownPlate) / (total - ownPlate);
    if (batches[r.nearest] === batches[r.index]) observed++;
    n++;
  }
  return { observed: n ? observed / n : NaN, random: n ? random / n : NaN };
}
