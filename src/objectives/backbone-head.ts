import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ObjectiveContext } from './objective.ts';

/**
 * What SimCLR, VICReg and the supervised objective share: a backbone and one head on its
 * embedding (projector, expander, classifier), trained together. The base keeps both, refuses use
 * before `build`, runs images through the pair and lists their variables, backbone first (the
 * order checkpoints and optimizer slots rely on). A subclass only says how its head is built and
 * what its loss is; BYOL, with a predictor and a target network, keeps its own bookkeeping.
 */
export abstract class BackboneHeadObjective<H extends tfl.layers.Layer> {
  abstract readonly name: string;
  private backbone?: tfl.LayersModel;
  private head?: H;

  /** The head on top of the backbone's embedding, built once in {@link build}. */
  protected abstract createHead(ctx: ObjectiveContext): H;

  /** Keeps the backbone and builds the head. */
  build(ctx: ObjectiveContext): void {
    this.backbone = ctx.backbone;
    this.head = this.createHead(ctx);
  }

  /** Backbone and head; an error if {@link build} has not run. */
  protected parts(): { backbone: tfl.LayersModel; head: H } {
    if (!this.backbone || !this.head) throw new Error(`${this.name}: call build() before using the objective`);
    return { backbone: this.backbone, head: this.head };
  }

  /** head(backbone(x)); `training` selects batch statistics in every BatchNorm. */
  protected forward(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    const { backbone, head } = this.parts();
    return head.apply(backbone.apply(x, { training }) as tf.Tensor, { training }) as tf.Tensor2D;
  }

  /** Backbone and head variables. */
  trainableVariables(): tf.Variable[] {
    const { backbone, head } = this.parts();
    return [...backbone.trainableWeights, ...head.trainableWeights].map((w) => w.read() as tf.Variable);
  }
}
