/**
 * `npm run bench -- correct --suite real|synthetic [options]`: BEN next to the post-hoc batch
 * corrections profiling scientists use (per-plate standardisation, MAD, TVN / sphering, ComBat,
 * Harmony), on the same data and metrics, with the batch-removal / biology-conservation metrics of
 * Arevalo et al. (Nature Communications 2024).
 *
 * `--suite real` (about 2 min on a quiet 2-core machine): BBBC021's CellProfiler profiles (`--table`, default the
 * feature-selected MAD-robustised wells in ../shared/data/real/profiles; the batch is the week in
 * the plate name), each correction in the configuration its authors use ({@link REAL_CONFIGS}),
 * `--seeds` times (the seed moves Harmony's start, the predictability probes' splits and the mAP
 * null): NSC, NSCB, replicate mAP, week and plate predictability, silhouettes, LISI, graph
 * connectivity and the 0.4 / 0.6 summary score; paired differences against no correction.
 *
 * `--suite synthetic` (about 35 min per seed on 2 cores): the three SSL arms of `bench -- ssl`
 * (BEN: plate batches, `plate` inference; baseline: random batches, running statistics; random
 * batches, `plate` inference), each x {none, per-plate standardize on all wells, TVN on the
 * controls, ComBat over plates, Harmony over plates}, plus the classical features (embedding/
 * classical.ts) with each correction as the no-deep-learning reference. Each correction is fitted on
 * the probe-training and OOD embeddings together (one space: Harmony's PCs, TVN's components) and
 * the arms scored with bench/ssl.ts's `score` (the paper's well-level probe on unseen experiments,
 * kNN across plates and experiments, replicate mAP, plate predictability) and the batch metrics on
 * the OOD treatment wells over plates. Models are trained with bench/ssl.ts's `trainArmModel`
 * (`--reuse` takes finished runs of the same recipe from `--out`, e.g. `--out runs/bench-ssl` after
 * the ssl suite). Seeds run apart merge with `--merge a.json,b.json`.
 *
 * One JSON line per scored row, a summary line; `correct-<suite>[-<tag>].md` / `.json` in --out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { classicalFeatures } from '../src/embedding/classical.ts';
import { engineLabel, initBackend } from '../src/engine/backend.ts';
import { evaluateProfiles } from '../src/evaluation/evaluate.ts';
import { distributeOptions } from '../src/evaluation/metric.ts';
import '../src/evaluation/metrics.ts';
import { summaryScore } from '../src/evaluation/summary-score.ts';
import type { NormalizationMode } from '../src/models/ben-batchnorm.ts';
import { aggregateProfiles, WELL_COLUMNS } from '../src/profiles/aggregate.ts';
import { correctProfiles, type CorrectionOptions } from '../src/profiles/correct.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import type { Recipe } from '../src/recipe/schema.ts';
import { loadProfiles } from '../src/tables/load.ts';
import { metaColumn, withGroupKey, type ProfileTable } from '../src/tables/profile-table.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { embedArm, loadBenchData, score, trainArmModel } from './ssl.ts';
import { mean, pairedDifference, sd } from './stats.ts';

const BBBC021 = '../shared/data/real/profiles/bbbc021_morpheus/BBBC021_feature_selected_mad_robustize.csv';
/** The plate key column the synthetic suite adds for ComBat and Harmony (plate numbers repeat across experiments). */
const PLATE_KEY = 'Metadata_PlateKey';

/** One correction configuration: a label, what it is, and the correction options (absent: none). */
export interface CorrectionConfig {
  name: string;
  description: string;
  correction?: Omit<CorrectionOptions, 'controls'>;
}

/**
 * BBBC021 (wells; 6 DMSO wells per plate, 189 features; batch = week), each correction as its
 * authors configure it.
 */
export const REAL_CONFIGS: CorrectionConfig[] = [
  { name: 'none', description: 'as distributed: MAD-robustised per plate, feature-selected (pycytominer)' },
  { name: 'standardize-plate-dmso', description: 'standardize per plate on its DMSO wells (cytominergallery, pycytominer samples=controls)', correction: { method: 'standardize', groupBy: ['Plate'], fitOn: 'controls' } },
  { name: 'standardize-plate-all', description: 'standardize per plate on all wells (pycytominer default samples=all)', correction: { method: 'standardize', groupBy: ['Plate'], fitOn: 'all' } },
  { name: 'mad-plate-dmso', description: 'mad_robustize per plate on its DMSO wells', correction: { method: 'mad_robustize', groupBy: ['Plate'], fitOn: 'controls' } },
  { name: 'tvn-plate-dmso', description: 'TVN per plate on its DMSO wells, covariances aligned per week (EFAAR tvn_on_controls per plate)', correction: { method: 'tvn', groupBy: ['Plate'], fitOn: 'controls', batch: ['Batch'] } },
  { name: 'tvn-week-dmso', description: 'TVN per week on its DMSO wells, aligned per week (EFAAR at the batch level)', correction: { method: 'tvn', groupBy: ['Batch'], fitOn: 'controls', batch: ['Batch'] } },
  { name: 'sphering-dmso', description: 'ZCA-cor sphering on all DMSO wells pooled (JUMP / pycytominer Spherize on negative controls)', correction: { method: 'sphering', groupBy: [], fitOn: 'controls' } },
  { name: 'sphering-plate-dmso', description: 'ZCA-cor sphering per plate on its 6 DMSO wells (a misuse: fewer controls than features)', correction: { method: 'sphering', groupBy: ['Plate'], fitOn: 'controls' } },
  { name: 'combat-week', description: 'ComBat over weeks, all wells (Arevalo et al. 2024: batch = the experimental batch)', correction: { method: 'combat', groupBy: [], batch: ['Batch'] } },
  { name: 'combat-plate', description: 'ComBat over plates, all wells', correction: { method: 'combat', groupBy: [], batch: ['Plate'] } },
  { name: 'harmony-week', description: 'Harmony over weeks on 50 PCs, harmonypy defaults (Arevalo et al. 2024)', correction: { method: 'harmony', groupBy: [], batch: ['Batch'] } },
  { name: 'harmony-plate', description: 'Harmony over plates on 50 PCs, harmonypy defaults', correction: { method: 'harmony', groupBy: [], batch: ['Plate'] } },
];

/** The synthetic suite's corrections, each fitted on the probe-training and OOD embeddings together. */
export const SYNTHETIC_CONFIGS: CorrectionConfig[] = [
  { name: 'none', description: 'no post-hoc correction' },
  { name: 'standardize-plate-all', description: 'standardize per plate on all images', correction: { method: 'standardize', groupBy: ['Experiment', 'Plate'], fitOn: 'all' } },
  { name: 'tvn-plate-controls', description: 'TVN per plate on its negative-control images, aligned per plate', correction: { method: 'tvn', groupBy: ['Experiment', 'Plate'], fitOn: 'controls' } },
  { name: 'combat-plate', description: 'ComBat over plates, all images', correction: { method: 'combat', groupBy: [], batch: [PLATE_KEY] } },
  { name: 'harmony-plate', description: 'Harmony over plates on 50 PCs, harmonypy defaults', correction: { method: 'harmony', groupBy: [], batch: [PLATE_KEY] } },
];


/** Parsed command-line options. */
type Values = Record<string, string | string[] | boolean | undefined>;

/** The numbers of one scored table. */
type Scores = Record<string, number>;
/** One row of a suite: which arm, which correction, which seed, its scores. */
type Row = { arm: string; config: string; seed: number; scores: Scores; seconds: number; warnings: string[] };

/** The metric columns of each suite's tables: key, label, whether lower is better, scale. */
const REAL_METRICS: [string, string, boolean][] = [
  ['nsc', 'NSC', false],
  ['nscb', 'NSCB', false],
  ['map', 'replicate mAP', false],
  ['weekPred', 'week pred. (chance 0.19) ↓', true],
  ['platePred', 'plate pred. (0.04) ↓', true],
  ['silLabel', 'silhouette label', false],
  ['silBatch', 'silhouette batch', false],
  ['ilisi', 'iLISI', false],
  ['clisi', 'cLISI', false],
  ['graph', 'graph conn.', false],
  ['batchRemoval', 'batch removal', false],
  ['bioConservation', 'bio conservation', false],
  ['overall', 'overall (0.4/0.6)', false],
];
const SYNTH_METRICS: [string, string, boolean][] = [
  ['probeWell', 'probe OOD wells (%)', false],
  ['knnCrossPlate', 'kNN other plates (%)', false],
  ['knnCrossExperiment', 'kNN other exp. (%)', false],
  ['mapReplicate', 'replicate mAP', false],
  ['platePredictability', 'plate pred. within exp. (%) ↓', true],
  ['platePredictabilityAll', 'plate pred. all (%) ↓', true],
  ['silLabel', 'silhouette label', false],
  ['silBatch', 'silhouette plate', false],
  ['ilisi', 'iLISI plates', false],
  ['clisi', 'cLISI', false],
  ['graph', 'graph conn.', false],
  ['overall', 'overall (0.4/0.6)', false],
];
const PERCENT = new Set(['probeWell', 'knnCrossPlate', 'knnCrossExperiment', 'platePredictability', 'platePredictabilityAll']);

/** The integration metrics' numbers from an evaluation's metrics. */
function integrationScores(m: Record<string, { summary: Record<string, number | string>; notComputed?: string }>): Scores {
  const num = (name: string, field: string) => Number(m[name]?.summary[field] ?? NaN);
  const s = summaryScore(m);
  return {
    silLabel: num('silhouette', 'label_score'),
    silBatch: num('silhouette', 'batch_score'),
    ilisi: num('lisi', 'ilisi_scaled'),
    clisi: num('lisi', 'clisi_scaled'),
    graph: num('graph-connectivity', 'score'),
    batchRemoval: s?.batchRemoval ?? NaN,
    bioConservation: s?.bioConservation ?? NaN,
    overall: s?.overall ?? NaN,
  };
}

/** The kinds of warnings a correction said, in a few words (`fewer fit rows than features`, `not converged`, ...). */
export function warningKinds(warnings: readonly string[]): string {
  const kinds = new Set<string>();
  for (const w of warnings) {
    if (/fewer rows/.test(w)) kinds.add('fewer fit rows than features');
    else if (/not converged/.test(w)) kinds.add('not converged');
    else if (/zero scale|constant/.test(w)) kinds.add('constant features');
    else kinds.add(w.split(':')[0]);
  }
  return [...kinds].join('; ');
}

/** Per (arm, config): mean and SD over seeds; paired differences; the Markdown tables. */
export function tables(rows: readonly Row[], metricCols: [string, string, boolean][], pairs: [string, string][], title: string, note: string) {
  const key = (r: { arm: string; config: string }) => `${r.arm}|${r.config}`;
  const groups = [...new Set(rows.map(key))];
  const fmt = (m: string, v: number) => (PERCENT.has(m) ? (100 * v).toFixed(1) : v.toFixed(3));
  const summary = groups.map((g) => {
    const rs = rows.filter((r) => key(r) === g);
    const stats = Object.fromEntries(metricCols.map(([m]) => [m, { mean: mean(rs.map((r) => r.scores[m])), sd: sd(rs.map((r) => r.scores[m])) }]));
    return { arm: rs[0].arm, config: rs[0].config, seeds: rs.map((r) => r.seed), seconds: mean(rs.map((r) => r.seconds)), warned: warningKinds(rs.flatMap((r) => r.warnings)), stats };
  });
  const differences = pairs.flatMap(([a, b]) => {
    const ra = rows.filter((r) => key(r) === a);
    const rb = rows.filter((r) => key(r) === b);
    const common = ra.map((r) => r.seed).filter((s) => rb.some((q) => q.seed === s));
    if (!common.length) return [];
    const pick = (rs: readonly Row[], m: string) => common.map((s) => rs.find((r) => r.seed === s)!.scores[m]);
    return [{ a, b, seeds: common.length, diff: Object.fromEntries(metricCols.map(([m]) => [m, pairedDifference(pick(ra, m), pick(rb, m))])) }];
  });
  const cell = (m: string, x: { mean: number; sd: number }, n: number) => `${fmt(m, x.mean)}${n > 1 ? ` ± ${fmt(m, x.sd)}` : ''}`;
  const dcell = (m: string, d: ReturnType<typeof pairedDifference>) => `${d.mean >= 0 ? '+' : ''}${fmt(m, d.mean)} ${d.n >= 2 ? `[${fmt(m, d.lo)}, ${fmt(m, d.hi)}]` : '(1 seed)'}`;
  const label = (k: string) => k.replace('|', ' + ');
  const md = [
    title,
    '',
    `| arm + correction | ${metricCols.map(([, l]) => l).join(' | ')} | correction s | said when it ran |`,
    `|---|${metricCols.map(() => '---').join('|')}|---|---|`,
    ...summary.map((s) => `| ${s.arm} + ${s.config} | ${metricCols.map(([m]) => cell(m, s.stats[m], s.seeds.length)).join(' | ')} | ${s.seconds.toFixed(1)} | ${s.warned} |`),
    '',
    'Paired differences over seeds, mean [95 % t interval]:',
    '',
    `| difference | ${metricCols.map(([, l]) => l.replace(' ↓', '')).join(' | ')} | seeds |`,
    `|---|${metricCols.map(() => '---').join('|')}|---|`,
    ...differences.map((d) => `| ${label(d.a)} − ${label(d.b)} | ${metricCols.map(([m]) => dcell(m, d.diff[m])).join(' | ')} | ${d.seeds} |`),
    '',
    note,
    '',
  ].join('\n');
  return { summary, differences, md };
}

/** Rows of `a` then rows of `b` (the metadata columns both have), with `Metadata_BenchPart` = a | b. */
function concat(a: ProfileTable, b: ProfileTable): ProfileTable {
  const cols = Object.keys(a.meta).filter((c) => c in b.meta);
  const meta: Record<string, string[]> = Object.fromEntries(cols.map((c) => [c, [...a.meta[c], ...b.meta[c]]]));
  meta.Metadata_BenchPart = [...new Array<string>(a.n).fill('a'), ...new Array<string>(b.n).fill('b')];
  const features = new Float32Array((a.n + b.n) * a.d);
  features.set(a.features, 0);
  features.set(b.features, a.n * a.d);
  return { n: a.n + b.n, d: a.d, meta, featureNames: a.featureNames, features };
}

/** The two parts of a {@link concat}enated table. */
function split(t: ProfileTable): { a: ProfileTable; b: ProfileTable } {
  const part = t.meta.Metadata_BenchPart;
  const take = (p: string): ProfileTable => {
    const rows = [...part.keys()].filter((i) => part[i] === p);
    const features = new Float32Array(rows.length * t.d);
    rows.forEach((r, k) => features.set(t.features.subarray(r * t.d, (r + 1) * t.d), k * t.d));
    const meta = Object.fromEntries(Object.entries(t.meta).filter(([c]) => c !== 'Metadata_BenchPart').map(([c, v]) => [c, rows.map((r) => v[r])]));
    return { n: rows.length, d: t.d, meta, featureNames: t.featureNames, features };
  };
  return { a: take('a'), b: take('b') };
}

/** Feature columns without a missing value (classical features of a site without nuclei have NaN ratios). */
function dropNonFinite(t: ProfileTable, other: ProfileTable): [ProfileTable, ProfileTable] {
  const ok = (x: ProfileTable, j: number) => {
    for (let i = 0; i < x.n; i++) if (!Number.isFinite(x.features[i * x.d + j])) return false;
    return true;
  };
  const keep = t.featureNames.map((_, j) => j).filter((j) => ok(t, j) && ok(other, j));
  const sub = (x: ProfileTable): ProfileTable => {
    const f = new Float32Array(x.n * keep.length);
    for (let i = 0; i < x.n; i++) keep.forEach((j, k) => (f[i * keep.length + k] = x.features[i * x.d + j]));
    return { ...x, d: keep.length, featureNames: keep.map((j) => x.featureNames[j]), features: f };
  };
  return [sub(t), sub(other)];
}

// ------------------------------------------------------------------------------------------ real

async function runReal(values: Values): Promise<void> {
  const table = String(values.table ?? BBBC021);
  if (!existsSync(table)) throw new Error(`--table ${table} does not exist (the BBBC021 profiles live in ../shared/data/real/profiles)`);
  const seeds = Array.from({ length: Number(values.seeds ?? 3) }, (_, i) => Number(values['first-seed'] ?? 0) + i);
  const only = values.configs ? String(values.configs).split(',') : undefined;
  const configs = REAL_CONFIGS.filter((c) => !only || only.includes(c.name));
  const t0 = performance.now();
  const { table: raw } = await loadProfiles(table, { dropConstant: true, dropNaN: true });
  // The week is the batch: `Week4_27481` -> `Week4`.
  const plates = metaColumn(raw, 'Plate');
  const base: ProfileTable = { ...raw, meta: { ...raw.meta, Metadata_Batch: plates.map((p) => /^(Week\d+)_/.exec(p)![1]) } };
  const controls = { column: 'Metadata_Compound', value: 'DMSO' };
  const rows: Row[] = [];
  for (const seed of seeds)
    for (const cfg of configs) {
      const tc = performance.now();
      let t = base;
      let warnings: string[] = [];
      if (cfg.correction) {
        const r = correctProfiles(base, { ...cfg.correction, controls, params: { ...cfg.correction.params, ...(cfg.correction.method === 'harmony' ? { seed } : {}) } });
        t = r.table;
        warnings = r.step.warnings ?? [];
      }
      const seconds = (performance.now() - tc) / 1000;
      const ev = await evaluateProfiles(t, {
        columns: { label: 'moa', plate: 'Metadata_Plate', batch: 'Metadata_Batch', compound: 'Compound', replicate: ['Compound', 'Concentration'], control: { column: 'Compound', value: 'DMSO' } },
        metrics: ['knn', 'map', 'batch-predictability', 'silhouette', 'lisi', 'graph-connectivity'],
        options: distributeOptions({ nullSize: Number(values['null-size'] ?? 1000) }),
        seed,
      });
      const m = ev.metrics;
      const scores: Scores = {
        nsc: Number(m.knn.summary.nsc_accuracy),
        nscb: Number(m.knn.summary.nscb_accuracy),
        map: Number(m.map.summary.map),
        weekPred: Number(m['batch-predictability'].summary.batch_accuracy),
        platePred: Number(m['batch-predictability'].summary.plate_accuracy),
        ...integrationScores(m),
      };
      const row: Row = { arm: 'cellprofiler', config: cfg.name, seed, scores, seconds, warnings };
      rows.push(row);
      console.log(JSON.stringify({ suite: 'correct', part: 'real', ...row, features: t.d, description: cfg.description }));
    }
  const minutes = (performance.now() - t0) / 60000;
  const pairs = configs.filter((c) => c.name !== 'none').map((c): [string, string] => [`cellprofiler|${c.name}`, 'cellprofiler|none']);
  const title = `BBBC021 CellProfiler profiles (\`${table}\`, ${base.n} wells, ${base.d} features, batch = week), ${seeds.length} seed(s), ${minutes.toFixed(1)} min`;
  await writeOutputs(values, 'real', title, rows, REAL_METRICS, pairs, REAL_NOTE, { table, seeds, configs, minutes });
}

const REAL_NOTE =
  'NSC / NSCB: 1-NN MoA accuracy of treatment profiles (cosine), excluding the same compound / also the same week. Replicate mAP: copairs, replicates on other plates vs other treatments. Week / plate predictability: linear probe, lower is better. Silhouettes, iLISI / cLISI (scIB-scaled) and graph connectivity on the treatment wells, batch = week; overall = 0.4 batch removal + 0.6 biology conservation (Luecken et al. 2022, as used by Arevalo et al. 2024). "said when it ran": the warnings of the correction (fitted on fewer rows per group than features; the objective of Harmony not converged in 10 rounds; features constant on a group).';

// ------------------------------------------------------------------------------------------ synthetic

const ARMS: { name: string; batching: 'plate' | 'random'; mode: NormalizationMode }[] = [
  { name: 'ben', batching: 'plate', mode: 'plate' },
  { name: 'baseline', batching: 'random', mode: 'running' },
  { name: 'random-plate', batching: 'random', mode: 'plate' },
];

/** Scores of one (arm, correction): bench/ssl.ts's `score` and the batch metrics on the OOD treatment wells. */
async function scoreSynthetic(ood: ProfileTable, probe: ProfileTable, e: Recipe['evaluation'], seed: number): Promise<Scores> {
  const s = await score(ood, probe, e, seed);
  const wells = aggregateProfiles(ood, { by: WELL_COLUMNS, method: 'l2-mean' });
  const keyed = withGroupKey(wells, ['Metadata_Experiment', 'Metadata_Plate']);
  const ev = await evaluateProfiles(keyed.table, {
    columns: { label: e.labelColumn, plate: keyed.column, control: { column: e.controlColumn, value: e.controlValue }, skipValues: e.skipValues },
    metrics: ['silhouette', 'lisi', 'graph-connectivity'],
    seed,
  });
  const m = { ...ev.metrics, map: { summary: { map: s.mapReplicate } } };
  return {
    probeWell: s.probeWell,
    knnCrossPlate: s.knnCrossPlate,
    knnCrossExperiment: s.knnCrossExperiment,
    mapReplicate: s.mapReplicate,
    platePredictability: s.platePredictability,
    platePredictabilityAll: s.platePredictabilityAll,
    ...integrationScores(m),
  };
}

/** `cfg`'s correction fitted on the probe-training and OOD tables together; both returned corrected. */
function correctJointly(ood: ProfileTable, probe: ProfileTable, cfg: CorrectionConfig, e: Recipe['evaluation'], seed: number): { ood: ProfileTable; probe: ProfileTable; warnings: string[] } {
  if (!cfg.correction) return { ood, probe, warnings: [] };
  const joint = withGroupKey(concat(probe, ood), ['Metadata_Experiment', 'Metadata_Plate']);
  const t = { ...joint.table, meta: { ...joint.table.meta, [PLATE_KEY]: joint.table.meta[joint.column] } };
  const r = correctProfiles(t, { ...cfg.correction, controls: { column: e.controlColumn, value: e.controlValue }, params: { ...cfg.correction.params, ...(cfg.correction.method === 'harmony' ? { seed } : {}) } });
  const { a, b } = split(r.table);
  const strip = (x: ProfileTable): ProfileTable => {
    const { [joint.column]: _k, [PLATE_KEY]: _p, ...meta } = x.meta;
    void _k;
    void _p;
    return { ...x, meta };
  };
  return { probe: strip(a), ood: strip(b), warnings: r.step.warnings ?? [] };
}

async function runSynthetic(values: Values): Promise<void> {
  const t0 = performance.now();
  const info = await initBackend(values.backend as string | undefined);
  const preset = String(values.preset ?? 'bench');
  const objective = String(values.objective ?? 'simclr');
  const recipes = String(values.recipes ?? 'recipes');
  const set = (values.set as string[] | undefined) ?? [];
  const { all, ood, probeSet } = await loadBenchData({ preset, recipes, objective, set, data: String(values.data ?? 'data/synthetic'), probeSplits: ['train', 'id_test'] });
  const steps = Number(values.steps ?? 1000);
  const crop = Number(values.crop ?? 32);
  const seeds = Array.from({ length: Number(values.seeds ?? 1) }, (_, i) => Number(values['first-seed'] ?? 0) + i);
  const only = values.configs ? String(values.configs).split(',') : undefined;
  const configs = SYNTHETIC_CONFIGS.filter((c) => !only || only.includes(c.name));
  const armNames = String(values.arms ?? 'ben,baseline,random-plate,classical').split(',');
  const rows: Row[] = [];
  const emit = (row: Row, extra: Record<string, unknown>) => {
    rows.push(row);
    console.log(JSON.stringify({ suite: 'correct', part: 'synthetic', ...row, ...extra }));
  };
  let evaluation: Recipe['evaluation'] | undefined;
  for (const seed of seeds) {
    const models = new Map<string, Awaited<ReturnType<typeof trainArmModel>>>();
    for (const arm of ARMS.filter((a) => armNames.includes(a.name))) {
      if (!models.has(arm.batching)) {
        models.set(arm.batching, await trainArmModel({ preset, steps, crop, batch: values.batch as string | undefined, set, recipes, out: String(values.out ?? 'runs/bench-correct'), reuse: values.reuse === true, data: all, objective, batching: arm.batching, seed, extra: [], name: arm.batching }));
      }
      const { recipe, fit } = models.get(arm.batching)!;
      evaluation = recipe.evaluation;
      const te = performance.now();
      const emb = await embedArm(fit.modelDir, arm.mode, ood, probeSet);
      const embedSeconds = (performance.now() - te) / 1000;
      for (const cfg of configs) {
        const tc = performance.now();
        const c = correctJointly(emb.ood, emb.probe, cfg, recipe.evaluation, seed);
        const seconds = (performance.now() - tc) / 1000;
        const scores = await scoreSynthetic(c.ood, c.probe, recipe.evaluation, seed);
        emit({ arm: arm.name, config: cfg.name, seed, scores, seconds, warnings: c.warnings }, { trainSeconds: fit.seconds, embedSeconds, features: c.ood.d });
      }
    }
  }
  if (armNames.includes('classical')) {
    // Seed-independent features, scored once with the first seed.
    evaluation ??= loadRecipe(join(recipes, `${objective}-ben.yaml`)).evaluation;
    const tf = performance.now();
    const [co, cp] = dropNonFinite(await classicalFeatures(ood, { reporter: 'texture' }), await classicalFeatures(probeSet, { reporter: 'texture' }));
    const featureSeconds = (performance.now() - tf) / 1000;
    for (const cfg of configs) {
      const tc = performance.now();
      const c = correctJointly(co, cp, cfg, evaluation, seeds[0]);
      const seconds = (performance.now() - tc) / 1000;
      const scores = await scoreSynthetic(c.ood, c.probe, evaluation, seeds[0]);
      emit({ arm: 'classical', config: cfg.name, seed: seeds[0], scores, seconds, warnings: c.warnings }, { featureSeconds, features: c.ood.d });
    }
  }
  const minutes = (performance.now() - t0) / 60000;
  const title = `Synthetic preset \`${preset}\`, ${objective}, ${steps} steps, ${crop}px crops, seeds ${seeds.join(', ')}; engine ${engineLabel(info)}, ${minutes.toFixed(1)} min`;
  await writeOutputs(values, 'synthetic', title, rows, SYNTH_METRICS, syntheticPairs(configs.map((c) => c.name)), SYNTH_NOTE, { preset, objective, steps, crop, seeds, minutes });
}

const SYNTH_NOTE =
  'Mean ± sample SD over seeds (classical features: seed-independent, scored once). Probe: the paper\'s well-level linear probe on the unseen experiments (chance 10 %). kNN: k = 20 on images, neighbours from other plates / experiments. Replicate mAP: well profiles, replicates on other plates. Plate predictability: within an experiment (chance 25 %) and over all 16 OOD plates (6.3 %), lower is better. Silhouettes, iLISI / cLISI, graph connectivity: OOD treatment wells, batch = plate; overall = 0.4 batch removal + 0.6 biology conservation (with the replicate mAP). Corrections are fitted on the probe-training and OOD embeddings together. "said when it ran": the warnings of the correction (fitted on fewer rows per group than features; Harmony not converged in 10 rounds; features constant within a group or batch).';

/** The differences the synthetic tables report: BEN alone against every other arm and correction, and each correction against none per arm. */
function syntheticPairs(configs: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const arm of ['baseline', 'random-plate', 'classical']) for (const c of configs) out.push(['ben|none', `${arm}|${c}`]);
  for (const c of configs) if (c !== 'none') out.push([`ben|${c}`, 'ben|none'], [`ben|${c}`, `baseline|${c}`]);
  return out;
}

// ------------------------------------------------------------------------------------------ output

async function writeOutputs(
  values: Values,
  suite: string,
  title: string,
  rows: Row[],
  metricCols: [string, string, boolean][],
  pairs: [string, string][],
  note: string,
  info: Record<string, unknown>,
): Promise<void> {
  const { summary, differences, md } = tables(rows, metricCols, pairs, title, note);
  const out = String(values.out ?? 'runs/bench-correct');
  await mkdir(out, { recursive: true });
  const name = `correct-${suite}${values.tag ? `-${String(values.tag)}` : ''}`;
  await writeFileAtomic(join(out, `${name}.md`), md);
  await writeFileAtomic(join(out, `${name}.json`), JSON.stringify({ suite, ...info, summary, differences, rows }, null, 2));
  process.stderr.write(md + '\n');
  console.log(JSON.stringify({ suite: 'correct', part: suite, summary: true, file: join(out, `${name}.md`) }));
}

/** `--merge a.json,b.json`: one set of tables from outputs of one suite run apart (e.g. one seed each). */
async function merge(values: Values): Promise<void> {
  const files = String(values.merge).split(',').filter(Boolean);
  const rows: Row[] = [];
  const seen = new Set<string>();
  let suite = '';
  for (const f of files) {
    const j = JSON.parse(readFileSync(f, 'utf8')) as { suite: string; rows: Row[] };
    if (suite && j.suite !== suite) throw new Error(`--merge: ${f} is a ${j.suite} output, the others ${suite}`);
    suite = j.suite;
    for (const r of j.rows) {
      const k = `${r.arm}|${r.config}|${r.seed}`;
      if (seen.has(k)) throw new Error(`--merge: ${k} is in two files`);
      seen.add(k);
      rows.push(r);
    }
  }
  const configs = [...new Set(rows.map((r) => r.config))];
  const seeds = [...new Set(rows.map((r) => r.seed))].sort((a, b) => a - b);
  const real = suite === 'real';
  const title = `${real ? 'BBBC021 CellProfiler profiles' : 'Synthetic preset'}: seeds ${seeds.join(', ')}, merged from ${files.map((f) => `\`${f}\``).join(', ')}`;
  const pairs = real ? configs.filter((c) => c !== 'none').map((c): [string, string] => [`cellprofiler|${c}`, 'cellprofiler|none']) : syntheticPairs(configs);
  await writeOutputs(values, suite, title, rows, real ? REAL_METRICS : SYNTH_METRICS, pairs, real ? REAL_NOTE : SYNTH_NOTE, { seeds, merged: files });
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      suite: { type: 'string', default: 'real' },
      table: { type: 'string' },
      seeds: { type: 'string' },
      'first-seed': { type: 'string' },
      configs: { type: 'string' },
      arms: { type: 'string' },
      'null-size': { type: 'string' },
      preset: { type: 'string' },
      objective: { type: 'string' },
      steps: { type: 'string' },
      crop: { type: 'string' },
      batch: { type: 'string' },
      set: { type: 'string', multiple: true },
      recipes: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      tag: { type: 'string' },
      backend: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      merge: { type: 'string' },
    },
  });
  if (values.merge) return merge(values);
  if (values.suite === 'real') return runReal(values);
  if (values.suite === 'synthetic') return runSynthetic(values);
  throw new Error(`--suite ${values.suite}: choose real or synthetic`);
}
