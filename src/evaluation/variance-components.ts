/**
 * Variance components of well profiles: how large are the batch (experiment) and plate shifts of
 * the negative controls next to the treatment effects and the well-to-well noise, per feature.
 * It answers "how strong are my batch effects compared to my biology?" on real profiles (e.g.
 * BBBC021), and it calibrates the synthetic generator's shift sizes against real data
 * (`npm run bench -- calibrate`).
 *
 * Per feature (optionally on the log scale), with c_p the mean of plate p's control wells:
 * - well: pooled SD of control wells around their plate mean;
 * - plate: SD of c_p around its batch mean, less the sampling noise of c_p (well^2 / controls);
 * - batch: SD of the batch means of c_p, less what plate and well noise contribute to them;
 * - treatment: root mean square over treatments of the treatment's mean deviation from its plates'
 *   control mean, less the noise that the mean of its replicates carries.
 * Variances that the noise correction makes negative are reported as 0 (method-of-moments).
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { mean as avg, median } from '../util/stats.ts';

/** Options of {@link varianceComponents}. */
export interface VarianceComponentsOptions {
  /** Batch (experiment) column, e.g. `Metadata_Batch`. */
  batchCol: string;
  /** Plate column, e.g. `Metadata_Plate`. */
  plateCol: string;
  /** Treatment column, e.g. `Metadata_Treatment`. */
  treatmentCol: string;
  /** Predicate for negative-control rows (e.g. compound DMSO). */
  isControl: (row: number) => boolean;
  /** Analyse log(feature); features with a value <= 0 are skipped. Default false. */
  log?: boolean;
}

/** Standard deviations of one feature's components (same scale as the analysed feature). */
export interface FeatureComponents {
  feature: string;
  batch: number;
  plate: number;
  well: number;
  treatment: number;
}

/**
 * Kind of a CellProfiler feature by its name: `intensity` (stain amounts), `morphology` (shape,
 * texture, neighbours, counts) or `other` (locations, object relationships).
 */
export function cellProfilerFeatureKind(name: string): 'morphology' | 'intensity' | 'other' {
  if (/_Intensity_/.test(name)) return 'intensity';
  if (/_Location_|_Children_|_Parent_/.test(name)) return 'other';
  return 'morphology';
}

function groupBy(rows: number[], key: (i: number) => string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const i of rows) {
    const k = key(i);
    const g = m.get(k);
    if (g) g.push(i);
    else m.set(k, [i]);
  }
  return m;
}

/** Per-feature variance components; needs >= 2 controls on every plate and >= 2 batches. */
export function varianceComponents(t: ProfileTable, o: VarianceComponentsOptions): FeatureComponents[] {
  for (const c of [o.batchCol, o.plateCol, o.treatmentCol]) {
    if (!t.meta[c]) throw new Error(`variance components: no metadata column ${c}`);
  }
  const plate = t.meta[o.plateCol];
  const batch = t.meta[o.batchCol];
  const treat = t.meta[o.treatmentCol];
  const all = Array.from({ length: t.n }, (_, i) => i);
  const controlsByPlate = groupBy(all.filter((i) => o.isControl(i)), (i) => plate[i]);
  const plates = [...new Set(plate)];
  for (const p of plates) {
    if ((controlsByPlate.get(p)?.length ?? 0) < 2) throw new Error(`variance components: plate ${p} has fewer than 2 control wells`);
  }
  const batchOfPlate = new Map(all.map((i) => [plate[i], batch[i]]));
  const platesByBatch = groupBy(plates.map((_, k) => k), (k) => batchOfPlate.get(plates[k])!);
  if (platesByBatch.size < 2) throw new Error('variance components: need at least 2 batches');
  const treatments = groupBy(all.filter((i) => !o.isControl(i)), (i) => treat[i]);
  const nCtl = avg(plates.map((p) => controlsByPlate.get(p)!.length));
  const out: FeatureComponents[] = [];
  for (let f = 0; f < t.d; f++) {
    const x = (i: number) => (o.log ? Math.log(t.features[i * t.d + f]) : t.features[i * t.d + f]);
    if (o.log && all.some((i) => !(t.features[i * t.d + f] > 0))) continue;
    const ctlMean = new Map<string, number>();
    let ssW = 0;
    let dfW = 0;
    for (const p of plates) {
      const v = controlsByPlate.get(p)!.map(x);
      const m = avg(v);
      ctlMean.set(p, m);
      ssW += v.reduce((s, y) => s + (y - m) ** 2, 0);
      dfW += v.length - 1;
    }
    const wellVar = ssW / dfW;
    // Plate: pooled spread of control means within a batch.
    let ssP = 0;
    let dfP = 0;
    const batchMeans: number[] = [];
    for (const ks of platesByBatch.values()) {
      const v = ks.map((k) => ctlMean.get(plates[k])!);
      const m = avg(v);
      batchMeans.push(m);
      ssP += v.reduce((s, y) => s + (y - m) ** 2, 0);
      dfP += v.length - 1;
    }
    const plateVar = dfP > 0 ? Math.max(0, ssP / dfP - wellVar / nCtl) : 0;
    const platesPerBatch = plates.length / platesByBatch.size;
    const bm = avg(batchMeans);
    const batchMeanVar = batchMeans.reduce((s, y) => s + (y - bm) ** 2, 0) / (batchMeans.length - 1);
    const batchVar = Math.max(0, batchMeanVar - (plateVar + wellVar / nCtl) / platesPerBatch);
    // Treatment: each replicate's deviation from its plate's control mean carries
    // wellVar * (1 + 1 / nCtl) of noise; the mean of r replicates 1 / r of it.
    const sq: number[] = [];
    for (const rows of treatments.values()) {
      const d = avg(rows.map((i) => x(i) - ctlMean.get(plate[i])!));
      sq.push(d * d - (wellVar * (1 + 1 / nCtl)) / rows.length);
    }
    const treatVar = sq.length ? Math.max(0, avg(sq)) : 0;
    out.push({ feature: t.featureNames[f], batch: Math.sqrt(batchVar), plate: Math.sqrt(plateVar), well: Math.sqrt(wellVar), treatment: Math.sqrt(treatVar) });
  }
  return out;
}

/** Median over features of each component relative to the treatment effect (features with no treatment effect skipped). */
export function medianRatios(rows: FeatureComponents[]): { features: number; batch: number; plate: number; well: number } {
  const ok = rows.filter((r) => r.treatment > 0);
  return {
    features: ok.length,
    batch: median(ok.map((r) => r.batch / r.treatment)),
    plate: median(ok.map((r) => r.plate / r.treatment)),
    well: median(ok.map((r) => r.well / r.treatment)),
  };
}
