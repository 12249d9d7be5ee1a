/**
 * The recipe's `profiles` stage and the copairs lists of its `evaluation.map` section, on
 * quickstart-like embeddings (2 experiments x plates "1".."3").
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeProfilesParquet } from '../../src/tables/parquet.ts';
import { readProfileTable } from '../../src/tables/read.ts';
import { evaluateEmbeddings } from '../../src/recipe/evaluate.ts';
import { runProfilesStage } from '../../src/recipe/profiles.ts';
import { RUN_LAYOUT } from '../../src/training/run-layout.ts';
import { RecipeSchema } from '../../src/recipe/schema.ts';
import { profileSteps } from '../../src/profiles/profiles.ts';
import { quickstartLike } from '../profiles/helpers.ts';

describe('recipe profiles stage', () => {
  it('aggregates to wells, corrects per [experiment, plate] on controls, and evaluates with explicit pair lists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-recipe-profiles-'));
    await writeProfilesParquet(join(dir, 'embeddings.parquet'), quickstartLike());
    const recipe = RecipeSchema.parse({
      name: 'p',
      stages: ['embed', 'profiles', 'evaluate'],
      profiles: { aggregate: 'l2-mean', normalize: 'mad_robustize' },
      evaluation: { metrics: ['map'], input: 'profiles' },
    });
    const s = await runProfilesStage(dir, recipe);
    expect(s.steps).toMatchObject([
      { step: 'aggregate', method: 'l2-mean', rowsIn: 96, rowsOut: 48 },
      { step: 'correct', method: 'mad_robustize', groupBy: ['Metadata_Experiment', 'Metadata_Plate'], groups: 6, fitRows: 12 },
    ]);
    const { table } = await readProfileTable(join(dir, RUN_LAYOUT.profiles));
    expect(profileSteps(table)).toEqual(s.steps);
    const preset = await evaluateEmbeddings(table, { evaluation: recipe.evaluation });
    const lists = RecipeSchema.parse({
      name: 'p',
      evaluation: {
        metrics: ['map'],
        map: { posSameby: ['Label'], posDiffby: ['PlateKey'], negSameby: [], negDiffby: ['Label'], exclude: ['WellType=negative_control'] },
      },
    }).evaluation;
    const custom = await evaluateEmbeddings(table, { evaluation: lists });
    expect(preset.map).toMatchObject({ preset: 'replicate', posSameby: '[Metadata_Label]', posDiffby: '[Metadata_PlateKey]', filters: 'exclude Metadata_WellType=negative_control' });
    expect(custom.map).toMatchObject({ preset: 'custom', posSameby: '[Metadata_Label]', posDiffby: '[Metadata_PlateKey]', filters: 'exclude WellType=negative_control' });
    expect(custom.map!.map).toBe(preset.map!.map);
    expect(preset.map!.map).toBeGreaterThan(0.5);
  });

  it('harmony and sphering from the recipe: their options, the plate key as the default batch, sphering pooled by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-recipe-profiles-'));
    await writeProfilesParquet(join(dir, 'embeddings.parquet'), quickstartLike());
    const h = await runProfilesStage(dir, RecipeSchema.parse({ name: 'p', profiles: { normalize: 'harmony', options: { nPcs: 4, theta: 1 } } }));
    expect(h.steps[1]).toMatchObject({ method: 'harmony', fitOn: 'all', batch: ['Metadata_Experiment_Plate'], batches: 6, components: 4, params: { nPcs: 4, theta: 1 } });
    const sp = await runProfilesStage(dir, RecipeSchema.parse({ name: 'p', profiles: { normalize: 'sphering' } }));
    expect(sp.steps[1]).toMatchObject({ method: 'sphering', fitOn: 'controls', groupBy: [], groups: 1, fitRows: 12 });
    expect(() => RecipeSchema.parse({ name: 'p', profiles: { normalize: 'harmonyy' } })).toThrow(/harmony/);
  });
});

