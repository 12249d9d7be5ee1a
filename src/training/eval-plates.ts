/**
 * Evaluation plates of a data set for {@link evaluateSupervised}: one {@link EvalPlate} per
 * (experiment, plate), its images turned into model input by the data layer's deterministic
 * preprocessing (the training pipeline without its random parts, data/preprocess.ts).
 */
import type { Dataset } from '../data/image-dataset.ts';
import { standardizeBatch } from '../data/preprocess.ts';
import type { EvalPlate } from '../objectives/objective.ts';

/**
 * One {@link EvalPlate} per plate of `ds` (sorted by key), images in batches of `batchSize`
 * (0: the whole plate as one batch) resized to `size` (default the image size) and standardised;
 * `controls` = the plate's negative-control wells. Images must be in memory.
 */
export function evalPlates(ds: Dataset, classIds: Int32Array, batchSize = 0, size?: number): EvalPlate[] {
  const tensorOf = (rows: number[]) => standardizeBatch(rows.map((r) => ds.images.getSync(r)), ds.images, size);
  const chunks = (rows: number[]) => {
    const bs = batchSize > 0 ? batchSize : rows.length;
    const out: number[][] = [];
    for (let s = 0; s < rows.length; s += bs) out.push(rows.slice(s, s + bs));
    return out;
  };
  return [...ds.groups(['experiment', 'plate'])]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, rows]) => {
      const controls = rows.filter((r) => ds.rows[r].wellType === 'negative_control');
      return {
        key,
        batches: function* () {
          for (const b of chunks(rows)) yield { images: tensorOf(b), labels: Int32Array.from(b, (r) => classIds[r]) };
        },
        controls: controls.length
          ? function* () {
              for (const b of chunks(controls)) yield tensorOf(b);
            }
          : undefined,
      };
    });
}
