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
import { exportCellProfiles, withCellColumns } from '../embedding/cells.ts';
import { exportProfiles } from '../embedding/export.ts';
import { embedDataset } from '../embedding/embedder.ts';
import { loadEmbeddingModel } from '../embedding/saved-model.ts';
import { engineLabel, initBackend } from '../engine/backend.ts';
import { readProfileTable } from '../tables/read.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
import { writeReport, type WriteReportOptions } from '../report/report.ts';
import { hasCheckpoint } from '../training/checkpoint.ts';
import { pretrain, recipeInputs, type PretrainResult } from './train-stage.ts';
import { claimRunDir, markRunFailed, runEnvironment, writeResolvedRecipe, writeRunJson } from '../training/run-info.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { createProgress } from '../util/progress.ts';
import { checkRecipeDataExists, ensureRecipeData, loadIfSmall, readRecipeData } from './data.ts';
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
  if (new Set(recipe.stages).has('data') || recipe.stages.includes('train') || recipe.stages.includes('embed')) checkRecipeDataExists(recipe.data);
  checkModelVariants(recipe);
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
  let collector: ReturnType<typeof classicalCollector> | undefined;
  if (needsData) {
    log(`[data] ${recipe.data.source}${recipe.data.source === 'synthetic' ? ` preset ${recipe.data.preset}` : ` at ${recipe.data.path ?? recipe.data.csv}`}`);
    dataPath = await ensureRecipeData(recipe.data, { dataRoot: opts.dataRoot, log: (l) => log(`[data] ${l}`) });
    // Cells and classical features: measured on the nuclei the crops find, one detection per site.
    if (recipe.data.crops && stages.has('dose-response') && recipe.doseResponse.classical) {
      const { sites, options } = await classicalSitesOf(recipe, dataPath);
      collector = classicalCollector(sites, options);
    }
    data = await readRecipeData(recipe.data, dataPath, { log: (l) => log(`[data] ${l}`), onDetected: collector && ((i, site, det) => collector!.measure(i, site.siteId, det)) });
    if (recipe.data.crops) {
      // Cells: the detections of two fields, for the report (look before trusting the crops).
      const c = recipe.data.crops;
      const sites = await readRecipeData({ ...recipe.data, crops: undefined }, dataPath);
      nucleiFigure = { path: join(runDir, NUCLEI_FIGURE), caption: await writeNucleiCheck(sites, join(runDir, NUCLEI_FIGURE), { channel: c.channel, nuclei: { sigma: c.sigma, minArea: c.minArea, maxArea: c.maxArea } }) };
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
      if (opts.resume && existsSync(done) && finished(dir)) {
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
          const { table: t } = await embedDataset(em.model, ds, {
            normalization: vr.embedding.normalization,
            batchSize: vr.embedding.batchSize,
            preprocess: em.preprocess,
            inputSize: em.inputSize,
            inputsPerImage: em.inputsPerImage(ds.images),
            onImages: (n) => bar.tick(n),
            keyValue: { model: modelDir!, recipe: recipe.name, variant: v.name, data: dataPath ?? '', splits: splits.join(','), ...em.keyValue },
          });
          bar.stop();
          // Cells: the cell file beside, the site profiles (mean of L2-normalised cells) evaluated.
          if (recipe.data.crops) return (await exportCellProfiles(join(dir, file), withCellColumns(t, ds))).siteTable;
          await exportProfiles(join(dir, file), t, { aggregate: file === RUN_LAYOUT.embeddings ? vr.embedding.aggregate : 'none' });
          return t;
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
        ...(nucleiFigure ? [{ title: 'Nuclei detections', ...nucleiFigure }] : []),
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
    variants: variants.map(({ dir: _d, ...rest }) => rest),
    report,
  });
  return result;
}

/** Whether the variant's run.json says its training finished. */
function finished(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, RUN_LAYOUT.info), 'utf8')) as { status?: string }).status === 'finished';
  } catch {
    return false;
  }
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
