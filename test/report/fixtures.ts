import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * A synthetic embedding table with a known structure: `labels` treatment centroids plus a
 * per-plate offset scaled by `plateEffect` (0 = plates mixed, as BEN should give; large = plates
 * separated, as the random-batch baseline gives) plus unit noise.
 */
export function syntheticProfiles(opts: { plates?: number; labels?: number; perCell?: number; d?: number; plateEffect: number; seed?: number }): ProfileTable {
  const { plates = 4, labels = 5, perCell = 20, d = 32, plateEffect, seed = 1 } = opts;
  const rng = new Rng(seed);
  const centroid = (scale: number) => Float32Array.from({ length: d }, () => rng.normal(0, scale));
  const labelC = Array.from({ length: labels }, () => centroid(3));
  const plateC = Array.from({ length: plates }, () => centroid(plateEffect));
  const n = plates * labels * perCell;
  const features = new Float32Array(n * d);
  const meta: Record<string, string[]> = { Metadata_Plate: [], Metadata_Label: [], Metadata_Well: [] };
  let i = 0;
  for (let p = 0; p < plates; p++) {
    for (let l = 0; l < labels; l++) {
      for (let r = 0; r < perCell; r++, i++) {
        for (let j = 0; j < d; j++) features[i * d + j] = labelC[l][j] + plateC[p][j] + rng.normal();
        meta.Metadata_Plate.push(`Plate${p + 1}`);
        meta.Metadata_Label.push(`siRNA_${l}`);
        meta.Metadata_Well.push(`W${l}_${r}`);
      }
    }
  }
  return { n, d, meta, featureNames: Array.from({ length: d }, (_, j) => `emb_${String(j).padStart(4, '0')}`), features };
}

/** An RGB image of a few blurry "nuclei" on a dark field, with plate-specific brightness and tint. */
export function syntheticCellImage(size: number, plate: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const gain = [0.6 + 0.25 * plate, 1.0 - 0.15 * plate, 0.8 + 0.1 * (plate % 2)];
  const offset = 10 + 12 * plate;
  const blobs = Array.from({ length: 9 }, () => ({ x: rng.uniform(0, size), y: rng.uniform(0, size), r: rng.uniform(size / 20, size / 9) }));
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (const b of blobs) v += Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
      for (let c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(offset + 120 * gain[c] * Math.min(v, 1.5) + rng.normal(0, 4))));
    }
  }
  return out;
}

/**
 * Writes a run directory per the report contract: ben/ and baseline/ with embeddings.parquet
 * (plates mixed vs separated), metrics.jsonl and eval.json, plus examples.json and its images.
 */
export async function makeRunDir(dir: string, opts: { perCell?: number; d?: number } = {}): Promise<void> {
  const { writeProfilesParquet } = await import('../../src/tables/parquet.ts');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const sharp = (await import('sharp')).default;
  const { join } = await import('node:path');
  const runs = [
    { name: 'ben', plateEffect: 0, loss0: 4.2 },
    { name: 'baseline', plateEffect: 4, loss0: 4.4 },
  ];
  for (const r of runs) {
    await mkdir(join(dir, r.name), { recursive: true });
    const t = syntheticProfiles({ plateEffect: r.plateEffect, perCell: opts.perCell ?? 12, d: opts.d ?? 16, seed: 7 });
    await writeProfilesParquet(join(dir, r.name, 'embeddings.parquet'), { ...t, keyValue: { normalization: r.name === 'ben' ? 'plate' : 'running' } });
    const lines = Array.from({ length: 30 }, (_, s) => JSON.stringify({ step: s * 10, loss: r.loss0 * Math.exp(-s / 12) + 1, lr: 1e-3 }));
    await writeFile(join(dir, r.name, 'metrics.jsonl'), lines.join('\n') + '\n');
    const ev = { knn: { nsc: { accuracy: r.plateEffect ? 0.41 : 0.78 } }, map: { mean: r.plateEffect ? 0.22 : 0.51 }, plate_predictability: r.plateEffect ? 0.97 : 0.31 };
    await writeFile(join(dir, r.name, 'eval.json'), JSON.stringify(ev));
  }
  const examples = [];
  await mkdir(join(dir, 'images'), { recursive: true });
  for (let p = 0; p < 4; p++) {
    const file = `images/plate${p + 1}.png`;
    await sharp(Buffer.from(syntheticCellImage(64, p, 100 + p)), { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(dir, file));
    examples.push({ plate: `Plate${p + 1}`, path: file, caption: 'B02 site 1' });
  }
  await writeFile(join(dir, 'examples.json'), JSON.stringify(examples));
}
