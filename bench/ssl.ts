/**
 * `npm run bench -- ssl [--preset bench] [--seeds 2] [--first-seed 0] [--steps 300] [--batch 64] [--crop 32]
 * [--objectives simclr,byol] [--batchings plate,random] [--probe-plates 1] [--out runs/bench-ssl]`:
 * issue 6's claim. Pretrains SimCLR and BYOL from `recipes/<objective>-<ben|random>.yaml`, each with
 * plate batches (BEN) and with random batches, on the synthetic preset's training experiments;
 * embeds the OOD-test experiments (BEN: `plate` inference; random baseline: `running`) and reports,
 * per seed and as mean ± sd over seeds:
 * - `knnCrossPlate`: kNN treatment accuracy, neighbours restricted to other plates (treatment wells);
 * - `probeOod`: linear-probe treatment accuracy, probe fitted on training-experiment embeddings
 *   (`--probe-plates` plates per experiment, same inference mode) and tested on the OOD experiments;
 * - `platePredictability`: linear-probe accuracy for the plate on the OOD embeddings (half of each
 *   plate's images to fit, half to test; lower is better, chance 1 / plates).
 * One JSON line per run and a summary line on stdout; `ssl-<preset>.md` / `.json` in --out.
 *
 * Each configuration is the library's `pretrain(recipe)` (data layer sampler + augmentation
 * pipeline, runs under `--out/<objective>-<batching>-seed<k>/`), then the saved model is embedded
 * with the training pipeline's deterministic input (whole image resized to the crop size,
 * standardised). CPU budget: training runs on `--crop`-pixel random resized crops (default 32) of
 * the 64-pixel images, which the recipes' 64-pixel setting would make ~4x slower on this machine.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { embedDataset } from '../src/embedding/embedder.ts';
import { initBackend } from '../src/engine/backend.ts';
import { computeKnnAccuracy } from '../src/evaluation/knn.ts';
import { computeLinearProbe, splitRows } from '../src/evaluation/linear-probe.ts';
import type { ProfileTable } from '../src/evaluation/profile-table.ts';
import type { NormalizationMode } from '../src/models/ben-batchnorm.ts';
import { ensureRecipeData, readRecipeData } from '../src/recipe/data.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import { loadEmbeddingModel } from '../src/training/embedding-model.ts';
import { pretrain } from '../src/training/pretrain.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { mean, sd } from './stats.ts';

/** The three numbers of the claim, from OOD and probe-training embeddings. */
function evaluate(ood: ProfileTable, probeTrain: ProfileTable, k: number, seed: number) {
  const isTreatment = (t: ProfileTable) => (i: number) => t.meta.Metadata_WellType[i] === 'treatment';
  const knn = computeKnnAccuracy(ood, {
    label: 'Metadata_Label',
    k,
    excludeSame: [['Metadata_Experiment', 'Metadata_Plate']],
    skipRows: (i) => !isTreatment(ood)(i),
  });
  // Linear probe: training-experiment treatment images -> OOD treatment images.
  const d = ood.d;
  const trainRows = [...Array(probeTrain.n).keys()].filter(isTreatment(probeTrain));
  const testRows = [...Array(ood.n).keys()].filter(isTreatment(ood));
  const x = new Float32Array((trainRows.length + testRows.length) * d);
  const labels: string[] = [];
  [...trainRows.map((i) => [probeTrain, i] as const), ...testRows.map((i) => [ood, i] as const)].forEach(([t, i], r) => {
    x.set(t.features.subarray(i * d, (i + 1) * d), r * d);
    labels.push(t.meta.Metadata_Label[i]);
  });
  const probe = computeLinearProbe(
    x,
    d,
    labels,
    trainRows.map((_, r) => r),
    testRows.map((_, r) => trainRows.length + r),
  );
  // Plate predictability on the OOD embeddings: half of each plate's images fit, half test.
  const plates = ood.meta.Metadata_Plate.map((p, i) => `${ood.meta.Metadata_Experiment[i]}/${p}`);
  const split = splitRows(ood.n, plates, { testFraction: 0.5, seed: seed + 7 });
  const plate = computeLinearProbe(ood.features, d, plates, split.train, split.test);
  return {
    knnCrossPlate: knn.then((r) => r.accuracy),
    probeOod: probe.testAccuracy,
    probeChance: probe.chanceAccuracy,
    platePredictability: plate.testAccuracy,
    plateChance: 1 / new Set(plates).size,
  };
}


export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string', default: 'bench' },
      seeds: { type: 'string', default: '2' },
      'first-seed': { type: 'string', default: '0' },
      steps: { type: 'string', default: '300' },
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
    },
  });
  const t0 = performance.now();
  const info = await initBackend(values.backend);
  const preset = values.preset!;
  const dataSection = { source: 'synthetic' as const, preset, params: {}, trainSplits: ['train'], evalSplits: ['test'], skipBad: false };
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
  type Row = { objective: string; batching: string; seed: number; knnCrossPlate: number; probeOod: number; platePredictability: number };
  const rows: Row[] = [];
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
        ];
        const recipe = loadRecipe(join(values.recipes!, `${objName}-${batching === 'plate' ? 'ben' : 'random'}.yaml`), sets);
        const mode = recipe.embedding.normalization as NormalizationMode;
        const fit = await pretrain(recipe, { runDir: join(values.out!, `${objName}-${batching}-seed${seed}`), data: all });
        const em = await loadEmbeddingModel(fit.modelDir);
        const tEmbed = performance.now();
        const embed = async (ds: typeof ood) => (await embedDataset(em.model, ds, { normalization: mode, batchSize: 256, preprocess: em.preprocess })).table;
        const embOod = await embed(ood);
        const embProbe = await embed(probeTrain);
        const embedSeconds = (performance.now() - tEmbed) / 1000;
        em.dispose();
        const ev = evaluate(embOod, embProbe, recipe.evaluation.k, seed);
        const row: Row = { objective: objName, batching, seed, knnCrossPlate: await ev.knnCrossPlate, probeOod: ev.probeOod, platePredictability: ev.platePredictability };
        rows.push(row);
        console.log(
          JSON.stringify({
            suite: 'ssl',
            preset,
            ...row,
            inference: mode,
            probeChance: ev.probeChance,
            plateChance: ev.plateChance,
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
    const f = (k: 'knnCrossPlate' | 'probeOod' | 'platePredictability') => ({ mean: mean(rs.map((r) => r[k])), sd: sd(rs.map((r) => r[k])) });
    return { objective: rs[0].objective, batching: rs[0].batching, seeds: rs.length, knnCrossPlate: f('knnCrossPlate'), probeOod: f('probeOod'), platePredictability: f('platePredictability') };
  });
  const pct = (x: { mean: number; sd: number }) => `${(100 * x.mean).toFixed(1)} ± ${(100 * x.sd).toFixed(1)}`;
  const md = [
    `Self-supervised pretraining, BEN vs random batches, synthetic preset \`${values.preset}\`, ${steps} steps, ${crop}px crops, ${seeds.length} seed(s), backend ${info.backend} (${info.threads} threads), ${minutes.toFixed(1)} min`,
    '',
    '| objective | batches (inference) | kNN cross-plate acc (%) | linear probe OOD acc (%) | plate predictability (%) ↓ |',
    '|---|---|---|---|---|',
    ...summary.map((s) => `| ${s.objective} | ${s.batching === 'plate' ? 'plate, BEN (plate)' : 'random (running)'} | ${pct(s.knnCrossPlate)} | ${pct(s.probeOod)} | ${pct(s.platePredictability)} |`),
    '',
  ].join('\n');
  await mkdir(values.out!, { recursive: true });
  await writeFileAtomic(join(values.out!, `ssl-${values.preset}.md`), md);
  await writeFileAtomic(join(values.out!, `ssl-${values.preset}.json`), JSON.stringify({ preset: values.preset, steps, crop, seeds, backend: info.backend, minutes, summary, runs: rows }, null, 2));
  process.stderr.write(md + '\n');
  console.log(JSON.stringify({ suite: 'ssl', summary: true, preset: values.preset, minutes, configs: summary }));
}
