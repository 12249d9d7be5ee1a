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
 * CPU budget: training runs on `--crop`-pixel random resized crops (default 32) of the 64-pixel
 * images and embedding sees the whole image average-pooled to the same size, which the recipes'
 * 64-pixel setting would make ~10x slower on this machine.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Dataset } from '../src/data/dataset.ts';
import { readDataset } from '../src/data/readers/index.ts';
import { embedDataset } from '../src/embedding/embedder.ts';
import { initBackend } from '../src/engine/backend.ts';
import { computeKnnAccuracy } from '../src/evaluation/knn.ts';
import { computeLinearProbe, splitRows } from '../src/evaluation/linear-probe.ts';
import type { ProfileTable } from '../src/evaluation/profile-table.ts';
import { backbones } from '../src/models/index.ts';
import type { NormalizationMode } from '../src/models/ben-batchnorm.ts';
import { objectives } from '../src/objectives/index.ts';
import type { ObjectiveBatch } from '../src/objectives/objective.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import type { Recipe } from '../src/recipe/schema.ts';
import { BATCHING_KEYS, GroupedBatchSampler, standardiseInto } from '../src/training/batches.ts';
import { Trainer, type BatchSource } from '../src/training/trainer.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { Rng } from '../src/util/rng.ts';
import { ensureSynth } from './ben.ts';

/** Augmentation settings of {@link MultiViewBatchSource} (the recipe's `augment` section). */
interface ViewAugment {
  views: number;
  cropSize: number;
  cropScale: [number, number];
  flip: boolean;
  rot90: boolean;
  intensityJitter: number;
}

/**
 * Multi-view batches for self-supervised training: the sampler picks the images (one plate per
 * batch for BEN, anything for random batches); each view of each image is standardised per
 * channel, rotated/flipped, randomly resized-cropped (area in `cropScale`, aspect 3/4-4/3) to
 * `cropSize` and jittered per channel (gain and offset). A stand-in until the data layer's
 * augmentation pipeline plugs into the same {@link BatchSource} interface.
 */
class MultiViewBatchSource implements BatchSource {
  private readonly sampler: GroupedBatchSampler;
  private rng: Rng;
  constructor(
    private readonly ds: Dataset,
    private readonly aug: ViewAugment,
    batching: 'plate' | 'random',
    batchSize: number,
    seed: number,
  ) {
    this.sampler = new GroupedBatchSampler(ds.rows, BATCHING_KEYS[batching], batchSize, seed);
    this.rng = new Rng(seed ^ 0x51ed270b);
  }

  next(): ObjectiveBatch {
    const { rows, group } = this.sampler.next();
    const { height: h, width: w, channels: c } = this.ds.images;
    const B = rows.length;
    const a = this.aug;
    const views = Array.from({ length: a.views }, () => {
      const px = new Float32Array(B * h * w * c);
      const boxes = new Float32Array(B * 4);
      const gain = new Float32Array(B * c);
      const offset = new Float32Array(B * c);
      rows.forEach((r, i) => {
        const k = a.rot90 ? this.rng.int(4) : 0;
        const flip = a.flip && this.rng.next() < 0.5;
        standardiseInto(this.ds.images.getSync(r), h, w, c, px, i * h * w * c, k, flip);
        const area = this.rng.uniform(a.cropScale[0], a.cropScale[1]);
        const ratio = Math.exp(this.rng.uniform(Math.log(3 / 4), Math.log(4 / 3)));
        const ch = Math.min(1, Math.sqrt(area / ratio));
        const cw = Math.min(1, Math.sqrt(area * ratio));
        const y0 = this.rng.uniform(0, 1 - ch);
        const x0 = this.rng.uniform(0, 1 - cw);
        boxes.set([y0, x0, y0 + ch, x0 + cw], i * 4);
        for (let j = 0; j < c; j++) {
          gain[i * c + j] = 1 + this.rng.uniform(-a.intensityJitter, a.intensityJitter);
          offset[i * c + j] = this.rng.uniform(-a.intensityJitter, a.intensityJitter);
        }
      });
      return tf.tidy(() => {
        const img = tf.tensor4d(px, [B, h, w, c]);
        const crops = tf.image.cropAndResize(img, tf.tensor2d(boxes, [B, 4]), tf.range(0, B, 1, 'int32') as tf.Tensor1D, [a.cropSize, a.cropSize]);
        return tf.add(tf.mul(crops, tf.tensor4d(gain, [B, 1, 1, c])), tf.tensor4d(offset, [B, 1, 1, c])) as tf.Tensor4D;
      });
    });
    return { views, group };
  }

  getState(): unknown {
    return { sampler: this.sampler.getState(), rng: this.rng.getState() };
  }

  setState(s: unknown): void {
    const st = s as { sampler: ReturnType<GroupedBatchSampler['getState']>; rng: number[] };
    this.sampler.setState(st.sampler);
    this.rng = Rng.fromState(st.rng);
  }
}

/** The backbone behind an average-pooling layer that brings full images to the training size. */
function atImageSize(backbone: tfl.LayersModel, ds: Dataset, size: number): tfl.LayersModel {
  const { height: h, width: w, channels: c } = ds.images;
  if (h % size !== 0 || w % size !== 0 || h / size !== w / size) throw new Error(`--crop ${size} must divide the ${h}x${w} images evenly`);
  const input = tfl.input({ shape: [h, w, c] });
  const f = h / size;
  const pooled = f === 1 ? input : (tfl.layers.averagePooling2d({ poolSize: f, strides: f }).apply(input) as tfl.SymbolicTensor);
  return tfl.model({ inputs: input, outputs: backbone.apply(pooled) as tfl.SymbolicTensor });
}

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

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const sd = (a: number[]) => (a.length > 1 ? Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1)) : 0);

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
  const dir = await ensureSynth(values.preset!, false, values.data!);
  const all = await readDataset(dir);
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
        const recipe: Recipe = loadRecipe(join(values.recipes!, `${objName}-${batching === 'plate' ? 'ben' : 'random'}.yaml`));
        const mode = recipe.embedding.normalization as NormalizationMode;
        const batchSize = values.batch ? Number(values.batch) : (recipe.sampler.batchSize as number);
        const bb = backbones.get(recipe.backbone.name);
        const channels = train.images.channels;
        const backbone = bb.build({ channels, size: crop, seed });
        const objective = objectives.get(recipe.objective.name)(recipe.objective.options);
        objective.build({ backbone, embeddingDim: bb.embeddingDim, seed, buildBackbone: () => bb.build({ channels, size: crop, seed: seed + 1000 }) });
        const source = new MultiViewBatchSource(
          train,
          { ...recipe.augment, views: objective.views, cropSize: crop },
          batching,
          batchSize,
          seed,
        );
        const trainer = new Trainer({
          backbone,
          objective,
          optimizer: { name: recipe.optimizer.name, weightDecay: recipe.optimizer.weightDecay, momentum: recipe.optimizer.momentum },
          schedule: { baseLr: values.lr ? Number(values.lr) : recipe.optimizer.lr, warmupSteps: Math.round(steps / 10) },
          steps,
          progress: true,
          label: `${objName}/${batching}/seed${seed}`,
        });
        const tTrain = performance.now();
        const fit = await trainer.fit(source);
        const trainSeconds = (performance.now() - tTrain) / 1000;
        trainer.dispose();
        const model = atImageSize(backbone, train, crop);
        const tEmbed = performance.now();
        const embOod = (await embedDataset(model, ood, { normalization: mode, batchSize: 256 })).table;
        const embProbe = (await embedDataset(model, probeTrain, { normalization: mode, batchSize: 256 })).table;
        const embedSeconds = (performance.now() - tEmbed) / 1000;
        const ev = evaluate(embOod, embProbe, recipe.evaluation.k, seed);
        const row: Row = { objective: objName, batching, seed, knnCrossPlate: await ev.knnCrossPlate, probeOod: ev.probeOod, platePredictability: ev.platePredictability };
        rows.push(row);
        console.log(
          JSON.stringify({
            suite: 'ssl',
            preset: values.preset,
            ...row,
            inference: mode,
            probeChance: ev.probeChance,
            plateChance: ev.plateChance,
            steps,
            batchSize,
            crop,
            firstLoss: fit.losses[0],
            finalLoss: mean(fit.losses.slice(-10)),
            trainSeconds,
            embedSeconds,
            oodImages: embOod.n,
            probeImages: embProbe.n,
          }),
        );
        tf.dispose(objective.trainableVariables());
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
