import type { CommandModule } from 'yargs';
import { initBackend } from '../../engine/backend.ts';
import { NORMALIZATION_MODES, type NormalizationMode } from '../../models/ben-batchnorm.ts';
import { loadRecipe } from '../../recipe/load.ts';
import { pretrain } from '../../recipe/train-stage.ts';
import { DEFAULT_EVAL_MODES, trainSupervised } from '../../training/supervised.ts';
import type { Batching } from '../../data/batch-source.ts';
import { UserError } from '../../util/errors.ts';
import { backbones } from '../../models/index.ts';
import { optimizers } from '../../training/optimizers.ts';

interface TrainArgs {
  backend?: string;
  objective: string;
  recipe?: string;
  set: string[];
  data?: string;
  'run-dir'?: string;
  backbone: string;
  batching: Batching;
  'batch-size': number;
  steps: number;
  optimizer: string;
  lr: number;
  'weight-decay': number;
  momentum: number;
  warmup: number;
  seed: number;
  'checkpoint-every': number;
  resume?: boolean;
  overwrite?: boolean;
  'eval-split': string[];
  'eval-mode': NormalizationMode[];
  'eval-batch-size': number;
  quiet?: boolean;
  json?: boolean;
}

/**
 * `ben train --objective supervised`: parses typed flags and calls {@link trainSupervised}; or
 * `ben train --recipe <file> [--set a.b=c]` with a supervised recipe, through {@link pretrain}
 * (self-supervised objectives run through `ben pretrain`).
 */
export const trainCommand: CommandModule<{ backend?: string }, TrainArgs> = {
  command: 'train',
  describe: 'Train a backbone + linear classifier on the label column (BEN: plate batches), then report accuracy per split and BN normalization mode',
  builder: (y) =>
    y
      .option('objective', { type: 'string', default: 'supervised', describe: 'Training objective (supervised; SSL objectives: ben pretrain)' })
      .option('recipe', { type: 'string', describe: 'A supervised recipe (recipes/supervised-ben.yaml); the other flags are then ignored except --run-dir, --resume, --quiet, --json' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'Override a recipe field: --set training.steps=200' })
      .option('data', { type: 'string', describe: 'Data set folder (rxrx1-wilds, rxrx1 layout) or LoadData CSV (without --recipe)' })
      .option('run-dir', { type: 'string', describe: 'Run directory: checkpoint/, metrics.jsonl, model/, results.json' })
      .option('backbone', { type: 'string', default: 'small-convnet', describe: `Backbone: ${backbones.names().join(', ')}` })
      .option('batching', { choices: ['plate', 'experiment', 'random'] as const, default: 'plate' as Batching, describe: 'Training batches from one plate (BEN), one experiment, or random' })
      .option('batch-size', { type: 'number', default: 32 })
      .option('steps', { type: 'number', default: 600 })
      .option('optimizer', { type: 'string', default: 'adam', describe: `Optimizer: ${optimizers.names().join(', ')}` })
      .option('lr', { type: 'number', default: 0.003, describe: 'Peak learning rate (warmup-cosine schedule)' })
      .option('weight-decay', { type: 'number', default: 1e-4, describe: 'Weight decay (never on BN parameters and biases)' })
      .option('momentum', { type: 'number', default: 0.9, describe: 'Momentum of sgd/lars' })
      .option('warmup', { type: 'number', default: 30, describe: 'Linear warmup steps' })
      .option('seed', { type: 'number', default: 0 })
      .option('checkpoint-every', { type: 'number', default: 200, describe: 'Checkpoint every N steps (and at the end)' })
      .option('resume', { type: 'boolean', describe: 'Continue from the checkpoint in --run-dir' })
      .option('overwrite', { type: 'boolean', describe: 'Replace an earlier run in --run-dir' })
      .conflicts('resume', 'overwrite')
      .option('eval-split', { type: 'string', array: true, default: ['id_test', 'test'], describe: 'Splits to report accuracy on' })
      .option('eval-mode', { choices: NORMALIZATION_MODES, array: true, default: [...DEFAULT_EVAL_MODES], describe: 'BN normalization modes to evaluate with' })
      .option('eval-batch-size', { type: 'number', default: 0, describe: 'Evaluation batch size (0: one whole plate per batch)' })
      .option('quiet', { type: 'boolean', describe: 'No progress bar' })
      .option('json', { type: 'boolean', describe: 'Print the results as JSON' }) as never,
  handler: async (argv) => {
    if (argv.recipe) return trainFromRecipe(argv);
    if (!argv.data) throw new UserError('ben train needs --data <data set> (or --recipe <file>).');
    if (argv.objective !== 'supervised') throw new UserError(`ben train runs --objective supervised; for "${argv.objective}" use ben pretrain --recipe ...`);
    if (argv.resume && !argv['run-dir']) throw new UserError('--resume needs --run-dir (the directory holding checkpoint/).');
    optimizers.get(argv.optimizer);
    await initBackend(argv.backend);
    const r = await trainSupervised({
      data: argv.data,
      backbone: argv.backbone,
      batching: argv.batching,
      batchSize: argv['batch-size'],
      steps: argv.steps,
      optimizer: { name: argv.optimizer, weightDecay: argv['weight-decay'], momentum: argv.momentum },
      schedule: { baseLr: argv.lr, warmupSteps: argv.warmup },
      seed: argv.seed,
      evalSplits: argv['eval-split'],
      evalModes: argv['eval-mode'],
      evalBatchSize: argv['eval-batch-size'],
      runDir: argv['run-dir'],
      checkpointEvery: argv['checkpoint-every'],
      resume: argv.resume,
      overwrite: argv.overwrite,
      progress: !argv.quiet,
    });
    if (argv.json) {
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    console.log(`trained ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${r.imagesPerSec.toFixed(1)} img/s`);
    for (const [split, byMode] of Object.entries(r.eval)) {
      for (const [mode, e] of Object.entries(byMode)) console.log(`${split} ${mode}: accuracy ${(100 * e!.accuracy).toFixed(1)}% loss ${e!.loss.toFixed(3)} (${e!.images} images)`);
    }
  },
};

/** `ben train --recipe`: the recipe's supervised objective through {@link pretrain}. */
async function trainFromRecipe(argv: TrainArgs): Promise<void> {
  const recipe = loadRecipe(argv.recipe!, argv.set);
  if (recipe.objective.name !== 'supervised') {
    throw new UserError(`${argv.recipe}: objective.name is "${recipe.objective.name}"; ben train runs supervised recipes. Use ben pretrain --recipe ${argv.recipe}, or --set objective.name=supervised.`);
  }
  await initBackend(argv.backend);
  const runDir = argv['run-dir'] ?? recipe.output.dir ?? `runs/${recipe.name}`;
  const r = await pretrain(recipe, { runDir, resume: argv.resume, overwrite: argv.overwrite, progress: !argv.quiet, log: argv.quiet ? undefined : (l) => console.error(l) });
  const { losses: _l, ...summary } = r;
  void _l;
  if (argv.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  console.log(`trained ${r.steps}/${r.totalSteps} steps, final loss ${r.finalLoss.toFixed(4)}, ${r.imagesPerSec.toFixed(1)} img/s`);
  for (const [split, e] of Object.entries(r.eval ?? {})) console.log(`${split} ${recipe.embedding.normalization}: accuracy ${(100 * e.accuracy).toFixed(1)}% loss ${e.loss.toFixed(3)} (${e.images} images)`);
  console.log(`model: ${r.modelDir}`);
}
