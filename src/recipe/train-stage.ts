/**
 * `pretrain(recipe, { runDir })`: the library function behind `ben pretrain` (and `ben train
 * --recipe`, and the train stage of `ben run`). Wires the recipe's typed pieces together: data
 * (generated/cached or read), sampler (`sampler`), augmentation pipeline (`augment`, one view per
 * objective view), backbone (`backbone`), objective from the registry (`objective`), optimizer and
 * warmup-cosine schedule; trains with checkpoints, exact resume, metrics.jsonl and the optional
 * online kNN monitor; writes `model/` (saveModel), `resolved-recipe.yaml` and `run.json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { Dataset } from '../data/image-dataset.ts';
import { initBackend } from '../engine/backend.ts';
import { setNormalization } from '../models/ben-batchnorm.ts';
import { saveModel } from '../models/io.ts';
import { modelInputMetadata } from '../models/io.ts';
import type { EvalResult, Objective } from '../objectives/objective.ts';
import { checkRecipeDataExists, ensureRecipeData, loadIfSmall, readRecipeData } from './data.ts';
import type { Recipe } from './schema.ts';
import { augmentSpecs, optimizerConfig, samplerSpec, scheduleConfig, viewAugmentSpecs } from './wire.ts';
import { sweepDeadWriters, writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { evalPlates } from '../training/eval-plates.ts';
import { createKnnMonitor } from '../evaluation/knn-monitor.ts';
import { claimRunDir, markRunFailed, runEnvironment, writeResolvedRecipe, writeRunJson } from '../training/run-info.ts';
import type { StepRecord } from '../training/trainer.ts';
import { trainBackbone } from '../training/train-backbone.ts';
import { RUN_LAYOUT } from '../training/run-layout.ts';

/** Options of {@link pretrain}. */
export interface PretrainOptions {
  /** Run directory: model/, checkpoint/, metrics.jsonl, resolved-recipe.yaml, run.json. */
  runDir: string;
  /** Continue from the checkpoint in `runDir` (same recipe). */
  resume?: boolean;
  /** The recipe's data set, already read (skips the data stage; `ben run` passes it). */
  data?: Dataset;
  /** Cache folder of synthetic data sets (default `data/synthetic`). */
  dataRoot?: string;
  /** Progress bars (default true). */
  progress?: boolean;
  /** Notices, one line each (default none). */
  log?: (line: string) => void;
  /** Per-step callback (tests, benchmarks). */
  onStep?: (r: StepRecord) => void;
  /** Stop after this many steps of this call (tests: simulates a kill). */
  stopAfter?: number;
  /** Replace an earlier run in `runDir` (without it, an earlier run is refused unless `resume`). */
  overwrite?: boolean;
  /**
   * The caller already holds `runDir` (`ben run` claims its run directory once and trains each
   * variant in a sub-folder): no claim, no lock of its own.
   */
  claimed?: boolean;
}

/** What {@link pretrain} returns (also in run.json). */
export interface PretrainResult {
  runDir: string;
  /** The saved backbone (`ben embed --model`). */
  modelDir: string;
  /** Steps completed in total. */
  steps: number;
  /** Steps the run is meant to take. */
  totalSteps: number;
  /** Mean loss of the last 10% of the steps run in this call. */
  finalLoss: number;
  /** Losses of the steps run in this call. */
  losses: number[];
  seconds: number;
  imagesPerSec: number;
  /** Model input size (the training crop size). */
  inputSize: number;
  /** Last online kNN monitor values. */
  monitor?: Record<string, number>;
  /** Supervised objective only: accuracy per evaluation split with `embedding.normalization`. */
  eval?: Record<string, EvalResult>;
}

/** The fields of a recipe a resumed run must share with the checkpoint's (all but bookkeeping and the step count). */
function resumeKey(r: Recipe): unknown {
  // optimizer.lr may change: lowering it and resuming is the way out of a numerical stop.
  return { ...r, description: undefined, output: undefined, stages: undefined, optimizer: { ...r.optimizer, lr: undefined }, training: { ...r.training, steps: undefined, epochs: undefined, checkpointEvery: undefined } };
}

/** Steps a finished run in `runDir` trained (its run.json), or undefined when it did not finish. */
function finishedSteps(runDir: string): number | undefined {
  try {
    const info = JSON.parse(readFileSync(join(runDir, RUN_LAYOUT.info), 'utf8')) as { status?: string; result?: { steps?: number } };
    return info.status === 'finished' && typeof info.result?.steps === 'number' ? info.result.steps : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What `--resume` does with the training in `runDir` under `recipe`: `skip` (it finished with this
 * recipe), `continue` (train on, from the checkpoint: a run that stopped, or a finished one given
 * more `training.steps`), or `fresh` (nothing trained there yet). A change resume cannot honour
 * is a UserError naming the field: any training-relevant field, or a finished run's length other
 * than more steps. `label` names the run in messages (a recipe variant).
 */
export function checkResumeRecipe(runDir: string, recipe: Recipe, log: (l: string) => void, label = runDir): 'skip' | 'continue' | 'fresh' {
  const p = join(runDir, RUN_LAYOUT.recipe);
  if (!existsSync(p)) return 'fresh';
  const before = parseYaml(readFileSync(p, 'utf8')) as Recipe;
  if (before.optimizer?.lr !== undefined && before.optimizer.lr !== recipe.optimizer.lr) log(`--resume: optimizer.lr changed from ${before.optimizer.lr} to ${recipe.optimizer.lr}`);
  const a = resumeKey(before) as Record<string, unknown>;
  const b = resumeKey(recipe) as Record<string, unknown>;
  const differ = Object.keys({ ...a, ...b }).filter((k) => !isDeepStrictEqual(JSON.parse(JSON.stringify(a[k] ?? null)), JSON.parse(JSON.stringify(b[k] ?? null))));
  if (differ.length) throw new UserError(`--resume: the recipe differs from the one ${label} was trained with in: ${differ.join(', ')}. Resume with the same recipe (see ${p}), or start again with --overwrite or another --run-dir.`);
  const done = finishedSteps(runDir);
  if (done === undefined) return 'continue';
  const sameLength = before.training?.steps === recipe.training.steps && before.training?.epochs === recipe.training.epochs;
  if (sameLength) return 'skip';
  if (recipe.training.steps !== undefined && recipe.training.steps > done) {
    log(`--resume: ${label} finished ${done} steps; training.steps ${recipe.training.steps} continues it from its checkpoint`);
    return 'continue';
  }
  const was = before.training?.steps !== undefined ? `training.steps ${before.training.steps}` : `training.epochs ${before.training?.epochs}`;
  const now = recipe.training.steps !== undefined ? `training.steps ${recipe.training.steps}` : `training.epochs ${recipe.training.epochs}`;
  throw new UserError(
    `--resume: ${label} finished ${done} steps with ${was}; the recipe now says ${now}, which resume cannot honour (it only continues a run to more steps, e.g. --set training.steps=${done * 2}). ` +
      `Keep ${was}, or start again with --overwrite or another --run-dir.`,
  );
}

/**
 * Trains the recipe's objective on its training splits; see the module comment. The backbone is
 * saved with metadata (`inputSize`, `preprocess`, `normalization`...) that the embed stage reads.
 */
export async function pretrain(recipe: Recipe, opts: PretrainOptions): Promise<PretrainResult> {
  const { runDir } = opts;
  const log = opts.log ?? (() => undefined);
  if (!opts.data) checkRecipeDataExists(recipe.data);
  const claim = opts.claimed ? undefined : await claimRunDir(runDir, { resume: opts.resume, overwrite: opts.overwrite, inputs: recipeInputs(recipe), log });
  try {
    return await pretrainClaimed(recipe, opts, log);
  } catch (e) {
    await markRunFailed(runDir, e);
    throw e;
  } finally {
    await claim?.release();
  }
}

/** The paths a recipe reads (its data and starting model): never inside a run directory it replaces. */
export function recipeInputs(recipe: Recipe): string[] {
  return [recipe.data.source === 'synthetic' ? undefined : recipe.data.path, recipe.data.csv, recipe.model.path].filter((p): p is string => !!p);
}

async function pretrainClaimed(recipe: Recipe, opts: PretrainOptions, log: (l: string) => void): Promise<PretrainResult> {
  const { runDir } = opts;
  const backendInfo = await initBackend();
  if (opts.resume) checkResumeRecipe(runDir, recipe, log);
  await mkdir(runDir, { recursive: true });
  for (const n of sweepDeadWriters(runDir)) log(n);
  await writeResolvedRecipe(runDir, recipe);
  const env = await runEnvironment(backendInfo);
  const startedAt = new Date().toISOString();
  await writeRunJson(runDir, { recipe: recipe.name, status: 'running', startedAt, ...env });

  const all = opts.data ?? (await readRecipeData(recipe.data, await ensureRecipeData(recipe.data, { dataRoot: opts.dataRoot, log }), { log, illuminationDir: join(runDir, RUN_LAYOUT.illumination) }));
  const train = await loadIfSmall(all.split(recipe.data.trainSplits), { skipBad: recipe.data.skipBad });
  if (train.skipped.length) log(`data: ${train.skipped.length} unreadable images skipped (data.skipBad), e.g. ${train.skipped.at(-1)!.reason}`);
  const size = recipe.augment.cropSize;
  const channels = train.images.channels;
  log(`train: ${train.size} images, ${train.plates().length} plates, ${train.height}x${train.width}x${channels} -> ${size}px input`);

  const monitorEvery = recipe.training.knnMonitorEvery;
  const held = monitorEvery > 0 ? await monitorPlate(all, recipe) : undefined;
  if (held) log(`monitor: online kNN every ${monitorEvery} steps on plate ${held.plates()[0]} (${held.size} images)`);
  const fit = await trainBackbone({
    data: train,
    numClasses: all.labels.length,
    backbone: recipe.backbone.name,
    objective: { name: recipe.objective.name, options: recipe.objective.options },
    views: recipe.augment.views,
    sampler: samplerSpec(recipe.sampler),
    augment: augmentSpecs(recipe.augment, train.height),
    viewAugment: viewAugmentSpecs(recipe.augment, train.height),
    inputSize: size,
    optimizer: optimizerConfig(recipe.optimizer),
    schedule: (totalSteps) => scheduleConfig(recipe, totalSteps),
    steps: recipe.training.steps ?? { epochs: recipe.training.epochs },
    seed: recipe.seed,
    monitor: held
      ? (backbone) =>
          createKnnMonitor({ every: monitorEvery, backbone, data: held, size, normalization: recipe.embedding.normalization, standardize: recipe.augment.standardize })
      : undefined,
    runDir,
    checkpointEvery: recipe.training.checkpointEvery,
    resume: opts.resume,
    progress: opts.progress,
    label: (objective) => `${recipe.name}: ${objective} (${recipe.sampler.type} batches)`,
    config: { recipe: recipe.name, objective: recipe.objective.name, backbone: recipe.backbone.name, sampler: recipe.sampler, inputSize: size },
    onStep: opts.onStep,
    stopAfter: opts.stopAfter,
    log,
  });
  const { backbone, objective, totalSteps } = fit;
  const result: PretrainResult = {
    runDir,
    modelDir: join(runDir, RUN_LAYOUT.model),
    steps: fit.step,
    totalSteps,
    finalLoss: fit.finalLoss,
    losses: fit.losses,
    seconds: fit.seconds,
    imagesPerSec: fit.imagesPerSec,
    inputSize: size,
    monitor: fit.monitor,
  };

  if (fit.step >= totalSteps) {
    if (objective.evaluate) result.eval = await evaluateSplits(objective, all, recipe, size);
    setNormalization(backbone, 'running');
    await saveModel(backbone, result.modelDir, {
      backbone: recipe.backbone.name,
      embeddingDim: fit.spec.embeddingDim,
      ...modelInputMetadata({
        inputSize: size,
        preprocess: recipe.augment.standardize ? 'standardize' : 'scale',
        resizeMode: recipe.embedding.resizeMode ?? 'resize',
        trainImageSize: [train.height, train.width],
      }),
      channels: all.channels,
      intensity: all.intensity,
      labels: all.labels,
      objective: objective.name,
      normalization: recipe.embedding.normalization,
      recipe: recipe.name,
      ...(recipe.data.crops ? { crops: recipe.data.crops } : {}),
    });
    if (result.eval) await writeFileAtomic(join(runDir, RUN_LAYOUT.results), JSON.stringify(result.eval, null, 2) + '\n');
  }
  // Free the weights (a `ben run` trains several variants in one process).
  fit.dispose();
  const { losses: _losses, ...summary } = result;
  void _losses;
  await writeRunJson(runDir, { recipe: recipe.name, status: fit.step >= totalSteps ? 'finished' : 'stopped', startedAt, finishedAt: new Date().toISOString(), ...env, result: summary });
  return result;
}

/** The monitor's held-out plate: the first plate of `training.monitorSplit`, else of the first eval split. */
async function monitorPlate(all: Dataset, recipe: Recipe): Promise<Dataset> {
  const splits = new Set(all.rows.map((r) => r.split));
  const split = splits.has(recipe.training.monitorSplit) ? recipe.training.monitorSplit : recipe.data.evalSplits.find((s) => splits.has(s));
  if (!split) throw new UserError(`training.monitorSplit "${recipe.training.monitorSplit}" has no rows and neither has any of data.evalSplits; set training.monitorSplit to one of: ${[...splits].sort().join(', ')}.`);
  const part = all.split(split);
  const first = part.plates()[0];
  return part.filter((r) => `${r.experiment}/${r.plate}` === first).load({ skipBad: recipe.data.skipBad });
}

/** Accuracy per eval split with the recipe's inference normalization (objectives that predict the label). */
async function evaluateSplits(objective: Objective, all: Dataset, recipe: Recipe, size: number): Promise<Record<string, EvalResult>> {
  const out: Record<string, EvalResult> = {};
  for (const split of recipe.data.evalSplits) {
    const ds = await all.split(split).load({ skipBad: recipe.data.skipBad });
    // evalPlates reads pixels synchronously: this split is loaded whatever its size.
    out[split] = await objective.evaluate!(evalPlates(ds, ds.classIds(), 0, size), recipe.embedding.normalization);
  }
  return out;
}
