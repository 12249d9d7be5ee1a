/**
 * `runRecipe(recipe)`: the library function behind `ben run <recipe>`. Executes the
 * recipe's stages in order:
 * - `data`: the synthetic preset generated once into `data/synthetic/<preset>` (cached), or the
 *   real copy at `data.path`;
 * - `train`: {@link pretrain} for every variant (e.g. `ben` and `baseline`), else `model.path`;
 * - `embed`: the evaluation splits (and the linear probe's training splits), plate by plate with
 *   the variant's BN normalization mode, as Parquet (per image + well aggregate);
 * - `evaluate`: kNN across plates, linear probe, plate predictability within experiment, mAP
 *   (recipe/evaluate.ts), written to `<variant>/eval.json`;
 * - `report`: `writeReport(runDir)` over the variants.
 * Everything is written inside the run directory (`runs/<recipe name>` by default), per the
 * report's run-dir contract: `<runDir>/<variant>/{embeddings.parquet, metrics.jsonl, eval.json}`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../data/image-dataset.ts';
import { embedAndWrite } from '../embedding/embed-and-write.ts';
import { loadEmbeddingModel } from '../embedding/saved-model.ts';
import { engineLabel, initBackend } from '../engine/backend.ts';
import { readProfileTable } from '../tables/read.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
import { writeReport, type WriteReportOptions } from '../report/report.ts';
import { hasCheckpoint } from '../training/checkpoint.ts';
import { checkResumeRecipe, pretrain, recipeInputs, type PretrainResult } from './train-stage.ts';
import { claimRunDir, markRunFailed, runEnvironment, writeResolvedRecipe, writeRunJson } from '../training/run-info.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { createProgress } from '../util/progress.ts';
import { checkRecipeDataExists, checkRecipeSplits, ensureRecipeData, loadIfSmall, readRecipeSites, recipeCells } from './data.ts';
import { writeRecordFigure } from '../report/illumination-figure.ts';
import type { IlluminationRecord } from '../data/illumination/record.ts';
import { writeNucleiCheck } from './nuclei-check.ts';
import { classicalSitesOf, runDoseResponseStage, type DoseResponseStageResult } from './dose-response.ts';
import { classicalCollector } from '../embedding/classical.ts';
import { evaluateEmbeddings, type EmbeddingEvaluation } from './evaluate.ts';
import { runProfilesStage } from './profiles.ts';
import { resolveVariant } from './load.ts';
import type { Recipe } from './schema.ts';
import { RUN_LAYOUT } from '../training/run-layout.ts';


/** The nuclei detections of a cell recipe, in the run directory (and in its report). */
const NUCLEI_FIGURE = 'nuclei.png';

/** Options of {@link runRecipe}. */
export interface RunRecipeOptions {
  /** Run directory (default `recipe.output.dir`, else `runs/<recipe name>`). */
  runDir?: string;
  /** Cache folder of synthetic data sets (default `data/synthetic`). */
  dataRoot?: string;
  /** Resume: variants whose training finished are not retrained, unfinished ones continue from their checkpoint. */
  resume?: boolean;
  /** Replace an earlier run in the run directory (without it, or `resume`, an earlier run is refused). */
  overwrite?: boolean;
  /** Progress bars (default true). */
  progress?: boolean;
  /** Stage notices, one line each (default stderr). */
  log?: (line: string) => void;
  /** Report settings (UMAP seed / points...). */
  report?: Pick<WriteReportOptions, 'umap' | 'maxExamplePlates' | 'title'>;
}

/** What one variant produced. */
export interface VariantResult {
  name: string;
  dir: string;
  /** BN normalization at inference. */
  normalization: string;
  sampler: string;
  /** The variant whose trained model this one embeds (`model.variant`), when it trains none of its own. */
  modelFrom?: string;
  train?: Omit<PretrainResult, 'losses'>;
  /** Supervised objective: classifier accuracy per evaluation split (with the variant's normalization). */
  classifier?: Record<string, { accuracy: number; loss: number; images: number }>;
  /** Per-image embeddings of the evaluation splits. */
  embeddings?: string;
  evaluation?: EmbeddingEvaluation;
}

/** What {@link runRecipe} returns (also in `<runDir>/run.json`). */
export interface RunRecipeResult {
  runDir: string;
  variants: VariantResult[];
  /** The report page, when the `report` stage ran. */
  report?: string;
  /** The `dose-response` stage's table and files, when it ran. */
  doseResponse?: Pick<DoseResponseStageResult, 'markdown' | 'files'>;
  seconds: number;
}


/** The variants of a recipe: its named variants, or the recipe itself under its name. */
export function recipeVariants(recipe: Recipe): { name: string; recipe: Recipe }[] {
  const names = Object.keys(recipe.variants);
  if (names.length === 0) return [{ name: recipe.name, recipe }];
  return names.map((name) => ({ name, recipe: { ...resolveVariant(recipe, name), name: `${recipe.name}/${name}` } }));
}

/** Every `model.variant` names an earlier variant that trains a model of its own (checked before any work). */
export function checkModelVariants(recipe: Recipe): void {
  const vs = recipeVariants(recipe);
  vs.forEach((v, i) => {
    const from = v.recipe.model.variant;
    if (from === undefined) return;
    const short = v.name;
    const before = vs.slice(0, i);
    const earlier = before.find((x) => x.name === from);
    if (!earlier) throw new UserError(`variants.${short}: model.variant "${from}" is not an earlier variant of the recipe (before it: ${before.map((x) => x.name).join(', ') || 'none'}); name one of those, or list "${from}" first.`);
    if (earlier.recipe.model.variant !== undefined) throw new UserError(`variants.${short}: model.variant "${from}" embeds another variant's model itself; name the variant that trains it ("${earlier.recipe.model.variant}").`);
  });
}

/** Runs the recipe's stages; see the module comment. */
export async function runRecipe(recipe: Recipe, opts: RunRecipeOptions = {}): Promise<RunRecipeResult> {
  const runDir = opts.runDir ?? recipe.output.dir ?? join('runs', recipe.name);
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const usesData = recipe.stages.includes('data') || recipe.stages.includes('train') || recipe.stages.includes('embed');
  if (usesData) checkRecipeDataExists(recipe.data);
  checkModelVariants(recipe);
  // Split names against the data's metadata, before the run directory or any data work.
  if (usesData && recipe.data.source !== 'synthetic') await checkRecipeSplits(recipeVariants(recipe).map((v) => v.recipe), (recipe.data.csv ?? recipe.data.path)!);
  const claim = await claimRunDir(runDir, { resume: opts.resume, overwrite: opts.overwrite, inputs: recipeInputs(recipe), log });
  try {
    return await runClaimed(recipe, runDir, opts, log);
  } catch (e) {
    await markRunFailed(runDir, e);
    throw e;
  } finally {
    await claim.release();
  }
}

async function runClaimed(recipe: Recipe, runDir: string, opts: RunRecipeOptions, log: (l: string) => void): Promise<RunRecipeResult> {
  const t0 = performance.now();
  const stages = new Set(recipe.stages);
  const backend = await initBackend();
  // What --resume does with each variant's training, decided (and refused) before anything is written,
  // so the run's resolved recipe and its variants' never disagree.
  const resumeTraining = new Map<string, 'skip' | 'continue' | 'fresh'>();
  if (opts.resume && stages.has('train')) {
    for (const v of recipeVariants(recipe)) {
      if (v.recipe.model.variant !== undefined) continue;
      // The training stage logs what it continues; this pass only decides.
      resumeTraining.set(v.name, checkResumeRecipe(join(runDir, v.name), v.recipe, () => {}, `variant "${v.name}" (${join(runDir, v.name)})`));
    }
  }
  await mkdir(runDir, { recursive: true });
  await writeResolvedRecipe(runDir, recipe);
  const env = await runEnvironment(backend);
  const startedAt = new Date().toISOString();
  const load0 = loadavg();
  await writeRunJson(runDir, { recipe: recipe.name, status: 'running', stages: recipe.stages, startedAt, loadAverage: load0, ...env });
  log(`ben run ${recipe.name}: stages ${recipe.stages.join(' -> ')}, run directory ${runDir}, engine ${engineLabel(backend)}`);

  const needsData = stages.has('data') || stages.has('train') || stages.has('embed');
  let dataPath: string | undefined;
  let data: Dataset | undefined;
  let nucleiFigure: { path: string; caption: string } | undefined;
  let illuminationFigure: { path: string; caption: string } | undefined;
  let collector: ReturnType<typeof classicalCollector> | undefined;
  if (needsData) {
    log(`[data] ${recipe.data.source}${recipe.data.source === 'synthetic' ? ` preset ${recipe.data.preset}` : ` at ${recipe.data.path ?? recipe.data.csv}`}`);
    dataPath = await ensureRecipeData(recipe.data, { dataRoot: opts.dataRoot, log: (l) => log(`[data] ${l}`) });
    if (recipe.data.source === 'synthetic') await checkRecipeSplits(recipeVariants(recipe).map((v) => v.recipe), dataPath);
    // Cells and classical features: measured on the nuclei the crops find, one detection per site.
    if (recipe.data.crops && stages.has('dose-response') && recipe.doseResponse.classical) {
      if (recipe.data.crops.locations) throw new UserError('doseResponse.classical measures the nuclei ben detects (their masks); it cannot use data.crops.locations, which gives centres only. Drop one of the two.');
      const { sites, options } = await classicalSitesOf(recipe, dataPath, join(runDir, RUN_LAYOUT.illumination));
      collector = classicalCollector(sites, options);
    }
    const dataLog = (l: string) => log(`[data] ${l}`);
    const sites = await readRecipeSites(recipe.data, dataPath, { log: dataLog, illuminationDir: join(runDir, RUN_LAYOUT.illumination) });
    await recordIllumination(runDir, recipe, sites.illumination, dataLog);
    if (sites.illumination.applied) {
      const f = await writeRecordFigure(join(runDir, RUN_LAYOUT.illuminationFigure), sites.illumination);
      illuminationFigure = { path: join(runDir, RUN_LAYOUT.illuminationFigure), caption: f.caption };
    }
    data = recipe.data.crops ? await recipeCells(recipe.data, sites, { log: dataLog, onDetected: collector && ((i, site, det) => collector!.measure(i, site.siteId, det)) }) : sites;
    if (recipe.data.crops) {
      // Cells: the detections (or the given centres) of two fields, for the report (look before trusting the crops).
      const c = recipe.data.crops;
      nucleiFigure = { path: join(runDir, NUCLEI_FIGURE), caption: await writeNucleiCheck(sites, join(runDir, NUCLEI_FIGURE), { channel: c.channel, nuclei: { sigma: c.sigma, minArea: c.minArea, maxArea: c.maxArea }, cells: c.locations ? data : undefined, size: c.size }) };
      log(`[data] ${nucleiFigure.caption}`);
    }
    const s = data.summary();
    log(`[data] ${s.images} images, ${s.plates} plates, ${s.labels} labels, ${s.height}x${s.width}x${s.channels.length}, splits ${JSON.stringify(s.splits)}`);
  }

  const variants: VariantResult[] = [];
  // Each variant's model (trained here or `model.path`), for later variants that embed it.
  const modelDirs = new Map<string, string | undefined>();
  for (const v of recipeVariants(recipe)) {
    const vr = v.recipe;
    const dir = join(runDir, v.name);
    await mkdir(dir, { recursive: true });
    const res: VariantResult = { name: v.name, dir, normalization: vr.embedding.normalization, sampler: vr.sampler.type };
    variants.push(res);

    let modelDir = vr.model.path;
    const from = vr.model.variant;
    if (from !== undefined) {
      // Another variant's model, embedded with this variant's settings: no training of its own.
      const earlier = variants.find((x) => x.name === from && x !== res)!;
      modelDir = modelDirs.get(from);
      res.sampler = earlier.sampler;
      res.modelFrom = from;
      log(`[train] ${v.name}: the model of variant "${from}" (no training)`);
    } else if (stages.has('train')) {
      const done = join(dir, RUN_LAYOUT.model, 'model.json');
      if (resumeTraining.get(v.name) === 'skip' && existsSync(done)) {
        log(`[train] ${v.name}: finished earlier, model in ${join(dir, RUN_LAYOUT.model)}`);
      } else {
        log(`[train] ${v.name}: ${vr.objective.name}, ${vr.sampler.type} batches of ${vr.sampler.batchSize}, ${vr.backbone.name}, ${vr.augment.cropSize}px crops`);
        const r = await pretrain(vr, { runDir: dir, data, claimed: true, resume: opts.resume && hasCheckpoint(join(dir, RUN_LAYOUT.checkpoint)), progress: opts.progress, log: (l) => log(`[train] ${v.name}: ${l}`) });
        const { losses: _l, ...summary } = r;
        void _l;
        res.train = summary;
        if (r.eval) res.classifier = Object.fromEntries(Object.entries(r.eval).map(([k, e]) => [k, { accuracy: e.accuracy, loss: e.loss, images: e.images }]));
        log(`[train] ${v.name}: ${r.steps} steps in ${r.seconds.toFixed(0)} s, final loss ${r.finalLoss.toFixed(4)}${r.monitor ? `, online kNN ${(100 * r.monitor.knn_accuracy).toFixed(1)}%` : ''}`);
      }
      modelDir = join(dir, RUN_LAYOUT.model);
    }
    modelDirs.set(v.name, modelDir);

    let table: ProfileTable | undefined;
    let probeTable: ProfileTable | undefined;
    const wantProbe = stages.has('evaluate') && vr.evaluation.metrics.includes('linear-probe');
    if (stages.has('embed')) {
      if (!modelDir) throw new UserError(`Recipe "${recipe.name}" embeds without training: set model.path to a saved model (e.g. runs/quickstart/ben/model), or add the train stage.`);
      const em = await loadEmbeddingModel(modelDir, { resizeMode: vr.embedding.resizeMode });
      try {
        const embed = async (splits: string[], file: string, what: string) => {
          const ds = await loadIfSmall(data!.split(splits), { skipBad: vr.data.skipBad });
          const bar = createProgress({ label: `[embed] ${v.name} ${what} (${vr.embedding.normalization})`, total: ds.size, unit: 'img', quiet: opts.progress === false });
          // Cells: the cell file beside, the site profiles (mean of L2-normalised cells) evaluated.
          const r = await embedAndWrite({
            model: em,
            modelDir: modelDir!,
            data: ds,
            dataPath: dataPath ?? '',
            splits,
            normalization: vr.embedding.normalization,
            batchSize: vr.embedding.batchSize,
            out: join(dir, file),
            aggregate: file === RUN_LAYOUT.embeddings ? vr.embedding.aggregate : 'none',
            cells: !!recipe.data.crops,
            provenance: { recipe: recipe.name, variant: v.name },
            onImages: (n) => bar.tick(n),
            onEmbedded: () => bar.stop(),
            log: (l) => log(`[embed] ${v.name}: ${l}`),
          });
          return r.table;
        };
        table = await embed(vr.data.evalSplits, RUN_LAYOUT.embeddings, vr.data.evalSplits.join('+'));
        res.embeddings = join(dir, RUN_LAYOUT.embeddings);
        log(`[embed] ${v.name}: ${table.n} images -> ${res.embeddings}`);
        if (wantProbe) probeTable = await embed(vr.evaluation.probeTrainSplits, RUN_LAYOUT.probeTrainEmbeddings, `probe-train ${vr.evaluation.probeTrainSplits.join('+')}`);
      } finally {
        em.dispose();
      }
    }

    if (stages.has('profiles')) {
      const p = await runProfilesStage(dir, vr);
      log(`[profiles] ${v.name}: ${p.rowsIn} -> ${p.rowsOut} profiles (${p.steps.map((s) => (s.step === 'correct' ? `${s.method} per ${s.groupBy.join('+')}` : `${s.step} ${s.method}`)).join(', ')}) -> ${p.out}`);
      for (const s of p.steps) if (s.step === 'correct') for (const w of s.warnings ?? []) log(`[profiles] ${v.name}: warning: ${w}`);
    }

    if (stages.has('evaluate')) {
      if (vr.evaluation.input === 'profiles') table = await readEmbeddings(join(dir, RUN_LAYOUT.profiles));
      table ??= await readEmbeddings(join(dir, RUN_LAYOUT.embeddings));
      if (wantProbe) probeTable ??= await readEmbeddings(join(dir, RUN_LAYOUT.probeTrainEmbeddings));
      const ev = await evaluateEmbeddings(table, { evaluation: vr.evaluation, probeTrain: probeTable, seed: vr.seed });
      res.evaluation = ev;
      await writeFileAtomic(join(dir, RUN_LAYOUT.evaluation), JSON.stringify({ ...ev, ...(res.classifier ? { classifier: res.classifier } : {}), variant: v.name, normalization: vr.embedding.normalization, sampler: vr.sampler.type }, null, 2) + '\n');
      log(`[evaluate] ${v.name}: ${summarise(ev)}`);
    }
  }

  let doseResponse: DoseResponseStageResult | undefined;
  if (stages.has('dose-response')) {
    log('[dose-response] arms scored on the same wells: activity mAP per dose, Spearman, Z\', column-shuffled control');
    doseResponse = await runDoseResponseStage(runDir, recipe, { variants: variants.map((v) => ({ name: v.name, dir: v.dir })), dataPath, classical: collector?.table(), log: (l) => log(`[dose-response] ${l}`) });
    log(`[dose-response] ${doseResponse.files.markdown}`);
  }

  let report: string | undefined;
  if (stages.has('report')) {
    log('[report] UMAPs, curves, metric tables');
    const layout = data?.layout;
    const r = await writeReport(runDir, {
      title: opts.report?.title ?? `ben-ssl: ${recipe.name}`,
      datasetDir: layout === 'rxrx1-wilds' ? dataPath : undefined,
      umap: opts.report?.umap,
      maxExamplePlates: opts.report?.maxExamplePlates,
      quiet: opts.progress === false,
      pictures: [
        ...(doseResponse ? [
          { title: 'Dose response: activity mAP per dose, each arm', caption: 'Activity mAP of each dose group against the negative-control wells (copairs activity), observed and the mean over the column-shuffled permutations (doses permuted within plate rows).', path: doseResponse.files.doseFigure },
          { title: 'Control separation', caption: "Held-out 1-D projection score of every positive and negative control well (each scored by a projection fitted on the other control wells), with the class means and Z'.", path: doseResponse.files.separationFigure },
        ] : []),
        ...(illuminationFigure ? [{ title: 'Illumination functions', ...illuminationFigure }] : []),
        ...(nucleiFigure ? [{ title: recipe.data.crops?.locations ? 'Given nuclei centres' : 'Nuclei detections', ...nucleiFigure }] : []),
      ],
    });
    for (const n of r.notes) log(`[report] note: ${n}`);
    report = r.htmlPath;
    log(`[report] ${r.htmlPath} (${r.figures.length} figures)`);
  }

  const seconds = (performance.now() - t0) / 1000;
  const result: RunRecipeResult = { runDir, variants, report, seconds, ...(doseResponse ? { doseResponse: { markdown: doseResponse.markdown, files: doseResponse.files } } : {}) };
  await writeRunJson(runDir, {
    recipe: recipe.name,
    status: 'finished',
    stages: recipe.stages,
    startedAt,
    finishedAt: new Date().toISOString(),
    seconds,
    loadAverage: { start: load0, end: loadavg() },
    ...env,
    data: dataPath,
    ...(data ? { illumination: data.illumination } : {}),
    variants: variants.map(({ dir: _d, ...rest }) => rest),
    report,
  });
  return result;
}

/**
 * The illumination correction as run, in the resolved recipe: `data.illumination` resolved (absent
 * means loaddata or none, decided by the metadata) and the functions used in a comment.
 */
async function recordIllumination(runDir: string, recipe: Recipe, rec: IlluminationRecord, log: (l: string) => void): Promise<void> {
  const plates = Object.keys(rec.plates);
  const files = plates.slice(0, 4).map((p) => `${p}: ${Object.entries(rec.plates[p]).map(([ch, f]) => `${ch} ${f}`).join(', ')}`);
  const notes = [
    `data.illumination: ${rec.mode}${rec.applied ? `, ${rec.files} function files over ${plates.length} plate(s)` : ''}${rec.csv ? `, listed in ${rec.csv}` : ''}${rec.note ? ` (${rec.note})` : ''}`,
    ...files.map((f) => `  ${f}`),
    ...(plates.length > 4 ? [`  ... ${plates.length - 4} more plates (run.json lists them all)`] : []),
  ];
  const current = recipe.data.illumination;
  const resolved = current === undefined || typeof current === 'string' ? rec.mode : { ...current, mode: rec.mode };
  await writeResolvedRecipe(runDir, { ...recipe, data: { ...recipe.data, illumination: resolved } }, notes);
  log(notes[0]);
}

async function readEmbeddings(path: string): Promise<ProfileTable> {
  if (!existsSync(path)) throw new UserError(`${path} does not exist: the evaluate stage reads the embed stage's output. Add "embed" to the recipe's stages.`);
  return (await readProfileTable(path)).table;
}

/** One line of the headline numbers. */
export function summarise(ev: EmbeddingEvaluation): string {
  const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`);
  const parts = [];
  if (ev.linearProbe) parts.push(`linear probe (${ev.linearProbe.level} level) ${pct(ev.linearProbe.accuracy)} (chance ${pct(ev.linearProbe.chance)}${ev.linearProbe.converged ? '' : ', not converged'})`);
  if (ev.knn) parts.push(`kNN cross-plate ${pct(ev.knn.crossPlate)} (cross-experiment ${pct(ev.knn.crossExperiment)})`);
  if (ev.platePredictability) parts.push(`plate predictability ${pct(ev.platePredictability.accuracy)} (chance ${pct(ev.platePredictability.chance)})`);
  if (ev.map) parts.push(`mAP ${ev.map.map.toFixed(3)}`);
  if (ev.percentReplicating) parts.push(`percent replicating ${ev.percentReplicating.percent.toFixed(1)}%`);
  return parts.join(', ');
}
