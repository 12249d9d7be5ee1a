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
import type { Dataset } from '../data/dataset.ts';
import { hashSeed } from '../data/seed.ts';
import { initBackend } from '../engine/backend.ts';
import { backbones } from '../models/index.ts';
import { setNormalization } from '../models/ben-batchnorm.ts';
import { saveModel } from '../models/io.ts';
import { modelInputMetadata } from '../embedding/saved-model.ts';
import { objectives } from '../objectives/index.ts';
import { evaluateSupervised, Supervised, type EvalResult } from '../objectives/supervised.ts';
import { checkRecipeDataExists, ensureRecipeData, loadIfSmall, readRecipeData } from '../recipe/data.ts';
import type { Recipe } from '../recipe/schema.ts';
import { augmentSpecs, optimizerConfig, samplerSpec, scheduleConfig } from '../recipe/wire.ts';
import { sweepDeadWriters, writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { evalPlates } from './eval-plates.ts';
import { createKnnMonitor } from './knn-monitor.ts';
import { claimRunDir, markRunFailed, RUN_INFO_FILES, runEnvironment, writeResolvedRecipe, writeRunJson } from './run-info.ts';
import { createBatchSource } from './sources.ts';
import { Trainer, type StepRecord } from './trainer.ts';

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

/** Refuses to resume with a recipe whose training-relevant fields differ from the run directory's. */
function checkResumeRecipe(runDir: string, recipe: Recipe, log: (l: string) => void): void {
  const p = join(runDir, RUN_INFO_FILES.recipe);
  if (!existsSync(p)) return;
  const before = parseYaml(readFileSync(p, 'utf8')) as Recipe;
  if (before.optimizer?.lr !== undefined && before.optimizer.lr !== recipe.optimizer.lr) log(`--resume: optimizer.lr changed from ${before.optimizer.lr} to ${recipe.optimizer.lr}`);
  const a = resumeKey(before) as Record<string, unknown>;
  const b = resumeKey(recipe) as Record<string, unknown>;
  const differ = Object.keys({ ...a, ...b }).filter((k) => !isDeepStrictEqual(JSON.parse(JSON.stringify(a[k] ?? null)), JSON.parse(JSON.stringify(b[k] ?? null))));
  if (differ.length) throw new UserError(`--resume: the recipe differs from the one ${runDir} was trained with in: ${differ.join(', ')}. Resume with the same recipe (see ${p}) or start a new run directory.`);
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

  const all = opts.data ?? (await readRecipeData(recipe.data, await ensureRecipeData(recipe.data, { dataRoot: opts.dataRoot, log })));
  const train = await loadIfSmall(all.split(recipe.data.trainSplits), { skipBad: recipe.data.skipBad });
  if (train.skipped.length) log(`data: ${train.skipped.length} unreadable images skipped (data.skipBad), e.g. ${train.skipped.at(-1)!.reason}`);
  if (train.height !== train.width) throw new UserError(`training expects square images; ${all.root} has ${train.height}x${train.width}. Set augment.cropSize to crop square views.`);
  const size = recipe.augment.cropSize;
  const channels = train.images.channels;
  log(`train: ${train.size} images, ${train.plates().length} plates, ${train.height}x${train.width}x${channels} -> ${size}px input`);

  const objective = objectives.get(recipe.objective.name)(recipe.objective.options);
  if (recipe.augment.views !== undefined && recipe.augment.views !== objective.views) {
    throw new UserError(`augment.views is ${recipe.augment.views} but objective "${objective.name}" uses ${objective.views} view(s); make them equal (or leave augment.views out).`);
  }
  const bb = backbones.get(recipe.backbone.name);
  const seed = recipe.seed;
  // Never 0: tfjs initializers treat a seed of 0 as "no seed" (Math.random), which breaks
  // same-seed-same-numbers for the first layer of a backbone built with seed 0.
  const initSeed = (salt: number) => (hashSeed(seed, salt) % 0x7ffffffe) + 1;
  const backbone = bb.build({ channels, size, seed: initSeed(0xb0b) });
  objective.build({
    backbone,
    embeddingDim: bb.embeddingDim,
    numClasses: all.labels.length,
    seed: initSeed(0x4ead),
    buildBackbone: () => bb.build({ channels, size, seed: initSeed(0x7a6) }),
  });
  const source = createBatchSource(train, {
    sampler: samplerSpec(recipe.sampler),
    views: objective.views,
    augment: augmentSpecs(recipe.augment, train.height),
    seed,
  });
  const totalSteps = recipe.training.steps ?? Math.max(1, Math.ceil(recipe.training.epochs * source.sampler.batchesPerEpoch));

  let monitor;
  if (recipe.training.knnMonitorEvery > 0) {
    const held = await monitorPlate(all, recipe);
    log(`monitor: online kNN every ${recipe.training.knnMonitorEvery} steps on plate ${held.plates()[0]} (${held.size} images)`);
    monitor = createKnnMonitor({
      every: recipe.training.knnMonitorEvery,
      backbone,
      data: held,
      size,
      normalization: recipe.embedding.normalization,
      standardize: recipe.augment.standardize,
    });
  }

  // training.steps: 0 saves the network as initialised: the untrained baseline of a comparison.
  const trainer = totalSteps === 0 ? undefined : new Trainer({
    backbone,
    objective,
    optimizer: optimizerConfig(recipe.optimizer),
    schedule: scheduleConfig(recipe, totalSteps),
    steps: totalSteps,
    runDir,
    checkpointEvery: recipe.training.checkpointEvery,
    monitor,
    progress: opts.progress,
    label: `${recipe.name}: ${objective.name} (${recipe.sampler.type} batches)`,
    onStep: opts.onStep,
    stopAfter: opts.stopAfter,
    log,
    config: { recipe: recipe.name, objective: objective.name, backbone: recipe.backbone.name, sampler: recipe.sampler, inputSize: size },
  });
  const t0 = performance.now();
  let fit: { step: number; losses: number[]; monitor?: Record<string, number> };
  if (!trainer) {
    log('training.steps is 0: the initialised network is saved untrained');
    fit = { step: 0, losses: [] };
  } else {
    try {
      fit = await trainer.fit(source, { resume: opts.resume });
    } finally {
      trainer.dispose();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const tail = fit.losses.slice(-Math.max(1, Math.ceil(fit.losses.length / 10)));
  const batchImages = typeof recipe.sampler.batchSize === 'number' ? recipe.sampler.batchSize : NaN;
  const result: PretrainResult = {
    runDir,
    modelDir: join(runDir, 'model'),
    steps: fit.step,
    totalSteps,
    finalLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
    losses: fit.losses,
    seconds,
    imagesPerSec: (fit.losses.length * batchImages * objective.views) / Math.max(seconds, 1e-9),
    inputSize: size,
    monitor: fit.monitor,
  };

  if (fit.step >= totalSteps) {
    if (objective instanceof Supervised) result.eval = await evaluateSupervisedSplits(objective, all, recipe, size);
    setNormalization(backbone, 'running');
    await saveModel(backbone, result.modelDir, {
      backbone: recipe.backbone.name,
      embeddingDim: bb.embeddingDim,
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
    if (result.eval) await writeFileAtomic(join(runDir, 'results.json'), JSON.stringify(result.eval, null, 2) + '\n');
  }
  // Free the weights (a `ben run` trains several variants in one process).
  const vars = new Set([...objective.trainableVariables(), ...backbone.weights.map((w) => w.read())]);
  for (const v of vars) v.dispose();
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

/** Supervised accuracy per eval split with the recipe's inference normalization. */
async function evaluateSupervisedSplits(objective: Supervised, all: Dataset, recipe: Recipe, size: number): Promise<Record<string, EvalResult>> {
  const out: Record<string, EvalResult> = {};
  for (const split of recipe.data.evalSplits) {
    const ds = await all.split(split).load({ skipBad: recipe.data.skipBad });
    // evalPlates reads pixels synchronously: this split is loaded whatever its size.
    out[split] = await evaluateSupervised(objective, evalPlates(ds, ds.classIds(), 0, size), recipe.embedding.normalization);
  }
  return out;
}
