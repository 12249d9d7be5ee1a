import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { silhouetteBatch, silhouetteLabel, silhouetteSamples } from '../../src/evaluation/silhouette.ts';
import { lisiFromNeighbours, lisiNeighbourhood, computeLisi } from '../../src/evaluation/lisi.ts';
import { euclideanNeighbours } from '../../src/evaluation/neighbours.ts';
import { graphConnectivity } from '../../src/evaluation/graph-connectivity.ts';
import { summaryScore } from '../../src/evaluation/summary-score.ts';
import { evaluateProfiles } from '../../src/evaluation/evaluate.ts';
import { formatMarkdown, summarizeEvaluation } from '../../src/evaluation/report.ts';
import { correctProfiles } from '../../src/profiles/correct.ts';
import { twoBatches } from '../profiles/drawn.ts';

/** Fixture of test/evaluation/integration_reference.py (float64 numpy loops from the definitions). */
const ref = JSON.parse(readFileSync(new URL('../fixtures/integration-metrics-reference.json', import.meta.url), 'utf8')) as {
  n: number;
  d: number;
  x: number[];
  labels: string[];
  batches: string[];
  cases: Record<string, Record<string, unknown>>;
};
const x = Float64Array.from(ref.x);

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Number.isNaN(a[i]) && Number.isNaN(b[i] as number) ? w : Math.max(w, Math.abs(a[i] - b[i]));
  return w;
};

describe('batch-correction metrics against the float64 numpy reference', () => {
  for (const kind of ['euclidean', 'cosine'] as const) {
    it(`silhouette (${kind}): per-profile values, label score (s + 1) / 2, batch score within labels`, () => {
      const c = ref.cases[kind] as { samples: number[]; labelScore: number; batchScore: number; labelsScored: number };
      expect(maxAbsDiff(silhouetteSamples(x, ref.d, ref.labels, kind), c.samples)).toBeLessThan(1e-9);
      expect(silhouetteLabel(x, ref.d, ref.labels, kind).score).toBeCloseTo(c.labelScore, 10);
      const b = silhouetteBatch(x, ref.d, ref.labels, ref.batches, kind);
      expect(b.score).toBeCloseTo(c.batchScore, 10);
      // The label on one batch only is skipped.
      expect(b.perLabel).toHaveLength(c.labelsScored);
      expect(b.perLabel.map((p) => p.label)).not.toContain('solo');
    });
  }

  it('LISI per profile (perplexity 30 and 10, and capped on 40 profiles)', () => {
    for (const p of [30, 10]) {
      const c = ref.cases[`lisi${p}`] as { ilisi: number[]; clisi: number[]; k: number; perplexity: number };
      const hood = lisiNeighbourhood(ref.n, p);
      expect(hood).toEqual({ perplexity: c.perplexity, k: c.k });
      const nn = euclideanNeighbours(x, ref.n, ref.d, hood.k);
      expect(maxAbsDiff(lisiFromNeighbours(nn, ref.batches, hood.perplexity), c.ilisi)).toBeLessThan(1e-9);
      expect(maxAbsDiff(lisiFromNeighbours(nn, ref.labels, hood.perplexity), c.clisi)).toBeLessThan(1e-9);
    }
    const s = ref.cases.lisiSmall as { ilisi: number[]; k: number; perplexity: number };
    const hood = lisiNeighbourhood(40, 30);
    expect(hood).toEqual({ perplexity: s.perplexity, k: s.k });
    const nn = euclideanNeighbours(x.subarray(0, 40 * ref.d), 40, ref.d, hood.k);
    expect(maxAbsDiff(lisiFromNeighbours(nn, ref.batches.slice(0, 40), hood.perplexity), s.ilisi)).toBeLessThan(1e-9);
  });

  it('graph connectivity with 15 and 5 neighbours', () => {
    const c = ref.cases.graph as { k15: number; k5: number };
    expect(graphConnectivity(x, ref.n, ref.d, ref.labels, 15).score).toBeCloseTo(c.k15, 12);
    expect(graphConnectivity(x, ref.n, ref.d, ref.labels, 5).score).toBeCloseTo(c.k5, 12);
  });

  it('closed forms: one category gives LISI 1; neighbours all at one distance weigh equally, LISI = 1 / sum of squared shares', () => {
    const line = Float64Array.from({ length: 40 }, (_, i) => i);
    const one = lisiFromNeighbours(euclideanNeighbours(line, 40, 1, 6), new Array(40).fill('a'), 2);
    expect(Array.from(one).every((v) => Math.abs(v - 1) < 1e-12)).toBe(true);
    // 7 profiles at one point, 4 of a and 3 of b: an a sees 3 + 3 (LISI 2), a b sees 4 + 2 (1 / (4/9 + 1/9) = 1.8).
    const same = lisiFromNeighbours(euclideanNeighbours(new Float64Array(7), 7, 1, 6), ['a', 'a', 'a', 'a', 'b', 'b', 'b'], 2);
    expect(same[0]).toBeCloseTo(2, 12);
    expect(same[6]).toBeCloseTo(1.8, 12);
  });
});

describe('the metrics see a batch effect and its correction (drawn data, known truth)', () => {
  it('two batches of the same clusters: before, batches apart (low iLISI, batch silhouette); after ComBat, mixed; labels kept', () => {
    const t = twoBatches(5);
    const labels = t.meta.Metadata_Cluster;
    const batches = t.meta.Metadata_Batch;
    const before = { lisi: computeLisi(t.features, t.n, t.d, batches, labels), sil: silhouetteBatch(t.features, t.d, labels, batches).score };
    const c = correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'] }).table;
    const after = { lisi: computeLisi(c.features, c.n, c.d, batches, labels), sil: silhouetteBatch(c.features, c.d, labels, batches).score };
    expect(before.lisi.ilisiScaled).toBeLessThan(0.2);
    expect(after.lisi.ilisiScaled).toBeGreaterThan(0.7);
    expect(after.sil).toBeGreaterThan(before.sil + 0.2);
    // The three clusters stay apart: cLISI near 1 (scaled near 1) both times.
    expect(after.lisi.clisiScaled).toBeGreaterThan(0.95);
    expect(silhouetteLabel(c.features, c.d, labels).score).toBeGreaterThan(0.7);
    expect(graphConnectivity(c.features, c.n, c.d, labels).score).toBeGreaterThan(graphConnectivity(t.features, t.n, t.d, labels).score);
  });
});

describe('summary score (0.4 batch removal + 0.6 biology conservation)', () => {
  it('is the weighted mean of the components that were computed, and absent without both sides', () => {
    const s = summaryScore({
      silhouette: { summary: { batch_score: 0.8, label_score: 0.6 } },
      lisi: { summary: { ilisi_scaled: 0.5, clisi_scaled: 0.9 } },
      'graph-connectivity': { summary: { score: 0.9 } },
      map: { summary: { map: 0.3 } },
    })!;
    expect(s.batchRemoval).toBeCloseTo((0.8 + 0.5 + 0.9) / 3, 12);
    expect(s.bioConservation).toBeCloseTo((0.6 + 0.9 + 0.3) / 3, 12);
    expect(s.overall).toBeCloseTo(0.4 * s.batchRemoval + 0.6 * s.bioConservation, 12);
    expect(summaryScore({ map: { summary: { map: 0.3 } } })).toBeUndefined();
    expect(summaryScore({ silhouette: { summary: { batch_score: NaN, label_score: 0.5 } }, lisi: { summary: { ilisi_scaled: 0.2 } } })!.components).toEqual({ 'lisi.ilisi_scaled': 0.2, 'silhouette.label_score': 0.5 });
  });

  it('ben evaluate reports the metrics by default with a label and a plate, and the summary score after them', async () => {
    const t = twoBatches(8);
    const r = await evaluateProfiles(t, { columns: { label: 'Cluster', plate: 'Batch', replicate: ['Cluster'] }, metrics: ['silhouette', 'lisi', 'graph-connectivity', 'map'], options: { map: { nullSize: 100 } } });
    expect(r.metrics.silhouette.summary).toMatchObject({ batch_column: 'Metadata_Batch', distance: 'euclidean', profiles: 120 });
    expect(r.metrics.lisi.summary).toMatchObject({ neighbours: 90, perplexity: 30, batches: 2, labels: 3 });
    const json = summarizeEvaluation(r) as { summaryScore: { overall: number; components: Record<string, number> } };
    expect(Object.keys(json.summaryScore.components)).toHaveLength(6);
    expect(formatMarkdown(r)).toMatch(/Summary score, 0.4 batch removal \+ 0.6 biology conservation \(Luecken et al. 2022, as used by Arevalo et al. 2024\)[\s\S]*\| overall \| 0\.\d{4} \|/);
  });
});
