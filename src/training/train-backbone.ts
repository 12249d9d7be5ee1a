/**
 * The one way into training: a backbone from the `backbones` registry, an objective from the
 * `objectives` registry built around it, the data layer's sampler + augmentation pipeline, and the
 * {@link Trainer}, all seeded from one seed. Typed options only: the recipe's train stage and
 * `ben train`'s flags both map onto {@link TrainBackboneOptions}.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { AugmentationSpec, AugmentPreset } from '../data/augment/augment.ts';
import type { Dataset } from '../data/image-dataset.ts';
import { hashSeed } from '../data/seed.ts';
import { backbones } from '../models/index.ts';
import type { Backbone } from '../models/backbone.ts';
import { objectives } from '../objectives/index.ts';
import type { Objective } from '../objectives/objective.ts';
import { UserError } from '../util/errors.ts';
import type { OptimizerConfig } from './optimizers.ts';
import { createBatchSource, type SamplerSpec } from '../data/batch-source.ts';
import { Trainer, type ScheduleConfig, type StepRecord, type TrainMonitor } from './trainer.ts';

/** Options of {@link trainBackbone}. */
export interface TrainBackboneOptions {
  /** Training images (loaded, or small enough to decode on demand), square. */
  data: Dataset;
  /** Classes of the label vocabulary (supervised heads). */
  numClasses: number;
  /** Backbone registry name. */
  backbone: string;
  /** Objective registry name and its options. */
  objective: { name: string; options?: Record<string, unknown> };
  /** Views the caller's augmentation expects; a mismatch with the objective's is a user error. */
  views?: number;
  sampler: SamplerSpec;
  /** Training augmentation (preset or specs); default per views (data layer). */
  augment?: AugmentPreset | readonly AugmentationSpec[];
  /** One augmentation chain per view, replacing `augment` (the recipe's `augment.perView`). */
  viewAugment?: readonly (readonly AugmentationSpec[])[];
  /** Square model input in pixels (the crop size). */
  inputSize: number;
  optimizer: OptimizerConfig;
  /** The schedule, given the run's total steps. */
  schedule: (totalSteps: number) => ScheduleConfig;
  /** Optimizer steps, or epochs of the sampler. */
  steps: number | { epochs: number };
  seed: number;
  /** A periodic evaluation of the backbone being trained. */
  monitor?: (backbone: tfl.LayersModel) => TrainMonitor | undefined;
  /** Run directory for checkpoints and metrics.jsonl (nothing is written without it). */
  runDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  progress?: boolean;
  /** Progress-bar label, given the objective's name. */
  label?: (objective: string) => string;
  /** Stored in checkpoints and checked on resume. */
  config?: Record<string, unknown>;
  onStep?: (r: StepRecord) => void;
  stopAfter?: number;
  log?: (line: string) => void;
}

/** A trained backbone with its objective; {@link TrainedBackbone.dispose} frees both. */
export interface TrainedBackbone {
  backbone: tfl.LayersModel;
  spec: Backbone;
  objective: Objective;
  /** Steps completed in total, and those the run is meant to take. */
  step: number;
  totalSteps: number;
  /** Losses of the steps run in this call; mean of their last 10 %. */
  losses: number[];
  finalLoss: number;
  seconds: number;
  imagesPerSec: number;
  /** Last monitor values. */
  monitor?: Record<string, number>;
  /** Frees every weight of the backbone and the objective's heads. */
  dispose(): void;
}

/** Trains a backbone with an objective; see the module comment. */
export async function trainBackbone(o: TrainBackboneOptions): Promise<TrainedBackbone> {
  const objective = objectives.get(o.objective.name)(o.objective.options ?? {});
  if (o.views !== undefined && o.views !== objective.views) {
    throw new UserError(`augment.views is ${o.views} but objective "${objective.name}" uses ${objective.views} view(s); make them equal (or leave augment.views out).`);
  }
  if (o.viewAugment && o.viewAugment.length !== objective.views) {
    throw new UserError(`augment.perView has ${o.viewAugment.length} entries but objective "${objective.name}" uses ${objective.views} view(s); give one entry per view ({} keeps the shared settings).`);
  }
  if (o.data.height !== o.data.width) throw new UserError(`training expects square images; ${o.data.root} has ${o.data.height}x${o.data.width}. Set augment.cropSize to crop square views.`);
  const spec = backbones.get(o.backbone);
  const channels = o.data.images.channels;
  // Never 0: tfjs initializers treat a seed of 0 as "no seed" (Math.random), which breaks
  // same-seed-same-numbers for the first layer of a backbone built with seed 0.
  const initSeed = (salt: number) => (hashSeed(o.seed, salt) % 0x7ffffffe) + 1;
  const backbone = spec.build({ channels, size: o.inputSize, seed: initSeed(0xb0b) });
  objective.build({
    backbone,
    embeddingDim: spec.embeddingDim,
    numClasses: o.numClasses,
    seed: initSeed(0x4ead),
    buildBackbone: () => spec.build({ channels, size: o.inputSize, seed: initSeed(0x7a6) }),
  });
  const dispose = () => {
    const vars = new Set([...objective.trainableVariables(), ...backbone.weights.map((w) => w.read())]);
    for (const v of vars) v.dispose();
    objective.dispose?.();
  };
  try {
    const source = createBatchSource(o.data, { sampler: o.sampler, views: objective.views, augment: o.augment, viewAugment: o.viewAugment, seed: o.seed });
    const totalSteps = typeof o.steps === 'number' ? o.steps : Math.max(1, Math.ceil(o.steps.epochs * source.sampler.batchesPerEpoch));
    // Zero steps keep the network as initialised: the untrained baseline of a comparison.
    const trainer = totalSteps === 0 ? undefined : new Trainer({
      backbone,
      objective,
      optimizer: o.optimizer,
      schedule: o.schedule(totalSteps),
      steps: totalSteps,
      runDir: o.runDir,
      checkpointEvery: o.checkpointEvery,
      monitor: o.monitor?.(backbone),
      progress: o.progress,
      label: o.label?.(objective.name),
      onStep: o.onStep,
      stopAfter: o.stopAfter,
      log: o.log,
      config: o.config,
    });
    const t0 = performance.now();
    let fit: { step: number; losses: number[]; monitor?: Record<string, number> };
    if (!trainer) {
      o.log?.('training.steps is 0: the initialised network is kept untrained');
      fit = { step: 0, losses: [] };
    } else {
      try {
        fit = await trainer.fit(source, { resume: o.resume });
      } finally {
        trainer.dispose();
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const tail = fit.losses.slice(-Math.max(1, Math.ceil(fit.losses.length / 10)));
    const batchImages = typeof o.sampler.batchSize === 'number' ? o.sampler.batchSize : NaN;
    return {
      backbone,
      spec,
      objective,
      step: fit.step,
      totalSteps,
      losses: fit.losses,
      finalLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
      seconds,
      imagesPerSec: (fit.losses.length * batchImages * objective.views) / Math.max(seconds, 1e-9),
      monitor: fit.monitor,
      dispose,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}
