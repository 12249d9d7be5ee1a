/**
 * `npm run bench -- ssl [--preset bench] [--seeds 3] [--first-seed 0] [--steps 1000] [--batch 64] [--crop 32]
 * [--objectives simclr,byol] [--arms ben,baseline,random-plate] [--levers name,...] [--no-correct]
 * [--probe-splits train,id_test] [--tag T] [--out runs/bench-ssl] [--reuse] [--set field.path=value ...]`
 * (or `--merge a.json,b.json [--out D] [--tag T]`: one set of tables from earlier outputs, e.g. seeds run apart):
 * self-supervised BEN measured as Lin & Lu (MLCB 2022) measure it.
 *
 * Arms, per objective, with the same batch size and steps (the recipes `recipes/<objective>-{ben,random}.yaml`):
 * - `ben`: plate batches (every batch one plate), embedded with `plate` statistics;
 * - `baseline`: random batches, embedded with running statistics;
 * - `random-plate`: the baseline's model embedded with `plate` statistics (AdaBN-style; no extra training);
 * - `lever:<name>`: plate batches with one of the paper's (or our) levers ({@link LEVERS}), `plate` inference.
 * Every arm is also scored after the profiling field's post-hoc fix, a per-plate standardisation
 * on the negative-control images (`+ correction` rows; `--no-correct` leaves them out).
 *
 * Metrics (the recipe's evaluate stage, src/recipe/evaluate.ts):
 * - primary, the paper's: a well-level linear probe for the treatment on the OOD experiments. Image
 *   embeddings L2-normalised and mean-pooled per well; the probe (scikit-learn-equivalent
 *   multinomial logistic regression, C = 1, features standardised, L-BFGS to a 1e-4 gradient) is
 *   fitted on the wells of the training experiments (`--probe-splits`, all their plates) and its
 *   convergence reported;
 * - kNN treatment accuracy with neighbours from other plates / other experiments (images);
 * - replicate mAP (copairs: positives the same treatment on other plates, negatives other treatments) on well profiles;
 * - plate predictability within an experiment and over all OOD plates (images; lower is better).
 * Per arm: mean ± SD over seeds; paired differences (BEN - baseline, BEN - random-plate, lever - BEN)
 * with a 95 % t interval over seeds.
 *
 * One JSON line per run and arm, a summary line; `ssl-<preset>[-<tag>].md` / `.json` in --out.
 * `--reuse` evaluates finished runs of the same resolved recipe already in --out instead of training
 * again. `--set` (repeatable) overrides a recipe field in every run (`--set data.params.<name>=V`
 * sets a generator parameter of the shared synthetic data set, e.g. the no-biological-shift suite).
 *
 * CPU budget: training runs on `--crop`-pixel random resized crops (default 32) of the 64-pixel
 * images; embeddings use the whole image resized to the crop size, standardised (the training pipeline's deterministic input).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { embedDataset } from '../src/embedding/embedder.ts';
import { engineLabel, initBackend } from '../src/engine/backend.ts';
import type { NormalizationMode } from '../src/models/ben-batchnorm.ts';
import { aggregateProfiles, WELL_COLUMNS } from '../src/profiles/aggregate.ts';
import { correctProfiles } from '../src/profiles/correct.ts';
import type { ProfileTable } from '../src/tables/profile-table.ts';
import type { Dataset } from '../src/data/image-dataset.ts';
import { ensureRecipeData, readRecipeData } from '../src/recipe/data.ts';
import { evaluateEmbeddings } from '../src/recipe/evaluate.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import type { Recipe } from '../src/recipe/schema.ts';
import { parseMetricsJsonl } from '../src/report/run-dir.ts';
import { loadEmbeddingModel } from '../src/embedding/saved-model.ts';
import { pretrain } from '../src/recipe/train-stage.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { mean, pairedDifference, sd } from './stats.ts';

/**
 * Training levers (Lin & Lu 2022's official code, and ours), each a set of recipe overrides on the
 * BEN arm (plate batches, `plate` inference).
 */
export const LEVERS: Record<string, { description: string; set: string[] }> = {
  'temperature-0.05': { description: 'NT-Xent temperature 0.05 (the paper\'s)', set: ['objective.options.temperature=0.05'] },
  // A plate of the training split holds 124 images: 516 steps see the images 1000 steps of 64 see.
  'whole-plate': { description: "one whole plate per batch (124 images), steps cut to see the same images", set: ['sampler.batchSize=whole-group', 'training.steps=516', 'training.warmupSteps=52', 'training.checkpointEvery=516'] },
  'minclr-sites': { description: 'MinCLR-style positives: two different sites of the same well', set: ['sampler.unit=well', 'data.trainSplits=[train,id_test]'] },
  'plates-4-own-bn': { description: '4 plates per batch, each normalised by its own statistics', set: ['sampler.groupsPerBatch=4', 'sampler.perGroupStatistics=true'] },
  'two-plates-detached': {
    description: "the paper's two plates per step: each normalised by itself, the other plate's projections detached negatives",
    set: ['sampler.groupsPerBatch=2', 'sampler.perGroupStatistics=true', 'objective.options.crossGroupNegatives=detached'],
  },
  'previous-batch-negatives': { description: "the previous step's projections as extra (detached) negatives", set: ['objective.options.previousBatchNegatives=true'] },
  'split-view-bn': { description: "ours: shuffle-BN within the plate, an image's two views never share a BN group", set: ['objective.options.splitViewGroups=true'] },
  // A reference, not a lever: the same network as initialised (what training adds).
  untrained: { description: 'no training (the initialised network), `plate` inference', set: ['training.steps=0', 'training.warmupSteps=0', 'training.checkpointEvery=1'] },
  'plates-4-split-view': {
    description: 'ours: 4 plates per batch, each normalised by itself, split-view BN groups, negatives from all plates',
    set: ['sampler.groupsPerBatch=4', 'sampler.perGroupStatistics=true', 'objective.options.splitViewGroups=true'],
  },
};

type ArmName = string;
const BASE_ARMS = ['ben', 'baseline', 'random-plate'] as const;

/**
 * `--reuse`: a finished run in `runDir` of the same resolved recipe (its losses read back from
 * metrics.jsonl) instead of training again; undefined when there is none.
 */
export function finishedRun(runDir: string, recipe: Recipe): { modelDir: string; losses: number[]; seconds: number } | undefined {
  const p = join(runDir, 'run.json');
  const recipePath = join(runDir, 'resolved-recipe.yaml');
  if (!existsSync(p) || !existsSync(recipePath)) return undefined;
  const info = JSON.parse(readFileSync(p, 'utf8')) as { status: string; result?: { modelDir: string; steps: number; seconds: number } };
  if (info.status !== 'finished' || !info.result) return undefined;
  if (!isDeepStrictEqual(parseYaml(readFileSync(recipePath, 'utf8')), JSON.parse(JSON.stringify(recipe)))) return undefined;
  const byStep = new Map<number, number>();
  for (const r of parseMetricsJsonl(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8'))) {
    if (typeof r.step === 'number' && typeof r.loss === 'number') byStep.set(r.step, r.loss);
  }
  return { modelDir: info.result.modelDir, losses: [...byStep.keys()].sort((a, b) => a - b).map((k) => byStep.get(k)!), seconds: info.result.seconds };
}

const METRICS = ['probeWell', 'knnCrossPlate', 'knnCrossExperiment', 'mapReplicate', 'platePredictability', 'platePredictabilityAll'] as const;
type MetricKey = (typeof METRICS)[number];
const LABELS: Record<MetricKey, string> = {
  probeWell: 'linear probe OOD, wells (%)',
  knnCrossPlate: 'kNN other plates (%)',
  knnCrossExperiment: 'kNN other experiments (%)',
  mapReplicate: 'replicate mAP, other plates',
  platePredictability: 'plate pred. within exp. (%) ↓',
  platePredictabilityAll: 'plate pred., all plates (%) ↓',
};

export type Scores = Record<MetricKey, number> & { probeConverged: boolean; probeIterations: number; probeTrainWells: number; probeTestWells: number };
/** One scored arm of one seed (a JSON line of the benchmark carries these fields and more). */
type Row = { objective: string; arm: ArmName; corrected: boolean; seed: number } & Scores;
type Difference = { objective: string; corrected: boolean; a: string; b: string } & Record<MetricKey, ReturnType<typeof pairedDifference>>;

/**
 * Summary per (objective, arm, correction) over seeds, the paired differences (BEN - baseline,
 * BEN - random-plate, random-plate - baseline, and every lever against both) on the seeds both
 * arms have, and the Markdown tables of both.
 */
export function tables(rows: readonly Row[], opts: { title: string; reused?: boolean }): { summary: Array<Record<string, unknown>>; differences: Difference[]; md: string } {
  const key = (r: { objective: string; arm: string; corrected: boolean }) => `${r.objective}|${r.arm}|${r.corrected}`;
  const groups = [...new Set(rows.map(key))];
  const summary = groups.map((g) => {
    const rs = rows.filter((r) => key(r) === g);
    const stats = Object.fromEntries(METRICS.map((m) => [m, { mean: mean(rs.map((r) => r[m])), sd: sd(rs.map((r) => r[m])) }])) as Record<MetricKey, { mean: number; sd: number }>;
    const seeds = rs.map((r) => r.seed).sort((a, b) => a - b);
    return { objective: rs[0].objective, arm: rs[0].arm, corrected: rs[0].corrected, seeds: rs.length, seedList: seeds, probeConverged: rs.filter((r) => r.probeConverged).length, probeIterations: Math.max(...rs.map((r) => r.probeIterations)), ...stats };
  });
  const levers = [...new Set(rows.map((r) => r.arm).filter((a) => a.startsWith('lever:')))];
  // Paired differences over seeds (same seed = same data order and initialisation).
  const pairsWanted: [string, string][] = [
    ['ben', 'baseline'],
    ['ben', 'random-plate'],
    ['random-plate', 'baseline'],
    ...levers.flatMap((l): [string, string][] => [
      [l, 'ben'],
      [l, 'random-plate'],
    ]),
  ];
  const objectiveNames = [...new Set(rows.map((r) => r.objective))];
  const corrections = [...new Set(rows.map((r) => r.corrected))];
  const differences: Difference[] = [];
  for (const objName of objectiveNames)
    for (const corrected of corrections)
      for (const [a, b] of pairsWanted) {
        const ra = rows.filter((r) => r.objective === objName && r.arm === a && r.corrected === corrected);
        const rb = rows.filter((r) => r.objective === objName && r.arm === b && r.corrected === corrected);
        const common = ra.map((r) => r.seed).filter((s) => rb.some((q) => q.seed === s));
        if (!common.length) continue;
        const pick = (rs: readonly Row[], m: MetricKey) => common.map((s) => rs.find((r) => r.seed === s)![m]);
        differences.push({ objective: objName, corrected, a, b, ...(Object.fromEntries(METRICS.map((m) => [m, pairedDifference(pick(ra, m), pick(rb, m))])) as Record<MetricKey, ReturnType<typeof pairedDifference>>) });
      }

  // One seed has no spread.
  const pct = (x: { mean: number; sd: number }, m: MetricKey, n: number) =>
    m === 'mapReplicate' ? `${x.mean.toFixed(3)}${n > 1 ? ` ± ${x.sd.toFixed(3)}` : ''}` : `${(100 * x.mean).toFixed(1)}${n > 1 ? ` ± ${(100 * x.sd).toFixed(1)}` : ''}`;
  const armLabel = (a: string) =>
    a === 'ben' ? 'BEN: plate batches, `plate` inference' : a === 'baseline' ? 'baseline: random batches, running stats' : a === 'random-plate' ? 'random batches, `plate` inference' : a === 'lever:untrained' ? 'untrained network, `plate` inference' : `BEN + ${a.slice(6)}`;
  const diff = (d: ReturnType<typeof pairedDifference>, m: MetricKey) => {
    const f = (x: number) => (m === 'mapReplicate' ? x.toFixed(3) : (100 * x).toFixed(1));
    // One seed has no interval.
    return `${d.mean >= 0 ? '+' : ''}${f(d.mean)} ${d.n >= 2 ? `[${f(d.lo)}, ${f(d.hi)}]` : '(1 seed)'}`;
  };
  const md = [
    opts.title,
    '',
    `| objective | arm | post-hoc correction | ${METRICS.map((m) => LABELS[m]).join(' | ')} | seeds | probe converged |`,
    `|---|---|---|${METRICS.map(() => '---').join('|')}|---|---|`,
    ...summary.map((s) => `| ${s.objective} | ${armLabel(s.arm)} | ${s.corrected ? 'per plate on controls' : '-'} | ${METRICS.map((m) => pct(s[m], m, s.seeds)).join(' | ')} | ${s.seedList.join(', ')} | ${s.probeConverged}/${s.seeds} (≤ ${s.probeIterations} it.) |`),
    '',
    'Paired differences over seeds, mean [95 % t interval]:',
    '',
    `| objective | post-hoc correction | difference | ${METRICS.map((m) => LABELS[m].replace(' ↓', '')).join(' | ')} | seeds |`,
    `|---|---|---|${METRICS.map(() => '---').join('|')}|---|`,
    ...differences.map((d) => `| ${d.objective} | ${d.corrected ? 'per plate on controls' : '-'} | ${d.a} − ${d.b} | ${METRICS.map((m) => diff(d[m], m)).join(' | ')} | ${d.probeWell.n} |`),
    '',
    `Mean ± sample SD over seeds. Chance: treatment 10 %, plate within an experiment 25 %, plate among all OOD plates 6.3 %.${opts.reused ? ' Trained models reused (--reuse): the time excludes their training.' : ''}`,
    '',
  ].join('\n');
  return { summary, differences, md };
}

/**
 * `--merge a.json,b.json`: one set of tables from the runs of several earlier outputs of this
 * benchmark (e.g. seeds run in different sittings). A (objective, arm, correction, seed) given
 * twice is an error: which one counts would be arbitrary.
 */
async function mergeRuns(files: string[], out: string, tag: string | undefined): Promise<void> {
  if (!files.length) throw new Error('--merge: name the JSON outputs to merge (comma-separated)');
  const rows: Row[] = [];
  const seen = new Map<string, string>();
  const sources: Array<{ file: string; preset: string; steps: number; crop: number; set: string[] }> = [];
  for (const file of files) {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { preset: string; steps: number; crop: number; set?: string[]; runs: Array<Row & Record<string, unknown>> };
    if (!Array.isArray(j.runs)) throw new Error(`--merge: ${file} has no "runs" list; give the ssl-<tag>.json this benchmark wrote`);
    sources.push({ file, preset: j.preset, steps: j.steps, crop: j.crop, set: j.set ?? [] });
    for (const r of j.runs) {
      const k = `${r.objective}|${r.arm}|${r.corrected}|${r.seed}`;
      if (seen.has(k)) throw new Error(`--merge: ${r.objective} ${r.arm}${r.corrected ? ' (corrected)' : ''} seed ${r.seed} is in both ${seen.get(k)} and ${file}`);
      seen.set(k, file);
      rows.push(Object.fromEntries(['objective', 'arm', 'corrected', 'seed', ...METRICS, 'probeConverged', 'probeIterations', 'probeTrainWells', 'probeTestWells'].map((f) => [f, r[f as keyof Row]])) as Row);
    }
  }
  for (const f of ['preset', 'steps', 'crop', 'set'] as const) {
    if (new Set(sources.map((s) => JSON.stringify(s[f]))).size > 1) {
      throw new Error(`--merge: the files differ in ${f} (${sources.map((s) => `${s.file}: ${JSON.stringify(s[f])}`).join('; ')}); merge runs of one protocol`);
    }
  }
  const seeds = [...new Set(rows.map((r) => r.seed))].sort((a, b) => a - b);
  const title = `Self-supervised pretraining on synthetic preset \`${sources[0].preset}\`, ${sources[0].steps} steps, ${sources[0].crop}px crops, seeds ${seeds.join(', ')}, merged from ${files.map((f) => `\`${f}\``).join(', ')}`;
  const { summary, differences, md } = tables(rows, { title });
  await mkdir(out, { recursive: true });
  const name = `ssl-${sources[0].preset}${tag ? `-${tag}` : ''}`;
  await writeFileAtomic(join(out, `${name}.md`), md);
  await writeFileAtomic(join(out, `${name}.json`), JSON.stringify({ preset: sources[0].preset, set: sources[0].set, steps: sources[0].steps, crop: sources[0].crop, seeds, merged: files, summary, differences, runs: rows }, null, 2));
  process.stderr.write(md + '\n');
  console.log(JSON.stringify({ suite: 'ssl', summary: true, merged: files, configs: summary, differences }));
}

/** Per-plate standardisation on the negative-control images (pycytominer `normalize(method="standardize", samples=controls)`). */
function correct(t: ProfileTable, e: Recipe['evaluation']): ProfileTable {
  return correctProfiles(t, { method: 'standardize', groupBy: [e.batchColumn, e.plateColumn], fitOn: 'controls', controls: { column: e.controlColumn, value: e.controlValue } }).table;
}

/** The suite's scores of one arm: the paper's well-level probe, kNN across plates and experiments, replicate mAP, plate predictability. */
export async function score(ood: ProfileTable, probe: ProfileTable, evaluation: Recipe['evaluation'], seed: number): Promise<Scores> {
  const e = { ...evaluation, probe: { ...evaluation.probe, level: 'well' as const } };
  const ev = await evaluateEmbeddings(ood, { evaluation: { ...e, metrics: ['knn', 'linear-probe', 'plate-predictability'] }, probeTrain: probe, seed });
  // copairs replicate mAP on well profiles (the profiling convention), pooled as the probe pools them.
  const wells = aggregateProfiles(ood, { by: WELL_COLUMNS, method: 'l2-mean' });
  const evMap = await evaluateEmbeddings(wells, { evaluation: { ...e, metrics: ['map'] }, seed });
  const p = ev.linearProbe!;
  return {
    probeWell: p.accuracy,
    knnCrossPlate: ev.knn!.crossPlate,
    knnCrossExperiment: ev.knn!.crossExperiment,
    mapReplicate: evMap.map!.map,
    platePredictability: ev.platePredictability!.accuracy,
    platePredictabilityAll: ev.platePredictability!.acrossExperiments.accuracy,
    probeConverged: p.converged,
    probeIterations: p.iterations,
    probeTrainWells: p.trainRows,
    probeTestWells: p.testRows,
  };
}

/** The suite's data: the shared synthetic set, its OOD split (`test`) and the probe-training splits. */
export async function loadBenchData(o: { preset: string; recipes: string; objective: string; set: string[]; data: string; probeSplits: string[] }): Promise<{ all: Dataset; ood: Dataset; probeSet: Dataset }> {
  // Generator parameters from `--set data.params.<name>=V` (every run shares one data set).
  const params = loadRecipe(join(o.recipes, `${o.objective}-ben.yaml`), [`data.preset=${o.preset}`, ...o.set]).data.params;
  const dataSection = { source: 'synthetic' as const, preset: o.preset, params, trainSplits: ['train'], evalSplits: ['test'], skipBad: false };
  const all = await readRecipeData(dataSection, await ensureRecipeData(dataSection, { dataRoot: o.data, log: (l) => process.stderr.write(l + '\n') }));
  const ood = await all.split('test').load();
  // The probe's training wells: every plate of the training experiments, all their sites.
  const probeSet = await all.split(o.probeSplits).load();
  return { all, ood, probeSet };
}

/** Options of {@link trainArmModel}: the suite's protocol and one arm's recipe. */
export interface TrainArmOptions {
  preset: string;
  steps: number;
  crop: number;
  batch?: string;
  lr?: string;
  /** `--set` overrides of every run. */
  set: string[];
  recipes: string;
  out: string;
  reuse: boolean;
  data: Dataset;
  objective: string;
  batching: 'plate' | 'random';
  seed: number;
  /** The arm's own overrides (a lever's). */
  extra: string[];
  /** Run folder name part: `<objective>-<name>-seed<seed>`. */
  name: string;
}

/** Trains one arm's model (`recipes/<objective>-{ben,random}.yaml` with the suite's overrides), or reuses a finished run with `reuse`. */
export async function trainArmModel(o: TrainArmOptions): Promise<{ recipe: Recipe; fit: { modelDir: string; losses: number[]; seconds: number } }> {
  const sets = [
    `seed=${o.seed}`,
    `data.preset=${o.preset}`,
    `training.steps=${o.steps}`,
    `training.warmupSteps=${Math.round(o.steps / 10)}`,
    `training.checkpointEvery=${o.steps}`,
    `augment.cropSize=${o.crop}`,
    ...(o.batch ? [`sampler.batchSize=${o.batch}`] : []),
    ...(o.lr ? [`optimizer.lr=${o.lr}`] : []),
    ...o.set,
    ...o.extra,
  ];
  const recipe = loadRecipe(join(o.recipes, `${o.objective}-${o.batching === 'plate' ? 'ben' : 'random'}.yaml`), sets);
  const runDir = join(o.out, `${o.objective}-${o.name}-seed${o.seed}`);
  // A lever that trains on other splits (MinCLR's second site) reads them from the shared data set.
  const fit = (o.reuse && finishedRun(runDir, recipe)) || (await pretrain(recipe, { runDir, data: o.data }));
  return { recipe, fit };
}

/** Embeddings of the OOD and probe-training sets by the saved model in `modelDir` with BN statistics `mode`. */
export async function embedArm(modelDir: string, mode: NormalizationMode, ood: Dataset, probeSet: Dataset): Promise<{ ood: ProfileTable; probe: ProfileTable }> {
  const em = await loadEmbeddingModel(modelDir);
  try {
    const embed = async (ds: Dataset) => (await embedDataset(em.model, ds, { normalization: mode, batchSize: 256, preprocess: em.preprocess, inputSize: em.inputSize })).table;
    return { ood: await embed(ood), probe: await embed(probeSet) };
  } finally {
    em.dispose();
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string', default: 'bench' },
      seeds: { type: 'string', default: '3' },
      'first-seed': { type: 'string', default: '0' },
      steps: { type: 'string', default: '1000' },
      batch: { type: 'string' },
      crop: { type: 'string', default: '32' },
      lr: { type: 'string' },
      objectives: { type: 'string', default: 'simclr,byol' },
      arms: { type: 'string', default: BASE_ARMS.join(',') },
      levers: { type: 'string', default: '' },
      'no-correct': { type: 'boolean', default: false },
      'probe-splits': { type: 'string', default: 'train,id_test' },
      recipes: { type: 'string', default: 'recipes' },
      data: { type: 'string', default: 'data/synthetic' },
      out: { type: 'string', default: 'runs/bench-ssl' },
      tag: { type: 'string' },
      backend: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true },
      merge: { type: 'string' },
    },
  });
  if (values.merge) {
    await mergeRuns(values.merge.split(',').filter(Boolean), values.out!, values.tag);
    return;
  }
  const levers = values.levers!.split(',').filter(Boolean);
  for (const l of levers) if (!LEVERS[l]) throw new Error(`--levers: unknown lever "${l}"; choose from ${Object.keys(LEVERS).join(', ')}`);
  const baseArms = values.arms!.split(',').filter(Boolean);
  for (const a of baseArms) if (!(BASE_ARMS as readonly string[]).includes(a)) throw new Error(`--arms: unknown arm "${a}"; choose from ${BASE_ARMS.join(', ')}`);
  const arms: ArmName[] = [...baseArms, ...levers.map((l) => `lever:${l}`)];
  const corrections = values['no-correct'] ? [false] : [false, true];
  const t0 = performance.now();
  const info = await initBackend(values.backend);
  const preset = values.preset!;
  const objectiveNames = values.objectives!.split(',');
  const { all, ood, probeSet } = await loadBenchData({ preset, recipes: values.recipes!, objective: objectiveNames[0], set: values.set ?? [], data: values.data!, probeSplits: values['probe-splits']!.split(',') });
  const crop = Number(values.crop);
  const steps = Number(values.steps);
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => Number(values['first-seed']) + i);
  const rows: Row[] = [];
  const runsInfo: Record<string, unknown>[] = [];
  const training = { preset, steps, crop, batch: values.batch, lr: values.lr, set: values.set ?? [], recipes: values.recipes!, out: values.out!, reuse: values.reuse!, data: all };
  const trained = (objName: string, batching: 'plate' | 'random', seed: number, extra: string[], name: string) => trainArmModel({ ...training, objective: objName, batching, seed, extra, name });
  const embedWith = (modelDir: string, mode: NormalizationMode) => embedArm(modelDir, mode, ood, probeSet);

  for (const seed of seeds) {
    for (const objName of objectiveNames) {
      const models = new Map<string, Awaited<ReturnType<typeof trained>>>();
      const modelFor = async (arm: ArmName) => {
        const key = arm === 'ben' ? 'plate' : arm === 'baseline' || arm === 'random-plate' ? 'random' : arm;
        if (!models.has(key)) {
          const lever = arm.startsWith('lever:') ? LEVERS[arm.slice(6)] : undefined;
          models.set(key, await trained(objName, key === 'random' ? 'random' : 'plate', seed, lever?.set ?? [], key === 'plate' ? 'plate' : key === 'random' ? 'random' : arm.replace(':', '-')));
        }
        return models.get(key)!;
      };
      for (const arm of arms) {
        const { recipe, fit } = await modelFor(arm);
        const mode: NormalizationMode = arm === 'baseline' ? 'running' : 'plate';
        const tEmbed = performance.now();
        const emb = await embedWith(fit.modelDir, mode);
        const embedSeconds = (performance.now() - tEmbed) / 1000;
        for (const corrected of corrections) {
          const tEval = performance.now();
          const s = corrected ? await score(correct(emb.ood, recipe.evaluation), correct(emb.probe, recipe.evaluation), recipe.evaluation, seed) : await score(emb.ood, emb.probe, recipe.evaluation, seed);
          const row: Row = { objective: objName, arm, corrected, seed, ...s };
          rows.push(row);
          const line = {
            suite: 'ssl',
            preset,
            ...row,
            inference: mode,
            steps,
            batchSize: recipe.sampler.batchSize,
            crop,
            firstLoss: fit.losses[0],
            finalLoss: mean(fit.losses.slice(-10)),
            trainSeconds: fit.seconds,
            embedSeconds,
            evalSeconds: (performance.now() - tEval) / 1000,
            oodImages: emb.ood.n,
            probeImages: emb.probe.n,
          };
          runsInfo.push(line);
          console.log(JSON.stringify(line));
        }
      }
    }
  }

  const minutes = (performance.now() - t0) / 60000;
  const title = `Self-supervised pretraining on synthetic preset \`${preset}\`${values.set?.length ? ` (${values.set.map((s) => `\`${s}\``).join(', ')})` : ''}, ${steps} steps, ${crop}px crops, ${seeds.length} seed(s) (${seeds.join(', ')}), engine ${engineLabel(info)}, ${minutes.toFixed(1)} min`;
  const { summary, differences, md } = tables(rows, { title, reused: values.reuse! });
  await mkdir(values.out!, { recursive: true });
  const tag = `${preset}${values.tag ? `-${values.tag}` : ''}`;
  await writeFileAtomic(join(values.out!, `ssl-${tag}.md`), md);
  await writeFileAtomic(join(values.out!, `ssl-${tag}.json`), JSON.stringify({ preset, set: values.set ?? [], steps, crop, seeds, arms, backend: info.backend, engine: engineLabel(info), minutes, summary, differences, runs: runsInfo }, null, 2));
  process.stderr.write(md + '\n');
  console.log(JSON.stringify({ suite: 'ssl', summary: true, preset, tag: values.tag, minutes, configs: summary, differences }));
}
