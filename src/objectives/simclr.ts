import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { BackboneHeadObjective } from './backbone-head.ts';
import { buildHead, simclrProjector } from './heads.ts';
import { embeddingStd } from './losses/embedding-std.ts';
import { groupedNtXentLoss, ntXentTop1 } from './losses/nt-xent.ts';
import { stopGradient } from './losses/stop-gradient.ts';
import { applyPerGroup, arrangeViews, deinterleaveViews, interleaveViews, splitViewArrangement, unarrangeViews } from './per-group.ts';
import { parseObjectiveOptions, type Objective, type ObjectiveBatch, type ObjectiveContext, type ObjectiveOutput } from './objective.ts';

/** Checkpoint key of the previous-batch negatives. */
const PREVIOUS_KEY = 'previous_negatives';

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
    /**
     * With several plates per batch normalised separately (`sampler.groupsPerBatch` >= 2 and
     * `sampler.perGroupStatistics: true`), what the other plates' projections are to a plate's
     * anchors. `shared` (default): ordinary negatives with gradient (one NT-Xent over the batch).
     * `detached`: extra negatives with the gradient stopped, each plate's anchors and positives its
     * own (the BEN paper's two plates per step, second plate detached, made symmetric over the k
     * plates). `excluded`: left out, k separate one-plate losses per step. No effect on batches of
     * one BatchNorm group.
     */
    crossGroupNegatives: z.enum(['shared', 'detached', 'excluded']).default('shared'),
    /**
     * Append the previous optimizer step's projections (all views, gradient stopped) to every
     * denominator as extra negatives (the BEN paper's `store_prev_batch`; here the projections the
     * previous step computed, one step stale, not a second forward pass after the update). The
     * queue advances in `afterStep`, so only optimizer steps move it; it is checkpointed as extra
     * state so a resumed run continues exactly. The first step has none. Default false.
     */
    previousBatchNegatives: z.boolean().default(false),
    /**
     * Shuffle-BN within the plate: cut each plate's images into `views` parts and give BatchNorm
     * groups in which the views of one image never meet (V = 2: view 1 of half A with view 2 of
     * half B, and the other two), each group still rows of one plate only, so per-plate statistics
     * stay but the loss cannot match a positive pair through shared batch statistics. Doubles the
     * BatchNorm groups (each about the plate's chunk size in rows). Combines with several plates per
     * batch and `crossGroupNegatives`. Default false.
     */
    splitViewGroups: z.boolean().default(false),
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
export class SimCLR extends BackboneHeadObjective<tfl.Sequential> implements Objective {
  readonly name = 'simclr';
  readonly views: number;
  /** Last optimizer step's projections [V*B, D] (previousBatchNegatives), and this step's until afterStep. */
  private previous?: tf.Tensor2D;
  private pending?: tf.Tensor2D;

  constructor(readonly options: SimclrOptions) {
    super();
    this.views = options.views;
  }

  /** The projector on top of the backbone's embedding. */
  protected createHead(ctx: ObjectiveContext): tfl.Sequential {
    const { projectorHiddenDim, projectorOutDim } = this.options;
    return buildHead(simclrProjector(ctx.embeddingDim, projectorHiddenDim, projectorOutDim), {
      seed: ctx.seed,
      name: 'simclr_projector',
    });
  }

  /**
   * NT-Xent over the views. Metrics: `loss`, `top1` (fraction of projections whose nearest other
   * projection is a view of the same image), `z_std` (collapse monitor of the projections).
   */
  loss(batch: ObjectiveBatch): ObjectiveOutput {
    if (batch.views.length !== this.views) {
      throw new Error(`simclr expects ${this.views} views per image, the batch has ${batch.views.length}`);
    }
    if (this.options.excludeSameLabelNegatives && !batch.labels) throw new UserError('objective.options.excludeSameLabelNegatives needs labelled batches; the batch has no labels.');
    const opt = this.options;
    return tf.tidy(() => {
      const net = (x: tf.Tensor4D) => this.forward(x, true);
      const groups = batch.bnGroups;
      const B = batch.views[0].shape[0];
      let zs: tf.Tensor2D[];
      if (opt.splitViewGroups) {
        const arrangement = splitViewArrangement(groups ?? [B], this.views);
        zs = unarrangeViews(applyPerGroup(net, arrangeViews(batch.views, arrangement), arrangement.groupSizes) as tf.Tensor2D, arrangement, this.views);
      } else if (groups && groups.length > 1) {
        // One BatchNorm batch holds all views of a plate (the paper's one-plate batch of 2N views).
        zs = deinterleaveViews(applyPerGroup(net, interleaveViews(batch.views, groups), groups.map((n) => n * this.views)) as tf.Tensor2D, groups, this.views);
      } else zs = tf.split(net(tf.concat(batch.views, 0)), this.views, 0) as tf.Tensor2D[];
      const loss = groupedNtXentLoss(zs, groups, opt.temperature, {
        crossGroup: opt.crossGroupNegatives,
        excludeSameLabel: opt.excludeSameLabelNegatives ? batch.labels : undefined,
        extraNegatives: opt.previousBatchNegatives ? this.previous : undefined,
      });
      if (opt.previousBatchNegatives) {
        // Held until afterStep promotes it; the current queue stays alive for the backward pass.
        this.pending?.dispose();
        this.pending = tf.keep(stopGradient(tf.concat(zs, 0)));
      }
      return { loss, metrics: { loss: tf.clone(loss), top1: ntXentTop1(zs), z_std: embeddingStd(zs[0]) } };
    });
  }

  /** The previous-batch queue advances: this step's projections replace the last step's. */
  afterStep(): void {
    if (!this.pending) return;
    this.previous?.dispose();
    this.previous = this.pending;
    this.pending = undefined;
  }

  /** The previous-batch negatives (a copy, the caller's to dispose), when that option holds some. */
  extraState(): Record<string, tf.Tensor> {
    return this.previous ? { [PREVIOUS_KEY]: tf.clone(this.previous) } : {};
  }

  /** Restores {@link extraState} (a resumed run's first step sees the same negatives). */
  loadExtraState(state: Record<string, tf.Tensor>): void {
    const t = state[PREVIOUS_KEY];
    if (!t) return;
    const D = this.options.projectorOutDim;
    if (t.rank !== 2 || t.shape[1] !== D) throw new UserError(`simclr checkpoint: ${PREVIOUS_KEY} is [${t.shape.join(', ')}], not [M, ${D}]; resume with the same recipe.`);
    this.previous?.dispose();
    this.previous = tf.keep(tf.clone(t)) as tf.Tensor2D;
  }

  /** Frees the previous-batch negatives (the networks' weights belong to the caller). */
  dispose(): void {
    this.previous?.dispose();
    this.pending?.dispose();
    this.previous = this.pending = undefined;
  }

  /** The projector head (for inspection and tests). */
  get projectorModel(): tfl.Sequential {
    return this.parts().head;
  }
}

/** Registry factory: validates recipe options and creates a {@link SimCLR}. */
export function createSimclr(options: Record<string, unknown>): SimCLR {
  return new SimCLR(parseObjectiveOptions('simclr', simclrOptionsSchema, options));
}
