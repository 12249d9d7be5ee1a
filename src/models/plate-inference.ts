/**
 * The one plate-by-plate inference loop of BEN: for each plate, put the model's BEN BatchNorm
 * layers into the requested mode (fitting the plate's own statistics first for `plate` and
 * `controls`), run the caller's pass over the plate, then clear the fitted statistics. Embedding
 * and supervised evaluation both go through it, so "statistics of the plate being embedded" means
 * the same thing everywhere. The layers' modes are restored afterwards, whatever happens.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { benLayers, clearPlateStatistics, fitPlateStatistics, setNormalization, type NormalizationMode } from './ben-batchnorm.ts';

/** What {@link inferPlateByPlate} asks of the caller for one plate. */
export interface PlatePass<P> {
  /**
   * The images to fit the plate's statistics on (all of the plate for `plate`, its negative
   * controls for `controls`), yielded as batches that are disposed here; called once per fitting round.
   */
  statistics(plate: P, mode: 'plate' | 'controls'): () => AsyncIterable<tf.Tensor4D> | Iterable<tf.Tensor4D>;
  /**
   * True when the whole plate goes through the model in one batch: `plate` statistics are then the
   * batch's own (`batch` mode, one pass instead of two), exactly equal for BEN's per-plate moments.
   */
  singlePass?(plate: P): boolean;
  /** The pass over the plate, with the layers already in `mode` (`batch` for a single pass). */
  run(plate: P, mode: NormalizationMode): Promise<void>;
}

/** Runs `pass.run` for every plate under normalization `mode`; see the module comment. */
export async function inferPlateByPlate<P>(model: tfl.LayersModel, plates: Iterable<P>, mode: NormalizationMode, pass: PlatePass<P>): Promise<void> {
  const layers = benLayers(model);
  const saved = layers.map((l) => l.normalization);
  try {
    for (const plate of plates) {
      const single = mode === 'plate' && (pass.singlePass?.(plate) ?? false);
      if (!single && (mode === 'plate' || mode === 'controls')) {
        await fitPlateStatistics(model, pass.statistics(plate, mode), { source: mode, disposeBatches: true });
      }
      const effective: NormalizationMode = single ? 'batch' : mode;
      setNormalization(model, effective);
      try {
        await pass.run(plate, effective);
      } finally {
        clearPlateStatistics(model);
      }
    }
  } finally {
    clearPlateStatistics(model);
    layers.forEach((l, i) => (l.normalization = saved[i]));
  }
}
