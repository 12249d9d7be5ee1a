/**
 * Post-hoc batch correction baselines that users compare BEN against: per-plate center-scale on
 * negative controls (pycytominer `normalize(method="standardize" | "mad_robustize")`) and typical
 * variation normalization (TVN; Ando et al. 2017: PCA whitening fitted on negative controls, then
 * per-plate centering and scaling on the plate's controls).
 */
import type { ProfileTable } from './profile-table.ts';
import { metaColumn } from './profile-table.ts';
import { UserError } from '../util/errors.ts';
import { median } from './stats.ts';
import { symmetricEigen } from './linalg.ts';

/** Which rows are negative controls (e.g. `Metadata_Compound == DMSO`). */
export interface ControlSpec {
  column: string;
  value: string;
}

/** Options of {@link normalizePerPlate}. */
export interface PlateNormalizeOptions {
  /** Plate column; every plate needs control rows. */
  plate: string;
  controls: ControlSpec;
  /** `standardize`: mean / sd (n - 1); `mad_robustize`: median / (1.4826 * MAD). Default standardize. */
  method?: 'standardize' | 'mad_robustize';
}

function controlRows(t: ProfileTable, controls: ControlSpec): boolean[] {
  const col = metaColumn(t, controls.column);
  const isCtl = col.map((v) => v === controls.value);
  if (!isCtl.some(Boolean)) {
    const seen = [...new Set(col)].slice(0, 10).join(', ');
    throw new UserError(`No control rows: column "${controls.column}" never equals "${controls.value}" (values include: ${seen}).`);
  }
  return isCtl;
}

/**
 * Per plate and feature: (x - center(controls)) / scale(controls). Features whose control scale is
 * zero on some plate become 0 on that plate (and are counted in `zeroScale`). Returns a new table.
 */
export function normalizePerPlate(t: ProfileTable, opts: PlateNormalizeOptions): { table: ProfileTable; zeroScale: number } {
  const plates = metaColumn(t, opts.plate);
  const isCtl = controlRows(t, opts.controls);
  const byPlate = new Map<string, number[]>();
  plates.forEach((p, i) => {
    if (!byPlate.has(p)) byPlate.set(p, []);
    byPlate.get(p)!.push(i);
  });
  const d = t.d;
  const out = new Float32Array(t.features.length);
  let zeroScale = 0;
  for (const [plate, rows] of byPlate) {
    const ctl = rows.filter((i) => isCtl[i]);
    if (ctl.length < 2) throw new UserError(`Plate "${plate}" has ${ctl.length} control rows; per-plate normalization needs at least 2.`);
    const v = new Float64Array(ctl.length);
    for (let j = 0; j < d; j++) {
      for (let a = 0; a < ctl.length; a++) v[a] = t.features[ctl[a] * d + j];
      let center: number;
      let scale: number;
      if (opts.method === 'mad_robustize') {
        center = median(v);
        scale = 1.4826 * median(v.map((x) => Math.abs(x - center)));
      } else {
        center = v.reduce((s, x) => s + x, 0) / v.length;
        scale = Math.sqrt(v.reduce((s, x) => s + (x - center) ** 2, 0) / (v.length - 1));
      }
      if (!(scale > 0)) zeroScale++;
      for (const i of rows) out[i * d + j] = scale > 0 ? (t.features[i * d + j] - center) / scale : 0;
    }
  }
  return { table: { ...t, features: out }, zeroScale };
}

/** Options of {@link applyTvn}. */
export interface TvnOptions {
  plate: string;
  controls: ControlSpec;
  /** Eigenvalues below `eps * largest` are dropped (rank-deficient control covariance). Default 1e-6. */
  eps?: number;
}

/**
 * Typical variation normalization (Ando et al. 2017): center and scale every plate on its own
 * controls, fit PCA on all control rows pooled, then project every row onto the components and
 * divide by sqrt(eigenvalue), so that the controls have identity covariance (whitening). Linear, so
 * each plate's controls stay centred. Output features are `tvn_0000 ...`, one per kept component
 * (at most min(d, n_controls - 1)).
 */
export function applyTvn(t: ProfileTable, opts: TvnOptions): { table: ProfileTable; components: number } {
  const isCtl = controlRows(t, opts.controls);
  const z0 = normalizePerPlate(t, { plate: opts.plate, controls: opts.controls }).table;
  const d = t.d;
  const ctl = isCtl.flatMap((c, i) => (c ? [i] : []));
  const x = z0.features;
  const cov = new Float64Array(d * d);
  for (const i of ctl) {
    const o = i * d;
    for (let a = 0; a < d; a++) {
      const za = x[o + a];
      for (let b = a; b < d; b++) cov[a * d + b] += za * x[o + b];
    }
  }
  // Per-plate centring makes the pooled control mean zero.
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= ctl.length - 1;
      cov[b * d + a] = cov[a * d + b];
    }
  const { values, vectors } = symmetricEigen(cov, d);
  const eps = opts.eps ?? 1e-6;
  const keep = [...values.keys()].filter((c) => values[c] > eps * values[0]);
  const m = keep.length;
  const features = new Float32Array(t.n * m);
  for (let i = 0; i < t.n; i++) {
    const o = i * d;
    for (let c = 0; c < m; c++) {
      const col = keep[c];
      let s = 0;
      for (let j = 0; j < d; j++) s += x[o + j] * vectors[j * d + col];
      features[i * m + c] = s / Math.sqrt(values[col]);
    }
  }
  return {
    table: { ...t, d: m, features, featureNames: Array.from({ length: m }, (_, c) => `tvn_${String(c).padStart(4, '0')}`) },
    components: m,
  };
}
