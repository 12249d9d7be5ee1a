/**
 * Supervised training on the `label` column (the BEN paper's setting, Lin & Lu 2022 §4 on
 * RxRx1-WILDS): a linear classifier on the backbone embedding, softmax cross-entropy. Also the
 * accuracy of such a model on named splits with a chosen BN normalization mode.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';
import { inferPlateByPlate } from '../models/plate-inference.ts';
import { BackboneHeadObjective } from './backbone-head.ts';
import { applyPerGroup } from './per-group.ts';
import { parseObjectiveOptions, type EvalPlate, type EvalResult, type Objective, type ObjectiveBatch, type ObjectiveContext, type ObjectiveOutput } from './objective.ts';

export type { EvalPlate, EvalResult };

/** Options of {@link Supervised} (`objective.options` in a recipe). */
export const supervisedOptionsSchema = z
  .object({
    /** Label smoothing of the cross-entropy (0 = none). */
    labelSmoothing: z.number().min(0).max(0.5).default(0),
  })
  .strict();

/** Validated supervised options. */
export type SupervisedOptions = z.infer<typeof supervisedOptionsSchema>;

/**
 * Cross-entropy of a linear classifier on the backbone's embedding. One view per image; the batch
 * must carry `labels` [B] int32 in [0, numClasses). Metrics: `loss`, `acc` (batch accuracy).
 */
export class Supervised extends BackboneHeadObjective<tfl.layers.Layer> implements Objective {
  readonly name = 'supervised';
  readonly views = 1;
  private numClasses = 0;

  constructor(readonly options: SupervisedOptions = { labelSmoothing: 0 }) {
    super();
  }

  /** The linear head [embeddingDim -> numClasses]. */
  protected createHead(ctx: ObjectiveContext): tfl.layers.Layer {
    if (!ctx.numClasses || ctx.numClasses < 2) throw new UserError(`objective "supervised" needs at least 2 classes in the label column, got ${ctx.numClasses ?? 0}`);
    this.numClasses = ctx.numClasses;
    const head = tfl.layers.dense({
      units: ctx.numClasses,
      name: 'supervised_classifier',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: ctx.seed }),
      inputShape: [ctx.embeddingDim],
    });
    head.build([null, ctx.embeddingDim]);
    return head;
  }

  /** Class logits [B, numClasses] of images [B, H, W, C]; `training` selects batch statistics. */
  logits(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return tf.tidy(() => this.forward(x, training));
  }

  loss(batch: ObjectiveBatch): ObjectiveOutput {
    if (!batch.labels) throw new Error('supervised: the batch has no labels (the pipeline must pass the label column)');
    if (batch.views.length !== 1) throw new Error(`supervised expects 1 view per image, the batch has ${batch.views.length}`);
    const labels = batch.labels;
    return tf.tidy(() => {
      const logits = applyPerGroup((x: tf.Tensor4D) => this.logits(x, true), batch.views[0], batch.bnGroups) as tf.Tensor2D;
      const onehot = tf.oneHot(labels, this.numClasses) as tf.Tensor2D;
      const loss = crossEntropy(logits, onehot, this.options.labelSmoothing);
      const acc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar;
      return { loss, metrics: { loss: tf.clone(loss), acc } };
    });
  }

  /** The classifier head's weights [kernel [D, K], bias [K]] (for saving next to the backbone). */
  headWeights(): tf.Tensor[] {
    return this.parts().head.getWeights();
  }

  /** Restores {@link headWeights}. */
  setHeadWeights(w: tf.Tensor[]): void {
    this.parts().head.setWeights(w);
  }

  /** The backbone the head sits on. */
  get backboneModel(): tfl.LayersModel {
    return this.parts().backbone;
  }

  /** Accuracy on labelled plates under BN normalization `mode` (see {@link evaluateSupervised}). */
  evaluate(plates: Iterable<EvalPlate>, mode: NormalizationMode): Promise<EvalResult> {
    return evaluateSupervised(this, plates, mode);
  }
}

/**
 * Mean softmax cross-entropy of `logits` [B, K] against one-hot `onehot` [B, K], with optional
 * label smoothing `eps` (targets (1 - eps) * onehot + eps / K). Numerically stable (log-softmax).
 */
export function crossEntropy(logits: tf.Tensor2D, onehot: tf.Tensor2D, eps = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const target = eps > 0 ? tf.add(tf.mul(onehot, 1 - eps), eps / k) : onehot;
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/** Registry factory: validates recipe options and creates a {@link Supervised}. */
export function createSupervised(options: Record<string, unknown>): Supervised {
  return new Supervised(parseObjectiveOptions('supervised', supervisedOptionsSchema, options));
}

/**
 * Accuracy and cross-entropy of a supervised model on `plates` with BN normalization `mode`:
 * `running` (moving averages), `batch` (each batch its own statistics: pass whole plates or
 * plate-sampled batches), `plate` / `controls` (statistics fitted per plate first, exactly). Labels
 * are class ids of the training vocabulary; tensors yielded by `plates` are disposed here.
 */
export async function evaluateSupervised(objective: Supervised, plates: Iterable<EvalPlate>, mode: NormalizationMode): Promise<EvalResult> {
  const backbone = objective.backboneModel;
  let correct = 0;
  let lossSum = 0;
  let n = 0;
  const perPlate: Record<string, number> = {};
  await inferPlateByPlate(backbone, plates, mode, {
    statistics: (plate, m) => {
      if (m === 'plate') {
        return async function* () {
          for await (const b of plate.batches()) yield b.images;
        };
      }
      if (!plate.controls) throw new UserError(`normalization "controls" needs negative-control images, plate ${plate.key} has none`);
      return plate.controls;
    },
    run: async (plate) => {
      let pc = 0;
      let pn = 0;
      for await (const b of plate.batches()) {
        const [c, l] = tf.tidy(() => {
          const logits = objective.logits(b.images, false);
          const lab = tf.tensor1d(b.labels, 'int32');
          const ce = tf.mul(crossEntropy(logits, tf.oneHot(lab, logits.shape[1]) as tf.Tensor2D), b.labels.length);
          const ok = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), lab), 'float32'));
          return [ok.dataSync()[0], ce.dataSync()[0]];
        });
        b.images.dispose();
        pc += c;
        pn += b.labels.length;
        lossSum += l;
      }
      correct += pc;
      n += pn;
      perPlate[plate.key] = pn ? pc / pn : NaN;
    },
  });
  return { accuracy: n ? correct / n : NaN, loss: n ? lossSum / n : NaN, images: n, perPlate };
}
