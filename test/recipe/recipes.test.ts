/**
 * Every recipe in recipes/ runs end to end, shortened (`--set`: tiny synthetic preset, 2 steps,
 * 16-pixel crops, small batches), and its outputs exist and are sane. rxrx1-wilds reads a tiny
 * generated data set in the RxRx1-WILDS layout from a temp dir; the model-only recipes
 * (linear-probe, export-embeddings) use the shortened quickstart's saved model.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/engine/backend.ts';
import { readProfileTable } from '../../src/tables/read.ts';
import { loadRecipe } from '../../src/recipe/load.ts';
import { ensureRecipeData, readRecipeData } from '../../src/recipe/data.ts';
import { recipeVariants, runRecipe } from '../../src/recipe/run.ts';
import type { Recipe } from '../../src/recipe/schema.ts';

// Recipes reading a real image folder (bbbc013-embed) run on those images in test/data/real-images.test.ts;
// the LoadData screen with functions and nuclei (jump-style-cells) on its generated screen in test/recipe/jump-style.test.ts.
const RECIPES = readdirSync('recipes').filter((f) => f.endsWith('.yaml') && !['image-folder', 'loaddata'].includes(loadRecipe(join('recipes', f)).data.source)).sort((a, b) => (a === 'quickstart.yaml' ? -1 : b === 'quickstart.yaml' ? 1 : a.localeCompare(b)));
const root = mkdtempSync(join(tmpdir(), 'ben-recipes-'));
const dataRoot = join(root, 'data');
const quickstartModel = join(root, 'runs', 'quickstart', 'ben', 'model');
let tinyDir: string;
let splitSizes: Record<string, number>;

/** The `--set` overrides that shorten a recipe to seconds. */
function shorten(file: string, raw: Recipe): string[] {
  const sets = ['data.preset=tiny', 'training.steps=2', 'training.warmupSteps=1', 'training.checkpointEvery=1', 'sampler.batchSize=8', 'augment.cropSize=16', 'evaluation.mapNullSize=50', 'evaluation.k=3'];
  if (raw.training.knnMonitorEvery > 0) sets.push('training.knnMonitorEvery=2');
  // Real-data recipes read the tiny set in the RxRx1-WILDS layout; their GPU-sized ResNet-18 is
  // swapped for the small ResNet (the layout and splits are what this test is about).
  if (raw.data.source !== 'synthetic') sets.push(`data.path=${tinyDir}`, 'backbone.name=resnet-small');
  if (raw.model.path) sets.push(`model.path=${quickstartModel}`);
  // Objective heads at test size.
  if (raw.objective.name === 'simclr') sets.push('objective.options.projectorHiddenDim=16', 'objective.options.projectorOutDim=8');
  if (raw.objective.name === 'byol') sets.push('objective.options.hiddenDim=16', 'objective.options.projectionDim=8');
  void file;
  return sets;
}

beforeAll(async () => {
  await initBackend('wasm');
  // The tiny preset, generated once into the temp data root; rxrx1-wilds reads the same folder.
  const section = loadRecipe('recipes/quickstart.yaml', ['data.preset=tiny']).data;
  tinyDir = await ensureRecipeData(section, { dataRoot });
  splitSizes = (await readRecipeData(section, tinyDir)).summary().splits;
}, 120_000);

describe('recipes/ end to end (shortened)', () => {
  it('finds the shipped recipes', () => {
    for (const f of ['quickstart', 'simclr-ben', 'simclr-random', 'byol-ben', 'byol-random', 'supervised-ben', 'linear-probe', 'export-embeddings', 'rxrx1-wilds']) expect(RECIPES).toContain(`${f}.yaml`);
  });

  it.each(RECIPES)('%s', async (file) => {
    const raw = loadRecipe(join('recipes', file));
    const recipe = loadRecipe(join('recipes', file), shorten(file, raw));
    const runDir = join(root, 'runs', recipe.name);
    const res = await runRecipe(recipe, { runDir, dataRoot, progress: false, log: () => undefined, report: { umap: { maxPoints: 200 } } });
    const stages = new Set(recipe.stages);
    // Run-level records: the resolved recipe, git revision and backend.
    expect(readFileSync(join(runDir, 'resolved-recipe.yaml'), 'utf8')).toMatch(new RegExp(`name: ${recipe.name}`));
    const info = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8'));
    expect(info).toMatchObject({ recipe: recipe.name, status: 'finished', backend: { name: 'wasm' } });
    expect(info.git.revision).toMatch(/^[0-9a-f]{40}$|^unknown$/);
    const variants = recipeVariants(recipe);
    expect(res.variants.map((v) => v.name)).toEqual(variants.map((v) => v.name));
    for (const v of variants) {
      const dir = join(runDir, v.name);
      if (stages.has('train') && v.recipe.model.variant) {
        // Embeds an earlier variant's model: trains nothing of its own.
        expect(res.variants.find((x) => x.name === v.name)!.modelFrom).toBe(v.recipe.model.variant);
        expect(existsSync(join(dir, 'model'))).toBe(false);
        expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(false);
      } else if (stages.has('train')) {
        expect(existsSync(join(dir, 'model', 'model.json'))).toBe(true);
        expect(existsSync(join(dir, 'checkpoint', 'checkpoint.json'))).toBe(true);
        const log = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        const steps = log.filter((r) => 'loss' in r);
        expect(steps.map((r) => r.step)).toEqual([0, 1]);
        for (const r of steps) expect(Number.isFinite(r.loss) && r.loss > 0).toBe(true);
        if (v.recipe.training.knnMonitorEvery > 0) expect(log.some((r) => typeof r['monitor/knn_accuracy'] === 'number')).toBe(true);
        expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).status).toBe('finished');
      }
      if (stages.has('embed')) {
        const { table } = await readProfileTable(join(dir, 'embeddings.parquet'));
        const expected = v.recipe.data.evalSplits.reduce((s, sp) => s + splitSizes[sp], 0);
        expect(table.n).toBe(expected);
        expect(table.d).toBeGreaterThan(1);
        expect(table.features.every(Number.isFinite)).toBe(true);
        // Not collapsed: two images of different plates have different embeddings.
        expect(Array.from(table.features.subarray(0, table.d))).not.toEqual(Array.from(table.features.subarray((table.n - 1) * table.d, table.n * table.d)));
        expect(new Set(table.meta.Metadata_Plate).size).toBeGreaterThan(1);
        expect(table.keyValue?.normalization).toBe(v.recipe.embedding.normalization);
        expect(existsSync(join(dir, 'embeddings.wells.parquet'))).toBe(true);
      }
      if (stages.has('evaluate')) {
        const ev = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
        expect(ev.variant).toBe(v.name);
        const inUnit = (x: number) => x >= 0 && x <= 1;
        if (v.recipe.evaluation.metrics.includes('knn')) expect(inUnit(ev.knn.crossPlate)).toBe(true);
        if (v.recipe.evaluation.metrics.includes('linear-probe')) expect(inUnit(ev.linearProbe.accuracy) && ev.linearProbe.testRows > 0).toBe(true);
        if (v.recipe.evaluation.metrics.includes('plate-predictability')) expect(inUnit(ev.platePredictability.accuracy) && inUnit(ev.platePredictability.chance)).toBe(true);
        if (v.recipe.evaluation.metrics.includes('map')) expect(inUnit(ev.map.map)).toBe(true);
      }
    }
    if (stages.has('report')) {
      expect(res.report).toBe(join(runDir, 'report', 'index.html'));
      const html = readFileSync(res.report!, 'utf8');
      for (const v of variants) expect(html).toContain(v.name === 'ben' ? 'BEN' : v.name === 'baseline' ? 'Baseline' : v.name === 'baseline-plate-stats' ? 'Baseline model, plate statistics' : v.name);
      expect(readdirSync(join(runDir, 'report', 'figures')).filter((f) => f.endsWith('.png')).length).toBeGreaterThanOrEqual(2 * variants.length);
    }
    // Nothing outside the run directory (and the data cache) was written.
    expect(readdirSync(root).sort()).toEqual(['data', 'runs']);
  }, 300_000);
});
