import type * as tf from '@tensorflow/tfjs-core';

/** One training batch: the augmented views of B images from one sampler draw (all views of the same images, in order), plus labels for supervised objectives. */
export interface ObjectiveBatch {
  /** `views[v]` is [B, H, W, C] float32, the v-th augmented view of the B images. */
  views: tf.Tensor4D[];
  /** Integer class ids [B] (int32) for supervised objectives; absent for self-supervised ones. */
  labels?: tf.Tensor1D;
  /** The sampler group the batch came from (e.g. "EXP-1/plate-3"); informational. */
  group: string;
  /**
   * Rows per BatchNorm group, consecutive, when a batch holds several plates that BatchNorm must
   * normalize separately (`sampler.perGroupStatistics`); absent: the whole batch is one group.
   */
  bnGroups?: number[];
}
