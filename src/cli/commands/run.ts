import type { CommandModule } from 'yargs';
import { initBackend } from '../../engine/backend.ts';
import { loadRecipe } from '../../recipe/load.ts';
import { runRecipe, summarise } from '../../recipe/run.ts';
import { withRecipeRunOptions, type RecipeRunArgs } from '../recipe-options.ts';

type RunArgs = RecipeRunArgs;

/** `ben run <recipe> [--set a.b=c ...]`: a thin CLI over {@link runRecipe}. */
export const runCommand: CommandModule<{ backend?: string }, RunArgs> = {
  command: 'run <recipe>',
  describe: 'Run a recipe end to end: data -> train (each variant) -> embed -> evaluate -> report',
  builder: (y) =>
    withRecipeRunOptions(
      y.positional('recipe', { type: 'string', demandOption: true, describe: 'Recipe YAML (e.g. recipes/quickstart.yaml)' }),
      'Keep finished variants, continue unfinished ones from their checkpoints',
    ) as never,
  handler: async (argv) => {
    const recipe = loadRecipe(argv.recipe, argv.set);
    await initBackend(argv.backend);
    const r = await runRecipe(recipe, { runDir: argv['run-dir'], resume: argv.resume, overwrite: argv.overwrite, progress: !argv.quiet, log: argv.quiet ? () => undefined : undefined });
    if (argv.json) {
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    console.log(`${recipe.name}: finished in ${(r.seconds / 60).toFixed(1)} min, run directory ${r.runDir}`);
    for (const v of r.variants) if (v.evaluation) console.log(`  ${v.name} (${v.sampler} batches, ${v.normalization} inference): ${summarise(v.evaluation)}`);
    if (r.doseResponse) console.log(`\n${r.doseResponse.markdown}(${r.doseResponse.files.markdown}, ${r.doseResponse.files.json})`);
    if (r.report) console.log(`report: ${r.report}`);
  },
};
