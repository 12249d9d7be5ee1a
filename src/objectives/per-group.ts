import * as tf from '@tensorflow/tfjs-core';

/**
 * Applies `f` (a network in training mode) to each consecutive chunk of `x` separately, rows per
 * chunk in `sizes`, and concatenates the outputs in the input order. Every BatchNorm inside `f`
 * then normalizes each chunk with that chunk's own statistics: BEN with several plates in one
 * batch (each plate's images are normalized by their plate's statistics, while the loss still
 * sees all of them, e.g. SimCLR negatives from several plates). No `sizes`, or one chunk: `f(x)`.
 */
export function applyPerGroup<T extends tf.Tensor>(f: (x: T) => tf.Tensor, x: T, sizes?: readonly number[]): tf.Tensor {
  if (!sizes || sizes.length <= 1) return f(x);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[0]) throw new Error(`applyPerGroup: chunk sizes sum to ${total}, the batch has ${x.shape[0]} rows`);
  const parts = tf.split(x, [...sizes], 0) as T[];
  return tf.concat(parts.map((p) => f(p)), 0);
}

/**
 * `[g0v0, g0v1, g1v0, g1v1, ...]`: the views of each group side by side, so that with chunk sizes
 * `sizes[g] * views` the views of one plate share its BatchNorm statistics, as in a one-plate batch.
 */
export function interleaveViews(views: readonly tf.Tensor4D[], sizes: readonly number[]): tf.Tensor4D {
  const split = views.map((v) => tf.split(v, [...sizes], 0));
  return tf.concat(sizes.flatMap((_, g) => split.map((s) => s[g])), 0) as tf.Tensor4D;
}

/** Inverse of {@link interleaveViews} for per-row outputs `y`: one tensor per view, rows in batch order. */
export function deinterleaveViews<T extends tf.Tensor>(y: T, sizes: readonly number[], views: number): T[] {
  const parts = tf.split(y, sizes.flatMap((s) => Array.from({ length: views }, () => s)), 0) as T[];
  return Array.from({ length: views }, (_, v) => tf.concat(sizes.map((_, g) => parts[g * views + v]), 0) as T);
}

/** A contiguous block of one view's rows: `views[view]` rows `[start, start + size)`. */
export interface ViewBlock {
  view: number;
  start: number;
  size: number;
}

/** An order of the V*B view rows for the network: blocks in order, cut into BatchNorm groups. */
export interface ViewArrangement {
  /** The blocks in the order they are fed to the network. */
  blocks: ViewBlock[];
  /** Rows per BatchNorm group, consecutive over `blocks` (blocks never straddle two groups). */
  groupSizes: number[];
}

/**
 * Shuffle-BN within each plate (MoCo's "shuffling BN", He et al. 2020, kept inside one plate):
 * every plate's images (`sizes[g]` rows each, consecutive) are cut into V near-equal parts, and
 * BatchNorm group j of the plate holds view v of part (j - v) mod V, for every v. Each group is
 * then rows of ONE plate (per-plate statistics, as BEN wants) and the V views of any image all sit
 * in different groups, so a positive pair never shares its BatchNorm statistics and the loss cannot
 * match views through them. Each group has the plate's image count in rows (V = 2: view 0 of half
 * A with view 1 of half B, and view 1 of A with view 0 of B). A plate with fewer images than views
 * leaves some groups empty; they are dropped.
 */
export function splitViewArrangement(sizes: readonly number[], views: number): ViewArrangement {
  const blocks: ViewBlock[] = [];
  const groupSizes: number[] = [];
  let offset = 0;
  for (const n of sizes) {
    const bounds = Array.from({ length: views + 1 }, (_, p) => offset + Math.floor((p * n) / views));
    for (let j = 0; j < views; j++) {
      let rows = 0;
      for (let v = 0; v < views; v++) {
        const p = (((j - v) % views) + views) % views;
        const size = bounds[p + 1] - bounds[p];
        if (size > 0) blocks.push({ view: v, start: bounds[p], size });
        rows += size;
      }
      if (rows > 0) groupSizes.push(rows);
    }
    offset += n;
  }
  return { blocks, groupSizes };
}

/** The network input of `arrangement`: its blocks of `views` concatenated in order. */
export function arrangeViews(views: readonly tf.Tensor4D[], arrangement: ViewArrangement): tf.Tensor4D {
  return tf.concat(arrangement.blocks.map((b) => tf.slice(views[b.view], [b.start, 0, 0, 0], [b.size, -1, -1, -1])), 0) as tf.Tensor4D;
}

/** Inverse of {@link arrangeViews} for per-row outputs `y`: one tensor per view, rows in batch order. */
export function unarrangeViews<T extends tf.Tensor>(y: T, arrangement: ViewArrangement, views: number): T[] {
  const parts = tf.split(y, arrangement.blocks.map((b) => b.size), 0) as T[];
  return Array.from({ length: views }, (_, v) => {
    const mine = arrangement.blocks.map((b, i) => ({ b, t: parts[i] })).filter((p) => p.b.view === v).sort((a, b) => a.b.start - b.b.start);
    return tf.concat(mine.map((p) => p.t), 0) as T;
  });
}
