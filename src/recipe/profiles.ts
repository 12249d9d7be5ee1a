/**
 * The recipe's `profiles` stage: `ben profiles` on a variant's embeddings with the recipe's
 * `profiles` section (controls from the `evaluation` section), written beside them.
 */
import { join } from 'node:path';
import type { ProfilesOptions } from '../profiles/profiles.ts';
import { groupingOf } from '../profiles/correct.ts';
import { profilesToParquet, type ProfilesSummary } from '../profiles/run.ts';
import type { Recipe } from './schema.ts';
import { RUN_LAYOUT } from '../training/run-layout.ts';


/** The library options of the recipe's `profiles` section. */
export function profilesOptions(p: Recipe['profiles'], e: Recipe['evaluation']): ProfilesOptions {
  return {
    aggregate: p.aggregate === 'none' ? undefined : { by: p.aggregateBy, method: p.aggregate },
    correction:
      p.normalize === 'none'
        ? undefined
        : { method: p.normalize, groupBy: p.plate ?? (groupingOf(p.normalize) === 'pooled' ? [] : ['Metadata_Experiment', 'Metadata_Plate']), fitOn: p.fitOn, controls: { column: e.controlColumn, value: e.controlValue }, batch: p.batch, epsilon: p.epsilon, params: p.options },
    consensus: p.consensus ? { by: p.consensus, method: p.consensusMethod } : undefined,
  };
}

/** Runs the stage for the variant in `dir`: `<dir>/embeddings.parquet` -> `<dir>/profiles.parquet`. */
export async function runProfilesStage(dir: string, recipe: Pick<Recipe, 'profiles' | 'evaluation'>): Promise<ProfilesSummary> {
  const opts = profilesOptions(recipe.profiles, recipe.evaluation);
  // A recipe without any step still writes the (unchanged) profiles the evaluate stage may read.
  const withStep = opts.aggregate || opts.correction || opts.consensus ? opts : { aggregate: { by: recipe.profiles.aggregateBy, method: 'mean' as const } };
  return profilesToParquet({ ...withStep, input: join(dir, RUN_LAYOUT.embeddings), out: join(dir, RUN_LAYOUT.profiles), dropConstant: false, dropNaN: false });
}
