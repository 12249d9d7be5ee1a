/**
 * The recipe's evaluate stage (the numbers of `ben run` and `npm run bench -- ssl`) on a table
 * built with known structure: 2 experiments x 3 plates, 4 treatments, controls. The kNN accuracy
 * is checked against an independent float64 brute-force kNN with the same exclusions; plate
 * predictability against tables with and without a plate signal.
 */
import { describe, expect, it } from 'vitest';
import type { ProfileTable } from '../../src/data/tables/profile-table.ts';
import { evaluateEmbeddings } from '../../src/recipe/evaluate.ts';
import { EvaluationSchema } from '../../src/recipe/schema.ts';
import { Rng } from '../../src/util/rng.ts';

const evaluation = EvaluationSchema.parse({ metrics: ['knn', 'plate-predictability', 'linear-probe'], k: 5 });

/** Rows: per experiment e, plate p, treatment t (4) x 6 images + 4 control images; d = 8. */
const gaussian = (rng: Rng) => () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

function table(seed: number, plateSignal: number, treatmentSignal: number, experimentSignal = 0): ProfileTable {
  const gauss = gaussian(new Rng(seed));
  const d = 8;
  const rows: { e: string; p: string; label: string; type: string; x: number[] }[] = [];
  // Random directions per treatment and per plate, the same in every table.
  const fixed = gaussian(new Rng(1000));
  const dirs = (n: number) => Array.from({ length: n }, () => Array.from({ length: d }, fixed));
  const tDir = dirs(4);
  const pDir = dirs(6);
  const eDir = dirs(2);
  for (let e = 0; e < 2; e++)
    for (let p = 0; p < 3; p++) {
      const add = (label: string, type: string, t: number) => {
        const x = Array.from({ length: d }, (_, j) => gauss() + plateSignal * pDir[e * 3 + p][j] + experimentSignal * eDir[e][j] + (t >= 0 ? treatmentSignal * tDir[t][j] : 0));
        rows.push({ e: `E${e}`, p: `P${p}`, label, type, x });
      };
      for (let t = 0; t < 4; t++) for (let r = 0; r < 6; r++) add(`T${t}`, 'treatment', t);
      for (let r = 0; r < 4; r++) add('DMSO', 'negative_control', -1);
    }
  return {
    n: rows.length,
    d,
    featureNames: Array.from({ length: d }, (_, j) => `emb_${j}`),
    features: Float32Array.from(rows.flatMap((r) => r.x)),
    meta: {
      Metadata_Experiment: rows.map((r) => r.e),
      Metadata_Plate: rows.map((r) => r.p),
      Metadata_Label: rows.map((r) => r.label),
      Metadata_WellType: rows.map((r) => r.type),
    },
  };
}

/** Independent float64 cosine kNN (majority vote, ties to the larger similarity sum). */
function bruteKnn(t: ProfileTable, k: number, sameGroup: (i: number, j: number) => boolean): number {
  const f = (i: number) => Array.from(t.features.subarray(i * t.d, (i + 1) * t.d), Number);
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const q = [...Array(t.n).keys()].filter((i) => t.meta.Metadata_WellType[i] === 'treatment');
  let correct = 0;
  for (const i of q) {
    const a = f(i);
    const sims = q
      .filter((j) => j !== i && !sameGroup(i, j))
      .map((j) => {
        const b = f(j);
        return { j, s: a.reduce((s, x, m) => s + x * b[m], 0) / (norm(a) * norm(b)) };
      })
      .sort((x, y) => y.s - x.s)
      .slice(0, k);
    const votes = new Map<string, { n: number; s: number }>();
    for (const { j, s } of sims) {
      const v = votes.get(t.meta.Metadata_Label[j]) ?? { n: 0, s: 0 };
      votes.set(t.meta.Metadata_Label[j], { n: v.n + 1, s: v.s + s });
    }
    const best = [...votes.entries()].sort((x, y) => y[1].n - x[1].n || y[1].s - x[1].s)[0][0];
    if (best === t.meta.Metadata_Label[i]) correct++;
  }
  return correct / q.length;
}

describe('evaluateEmbeddings', () => {
  it('kNN accuracy (other plates, other experiments) equals a float64 brute-force kNN', async () => {
    const t = table(1, 0.8, 1.0);
    const ev = await evaluateEmbeddings(t, { evaluation });
    const exp = t.meta.Metadata_Experiment;
    const plate = t.meta.Metadata_Plate;
    const crossPlate = bruteKnn(t, 5, (i, j) => exp[i] === exp[j] && plate[i] === plate[j]);
    const crossExp = bruteKnn(t, 5, (i, j) => exp[i] === exp[j]);
    expect(ev.knn!.crossPlate).toBeCloseTo(crossPlate, 10);
    expect(ev.knn!.crossExperiment).toBeCloseTo(crossExp, 10);
    expect(ev.knn!.queries).toBe(2 * 3 * 24);
    // The treatment signal is there: far above chance (0.25).
    expect(ev.knn!.crossPlate).toBeGreaterThan(0.6);
  });

  it('nearest other-plate neighbour in the same experiment: ~1 with an experiment signal, near the random share without', async () => {
    const clustered = (await evaluateEmbeddings(table(5, 0, 0.3, 4), { evaluation })).knn!.nearestSameExperiment!;
    const mixed = (await evaluateEmbeddings(table(5, 0, 0.3, 0), { evaluation })).knn!.nearestSameExperiment!;
    // 2 other plates of 24 treatment images in the own experiment out of 5 admissible plates.
    expect(clustered.random).toBeCloseTo(48 / 120, 12);
    expect(mixed.random).toBeCloseTo(48 / 120, 12);
    expect(clustered.observed).toBeGreaterThan(0.97);
    expect(mixed.observed).toBeGreaterThan(0.25);
    expect(mixed.observed).toBeLessThan(0.55);
  });

  it('plate predictability: high with a plate signal, near chance without one', async () => {
    const withPlate = await evaluateEmbeddings(table(2, 2.5, 0.5), { evaluation });
    const without = await evaluateEmbeddings(table(2, 0, 0.5), { evaluation });
    const a = withPlate.platePredictability!;
    const b = without.platePredictability!;
    expect(a.experiments).toBe(2);
    expect(a.chance).toBeCloseTo(1 / 3, 12);
    expect(a.acrossExperiments.chance).toBeCloseTo(1 / 6, 12);
    expect(a.accuracy).toBeGreaterThan(0.9);
    expect(a.acrossExperiments.accuracy).toBeGreaterThan(0.85);
    // 56 test images per experiment: chance 1/3 +- sampling noise.
    expect(b.accuracy).toBeLessThan(0.5);
    expect(b.acrossExperiments.accuracy).toBeLessThan(0.35);
  });

  it('linear probe: fitted on the probe table, tested on the evaluation table, treatments only', async () => {
    const probeTrain = table(3, 0.3, 1.5);
    const ev = await evaluateEmbeddings(table(4, 0.3, 1.5), { evaluation, probeTrain });
    expect(ev.linearProbe!.trainImages).toBe(144);
    expect(ev.linearProbe!.testImages).toBe(144);
    expect(ev.linearProbe!.chance).toBeCloseTo(0.25, 12);
    expect(ev.linearProbe!.accuracy).toBeGreaterThan(0.8);
  });
});
