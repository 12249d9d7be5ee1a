import { describe, expect, it } from 'vitest';
import { lincsPlate } from './fixtures.ts';
import { similarities, rankAverage } from '../../src/evaluation/similarity.ts';
import {
  computePercentReplicating,
  computePrecisionRecall,
  computeReplicateReproducibility,
} from '../../src/evaluation/replicate.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

const DOSE = ['Metadata_broad_sample', 'Metadata_mg_per_ml'];

describe('cytominer-eval reference values on LINCS SQ00015054', async () => {
  const t = await lincsPlate();
  const pearson = similarities.get('pearson')(t.features, t.n, t.d);

  it('replicate_reproducibility, Pearson, [broad_sample, mg_per_ml]', () => {
    const r95 = computeReplicateReproducibility(t, pearson, DOSE, 0.95);
    expect(r95.score).toBeCloseTo(0.4583, 4);
    expect(r95.threshold).toBeCloseTo(0.4911, 4);
    const meanOfMedians = r95.groupMedians.reduce((s, g) => s + g.median, 0) / r95.groupMedians.length;
    expect(meanOfMedians).toBeCloseTo(0.5407, 4);
    expect(computeReplicateReproducibility(t, pearson, DOSE, 0.5).score).toBeCloseTo(0.681, 3);
  });

  it('replicate_reproducibility, Pearson, [moa] (empty moa values are equal)', () => {
    const r = computeReplicateReproducibility(t, pearson, ['Metadata_moa'], 0.95);
    expect(r.score).toBeCloseTo(0.3074, 4);
    expect(r.groupMedians[0].key).toEqual(['PKC activator']);
    expect(r.groupMedians[0].median).toBeCloseTo(0.9357, 4);
  });

  it('replicate_reproducibility, Spearman and Kendall', () => {
    const sp = similarities.get('spearman')(t.features, t.n, t.d);
    expect(computeReplicateReproducibility(t, sp, DOSE, 0.5).score).toBeCloseTo(0.679, 3);
    expect(computeReplicateReproducibility(t, sp, DOSE, 0.95).score).toBeCloseTo(0.466, 3);
    const kd = similarities.get('kendall')(t.features, t.n, t.d);
    expect(computeReplicateReproducibility(t, kd, DOSE, 0.5).score).toBeCloseTo(0.679, 3);
    expect(computeReplicateReproducibility(t, kd, DOSE, 0.95).score).toBeCloseTo(0.463, 3);
  });

  it('precision@k and recall@k, [broad_sample]', () => {
    const ks = [1, 5, 10, 50, 5000];
    const rows = computePrecisionRecall(t, pearson, ['Metadata_broad_sample'], ks);
    const perfectPrecision = ks.map((k) => rows.filter((r) => r.k === k && r.precision === 1).length);
    const perfectRecall = ks.map((k) => rows.filter((r) => r.k === k && r.recall === 1).length);
    expect(perfectPrecision).toEqual([18, 9, 5, 2, 0]);
    expect(perfectRecall).toEqual([0, 0, 0, 1, 58]);
  });
});

describe('similarities against naive definitions', () => {
  const rng = new Rng(11);
  const n = 6;
  const d = 9;
  // Rounded values so that ranks tie.
  const x = Float32Array.from({ length: n * d }, () => Math.round(rng.normal() * 2) / 2);

  it('Kendall tau-b equals the O(d^2) pair count', () => {
    const s = similarities.get('kendall')(x, n, d);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let conc = 0;
        let disc = 0;
        let tx = 0;
        let ty = 0;
        for (let a = 0; a < d; a++)
          for (let b = a + 1; b < d; b++) {
            const dx = Math.sign(x[i * d + a] - x[i * d + b]);
            const dy = Math.sign(x[j * d + a] - x[j * d + b]);
            if (dx === 0 && dy !== 0) tx++;
            else if (dy === 0 && dx !== 0) ty++;
            else if (dx * dy > 0) conc++;
            else if (dx * dy < 0) disc++;
          }
        const ref = (conc - disc) / Math.sqrt((conc + disc + tx) * (conc + disc + ty));
        expect(s[i * n + j]).toBeCloseTo(ref, 12);
      }
  });

  it('Spearman equals Pearson of average ranks; ranks average ties', () => {
    expect(Array.from(rankAverage([3, 1, 3, 2]))).toEqual([3.5, 1, 3.5, 2]);
    const sp = similarities.get('spearman')(x, n, d);
    const r0 = rankAverage(x.subarray(0, d));
    const r1 = rankAverage(x.subarray(d, 2 * d));
    const m0 = r0.reduce((a, b) => a + b) / d;
    const m1 = r1.reduce((a, b) => a + b) / d;
    let num = 0;
    let s0 = 0;
    let s1 = 0;
    for (let k = 0; k < d; k++) {
      num += (r0[k] - m0) * (r1[k] - m1);
      s0 += (r0[k] - m0) ** 2;
      s1 += (r1[k] - m1) ** 2;
    }
    expect(sp[1]).toBeCloseTo(num / Math.sqrt(s0 * s1), 12);
  });
});

describe('percent replicating', () => {
  it('scores replicated groups above a null of non-replicate medians', () => {
    const rng = new Rng(5);
    const groups = 30;
    const reps = 4;
    const d = 20;
    const n = groups * reps;
    const centers = Array.from({ length: groups }, () => Array.from({ length: d }, () => rng.normal()));
    const features = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const g = Math.floor(i / reps);
      // The first 15 groups have a strong shared signal, the rest are pure noise.
      const strength = g < 15 ? 1 : 0;
      for (let k = 0; k < d; k++) features[i * d + k] = strength * centers[g][k] + 0.5 * rng.normal();
    }
    const t: ProfileTable = {
      n,
      d,
      features,
      featureNames: [],
      meta: { Metadata_cpd: Array.from({ length: n }, (_, i) => String(Math.floor(i / reps))) },
    };
    const s = similarities.get('pearson')(features, n, d);
    const pr = computePercentReplicating(t, s, ['Metadata_cpd'], { nSamples: 2000, seed: 1 });
    expect(pr.nRep).toBe(3);
    expect(pr.groups.filter((g) => Number(g.key[0]) < 15).every((g) => g.aboveThreshold)).toBe(true);
    expect(pr.score).toBeGreaterThanOrEqual(0.5);
    expect(pr.score).toBeLessThanOrEqual(0.5 + 2 / 30);
  });
});

describe('percent replicating follows copairs correlation_test', () => {
  // 12 compounds x 4 replicates on plates P0..P3 (replicate r on plate (c + r) % 4, one compound twice on a plate), 2 doses.
  const n = 48;
  const meta = {
    Metadata_cpd: Array.from({ length: n }, (_, i) => `c${Math.floor(i / 4) % 6}`),
    Metadata_dose: Array.from({ length: n }, (_, i) => (i < 24 ? '1' : '10')),
    Metadata_plate: Array.from({ length: n }, (_, i) => `P${i % 4 === 3 && Math.floor(i / 4) === 2 ? 0 : (Math.floor(i / 4) + (i % 4)) % 4}`),
  };
  const t: ProfileTable = { n, d: 1, features: new Float32Array(n), featureNames: ['f'], meta };
  const keys = ['Metadata_cpd', 'Metadata_dose'];
  const same = (i: number, j: number, cols: string[]) => cols.every((c) => meta[c as keyof typeof meta][i] === meta[c as keyof typeof meta][j]);
  const differsAll = (i: number, j: number, cols: string[]) => cols.every((c) => meta[c as keyof typeof meta][i] !== meta[c as keyof typeof meta][j]);
  const rng = new Rng(9);
  const sim = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) sim[i * n + j] = sim[j * n + i] = same(i, j, keys) ? 0.5 + 0.5 * rng.next() : rng.next() - 0.5;

  it('replicate pairs, group medians and n_rep against a naive loop over i < j (diffby plate)', () => {
    const pr = computePercentReplicating(t, sim, keys, { diffby: ['Metadata_plate'], nSamples: 50, seed: 1 });
    const groups = new Map<string, { sims: number[]; firsts: Set<number> }>();
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        if (!same(i, j, keys) || !differsAll(i, j, ['Metadata_plate'])) continue;
        const k = `${meta.Metadata_cpd[i]}|${meta.Metadata_dose[i]}`;
        const g = groups.get(k) ?? groups.set(k, { sims: [], firsts: new Set() }).get(k)!;
        g.sims.push(sim[i * n + j]);
        g.firsts.add(i);
      }
    expect(pr.groups.length).toBe(groups.size);
    for (const g of pr.groups) {
      const ref = groups.get(g.key.join('|'))!;
      expect(g.pairs).toBe(ref.sims.length);
      const s = [...ref.sims].sort((a, b) => a - b);
      const h = s.length >> 1;
      expect(g.median).toBeCloseTo(s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2, 12);
    }
    // Groups of 4 with all plates different: 3 distinct first members; the group with two wells on P0: fewer pairs.
    const firsts = [...groups.values()].map((g) => g.firsts.size).sort((a, b) => a - b);
    expect(pr.nRep).toBe(Math.min(Math.floor(firsts[firsts.length >> 1] * 0.5 + firsts[(firsts.length - 1) >> 1] * 0.5), 50));
    expect(pr.nRep).toBe(3);
    expect(pr.groups.some((g) => g.pairs < 6)).toBe(true);
  });

  it('null pairs differ in EVERY sameby and diffby column: with similarity 1 for any shared value, the null is all 0', () => {
    const indicator = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) indicator[i * n + j] = differsAll(i, j, [...keys, 'Metadata_plate']) ? 0 : 1;
    const pr = computePercentReplicating(t, indicator, keys, { diffby: ['Metadata_plate'], nSamples: 300, seed: 2 });
    expect(pr.threshold).toBe(0);
    // Without diffby: null pairs differ in compound AND dose (same compound at another dose is never a null pair).
    const onKeys = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) onKeys[i * n + j] = differsAll(i, j, keys) ? 0 : 1;
    expect(computePercentReplicating(t, onKeys, keys, { nSamples: 300, seed: 2 }).threshold).toBe(0);
  });

  it('groups whose median is NaN are left out of the score (copairs corr_dist.dropna())', () => {
    const withNaN = Float64Array.from(sim);
    // Every pair of group c0 / dose 1 (rows 0..3) has an undefined correlation.
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) withNaN[i * n + j] = NaN;
    const pr = computePercentReplicating(t, withNaN, keys, { nSamples: 200, seed: 3 });
    const finite = pr.groups.filter((g) => !Number.isNaN(g.median));
    expect(finite.length).toBe(pr.groups.length - 1);
    expect(pr.score).toBeCloseTo(finite.filter((g) => g.aboveThreshold).length / finite.length, 12);
  });
});
