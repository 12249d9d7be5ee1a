import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { embeddingColumnNames } from '../../src/tables/parquet.ts';
import { Rng } from '../../src/util/rng.ts';

/** Quickstart-like embeddings: 2 experiments x plates "1".."3" (numbers repeat per experiment), 8 wells x 2 sites. */
export function quickstartLike(): ProfileTable {
  const rng = new Rng(3);
  const d = 6;
  const meta: Record<string, string[]> = { Metadata_Experiment: [], Metadata_Plate: [], Metadata_Well: [], Metadata_Site: [], Metadata_Label: [], Metadata_WellType: [] };
  const rows: number[] = [];
  const labelShift = Array.from({ length: 4 }, () => Array.from({ length: d }, () => rng.normal()));
  for (let e = 0; e < 2; e++)
    for (let p = 1; p <= 3; p++) {
      const plateShift = Array.from({ length: d }, () => 3 * rng.normal());
      for (let w = 0; w < 8; w++)
        for (let s = 1; s <= 2; s++) {
          const label = w % 4;
          meta.Metadata_Experiment.push(`EXP-${e}`);
          meta.Metadata_Plate.push(String(p));
          meta.Metadata_Well.push(`B${String(w + 2).padStart(2, '0')}`);
          meta.Metadata_Site.push(String(s));
          meta.Metadata_Label.push(label === 0 ? 'EMPTY' : `sirna_${label}`);
          meta.Metadata_WellType.push(label === 0 ? 'negative_control' : 'treatment');
          for (let j = 0; j < d; j++) rows.push(plateShift[j] + (label ? labelShift[label][j] : 0) + 0.3 * rng.normal());
        }
    }
  return { n: rows.length / d, d, meta, featureNames: embeddingColumnNames(d), features: Float32Array.from(rows) };
}

