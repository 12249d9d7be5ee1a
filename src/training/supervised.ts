/**
 * `trainSupervised`: the library function behind `ben train --objective supervised`. Reads a data
 * set, trains a backbone + linear classifier with cross-entropy on the `label` column (batches
 * from the data layer's samplers: grouped by plate for BEN, by experiment, or random; augmented by
 * its pipeline), then reports accuracy on named splits under
 * each requested BN normalization mode (Lin & Lu 2022's supervised RxRx1 setting).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { Dataset } from '../data/image-dataset.ts';
import { readDataset } from '../data/readers/index.ts';
import { backbones } from '../models/index.ts';
import { trainBackbone } from './train-backbone.ts';
import { setNormalization, type NormalizationMode } from '../models/ben-batchnorm.ts';
import { modelInputMetadata, saveModel } from '../models/io.ts';
import type { EvalResult } from '../objectives/objective.ts';
import type { AugmentationSpec, AugmentPreset } from '../data/augment/augment.ts';
import { evalPlates } from './eval-plates.ts';
import { batchingSampler, type Batching, type SamplerSpec } from '../data/batch-source.ts';
import type { OptimizerConfig } from './optimizers.ts';
import type { ScheduleConfig, StepRecord } from './trainer.ts';
import { claimRunDir, markRunFailed } from './run-info.ts';
import { RUN_LAYOUT } from './run-layout.ts';

/** Typed options of {@link trainSupervised} (validated by the caller: CLI or recipe). */
export interface TrainSupervisedOptions {
  /** A data set directory (any reader layout) or an already loaded Dataset. */
  data: string | Dataset;
  /** Backbone registry name (`small-convnet`, `resnet-small`, `resnet18`...). */
  backbone: string;
  /** How batches are formed: `plate` (BEN), `experiment` (WILDS default) or `random`. */
  batching: Batching;
  batchSize: number;
  /** A full sampler spec instead of `batching` (recipes); wins over `batching`. */
  sampler?: SamplerSpec;
  /** Training augmentation (data layer preset or specs). Default `wilds` (rot90, flip, standardize). */
  augment?: AugmentPreset | readonly AugmentationSpec[];
  steps: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  seed: number;
  /** Split to train on. Default `train`. */
  trainSplit?: string;
  /** Splits to evaluate after training. Default `id_test`, `test`. */
  evalSplits?: string[];
  /** Normalization modes to evaluate with. Default [`running`, `batch`, `plate`]. */
  evalModes?: NormalizationMode[];
  /** Evaluate at most this many plates per split (evenly spaced in sorted key order, so every experiment is represented; 0: all). Default 0. */
  maxEvalPlates?: number;
  /** Evaluation batch size for `batch` mode and plate passes (0: whole plate). Default 0. */
  evalBatchSize?: number;
  /** Run directory for checkpoints, metrics.jsonl, model/ and results.json. */
  runDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** Replace an earlier run in `runDir`. */
  overwrite?: boolean;
  progress?: boolean;
  /** Per-step callback (benchmarks). */
  onStep?: (r: StepRecord) => void;
}

/** What {@link trainSupervised} returns (also written to `results.json`). */
export interface TrainSupervisedResult {
  steps: number;
  /** Mean loss of the last 10% of steps run. */
  finalLoss: number;
  seconds: number;
  imagesPerSec: number;
  /** `accuracy[split][mode]`. */
  eval: Record<string, Partial<Record<NormalizationMode, EvalResult>>>;
}

/** Trains and evaluates a supervised model; see the module comment. */
export async function trainSupervised(o: TrainSupervisedOptions): Promise<TrainSupervisedResult> {
  backbones.get(o.backbone); // an unknown name fails before any data work
  if (!o.runDir) return trainSupervisedIn(o);
  const claim = await claimRunDir(o.runDir, { resume: o.resume, overwrite: o.overwrite, inputs: typeof o.data === 'string' ? [o.data] : [] });
  try {
    return await trainSupervisedIn(o);
  } catch (e) {
    await markRunFailed(o.runDir, e);
    throw e;
  } finally {
    await claim.release();
  }
}

/** The normalization modes a supervised run is evaluated with unless told otherwise. */
export const DEFAULT_EVAL_MODES: readonly NormalizationMode[] = ['running', 'batch', 'plate'];

async function trainSupervisedIn(o: TrainSupervisedOptions): Promise<TrainSupervisedResult> {
  const all = typeof o.data === 'string' ? await readDataset(o.data) : o.data;
  const trainSplit = o.trainSplit ?? 'train';
  const evalSplits = o.evalSplits ?? ['id_test', 'test'];
  const modes = o.evalModes ?? DEFAULT_EVAL_MODES;
  const train = await all.split(trainSplit).load();
  const sampler = o.sampler ?? batchingSampler(o.batching, o.batchSize);
  const fit = await trainBackbone({
    data: train,
    numClasses: all.labels.length,
    backbone: o.backbone,
    objective: { name: 'supervised' },
    sampler,
    augment: o.augment ?? 'wilds',
    // Whole images: the flag path's augmentations do not resize.
    inputSize: train.height,
    optimizer: o.optimizer,
    schedule: () => o.schedule,
    steps: o.steps,
    seed: o.seed,
    runDir: o.runDir,
    checkpointEvery: o.checkpointEvery,
    resume: o.resume,
    progress: o.progress,
    label: () => `train supervised (${o.sampler ? sampler.type : o.batching} batches)`,
    onStep: o.onStep,
    config: { objective: 'supervised', backbone: o.backbone, sampler, seed: o.seed },
  });
  const model = fit.backbone;
  const objective = fit.objective;
  const out: TrainSupervisedResult = { steps: fit.step, finalLoss: fit.finalLoss, seconds: fit.seconds, imagesPerSec: fit.imagesPerSec, eval: {} };
  for (const split of evalSplits) {
    const ds = await all.split(split).load();
    let plates = evalPlates(ds, ds.classIds(), o.evalBatchSize ?? 0);
    // Evenly spaced over the sorted keys, so a subset spans every experiment (cell type) rather than
    // the first experiment's plates only.
    if (o.maxEvalPlates && o.maxEvalPlates < plates.length) {
      const sorted = plates;
      const n = o.maxEvalPlates;
      plates = Array.from({ length: n }, (_, i) => sorted[Math.floor((i * sorted.length) / n)]);
    }
    out.eval[split] = {};
    for (const mode of modes) out.eval[split][mode] = await objective.evaluate!(plates, mode);
  }
  setNormalization(model, 'running');
  if (o.runDir) {
    await saveModel(model, join(o.runDir, RUN_LAYOUT.model), {
      backbone: o.backbone,
      embeddingDim: fit.spec.embeddingDim,
      // Trained on whole images (the flag path's augmentations do not resize).
      ...modelInputMetadata({ inputSize: train.height, preprocess: 'standardize', resizeMode: 'resize', trainImageSize: [train.height, train.width] }),
      channels: all.channels,
      labels: all.labels,
      objective: 'supervised',
    });
    await writeFileAtomic(join(o.runDir, RUN_LAYOUT.results), JSON.stringify(out, null, 2));
  }
  return out;
}
