/**
 * `pretrain(recipe)` on the tiny synthetic preset: the data layer's sampler + augmentation
 * pipeline feed the trainer; a run killed after a checkpoint and resumed gives exactly the losses
 * of the uninterrupted run (sampler position and augmentation RNG restored); the online kNN monitor
 * is logged; the saved model carries the metadata the embed stage reads.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.ts';
import type { Dataset } from '../../src/data/image-dataset.ts';
import { readModelMetadata } from '../../src/models/io.ts';
import { ensureRecipeData, readRecipeData } from '../../src/recipe/data.ts';
import { loadRecipe } from '../../src/recipe/load.ts';
import { pretrain } from '../../src/recipe/train-stage.ts';
import { isUserError } from '../../src/util/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-pretrain-'));
let data: Dataset;

const recipe = (name: string, extra: string[] = []) =>
  loadRecipe(`recipes/${name}.yaml`, [
    'data.preset=tiny',
    'training.steps=5',
    'training.warmupSteps=1',
    'training.checkpointEvery=2',
    'sampler.batchSize=8',
    'augment.cropSize=16',
    'backbone.name=small-convnet',
    ...extra,
  ]);

beforeAll(async () => {
  await initBackend('wasm');
  const r = recipe('simclr-ben');
  data = await readRecipeData(r.data, await ensureRecipeData(r.data, { dataRoot: join(root, 'data') }));
}, 120_000);

describe('pretrain', () => {
  it.each(['simclr-ben', 'byol-random'])('%s: resume after a kill gives the same next losses', async (name) => {
    const extra = name.startsWith('byol') ? ['objective.options.hiddenDim=16', 'objective.options.projectionDim=8'] : ['objective.options.projectorHiddenDim=16', 'objective.options.projectorOutDim=8'];
    const r = recipe(name, extra);
    const ref = await pretrain(r, { runDir: join(root, `${name}-ref`), data, progress: false });
    expect(ref.losses).toHaveLength(5);
    const dir = join(root, `${name}-killed`);
    // Killed after 3 steps: the last checkpoint is the one of step 2.
    const first = await pretrain(r, { runDir: dir, data, progress: false, stopAfter: 3 });
    expect(first.losses).toEqual(ref.losses.slice(0, 3));
    const rest = await pretrain(r, { runDir: dir, data, progress: false, resume: true });
    expect(rest.losses).toEqual(ref.losses.slice(2));
    expect(rest.steps).toBe(5);
    const meta = await readModelMetadata(rest.modelDir);
    expect(meta).toMatchObject({ inputSize: 16, preprocess: 'standardize', objective: r.objective.name, normalization: r.embedding.normalization });
    const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    expect(info).toMatchObject({ status: 'finished', result: { steps: 5 } });
    // Which engine ran the kernels, and how its threads waited: speed depends on both.
    const be = await initBackend('wasm');
    if (be.native) expect(info.native).toEqual({ library: 'oneDNN', version: be.native.version, isa: be.native.isa, threads: be.native.threads, waitPolicy: be.native.waitPolicy });
    else expect(info.native).toBeUndefined();
  }, 120_000);

  it('simclr with every training lever on (2 plates per batch, detached cross-plate and previous-batch negatives, split-view BN groups): resume is exact', async () => {
    const r = recipe('simclr-ben', [
      'objective.options.projectorHiddenDim=16',
      'objective.options.projectorOutDim=8',
      'sampler.groupsPerBatch=2',
      'sampler.perGroupStatistics=true',
      'objective.options.crossGroupNegatives=detached',
      'objective.options.previousBatchNegatives=true',
      'objective.options.splitViewGroups=true',
    ]);
    expect(r.objective.options).toMatchObject({ crossGroupNegatives: 'detached', previousBatchNegatives: true, splitViewGroups: true });
    const ref = await pretrain(r, { runDir: join(root, 'levers-ref'), data, progress: false });
    expect(ref.losses).toHaveLength(5);
    expect(ref.losses.every(Number.isFinite)).toBe(true);
    const dir = join(root, 'levers-killed');
    await pretrain(r, { runDir: dir, data, progress: false, stopAfter: 3 });
    // The previous-batch queue is in the checkpoint: step 2's loss after the resume is the same.
    const rest = await pretrain(r, { runDir: dir, data, progress: false, resume: true });
    expect(rest.losses).toEqual(ref.losses.slice(2));
  }, 120_000);

  it('refuses to resume with a different recipe, naming the field', async () => {
    const dir = join(root, 'changed');
    await pretrain(recipe('simclr-ben', ['objective.options.projectorHiddenDim=16']), { runDir: dir, data, progress: false, stopAfter: 2 });
    const err = await pretrain(recipe('simclr-ben', ['objective.options.projectorHiddenDim=16', 'sampler.type=random']), { runDir: dir, data, progress: false, resume: true }).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/differs .* in: sampler/);
  }, 120_000);

  it('augment.perView: asymmetric views train (and differ from symmetric ones); one entry per view or one clear error', async () => {
    const small = ['objective.options.hiddenDim=16', 'objective.options.projectionDim=8'];
    const sym = await pretrain(recipe('byol-ben', small), { runDir: join(root, 'sym'), data, progress: false });
    const asym = await pretrain(recipe('byol-ben', [...small, 'augment.perView=[{blurProb: 1}, {blurProb: 0, intensityJitter: 0}]']), { runDir: join(root, 'asym'), data, progress: false });
    expect(asym.losses).toHaveLength(5);
    expect(asym.losses.every(Number.isFinite)).toBe(true);
    expect(asym.losses[0]).not.toBe(sym.losses[0]);
    const err = await pretrain(recipe('byol-ben', [...small, 'augment.perView=[{blurProb: 1}]']), { runDir: join(root, 'asym-bad'), data, progress: false }).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/augment\.perView has 1 entries .* 2 view/);
  }, 120_000);

  it('logs the online kNN monitor to metrics.jsonl', async () => {
    const dir = join(root, 'monitor');
    const r = await pretrain(recipe('simclr-ben', ['objective.options.projectorHiddenDim=16', 'training.knnMonitorEvery=2']), { runDir: dir, data, progress: false });
    const log = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    const mon = log.filter((l) => 'monitor/knn_accuracy' in l);
    // Every 2 steps and after the last: after steps 2, 4 and 5.
    expect(mon.map((l) => l.step)).toEqual([1, 3, 4]);
    for (const l of mon) expect(l['monitor/knn_accuracy']).toBeGreaterThanOrEqual(0);
    expect(r.monitor?.knn_queries).toBeGreaterThan(0);
  }, 120_000);
});
