/**
 * `npm run bench -- ssl [--preset bench] [--seeds 2] [--first-seed 0] [--steps 1000] [--batch 64] [--crop 32]
 * [--objectives simclr,byol] [--batchings plate,random] [--probe-plates 1] [--out runs/bench-ssl] [--reuse] [--inference MODE]
 * [--set field.path=value ...]`:
 * issue 6's claim. Pretrains SimCLR and BYOL from `recipes/<objective>-<ben|random>.yaml`, each with
 * plate batches (BEN) and with random batches, on the synthetic preset's training experiments;
 * embeds the OOD-test experiments (BEN: `plate` inference; random baseline: `running`) and reports,
 * per seed and as mean ± sd over seeds:
 * - `knnCrossPlate`: kNN treatment accuracy, neighbours restricted to other plates (treatment wells);
 *   `knnCrossExperiment`: restricted to other experiments; `nearestSameExperiment`: share of queries
 *   whose nearest other-plate neighbour is in their own experiment (experiment clustering);
 * - `probeOod`: linear-probe treatment accuracy, probe fitted on training-experiment embeddings
 *   (`--probe-plates` plates per experiment, same inference mode) and tested on the OOD experiments;
 * - `platePredictability`: linear-probe accuracy for the plate within each OOD experiment (half of
 *   each plate's images to fit, half to test; lower is better), averaged over experiments: the
 *   plates of one experiment share their biology, so this is the technical plate effect;
 *   `platePredictabilityAll`: one probe over all OOD plates (also finds the experiment's cell type).
 * All metrics are the recipe evaluate stage's (src/recipe/evaluate.ts). `--reuse` evaluates the
 * finished runs already in --out instead of training them again; `--inference` embeds every model
 * with one BN mode (running|batch|plate|controls) instead of its recipe's; `--set` (repeatable)
 * overrides a recipe field in every run (ablations, e.g. `--set sampler.unit=well`; `--set data.params.<name>=V`
 * sets a generator parameter of the shared synthetic data set).
 * One JSON line per run and a summary line on stdout; `ssl-<preset>[-<mode>-inference].md` / `.json` in --out.
 *
 * Each configuration is the library's `pretrain(recipe)` (data layer sampler + augmentation
 * pipeline, runs under `--out/<objective>-<batching>-seed<k>/`), then the saved model is embedded
 * with the training pipeline's deterministic input (whole image resized to the crop size,
 * standardised). CPU budget: training runs on `--crop`-pixel random resized crops (default 32) of
 * the 64-pixel images, which the recipes' 64-pixel setting would make ~4x slower on this machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { embedDataset } from '../src/embedding/embedder.ts';
import { initBackend } from '../src/engine/backend.ts';
import type { NormalizationMode } from '../src/models/ben-batchnorm.ts';
import { ensureRecipeData, readRecipeData } from '../src/recipe/data.ts';
import { evaluateEmbeddings } from '../src/recipe/evaluate.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import { NormalizationSchema, type Recipe } from '../src/recipe/schema.ts';
import { parseMetricsJsonl } from '../src/report/run-dir.ts';
import { loadEmbeddingModel } from '../src/embedding/saved-model.ts';
import { pretrain } from '../src/recipe/train-stage.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { mean, sd } from './stats.ts';

/**
 * `--reuse`: a finished run in `runDir` of the same resolved recipe (its losses read back from
 * metrics.jsonl) instead of training again; undefined when there is none.
 */
function finishedRun(runDir: string, recipe: Recipe): { modelDir: string; losses: number[]; seconds: number } | undefined {
  const p = join(runDir, 'run.json');
  const recipePath = join(runDir, 'resolved-recipe.yaml');
  if (!existsSync(p) || !existsSync(recipePath)) return undefined;
  const info = JSON.parse(readFileSync(p, 'utf8')) as { status: string; result?: { modelDir: string; steps: number; seconds: number } };
  if (info.status !== 'finished' || !info.result) return undefined;
  if (!isDeepStrictEqual(parseYaml(readFileSync(recipePath, 'utf8')), JSON.parse(JSON.stringify(recipe)))) return undefined;
  const byStep = new Map<number, number>();
  for (const r of parseMetricsJsonl(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8'))) {
    if (typeof r.step === 'number' && typeof r.loss === 'number') byStep.set(r.step, r.loss);
  }
  return { modelDir: info.result.modelDir, losses: [...byStep.keys()].sort((a, b) => a - b).map((k) => byStep.get(k)!), seconds: info.result.seconds };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string', default: 'bench' },
      seeds: { type: 'string', default: '2' },
      'first-seed': { type: 'string', default: '0' },
      steps: { type: 'string', default: '1000' },
      batch: { type: 'string' },
      crop: { type: 'string', default: '32' },
      lr: { type: 'string' },
      objectives: { type: 'string', default: 'simclr,byol' },
      batchings: { type: 'string', default: 'plate,random' },
      'probe-plates': { type: 'string', default: '1' },
      recipes: { type: 'string', default: 'recipes' },
      data: { type: 'string', default: 'data/synthetic' },
      out: { type: 'string', default: 'runs/bench-ssl' },
      backend: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      inference: { type: 'string' },
      set: { type: 'string', multiple: true },
    },
  });
  if (values.inference !== undefined) NormalizationSchema.parse(values.inference);
  const t0 = performance.now();
  const info = await initBackend(values.backend);
  const preset = values.preset!;
  // Generator parameters from `--set data.params.<name>=V` (every run shares one data set).
  const params = loadRecipe(join(values.recipes!, `${values.objectives!.split(',')[0]}-ben.yaml`), [`data.preset=${preset}`, ...(values.set ?? [])]).data.params;
  const dataSection = { source: 'synthetic' as const, preset, params, trainSplits: ['train'], evalSplits: ['test'], skipBad: false };
  const all = await readRecipeData(dataSection, await ensureRecipeData(dataSection, { dataRoot: values.data, log: (l) => process.stderr.write(l + '\n') }));
  const train = await all.split('train').load();
  const ood = await all.split('test').load();
  // Probe training set: the first `--probe-plates` plates of every training experiment.
  const perExp = new Map<string, string[]>();
  for (const r of train.rows) {
    const ps = perExp.get(r.experiment) ?? [];
    if (!ps.includes(r.plate)) ps.push(r.plate);
    perExp.set(r.experiment, ps);
  }
  const nProbe = Number(values['probe-plates']);
  const probeTrain = train.filter((r) => perExp.get(r.experiment)!.slice(0, nProbe).includes(r.plate));
  const crop = Number(values.crop);
  const steps = Number(values.steps);
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => Number(values['first-seed']) + i);
  type Metric = 'knnCrossPlate' | 'knnCrossExperiment' | 'nearestSameExperiment' | 'probeOod' | 'platePredictability' | 'platePredictabilityAll';
  type Row = { objective: string; batching: string; seed: number } & Record<Metric, number>;
  const rows: Row[] = [];
  let chance = '';
  for (const seed of seeds) {
    for (const objName of values.objectives!.split(',')) {
      for (const batching of values.batchings!.split(',') as ('plate' | 'random')[]) {
        const sets = [
          `seed=${seed}`,
          `data.preset=${preset}`,
          `training.steps=${steps}`,
          `training.warmupSteps=${Math.round(steps / 10)}`,
          `training.checkpointEvery=${steps}`,
          `augment.cropSize=${crop}`,
          ...(values.batch ? [`sampler.batchSize=${values.batch}`] : []),
          ...(values.lr ? [`optimizer.lr=${values.lr}`] : []),
          ...(values.set ?? []),
        ];
        const recipe = loadRecipe(join(values.recipes!, `${objName}-${batching === 'plate' ? 'ben' : 'random'}.yaml`), sets);
        // --inference: one BN mode for every model (ablation: e.g. random-batch models with plate statistics).
        const mode = (values.inference ?? recipe.embedding.normalization) as NormalizationMode;
        const runDir = join(values.out!, `${objName}-${batching}-seed${seed}`);
        const fit = (values.reuse && finishedRun(runDir, recipe)) || (await pretrain(recipe, { runDir, data: all }));
        const em = await loadEmbeddingModel(fit.modelDir);
        const tEmbed = performance.now();
        const embed = async (ds: typeof ood) => (await embedDataset(em.model, ds, { normalization: mode, batchSize: 256, preprocess: em.preprocess, inputSize: em.inputSize })).table;
        const embOod = await embed(ood);
        const embProbe = await embed(probeTrain);
        const embedSeconds = (performance.now() - tEmbed) / 1000;
        em.dispose();
        const ev = await evaluateEmbeddings(embOod, {
          evaluation: { ...recipe.evaluation, metrics: ['knn', 'linear-probe', 'plate-predictability'] },
          probeTrain: embProbe,
          seed,
        });
        const row: Row = {
          objective: objName,
          batching,
          seed,
          knnCrossPlate: ev.knn!.crossPlate,
          knnCrossExperiment: ev.knn!.crossExperiment,
          nearestSameExperiment: ev.knn!.nearestSameExperiment!.observed,
          probeOod: ev.linearProbe!.accuracy,
          platePredictability: ev.platePredictability!.accuracy,
          platePredictabilityAll: ev.platePredictability!.acrossExperiments.accuracy,
        };
        rows.push(row);
        const c = (x: number) => `${(100 * x).toFixed(1)} %`;
        chance = `own-experiment neighbour at random ${c(ev.knn!.nearestSameExperiment!.random)}, linear probe ${c(ev.linearProbe!.chance)} (most frequent treatment), plate within experiment ${c(ev.platePredictability!.chance)}, all plates ${c(ev.platePredictability!.acrossExperiments.chance)}`;
        console.log(
          JSON.stringify({
            suite: 'ssl',
            preset,
            ...row,
            inference: mode,
            probeChance: ev.linearProbe!.chance,
            plateChance: ev.platePredictability!.chance,
            plateChanceAll: ev.platePredictability!.acrossExperiments.chance,
            steps,
            batchSize: recipe.sampler.batchSize,
            crop,
            firstLoss: fit.losses[0],
            finalLoss: mean(fit.losses.slice(-10)),
            trainSeconds: fit.seconds,
            embedSeconds,
            oodImages: embOod.n,
            probeImages: embProbe.n,
          }),
        );
      }
    }
  }
  const minutes = (performance.now() - t0) / 60000;
  const groups = [...new Set(rows.map((r) => `${r.objective}/${r.batching}`))];
  const summary = groups.map((g) => {
    const rs = rows.filter((r) => `${r.objective}/${r.batching}` === g);
    const f = (k: Metric) => ({ mean: mean(rs.map((r) => r[k])), sd: sd(rs.map((r) => r[k])) });
    return {
      objective: rs[0].objective,
      batching: rs[0].batching,
      seeds: rs.length,
      knnCrossPlate: f('knnCrossPlate'),
      knnCrossExperiment: f('knnCrossExperiment'),
      nearestSameExperiment: f('nearestSameExperiment'),
      probeOod: f('probeOod'),
      platePredictability: f('platePredictability'),
      platePredictabilityAll: f('platePredictabilityAll'),
    };
  });
  const pct = (x: { mean: number; sd: number }) => `${(100 * x.mean).toFixed(1)} ± ${(100 * x.sd).toFixed(1)}`;
  const md = [
    `Self-supervised pretraining, BEN vs random batches, synthetic preset \`${values.preset}\`, ${steps} steps, ${crop}px crops, ${seeds.length} seed(s), backend ${info.backend} (${info.threads} threads), ${minutes.toFixed(1)} min`,
    '',
    '| objective | batches (inference) | kNN other plates (%) | kNN other experiments (%) | nearest other-plate neighbour in own experiment (%) | linear probe OOD (%) | plate predictability within experiment (%) ↓ | plate predictability, all plates (%) ↓ |',
    '|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (s) =>
        `| ${s.objective} | ${s.batching === 'plate' ? 'plate, BEN' : 'random'} (${values.inference ?? (s.batching === 'plate' ? 'plate' : 'running')}) | ${pct(s.knnCrossPlate)} | ${pct(s.knnCrossExperiment)} | ${pct(s.nearestSameExperiment)} | ${pct(s.probeOod)} | ${pct(s.platePredictability)} | ${pct(s.platePredictabilityAll)} |`,
    ),
    '',
    `Chance: ${chance}. Mean ± sample SD over seeds.${values.reuse ? ' Trained models reused (--reuse): the time excludes their training.' : ''}`,
    '',
  ].join('\n');
  await mkdir(values.out!, { recursive: true });
  const tag = `${values.preset}${values.inference ? `-${values.inference}-inference` : ''}`;
  await writeFileAtomic(join(values.out!, `ssl-${tag}.md`), md);
  await writeFileAtomic(join(values.out!, `ssl-${tag}.json`), JSON.stringify({ preset: values.preset, inference: values.inference, steps, crop, seeds, backend: info.backend, minutes, summary, runs: rows }, null, 2));
  process.stderr.write(md + '\n');
  console.log(JSON.stringify({ suite: 'ssl', summary: true, preset: values.preset, minutes, configs: summary }));
}
