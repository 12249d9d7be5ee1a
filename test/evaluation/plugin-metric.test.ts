/**
 * A new metric is one definition and one `metrics.register` line: the recipe schema accepts its
 * name, `ben evaluate` lists it and computes it, and the recipe's evaluate stage reports it, with
 * no other change anywhere.
 */
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { evaluateProfiles } from '../../src/evaluation/evaluate.ts';
import { metrics, type Metric } from '../../src/evaluation/metric.ts';
import { evaluateCommand } from '../../src/cli/commands/evaluate.ts';
import { validateRecipe } from '../../src/recipe/load.ts';
import { evaluateEmbeddings } from '../../src/recipe/evaluate.ts';

const meanFeature: Metric = {
  name: 'mean-feature',
  description: 'Mean of every feature value (a trivial plug-in)',
  requires: [],
  async compute(ctx) {
    const f = ctx.table.features;
    return { summary: { mean: f.reduce((a, b) => a + b, 0) / f.length }, tables: {} };
  },
};
metrics.register(meanFeature.name, meanFeature);

const table: ProfileTable = {
  n: 4,
  d: 2,
  meta: { Metadata_Plate: ['p1', 'p1', 'p2', 'p2'], Metadata_Experiment: ['e', 'e', 'e', 'e'], Metadata_Label: ['a', 'b', 'a', 'b'], Metadata_WellType: ['treatment', 'treatment', 'treatment', 'treatment'] },
  featureNames: ['emb_0000', 'emb_0001'],
  features: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 9]),
};

describe('a metric plug-in', () => {
  it('is named by a recipe, listed and computed by ben evaluate, and reported by the evaluate stage', async () => {
    const recipe = validateRecipe({ name: 'm', evaluation: { metrics: ['mean-feature'] } });
    expect(recipe.evaluation.metrics).toEqual(['mean-feature']);
    expect(() => validateRecipe({ name: 'm', evaluation: { metrics: ['mean-featur'] } })).toThrow(/unknown metric "mean-featur"; choose one of: .*mean-feature/);

    const help = await new Promise<string>((resolve) => {
      void yargs([]).command(evaluateCommand).parseAsync(['evaluate', '--help'], {}, (_e, _argv, output) => resolve(output));
    });
    expect(help).toMatch(/mean-feature/);

    const r = await evaluateProfiles(table, { columns: {}, metrics: ['mean-feature'] });
    expect(r.metrics['mean-feature'].summary.mean).toBeCloseTo(37 / 8, 6);
    const ev = await evaluateEmbeddings(table, { evaluation: recipe.evaluation });
    expect(ev.other?.['mean-feature'].mean).toBeCloseTo(37 / 8, 6);
  });
});
