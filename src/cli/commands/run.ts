import type { CommandModule } from 'yargs';
import { initBackend } from '../../engine/backend.ts';
import { loadRecipe } from '../../recipe/load.ts';
import { runRecipe, summarise } from '../../recipe/run.ts';

interface RunArgs {
  backend?: string;
  recipe: string;
  set: string[];
  'run-dir'?: string;
  resume?: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** `ben run <recipe> [--set a.b=c ...]`: a thin CLI over {@link runRecipe}. */
export const runCommand: CommandModule<{ backend?: string }, RunArgs> = {
  command: 'run <recipe>',
  describe: 'Run a recipe end to end: data -> train (each variant) -> embed -> evaluate -> report',
  builder: (y) =>
    y
      .positional('recipe', { type: 'string', demandOption: true, describe: 'Recipe YAML (e.g. recipes/quickstart.yaml)' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'Override a recipe field: --set training.steps=50 (value parsed as YAML)' })
      .option('run-dir', { type: 'string', describe: 'Run directory (default output.dir, else runs/<recipe name>)' })
      .option('resume', { type: 'boolean', describe: 'Keep finished variants, continue unfinished ones from their checkpoints' })
      .option('quiet', { type: 'boolean', describe: 'No progress output' })
      .option('json', { type: 'boolean', describe: 'Print the result as JSON' }) as never,
  handler: async (argv) => {
    const recipe = loadRecipe(argv.recipe, argv.set);
    await initBackend(argv.backend);
    const r = await runRecipe(recipe, { runDir: argv['run-dir'], resume: argv.resume, progress: !argv.quiet, log: argv.quiet ? () => undefined : undefined });
    if (argv.json) {
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    console.log(`${recipe.name}: finished in ${(r.seconds / 60).toFixed(1)} min, run directory ${r.runDir}`);
    for (const v of r.variants) if (v.evaluation) console.log(`  ${v.name} (${v.sampler} batches, ${v.normalization} inference): ${summarise(v.evaluation)}`);
    if (r.report) console.log(`report: ${r.report}`);
  },
};
