/**
 * A new metric WITH a parameter is one definition and one `metrics.register` line: the recipe
 * schema accepts its name and checks its option, `ben evaluate` lists it, derives a flag for its
 * option and computes it by default when its needs are met, and the recipe's evaluate stage
 * reports it, with no other change anywhere.
 */
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { z } from 'zod';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { defaultMetrics, evaluateProfiles } from '../../src/evaluation/evaluate.ts';
import { defineMetric, metrics } from '../../src/evaluation/metric.ts';
import { evaluateCommand } from '../../src/cli/commands/evaluate.ts';
import { metricOptionsOf } from '../../src/cli/metric-flags.ts';
import { validateRecipe } from '../../src/recipe/load.ts';
import { evaluateEmbeddings } from '../../src/recipe/evaluate.ts';

const meanFeature = defineMetric({
  name: 'mean-feature',
  description: 'Mean of every feature value times a factor (a trivial plug-in)',
  options: z.object({ featureScale: z.number().positive().default(1).describe('Factor the mean is multiplied by') }),
  needs: { columns: ['label'] },
  async compute(ctx) {
    const f = ctx.table.features;
    return { summary: { mean: (ctx.options.featureScale * f.reduce((a, b) => a + b, 0)) / f.length }, tables: {} };
  },
});
metrics.register(meanFeature.name, meanFeature);

const table: ProfileTable = {
  n: 4,
  d: 2,
  meta: { Metadata_Plate: ['p1', 'p1', 'p2', 'p2'], Metadata_Experiment: ['e', 'e', 'e', 'e'], Metadata_Label: ['a', 'b', 'a', 'b'], Metadata_WellType: ['treatment', 'treatment', 'treatment', 'treatment'] },
  featureNames: ['emb_0000', 'emb_0001'],
  features: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 9]),
};

describe('a metric plug-in with a parameter', () => {
  it('is named by a recipe with its option checked, gets a flag, runs by default when its needs are met, and is reported by the evaluate stage', async () => {
    const recipe = validateRecipe({ name: 'm', evaluation: { metrics: ['mean-feature'], options: { 'mean-feature': { featureScale: 2 } } } });
    expect(recipe.evaluation.metrics).toEqual(['mean-feature']);
    expect(() => validateRecipe({ name: 'm', evaluation: { metrics: ['mean-featur'] } })).toThrow(/unknown metric "mean-featur"; choose one of: .*mean-feature/);
    expect(() => validateRecipe({ name: 'm', evaluation: { options: { 'mean-feature': { featureScale: -1 } } } })).toThrow(/evaluation\.options\.mean-feature\.featureScale/);
    expect(() => validateRecipe({ name: 'm', evaluation: { options: { 'mean-feature': { scale: 2 } } } })).toThrow(/evaluation\.options\.mean-feature\.scale.*not an option of mean-feature/);

    const help = await new Promise<string>((resolve) => {
      void yargs([]).command(evaluateCommand).parseAsync(['evaluate', '--help'], {}, (_e, _argv, output) => resolve(output));
    });
    expect(help).toMatch(/mean-feature/);
    expect(help).toMatch(/--feature-scale\s+Factor the mean is multiplied by \(default 1\)\s+\[mean-feature\]/);
    expect(metricOptionsOf({ 'feature-scale': 3 })).toEqual({ 'mean-feature': { featureScale: 3 } });

    expect(defaultMetrics({ label: 'Metadata_Label' })).toContain('mean-feature');
    expect(defaultMetrics({})).not.toContain('mean-feature');
    const r = await evaluateProfiles(table, { columns: { label: 'Label' }, metrics: ['mean-feature'], options: { 'mean-feature': { featureScale: 3 } } });
    expect(r.metrics['mean-feature'].summary.mean).toBeCloseTo((3 * 37) / 8, 6);
    expect(r.options['mean-feature']).toEqual({ featureScale: 3 });
    await expect(evaluateProfiles(table, { columns: { label: 'Label' }, metrics: ['mean-feature'], options: { 'mean-feature': { featureScale: 'x' } } })).rejects.toThrow(/Metric "mean-feature": featureScale: /);
    const ev = await evaluateEmbeddings(table, { evaluation: recipe.evaluation });
    expect(ev.other?.['mean-feature'].mean).toBeCloseTo((2 * 37) / 8, 6);
  });
});
