import { Registry } from '../../util/registry.ts';
import type { Dataset, ReadOptions } from '../image-dataset.ts';

/** A reader for one on-disk layout of microscopy images and metadata. */
export interface DatasetReader {
  /** Layout name used by `--layout` and recipes (`rxrx1-wilds`, `rxrx1`, `loaddata-csv`). */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** True when `path` looks like this layout (used when no layout is named). */
  detect(path: string): Promise<boolean>;
  /** Reads the metadata table and (per `opts.load`) the images. */
  read(path: string, opts?: ReadOptions & Record<string, unknown>): Promise<Dataset>;
}

/** Registry of readers by layout name. */
export const readers = new Registry<DatasetReader>('dataset layout');
