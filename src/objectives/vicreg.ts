import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { BackboneHeadObjective } from './backbone-head.ts';
import { buildHead } from './heads.ts';
import { embeddingStd } from './losses/embedding-std.ts';
import { applyPerGroup, deinterleaveViews, interleaveViews } from './per-group.ts';
import { parseObjectiveOptions, type Objective, type ObjectiveBatch, type ObjectiveContext, type ObjectiveOutput } from './objective.ts';

/** Weights and epsilon of {@link vicregLoss} (the paper's defaults: 25, 25, 1, 1e-4). */
export interface VicregWeights {
  invariance: number;
  variance: number;
  covariance: number;
  epsilon: number;
}

/** The three terms of {@link vicregLoss}, unweighted, and their weighted sum. */
export interface VicregTerms {
  loss: tf.Scalar;
  invariance: tf.Scalar;
  variance: tf.Scalar;
  covariance: tf.Scalar;
}

/** Mean over dimensions of relu(1 - sqrt(var_unbiased + eps)) of `z` [N, D]. */
function varianceTerm(z: tf.Tensor2D, eps: number): tf.Scalar {
  const n = z.shape[0];
  const centred = tf.sub(z, tf.mean(z, 0, true));
  const variance = tf.div(tf.sum(tf.square(centred), 0), n - 1);
  return tf.mean(tf.relu(tf.sub(1, tf.sqrt(tf.add(variance, eps))))) as tf.Scalar;
}

/** Sum of squared off-diagonal entries of the unbiased covariance of `z` [N, D], divided by D. */
function covarianceTerm(z: tf.Tensor2D): tf.Scalar {
  const [n, d] = z.shape;
  const centred = tf.sub(z, tf.mean(z, 0, true)) as tf.Tensor2D;
  const cov = tf.div(tf.matMul(centred, centred, true, false), n - 1) as tf.Tensor2D;
  const offDiagonal = tf.sub(tf.sum(tf.square(cov)), tf.sum(tf.square(tf.mul(cov, tf.eye(d)))));
  return tf.div(offDiagonal, d) as tf.Scalar;
}

/**
 * VICReg (Bardes, Ponce & LeCun 2022, Algorithm 1) between two embeddings [N, D] of the same N
 * images: invariance = mean squared difference; variance = hinge on each dimension's standard
 * deviation, averaged over both branches; covariance = off-diagonal covariance squared, summed
 * over both branches, each divided by D. The loss is their weighted sum.
 */
export function vicregLoss(za: tf.Tensor2D, zb: tf.Tensor2D, w: VicregWeights): VicregTerms {
  return tf.tidy(() => {
    const invariance = tf.mean(tf.square(tf.sub(za, zb))) as tf.Scalar;
    const variance = tf.div(tf.add(varianceTerm(za, w.epsilon), varianceTerm(zb, w.epsilon)), 2) as tf.Scalar;
    const covariance = tf.add(covarianceTerm(za), covarianceTerm(zb)) as tf.Scalar;
    const loss = tf.addN([tf.mul(invariance, w.invariance), tf.mul(variance, w.variance), tf.mul(covariance, w.covariance)]) as tf.Scalar;
    return { loss, invariance, variance, covariance };
  });
}

/** Options of {@link VICReg}, as a recipe writes them (`objective.options`). */
export const vicregOptionsSchema = z
  .object({
    /** Expander width (the paper: 8192, three layers). */
    expanderDim: z.int().positive().default(512),
    /** Weight of the invariance (mean squared error) term (the paper: 25). */
    invarianceWeight: z.number().min(0).default(25),
    /** Weight of the variance hinge (the paper: 25). */
    varianceWeight: z.number().min(0).default(25),
    /** Weight of the covariance term (the paper: 1). */
    covarianceWeight: z.number().min(0).default(1),
    /** Epsilon under the square root of the variance (the paper: 1e-4). */
    epsilon: z.number().positive().default(1e-4),
  })
  .strict();

/** Validated VICReg options. */
export type VicregOptions = z.infer<typeof vicregOptionsSchema>;

/**
 * VICReg (Bardes, Ponce & LeCun 2022, "Variance-Invariance-Covariance Regularization"): backbone,
 * expander Linear-BN-ReLU, Linear-BN-ReLU, Linear, and the VICReg loss between two views; no
 * negatives and no target network. Both views go through the networks together, so under BEN every
 * BatchNorm (backbone and expander) normalizes with one plate's statistics.
 */
export class VICReg extends BackboneHeadObjective<tfl.Sequential> implements Objective {
  readonly name = 'vicreg';
  readonly views = 2;

  constructor(readonly options: VicregOptions) {
    super();
  }

  protected createHead(ctx: ObjectiveContext): tfl.Sequential {
    const e = this.options.expanderDim;
    return buildHead(
      [
        { in: ctx.embeddingDim, out: e, norm: 'batch', act: 'relu' },
        { in: e, out: e, norm: 'batch', act: 'relu' },
        { in: e, out: e, norm: 'none', act: 'none' },
      ],
      { seed: ctx.seed, name: 'vicreg_expander' },
    );
  }

  /** Metrics: `loss` and its three terms, `z_std` (collapse monitor of the expander output). */
  loss(batch: ObjectiveBatch): ObjectiveOutput {
    if (batch.views.length !== 2) throw new Error(`vicreg expects 2 views per image, the batch has ${batch.views.length}`);
    return tf.tidy(() => {
      const net = (x: tf.Tensor4D) => this.forward(x, true);
      const groups = batch.bnGroups;
      const [za, zb] =
        groups && groups.length > 1
          ? deinterleaveViews(applyPerGroup(net, interleaveViews(batch.views, groups), groups.map((n) => n * 2)) as tf.Tensor2D, groups, 2)
          : (tf.split(net(tf.concat(batch.views, 0)), 2, 0) as tf.Tensor2D[]);
      const o = this.options;
      const t = vicregLoss(za, zb, { invariance: o.invarianceWeight, variance: o.varianceWeight, covariance: o.covarianceWeight, epsilon: o.epsilon });
      return { loss: t.loss, metrics: { loss: tf.clone(t.loss), invariance: t.invariance, variance: t.variance, covariance: t.covariance, z_std: embeddingStd(za) } };
    });
  }

  /** The expander head (for inspection and tests). */
  get expanderModel(): tfl.Sequential {
    return this.parts().head;
  }
}

/** Registry factory: validates recipe options and creates a {@link VICReg}. */
export function createVicreg(options: Record<string, unknown>): VICReg {
  return new VICReg(parseObjectiveOptions('vicreg', vicregOptionsSchema, options));
}
