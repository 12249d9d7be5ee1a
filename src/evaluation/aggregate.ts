import type { ProfileTable } from './profile-table.ts';
import { groupCodes, metaName } from './profile-table.ts';
import { median } from './stats.ts';

/**
 * One profile per group of `by` columns (e.g. per treatment = compound + concentration), by the
 * feature-wise mean or median (pycytominer `aggregate`). A metadata column keeps its value where it
 * is constant within the group, else the group's distinct values sorted and joined by `;`.
 * Adds `Metadata_n_profiles`.
 */
export function aggregateProfiles(t: ProfileTable, by: string[], method: 'mean' | 'median' = 'mean'): ProfileTable {
  const { codes, keys } = groupCodes(t, by);
  const G = keys.length;
  const members: number[][] = keys.map(() => []);
  for (let i = 0; i < t.n; i++) members[codes[i]].push(i);
  const d = t.d;
  const features = new Float32Array(G * d);
  const buf = new Float64Array(t.n);
  for (let g = 0; g < G; g++) {
    const ms = members[g];
    for (let j = 0; j < d; j++) {
      if (method === 'mean') {
        let s = 0;
        for (const i of ms) s += t.features[i * d + j];
        features[g * d + j] = s / ms.length;
      } else {
        for (let a = 0; a < ms.length; a++) buf[a] = t.features[ms[a] * d + j];
        features[g * d + j] = median(buf.subarray(0, ms.length));
      }
    }
  }
  const meta: Record<string, string[]> = {};
  const byNames = new Set(by.map((c) => metaName(t, c)));
  for (const [name, col] of Object.entries(t.meta)) {
    meta[name] = members.map((ms) =>
      byNames.has(name) ? col[ms[0]] : [...new Set(ms.map((i) => col[i]))].sort().join(';'),
    );
  }
  meta.Metadata_n_profiles = members.map((ms) => String(ms.length));
  return { n: G, d, meta, featureNames: t.featureNames, features, keyValue: t.keyValue };
}
