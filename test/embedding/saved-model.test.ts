/**
 * Any saved model embeds images of any size: a quickstart-shaped model (32-px crops of 64-px
 * images) embedded by `ben embed` in a child process with each resize mode, and the models every
 * shipped recipe trains (one step each, tiny data) embedded with plate statistics, as docs/ssl.md
 * advises.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../../src/data/image-dataset.ts';
import { embedToParquet } from '../../src/embedding/run.ts';
import { initBackend } from '../../src/engine/backend.ts';
import { readModelMetadata } from '../../src/models/io.ts';
import { ensureRecipeData, readRecipeData } from '../../src/recipe/data.ts';
import { loadRecipe } from '../../src/recipe/load.ts';
import { recipeVariants } from '../../src/recipe/run.ts';
import type { Recipe } from '../../src/recipe/schema.ts';
import { pretrain } from '../../src/recipe/train-stage.ts';
import { readWithDuckDB } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-saved-model-'));
const FAST = ['training.steps=1', 'training.warmupSteps=0', 'training.knnMonitorEvery=0', 'sampler.batchSize=8', 'backbone.name=small-convnet'];
let dataDir64: string;
let data64: Dataset;

/** A recipe made small: tiny data (64 px for the quickstart shape), 1-2 steps, small heads. */
function shrink(r: Recipe): Recipe {
  const options = { ...r.objective.options };
  if (r.objective.name === 'simclr') Object.assign(options, { projectorHiddenDim: 16, projectorOutDim: 8 });
  if (r.objective.name === 'byol') Object.assign(options, { hiddenDim: 16, projectionDim: 8 });
  // Every recipe trains here on the synthetic tiny set, whose splits are WILDS' (a real-image
  // recipe's `all` split is its own data's).
  const data = { ...r.data, trainSplits: ['train'], evalSplits: ['test'] };
  return { ...r, data, objective: { ...r.objective, options } };
}

function ben(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--backend', 'wasm'], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
}

beforeAll(async () => {
  await initBackend('wasm');
  const r = loadRecipe('recipes/quickstart.yaml', ['data.preset=tiny', 'data.params.height=64', 'data.params.width=64']);
  dataDir64 = await ensureRecipeData(r.data, { dataRoot: join(root, 'data') });
  data64 = await readRecipeData(r.data, dataDir64);
}, 120_000);

describe('ben embed with a model trained on crops smaller than the images', () => {
  it('quickstart shape: 32-px crops, 64-px images, every resize mode via the CLI', async () => {
    const recipe = shrink(loadRecipe('recipes/quickstart.yaml', ['data.preset=tiny', 'data.params.height=64', 'data.params.width=64', ...FAST, 'training.steps=2']));
    const ben0 = recipeVariants(recipe).find((v) => v.name === 'ben')!;
    const fit = await pretrain(ben0.recipe, { runDir: join(root, 'quickstart', 'ben'), data: data64, progress: false });
    expect(await readModelMetadata(fit.modelDir)).toMatchObject({ inputSize: 32, preprocess: 'standardize', resizeMode: 'resize', trainImageSize: [64, 64] });

    const embeddings: Record<string, number[][]> = {};
    for (const mode of ['default', 'resize', 'center-crop', 'tiles']) {
      const out = join(root, 'quickstart', `emb-${mode}.parquet`);
      if (mode === 'resize') {
        // The library call behind the CLI (one child process less).
        await embedToParquet({ modelDir: fit.modelDir, dataPath: dataDir64, out, normalization: 'plate', resizeMode: 'resize' });
      } else {
        const r = ben('embed', '--model', fit.modelDir, '--data', dataDir64, '--out', out, '--normalization', 'plate', '--json', '--quiet', ...(mode === 'default' ? [] : ['--resize-mode', mode]));
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ images: data64.size, plates: 8 });
      }
      const t = await readWithDuckDB(out);
      expect(t.rows).toHaveLength(data64.size);
      expect(t.kv).toMatchObject({ resize_mode: mode === 'default' ? 'resize' : mode, input_size: '32', preprocess: 'standardize', normalization: 'plate' });
      const firstFeature = t.columns.findIndex((c) => !c.name.startsWith('Metadata_'));
      embeddings[mode] = t.rows.map((row) => (row.slice(firstFeature) as number[]).map(Number));
      expect(embeddings[mode].flat().every(Number.isFinite)).toBe(true);
    }
    // The default is the model's recorded resize mode; the modes give different embeddings.
    expect(embeddings.default).toEqual(embeddings.resize);
    expect(embeddings.tiles).not.toEqual(embeddings.resize);
    expect(embeddings['center-crop']).not.toEqual(embeddings.tiles);
  }, 180_000);

  const trained = readdirSync('recipes').filter((f) => f.endsWith('.yaml') && loadRecipe(join('recipes', f)).stages.includes('train'));
  it.each(trained)('%s: every variant\'s saved model embeds with plate statistics', async (file) => {
    const loaded = shrink(loadRecipe(join('recipes', file), FAST));
    for (const v of recipeVariants(loaded)) {
      const dir = join(root, 'recipes', file, v.name);
      const fit = await pretrain(v.recipe, { runDir: dir, data: data64, progress: false });
      const meta = await readModelMetadata(fit.modelDir);
      expect(meta).toMatchObject({ inputSize: v.recipe.augment.cropSize, resizeMode: 'resize', trainImageSize: [64, 64] });
      const out = join(dir, 'emb.parquet');
      const s = await embedToParquet({ modelDir: fit.modelDir, dataPath: dataDir64, out, normalization: 'plate', aggregate: 'none' });
      expect(s.stats.images).toBe(data64.size);
      const t = await readWithDuckDB(out);
      expect(t.kv).toMatchObject({ resize_mode: 'resize', input_size: String(v.recipe.augment.cropSize) });
    }
  }, 300_000);
});
