/**
 * `npx tsx bench/correction-diagnostic.ts [model dir]` (default runs/bench-ssl/simclr-plate-seed0/model, from
 * the SSL suite): why a per-plate standardisation on the negative controls makes the OOD embeddings
 * MORE plate-predictable. Prints, per plate and feature, the controls' SD against all wells' SD, and
 * plate predictability / kNN other plates for the raw embedding, standardised on the controls (32
 * images per plate) and standardised on all wells. A one-off diagnostic for docs/ssl.md.
 */
import { embedDataset } from '../src/embedding/embedder.ts';
import { initBackend } from '../src/engine/backend.ts';
import { correctProfiles } from '../src/profiles/correct.ts';
import { ensureRecipeData, readRecipeData } from '../src/recipe/data.ts';
import { evaluateEmbeddings } from '../src/recipe/evaluate.ts';
import { EvaluationSchema } from '../src/recipe/schema.ts';
import { loadEmbeddingModel } from '../src/embedding/saved-model.ts';
import type { ProfileTable } from '../src/tables/profile-table.ts';
await initBackend();
const d = { source: 'synthetic' as const, preset: 'bench', params: {}, trainSplits: ['train'], evalSplits: ['test'], skipBad: false };
const all = await readRecipeData(d as never, await ensureRecipeData(d as never, { dataRoot: 'data/synthetic' }));
const ood = await all.split('test').load();
const em = await loadEmbeddingModel(process.argv[2] ?? 'runs/bench-ssl/simclr-plate-seed0/model');
const t = (await embedDataset(em.model, ood, { normalization: 'plate', batchSize: 256, preprocess: em.preprocess, inputSize: em.inputSize })).table;
const ev = EvaluationSchema.parse({ metrics: ['plate-predictability', 'knn'] });
const ctl = (x: ProfileTable) => x.meta.Metadata_WellType.map((v) => v === 'negative_control');
// Control SD per plate and feature vs all-wells SD
const m = ctl(t);
const plates = [...new Set(t.meta.Metadata_Plate.map((p, i) => `${t.meta.Metadata_Experiment[i]}/${p}`))];
let tiny = 0, total = 0; const ratios: number[] = [];
for (const pk of plates) {
  const rows = [...Array(t.n).keys()].filter((i) => `${t.meta.Metadata_Experiment[i]}/${t.meta.Metadata_Plate[i]}` === pk);
  const c = rows.filter((i) => m[i]);
  for (let j = 0; j < t.d; j++) {
    const sd = (rs: number[]) => { const mu = rs.reduce((s, i) => s + t.features[i * t.d + j], 0) / rs.length; return Math.sqrt(rs.reduce((s, i) => s + (t.features[i * t.d + j] - mu) ** 2, 0) / rs.length); };
    const a = sd(rows), b = sd(c); total++; if (b < 0.1 * a) tiny++; if (a > 0) ratios.push(b / a);
  }
}
ratios.sort((a, b) => a - b);
console.log(JSON.stringify({ controlsPerPlate: m.filter(Boolean).length / plates.length, featurePlatePairs: total, controlSdBelowTenthOfAll: tiny, ratioQuantiles: [0.01, 0.1, 0.5, 0.9].map((q) => ratios[Math.floor(q * ratios.length)]) }));
for (const [name, x] of [
  ['raw', t],
  ['standardize on controls', correctProfiles(t, { method: 'standardize', groupBy: ['Metadata_Experiment', 'Metadata_Plate'], fitOn: 'controls', controls: { column: 'Metadata_WellType', value: 'negative_control' } }).table],
  ['standardize on all wells', correctProfiles(t, { method: 'standardize', groupBy: ['Metadata_Experiment', 'Metadata_Plate'], fitOn: 'all' }).table],
] as const) {
  const r = await evaluateEmbeddings(x, { evaluation: ev });
  console.log(name, JSON.stringify({ plateWithin: r.platePredictability!.accuracy, plateAll: r.platePredictability!.acrossExperiments.accuracy, knnPlates: r.knn!.crossPlate }));
}
