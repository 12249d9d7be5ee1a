import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { buildHead, simclrProjector } from './heads.ts';
import { embeddingStd } from './losses/embedding-std.ts';
import { ntXentLoss, ntXentTop1 } from './losses/nt-xent.ts';
import { applyPerGroup, deinterleaveViews, interleaveViews } from './per-group.ts';
import { parseObjectiveOptions, type Objective, type ObjectiveBatch, type ObjectiveContext, type ObjectiveOutput } from './objective.ts';

/** Options of {@link SimCLR}, as a recipe writes them (`objective.options`). */
export const simclrOptionsSchema = z
  .object({
    /** Augmented views per image (the paper: 2; more views add positives). */
    views: z.int().min(2).default(2),
    /** NT-Xent temperature (the paper: 0.1-0.5; solo-learn's small-data configs: 0.2). */
    temperature: z.number().positive().default(0.2),
    /** Projector hidden width (the paper: 2048). */
    projectorHiddenDim: z.int().positive().default(2048),
    /** Projector output width (the paper: 128). */
    projectorOutDim: z.int().positive().default(128),
    /**
     * Leave negatives with the anchor's label (treatment) out of the loss. Uses labels, so the
     * result is no longer self-supervised: a diagnostic of false negatives (replicate wells of one
     * treatment on the same plate are the hardest negatives of a one-plate batch). Default false.
     */
    excludeSameLabelNegatives: z.boolean().default(false),
  })
  .strict();

/** Validated SimCLR options. */
export type SimclrOptions = z.infer<typeof simclrOptionsSchema>;

/**
 * SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations"): backbone f, projector g = Linear-BN-ReLU-Linear, NT-Xent between the views of
 * each image. All views of the batch go through the networks together, so every BatchNorm
 * (backbone and projector) normalizes with the statistics of the whole multi-view batch, which
 * under BEN is one plate (and mirrors the paper's global BN over both views).
 */
export class SimCLR implements Objective {
  readonly name = 'simclr';
  readonly views: number;
  private backbone?: tfl.LayersModel;
  private projector?: tfl.Sequential;

  constructor(readonly options: SimclrOptions) {
    this.views = options.views;
  }

  /** Creates the projector on top of the backbone's embedding. */
  build(ctx: ObjectiveContext): void {
    this.backbone = ctx.backbone;
    const { projectorHiddenDim, projectorOutDim } = this.options;
    this.projector = buildHead(simclrProjector(ctx.embeddingDim, projectorHiddenDim, projectorOutDim), {
      seed: ctx.seed,
      name: 'simclr_projector',
    });
  }

  /**
   * NT-Xent over the views. Metrics: `loss`, `top1` (fraction of projections whose nearest other
   * projection is a view of the same image), `z_std` (collapse monitor of the projections).
   */
  loss(batch: ObjectiveBatch): ObjectiveOutput {
    const { backbone, projector } = this.parts();
    if (batch.views.length !== this.views) {
      throw new Error(`simclr expects ${this.views} views per image, the batch has ${batch.views.length}`);
    }
    if (this.options.excludeSameLabelNegatives && !batch.labels) throw new UserError('objective.options.excludeSameLabelNegatives needs labelled batches; the batch has no labels.');
    return tf.tidy(() => {
      const net = (x: tf.Tensor4D) => projector.apply(backbone.apply(x, { training: true }), { training: true }) as tf.Tensor2D;
      const groups = batch.bnGroups;
      // One BatchNorm batch holds all views of a plate (the paper's one-plate batch of 2N views).
      const zs =
        groups && groups.length > 1
          ? deinterleaveViews(applyPerGroup(net, interleaveViews(batch.views, groups), groups.map((n) => n * this.views)) as tf.Tensor2D, groups, this.views)
          : (tf.split(net(tf.concat(batch.views, 0)), this.views, 0) as tf.Tensor2D[]);
      const loss = ntXentLoss(zs, this.options.temperature, this.options.excludeSameLabelNegatives ? batch.labels : undefined);
      return { loss, metrics: { loss: tf.clone(loss), top1: ntXentTop1(zs), z_std: embeddingStd(zs[0]) } };
    });
  }

  /** Backbone and projector variables. */
  trainableVariables(): tf.Variable[] {
    const { backbone, projector } = this.parts();
    return [...backbone.trainableWeights, ...projector.trainableWeights].map((w) => w.read() as tf.Variable);
  }

  /** The projector head (for inspection and tests). */
  get projectorModel(): tfl.Sequential {
    return this.parts().projector;
  }

  private parts(): { backbone: tfl.LayersModel; projector: tfl.Sequential } {
    if (!this.backbone || !this.projector) throw new Error('simclr: call build() before using the objective');
    return { backbone: this.backbone, projector: this.projector };
  }
}

/** Registry factory: validates recipe options and creates a {@link SimCLR}. */
export function createSimclr(options: Record<string, unknown>): SimCLR {
  return new SimCLR(parseObjectiveOptions('simclr', simclrOptionsSchema, options));
}
