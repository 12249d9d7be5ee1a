/**
 * Recipe sections -> the typed configurations the library takes (augmentation specs of the data
 * layer, sampler spec, optimizer and schedule). The only place that reads recipe fields for the
 * training stage, so the library functions never see the whole recipe.
 */
import type { AugmentationSpec } from '../data/augment/augment.ts';
import type { OptimizerConfig } from '../training/optimizers.ts';
import type { SamplerSpec } from '../data/batch-source.ts';
import type { ScheduleConfig } from '../training/trainer.ts';
import type { Recipe } from './schema.ts';

/**
 * The training augmentation chain of the recipe's `augment` section for images of `imageSize`
 * pixels: random resized crop to `cropSize` (when it crops or resizes), rot90, flips, Gaussian blur,
 * per-image standardisation, then intensity jitter (after standardisation, which would undo it).
 * The order matches the deterministic model input of data/preprocess.ts (resize, then standardise).
 */
export function augmentSpecs(a: Recipe['augment'], imageSize: number): AugmentationSpec[] {
  const out: AugmentationSpec[] = [];
  const crops = a.cropScale[0] < 1 || a.cropScale[1] < 1 || a.cropSize !== imageSize;
  if (crops) out.push({ name: 'random-resized-crop', scale: [Math.min(a.cropScale[0], 1), Math.min(a.cropScale[1], 1)], size: a.cropSize });
  if (a.rot90) out.push({ name: 'rot90' });
  // rot90 x horizontal flip already spans the dihedral group; a vertical flip adds nothing.
  if (a.flip) out.push({ name: 'flip', vertical: !a.rot90 });
  if (a.blurProb > 0) out.push({ name: 'gaussian-blur', p: a.blurProb, sigma: [0.1, 1.5] });
  if (a.standardize) out.push({ name: 'standardize' });
  if (a.intensityJitter > 0) out.push({ name: 'intensity-jitter', scale: Math.min(a.intensityJitter, 1), shift: a.intensityJitter, p: 0.8 });
  return out;
}

/** One chain per view when the recipe's `augment.perView` asks for asymmetric views, else undefined. */
export function viewAugmentSpecs(a: Recipe['augment'], imageSize: number): AugmentationSpec[][] | undefined {
  return a.perView?.map((o) => augmentSpecs({ ...a, ...o }, imageSize));
}

/** The sampler spec of the recipe's `sampler` section. */
export function samplerSpec(s: Recipe['sampler']): SamplerSpec {
  return { type: s.type, groupBy: s.groupBy, batchSize: s.batchSize, groupsPerBatch: s.groupsPerBatch, perGroupStatistics: s.perGroupStatistics, unit: s.unit, dropLast: s.dropLast, shuffle: s.shuffle };
}

/** The optimizer config of the recipe's `optimizer` section. */
export function optimizerConfig(o: Recipe['optimizer']): OptimizerConfig {
  return { name: o.name, weightDecay: o.weightDecay, momentum: o.momentum };
}

/** The warmup-cosine schedule of the recipe for a run of `totalSteps` (linear warmup, cosine to 0). */
export function scheduleConfig(r: Recipe, totalSteps: number): ScheduleConfig {
  // A shortened run (`--set training.steps=3`) keeps a warmup shorter than the run itself.
  return { baseLr: r.optimizer.lr, warmupSteps: Math.min(r.training.warmupSteps, Math.max(totalSteps - 1, 0)), finalLr: 0 };
}
