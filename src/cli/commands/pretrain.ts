import type { CommandModule } from 'yargs';
import { join } from 'node:path';
import { initBackend } from '../../engine/backend.ts';
import { loadRecipe } from '../../recipe/load.ts';
import { pretrain } from '../../recipe/train-stage.ts';
import { withRecipeRunOptions, type RecipeRunArgs } from '../recipe-options.ts';

type PretrainArgs = RecipeRunArgs;

/** `ben pretrain --recipe <file> [--set a.b=c ...] [--run-dir] [--resume]`: a thin CLI over {@link pretrain}. */
export const pretrainCommand: CommandModule<{ backend?: string }, PretrainArgs> = {
  command: 'pretrain',
  describe: 'Pretrain a backbone as a recipe describes (SimCLR / BYOL / supervised; BEN: plate batches); writes model/, checkpoints, metrics.jsonl',
  builder: (y) =>
    withRecipeRunOptions(
      y.option('recipe', { type: 'string', demandOption: true, describe: 'Recipe YAML (recipes/simclr-ben.yaml, recipes/byol-ben.yaml, ...)' }),
      'Continue from the checkpoint in --run-dir',
    ) as never,
  handler: async (argv) => {
    const recipe = loadRecipe(argv.recipe, argv.set);
    await initBackend(argv.backend);
    const runDir = argv['run-dir'] ?? recipe.output.dir ?? join('runs', recipe.name);
    const log = argv.quiet ? undefined : (l: string) => console.error(l);
    const r = await pretrain(recipe, { runDir, resume: argv.resume, overwrite: argv.overwrite, progress: !argv.quiet, log });
    const { losses: _l, ...summary } = r;
    void _l;
    if (argv.json) {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    console.log(`trained ${r.steps}/${r.totalSteps} steps in ${r.seconds.toFixed(0)} s, final loss ${r.finalLoss.toFixed(4)}, ${r.imagesPerSec.toFixed(1)} img/s`);
    if (r.monitor) console.log(`online kNN (held-out plate): ${(100 * r.monitor.knn_accuracy).toFixed(1)}%`);
    for (const [split, e] of Object.entries(r.eval ?? {})) console.log(`${split} ${recipe.embedding.normalization}: accuracy ${(100 * e.accuracy).toFixed(1)}% loss ${e.loss.toFixed(3)} (${e.images} images)`);
    console.log(`model: ${r.modelDir}`);
  },
};
