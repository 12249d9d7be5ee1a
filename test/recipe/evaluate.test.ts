/**
 * The recipe's evaluate stage (the numbers of `ben run` and `npm run bench -- ssl`) on a table
 * built with known structure: 2 experiments x 3 plates, 4 treatments, controls. The kNN accuracy
 * is checked against an independent float64 brute-force kNN with the same exclusions; plate
 * predictability against tables with and without a plate signal.
 */
import { describe, expect, it } from 'vitest';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { evaluateEmbeddings } from '../../src/recipe/evaluate.ts';
import { EvaluationSchema } from '../../src/recipe/schema.ts';
import { Rng } from '../../src/util/rng.ts';

const evaluation = EvaluationSchema.parse({ metrics: ['knn', 'plate-predictability', 'linear-probe'], k: 5 });

/** Rows: per experiment e, plate p, treatment t (4) x 6 images + 4 control images; d = 8. */
const gaussian = (rng: Rng) => () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

function table(seed: number, plateSignal: number, treatmentSignal: number, experimentSignal = 0): ProfileTable {
  const gauss = gaussian(new Rng(seed));
  const d = 8;
  const rows: { e: string; p: string; w: string; label: string; type: string; x: number[] }[] = [];
  // Random directions per treatment and per plate, the same in every table.
  const fixed = gaussian(new Rng(1000));
  const dirs = (n: number) => Array.from({ length: n }, () => Array.from({ length: d }, fixed));
  const tDir = dirs(4);
  const pDir = dirs(6);
  const eDir = dirs(2);
  for (let e = 0; e < 2; e++)
    for (let p = 0; p < 3; p++) {
      // Two images (sites) per well.
      const add = (label: string, type: string, t: number, well: string) => {
        const x = Array.from({ length: d }, (_, j) => gauss() + plateSignal * pDir[e * 3 + p][j] + experimentSignal * eDir[e][j] + (t >= 0 ? treatmentSignal * tDir[t][j] : 0));
        rows.push({ e: `E${e}`, p: `P${p}`, w: well, label, type, x });
      };
      for (let t = 0; t < 4; t++) for (let r = 0; r < 6; r++) add(`T${t}`, 'treatment', t, `T${t}-${r >> 1}`);
      for (let r = 0; r < 4; r++) add('DMSO', 'negative_control', -1, `C-${r >> 1}`);
    }
  return {
    n: rows.length,
    d,
    featureNames: Array.from({ length: d }, (_, j) => `emb_${j}`),
    features: Float32Array.from(rows.flatMap((r) => r.x)),
    meta: {
      Metadata_Experiment: rows.map((r) => r.e),
      Metadata_Plate: rows.map((r) => r.p),
      Metadata_Well: rows.map((r) => r.w),
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

  it('linear probe: fitted on the probe table, tested on the evaluation table, treatments only, converged', async () => {
    const probeTrain = table(3, 0.3, 1.5);
    const imageLevel = EvaluationSchema.parse({ ...evaluation, probe: { level: 'image' } });
    const ev = await evaluateEmbeddings(table(4, 0.3, 1.5), { evaluation: imageLevel, probeTrain });
    const p = ev.linearProbe!;
    expect(p.level).toBe('image');
    expect(p.trainRows).toBe(144);
    expect(p.testRows).toBe(144);
    expect(p.chance).toBeCloseTo(0.25, 12);
    expect(p.accuracy).toBeGreaterThan(0.8);
    expect(p.converged).toBe(true);
    expect(p.gradMax).toBeLessThan(1e-4);
    // scikit-learn's C = 1: penalty 1 / (C n_train) in the mean form.
    expect(p.l2).toBeCloseTo(1 / 144, 15);
  });

  it('linear probe at well level (default): one row per treatment well, L2-normalised images mean-pooled', async () => {
    const probeTrain = table(3, 0.3, 1.5);
    const test = table(4, 0.3, 1.5);
    const ev = await evaluateEmbeddings(test, { evaluation, probeTrain });
    const p = ev.linearProbe!;
    expect(p.level).toBe('well');
    // 6 plates x 4 treatments x 3 wells (2 images each); controls left out.
    expect(p.trainRows).toBe(72);
    expect(p.testRows).toBe(72);
    expect(p.converged).toBe(true);
    expect(p.accuracy).toBeGreaterThan(0.8);
    // The same probe on well profiles pooled by hand (float64 L2 norm, mean) gives the same accuracy.
    const pool = (t: ProfileTable): ProfileTable => {
      const keys = [...new Set(t.meta.Metadata_Well.map((w, i) => `${t.meta.Metadata_Experiment[i]}|${t.meta.Metadata_Plate[i]}|${w}`))];
      const sums = keys.map(() => new Float64Array(t.d));
      const counts = new Array<number>(keys.length).fill(0);
      const first = new Array<number>(keys.length).fill(-1);
      for (let i = 0; i < t.n; i++) {
        const k = keys.indexOf(`${t.meta.Metadata_Experiment[i]}|${t.meta.Metadata_Plate[i]}|${t.meta.Metadata_Well[i]}`);
        const v = Array.from(t.features.subarray(i * t.d, (i + 1) * t.d), Number);
        const nrm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
        v.forEach((x, j) => (sums[k][j] += x / nrm));
        counts[k]++;
        if (first[k] < 0) first[k] = i;
      }
      const meta = Object.fromEntries(Object.entries(t.meta).map(([c, col]) => [c, first.map((i) => col[i])]));
      return { n: keys.length, d: t.d, featureNames: t.featureNames, meta, features: Float32Array.from(sums.flatMap((s, k) => Array.from(s, (x) => x / counts[k]))) };
    };
    const byHand = await evaluateEmbeddings(pool(test), { evaluation: EvaluationSchema.parse({ ...evaluation, probe: { level: 'image' } }), probeTrain: pool(probeTrain) });
    expect(byHand.linearProbe!.trainRows).toBe(72);
    expect(p.accuracy).toBeCloseTo(byHand.linearProbe!.accuracy, 12);
  });
});
