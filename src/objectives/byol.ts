import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { cosineMomentum, emaUpdate } from './ema.ts';
import { buildHead, byolPredictor, byolProjector } from './heads.ts';
import { symmetricByolLoss } from './losses/byol-loss.ts';
import { embeddingStd } from './losses/embedding-std.ts';
import { stopGradient } from './losses/stop-gradient.ts';
import { applyPerGroup } from './per-group.ts';
import { parseObjectiveOptions, type Objective, type ObjectiveBatch, type ObjectiveContext, type ObjectiveOutput } from './objective.ts';

/** Options of {@link BYOL}, as a recipe writes them (`objective.options`). */
export const byolOptionsSchema = z
  .object({
    /** Augmented views per image (the paper: 2). */
    views: z.int().min(2).default(2),
    /** Projector and predictor hidden width (the paper: 4096). */
    hiddenDim: z.int().positive().default(4096),
    /** Projection (and prediction) width (the paper: 256). */
    projectionDim: z.int().positive().default(256),
    /** Target momentum at step 0 (the paper: 0.996 at batch 4096; 0.99 for small batches). */
    baseMomentum: z.number().min(0).max(1).default(0.99),
    /** Target momentum at the last step. */
    finalMomentum: z.number().min(0).max(1).default(1),
    /**
     * Learning-rate multiplier of the predictor relative to the backbone and projector (SimSiam and
     * DirectPred train the predictor faster so that it stays close to its optimum for the current
     * target). 1: one learning rate for all, as in the paper.
     */
    predictorLrScale: z.number().positive().default(1),
    /** Normalisation of the predictor's hidden layer: `batch` (the paper's BatchNorm) or `none` (Linear - ReLU - Linear). */
    predictorNorm: z.enum(['batch', 'none']).default('batch'),
  })
  .strict()
  .refine((o) => o.baseMomentum <= o.finalMomentum, { message: 'baseMomentum must be <= finalMomentum', path: ['baseMomentum'] });

/** Validated BYOL options. */
export type ByolOptions = z.infer<typeof byolOptionsSchema>;


/** A fresh copy of `model`'s architecture (weights re-initialised), built from its config. */
function cloneArchitecture(model: tfl.LayersModel): tfl.LayersModel {
  const config = model.getConfig();
  return model instanceof tfl.Sequential
    ? (tfl.Sequential.fromConfig(tfl.Sequential, config) as tfl.Sequential)
    : (tfl.LayersModel.fromConfig(tfl.LayersModel, config) as tfl.LayersModel);
}

/** The variables behind `weights` (LayerVariable.read() returns the variable itself). */
function variablesOf(weights: tfl.LayerVariable[]): tf.Variable[] {
  return weights.map((w) => w.read() as tf.Variable);
}

/**
 * BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network (backbone, projector,
 * predictor) regresses the projections of a target network (a copy of backbone + projector) whose
 * weights are an exponential moving average of the online ones, with the cosine momentum schedule
 * `tau_base -> 1`. The loss is symmetrized over views. Both networks run in training mode, so every
 * BatchNorm, the target's included, normalizes with the statistics of the current batch: one plate
 * under BEN. Each view goes through the networks separately, as in the paper's implementation.
 *
 * The target's weights are extra checkpoint state ({@link extraState}); {@link afterStep} moves
 * them towards the online weights after each optimizer step.
 */
export class BYOL implements Objective {
  readonly name = 'byol';
  readonly views: number;
  private online?: { backbone: tfl.LayersModel; projector: tfl.Sequential; predictor: tfl.Sequential };
  private target?: { backbone: tfl.LayersModel; projector: tfl.Sequential };
  private pairs: Array<[tf.Variable, tf.Variable]> = [];
  private momentum: number;

  constructor(readonly options: ByolOptions) {
    this.views = options.views;
    this.momentum = options.baseMomentum;
  }

  /** Creates projector, predictor and the target network (initialised as a copy of the online one). */
  build(ctx: ObjectiveContext): void {
    const { hiddenDim, projectionDim } = this.options;
    const projectorBlocks = byolProjector(ctx.embeddingDim, hiddenDim, projectionDim);
    const backbone = ctx.backbone;
    const projector = buildHead(projectorBlocks, { seed: ctx.seed, name: 'byol_projector' });
    const predictor = buildHead(byolPredictor(projectionDim, hiddenDim, this.options.predictorNorm), { seed: ctx.seed + 1, name: 'byol_predictor' });
    const targetBackbone = ctx.buildBackbone ? ctx.buildBackbone() : cloneArchitecture(backbone);
    const targetProjector = buildHead(projectorBlocks, { seed: ctx.seed, name: 'byol_target_projector' });
    for (const [src, dst] of [
      [backbone, targetBackbone],
      [projector, targetProjector],
    ] as const) {
      const a = src.weights;
      const b = dst.weights;
      if (a.length !== b.length || a.some((w, i) => !tf.util.arraysEqual(w.shape as number[], b[i].shape as number[]))) {
        throw new Error(`byol: the target copy of "${src.name}" does not have the online network's weight shapes`);
      }
      // Pairs are taken before freezing the target, while trainableWeights lists them.
      const online = variablesOf(src.trainableWeights);
      const target = variablesOf(dst.trainableWeights);
      online.forEach((v, i) => this.pairs.push([v, target[i]]));
      dst.setWeights(src.getWeights().map((t) => t.clone()));
      // Not trainable: optimizers that default to "all trainable variables" leave the target alone.
      dst.trainable = false;
    }
    this.online = { backbone, projector, predictor };
    this.target = { backbone: targetBackbone, projector: targetProjector };
  }

  /**
   * Symmetrized BYOL loss. Metrics: `loss`, `cos` (mean cosine between predictions and the other
   * views' targets), `z_std` (collapse monitor of the online projections), `tau` (the target
   * momentum last applied).
   */
  loss(batch: ObjectiveBatch): ObjectiveOutput {
    const { online, target } = this.parts();
    if (batch.views.length !== this.views) {
      throw new Error(`byol expects ${this.views} views per image, the batch has ${batch.views.length}`);
    }
    return tf.tidy(() => {
      const predictions: tf.Tensor2D[] = [];
      const targets: tf.Tensor2D[] = [];
      let firstProjection: tf.Tensor2D | undefined;
      const g = batch.bnGroups;
      for (const x of batch.views) {
        const zOnline = applyPerGroup((v: tf.Tensor4D) => online.projector.apply(online.backbone.apply(v, { training: true }), { training: true }) as tf.Tensor, x, g) as tf.Tensor2D;
        firstProjection ??= zOnline;
        predictions.push(applyPerGroup((z: tf.Tensor2D) => online.predictor.apply(z, { training: true }) as tf.Tensor, zOnline, g) as tf.Tensor2D);
        const zTarget = applyPerGroup((v: tf.Tensor4D) => target.projector.apply(target.backbone.apply(v, { training: true }), { training: true }) as tf.Tensor, x, g) as tf.Tensor2D;
        targets.push(stopGradient(zTarget));
      }
      const loss = symmetricByolLoss(predictions, targets);
      const pairCount = this.views * (this.views - 1);
      return {
        loss,
        metrics: {
          loss: tf.clone(loss),
          cos: tf.sub(1, tf.div(loss, 2 * pairCount)) as tf.Scalar,
          z_std: embeddingStd(firstProjection!),
          tau: tf.scalar(this.momentum),
        },
      };
    });
  }

  /** Online backbone, projector and predictor variables (never the target's). */
  trainableVariables(): tf.Variable[] {
    const { online } = this.parts();
    return variablesOf([...online.backbone.trainableWeights, ...online.projector.trainableWeights, ...online.predictor.trainableWeights]);
  }

  /** 1 for the backbone and projector, `predictorLrScale` for the predictor ({@link trainableVariables} order). */
  lrScales(): number[] {
    const { online } = this.parts();
    const shared = online.backbone.trainableWeights.length + online.projector.trainableWeights.length;
    return [...Array<number>(shared).fill(1), ...Array<number>(online.predictor.trainableWeights.length).fill(this.options.predictorLrScale)];
  }

  /**
   * EMA of the target after optimizer step `step` (0-based index of the step just taken) of
   * `totalSteps`: `xi <- tau xi + (1 - tau) theta` with `tau = cosineMomentum(step, totalSteps)`.
   */
  afterStep(step: number, totalSteps: number): void {
    this.parts();
    this.momentum = cosineMomentum(step, totalSteps, this.options.baseMomentum, this.options.finalMomentum);
    emaUpdate(this.pairs, this.momentum);
  }

  /** `[online, target]` variable pairs the EMA updates (backbone then projector, layer order). */
  momentumPairs(): ReadonlyArray<readonly [tf.Variable, tf.Variable]> {
    this.parts();
    return this.pairs;
  }

  /**
   * All target weights (trainable and BatchNorm moving statistics) as `target.backbone.<i>` and
   * `target.projector.<i>` in layer order. Fresh copies: the caller disposes them.
   */
  extraState(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [key, v] of this.targetEntries()) out[key] = v.clone();
    return out;
  }

  /** Restores {@link extraState}; throws a {@link UserError} naming the key that does not fit. */
  loadExtraState(state: Record<string, tf.Tensor>): void {
    const entries = this.targetEntries();
    for (const [key, v] of entries) {
      const t = state[key];
      if (!t) throw new UserError(`Checkpoint has no BYOL target weight "${key}"; it was saved by another objective or architecture. Start a fresh run or use the matching recipe.`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) {
        throw new UserError(`Checkpoint BYOL target weight "${key}" has shape [${t.shape.join(', ')}], this model needs [${v.shape.join(', ')}]; the recipe's backbone or head widths differ from the checkpoint's.`);
      }
    }
    for (const [key, v] of entries) v.assign(state[key]);
  }

  private targetEntries(): Array<[string, tf.Variable]> {
    const { target } = this.parts();
    return [
      ...variablesOf(target.backbone.weights).map((v, i) => [`target.backbone.${i}`, v] as [string, tf.Variable]),
      ...variablesOf(target.projector.weights).map((v, i) => [`target.projector.${i}`, v] as [string, tf.Variable]),
    ];
  }

  private parts(): { online: NonNullable<BYOL['online']>; target: NonNullable<BYOL['target']> } {
    if (!this.online || !this.target) throw new Error('byol: call build() before using the objective');
    return { online: this.online, target: this.target };
  }
}

/** Registry factory: validates recipe options and creates a {@link BYOL}. */
export function createByol(options: Record<string, unknown>): BYOL {
  return new BYOL(parseObjectiveOptions('byol', byolOptionsSchema, options));
}
