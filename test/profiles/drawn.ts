import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * Two batches (A, B) of the same three clusters: batch B is batch A's biology shifted and scaled
 * per feature (the truth a batch correction should undo). 60 profiles per batch, 6 features;
 * `unbalanced`: batch A holds mostly cluster 0, batch B mostly clusters 1 and 2; `shiftOnly`: no scaling.
 */
export function twoBatches(seed: number, o: { unbalanced?: boolean; perBatch?: number; shiftOnly?: boolean } = {}): ProfileTable {
  const rng = new Rng(seed);
  const d = 6;
  const m = o.perBatch ?? 60;
  const centres = Array.from({ length: 3 }, () => Array.from({ length: d }, () => 4 * rng.normal()));
  const shift = Array.from({ length: d }, () => 3 + 2 * rng.normal());
  const scale = Array.from({ length: d }, () => (o.shiftOnly ? 1 : 1.5 + rng.next()));
  const meta: Record<string, string[]> = { Metadata_Batch: [], Metadata_Cluster: [], Metadata_Well: [] };
  const x: number[] = [];
  for (const b of ['A', 'B'])
    for (let i = 0; i < m; i++) {
      const c = o.unbalanced ? (b === 'A' ? (i < 0.7 * m ? 0 : 1 + (i % 2)) : i < 0.15 * m ? 0 : 1 + (i % 2)) : i % 3;
      meta.Metadata_Batch.push(b);
      meta.Metadata_Cluster.push(`c${c}`);
      meta.Metadata_Well.push(`${b}${i}`);
      for (let j = 0; j < d; j++) {
        const v = centres[c][j] + 0.6 * rng.normal();
        x.push(b === 'A' ? v : v * scale[j] + shift[j]);
      }
    }
  return { n: 2 * m, d, meta, featureNames: Array.from({ length: d }, (_, j) => `f${j}`), features: Float32Array.from(x) };
}

/** Over all profiles, the share of the k Euclidean nearest neighbours from the other batch and from the same cluster. */
export function neighbourShares(t: ProfileTable, k: number): { otherBatch: number; sameCluster: number } {
  let other = 0;
  let same = 0;
  for (let i = 0; i < t.n; i++) {
    const dist: [number, number][] = [];
    for (let j = 0; j < t.n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let f = 0; f < t.d; f++) s += (t.features[i * t.d + f] - t.features[j * t.d + f]) ** 2;
      dist.push([s, j]);
    }
    dist.sort((a, b) => a[0] - b[0]);
    for (const [, j] of dist.slice(0, k)) {
      if (t.meta.Metadata_Batch[j] !== t.meta.Metadata_Batch[i]) other++;
      if (t.meta.Metadata_Cluster[j] === t.meta.Metadata_Cluster[i]) same++;
    }
  }
  return { otherBatch: other / (t.n * k), sameCluster: same / (t.n * k) };
}
