import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize } from './l2-normalize.ts';
import { stopGradient } from './stop-gradient.ts';

/** Added to the self-similarity logits so that exp() of them is exactly 0 in float32. */
const SELF_MASK = 1e9;

function checkViews(views: tf.Tensor2D[], temperature?: number): { V: number; B: number } {
  if (views.length < 2) throw new Error(`NT-Xent needs at least 2 views, got ${views.length}`);
  const [B, D] = views[0].shape;
  for (const v of views) {
    if (v.rank !== 2 || v.shape[0] !== B || v.shape[1] !== D) {
      throw new Error(`NT-Xent views must all be [${B}, ${D}], got [${v.shape.join(', ')}]`);
    }
  }
  if (temperature !== undefined && !(temperature > 0 && Number.isFinite(temperature))) {
    throw new Error(`NT-Xent temperature must be a positive number, got ${temperature}`);
  }
  return { V: views.length, B };
}

/** [N, N] float32 mask, N = V*B in view-major order: 1 where rows i != j show the same image. */
function positiveMask(V: number, B: number): tf.Tensor2D {
  const N = V * B;
  const m = new Float32Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = i % B; j < N; j += B) if (j !== i) m[i * N + j] = 1;
  }
  return tf.tensor2d(m, [N, N]);
}

/** Cosine-similarity logits [N, N] / temperature over the concatenated views, self-pairs masked out. */
function maskedLogits(views: tf.Tensor2D[], temperature: number): { sim: tf.Tensor2D; logits: tf.Tensor2D } {
  const N = views.length * views[0].shape[0];
  const z = l2Normalize(tf.concat(views, 0));
  const sim = tf.div(tf.matMul(z, z, false, true), temperature) as tf.Tensor2D;
  const logits = tf.sub(sim, tf.mul(tf.eye(N), SELF_MASK)) as tf.Tensor2D;
  return { sim, logits };
}

/**
 * NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, "A Simple
 * Framework for Contrastive Learning of Visual Representations", Algorithm 1), generalised to V >= 2
 * views: for every ordered pair (i, j) of distinct views of the same image,
 *
 *   l(i, j) = -log( exp(s_ij / t) / sum_{k != i} exp(s_ik / t) ),   s = cosine similarity,
 *
 * averaged over all V(V-1)B ordered positive pairs. For V = 2 this is the paper's loss
 * (1/2N) sum_k [l(2k-1, 2k) + l(2k, 2k-1)]; for V > 2 each view's positives are the same image's
 * other views and the denominators keep them (the SupCon "L_out" form, Khosla et al. 2020).
 *
 * @param views V tensors [B, D]: `views[v][b]` is the projection of view v of image b. Need not be
 *   normalized.
 * @param temperature t > 0.
 * @param excludeSameLabel optional class ids [B]: negatives with the anchor's label are left out
 *   of the denominators ("false-negative elimination" with known labels; this uses labels, so it is
 *   a diagnostic or weakly supervised variant, not self-supervised).
 * @param extraNegatives optional projections [M, D] that join every denominator as negatives
 *   (never anchors, never positives): other plates' rows, the previous batch. Need not be
 *   normalized; gradient flows into them unless the caller stops it.
 * @returns the scalar loss (float32).
 */
export function ntXentLoss(views: tf.Tensor2D[], temperature: number, excludeSameLabel?: tf.Tensor1D, extraNegatives?: tf.Tensor2D): tf.Scalar {
  const { V, B } = checkViews(views, temperature);
  if (excludeSameLabel && excludeSameLabel.shape[0] !== B) throw new Error(`NT-Xent labels must be [${B}], got [${excludeSameLabel.shape.join(', ')}]`);
  const D = views[0].shape[1];
  if (extraNegatives && (extraNegatives.rank !== 2 || extraNegatives.shape[1] !== D)) throw new Error(`NT-Xent extra negatives must be [M, ${D}], got [${extraNegatives.shape.join(', ')}]`);
  return tf.tidy(() => {
    const N = V * B;
    const pos = positiveMask(V, B);
    const masked = maskedLogits(views, temperature);
    const { sim } = masked;
    let { logits } = masked;
    if (excludeSameLabel) {
      // Other images with the same label leave the denominators (their own views stay positives).
      const l = tf.tile(excludeSameLabel, [V]);
      const same = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32');
      const drop = tf.sub(tf.sub(same, pos), tf.eye(N));
      logits = tf.sub(logits, tf.mul(drop, SELF_MASK)) as tf.Tensor2D;
    }
    if (extraNegatives && extraNegatives.shape[0] > 0) {
      const extra = tf.div(tf.matMul(l2Normalize(tf.concat(views, 0)), l2Normalize(extraNegatives), false, true), temperature);
      logits = tf.concat([logits, extra], 1) as tf.Tensor2D;
    }
    const lse = tf.logSumExp(logits, 1); // [N] log of each row's denominator
    // sum over pairs of (lse_i - s_ij/t): each row has V-1 positives.
    const positives = tf.sum(tf.mul(pos, sim));
    return tf.div(tf.sub(tf.mul(tf.sum(lse), V - 1), positives), N * (V - 1)) as tf.Scalar;
  });
}

/**
 * Top-1 positive retrieval of the contrastive task: the fraction of the V*B projections whose most
 * similar other projection is another view of the same image (a training metric; no gradient).
 *
 * @param views V tensors [B, D], as for {@link ntXentLoss}.
 */
export function ntXentTop1(views: tf.Tensor2D[]): tf.Scalar {
  const { V, B } = checkViews(views);
  return tf.tidy(() => {
    const N = V * B;
    const { logits } = maskedLogits(views, 1);
    const best = tf.mod(tf.argMax(logits, 1), B);
    const self = tf.mod(tf.range(0, N, 1, 'int32'), B);
    return tf.mean(tf.cast(tf.equal(best, self), 'float32')) as tf.Scalar;
  });
}

/** Per-group treatment of the other groups' rows in {@link groupedNtXentLoss}. */
export type CrossGroupNegatives = 'shared' | 'detached' | 'excluded';

/**
 * NT-Xent of a batch of several groups (plates), rows of group g consecutive (`groups[g]` rows
 * each, view-major as in {@link ntXentLoss}). Each group's own views are its anchors and
 * positives; the other groups' rows are
 * - `shared`: ordinary negatives with gradient, i.e. exactly `ntXentLoss(views)` over the whole batch;
 * - `detached`: extra negatives with the gradient stopped (the BEN paper's two plates per step:
 *   a plate is pushed away from the other plate, which does not move for it);
 * - `excluded`: not in the group's loss at all (k independent one-plate losses per step).
 * The group losses are averaged weighted by their rows, so the mean is over all positive pairs.
 * `extraNegatives` (e.g. the previous batch, already detached) join every group's denominators.
 */
export function groupedNtXentLoss(
  views: tf.Tensor2D[],
  groups: readonly number[] | undefined,
  temperature: number,
  o: { crossGroup?: CrossGroupNegatives; excludeSameLabel?: tf.Tensor1D; extraNegatives?: tf.Tensor2D } = {},
): tf.Scalar {
  const mode = o.crossGroup ?? 'shared';
  const { B } = checkViews(views, temperature);
  if (mode === 'shared' || !groups || groups.length <= 1) return ntXentLoss(views, temperature, o.excludeSameLabel, o.extraNegatives);
  const total = groups.reduce((a, b) => a + b, 0);
  if (total !== B) throw new Error(`NT-Xent groups sum to ${total}, the views have ${B} rows`);
  return tf.tidy(() => {
    const parts = views.map((v) => tf.split(v, [...groups], 0) as tf.Tensor2D[]);
    const labels = o.excludeSameLabel ? (tf.split(o.excludeSameLabel, [...groups], 0) as tf.Tensor1D[]) : undefined;
    const terms = groups.map((n, g) => {
      const negatives: tf.Tensor2D[] = [];
      if (mode === 'detached') for (const p of parts) for (let h = 0; h < groups.length; h++) if (h !== g) negatives.push(stopGradient(p[h]));
      if (o.extraNegatives) negatives.push(o.extraNegatives);
      const extra = negatives.length ? (tf.concat(negatives, 0) as tf.Tensor2D) : undefined;
      return tf.mul(ntXentLoss(parts.map((p) => p[g]), temperature, labels?.[g], extra), n / B);
    });
    return tf.addN(terms) as tf.Scalar;
  });
}
