import type { z } from 'zod';
import { Registry } from '../../util/registry.ts';
import type { Dataset, ReadOptions } from '../image-dataset.ts';

/**
 * How a reader option is given on the command line: `string` (`--x VALUE`), `strings`
 * (`--x A B C`), `number`, `pairs` (`--x KEY=VALUE`, repeatable, several values per key:
 * `{KEY: [VALUE, ...]}`), `mapping` (`--x KEY=VALUE`, repeatable: `{KEY: VALUE}`).
 */
export type ReaderFlagForm = 'string' | 'strings' | 'number' | 'pairs' | 'mapping';

/**
 * One option of a reader: a recipe field `data.<key>` and a command-line flag, both derived from
 * this declaration (recipe/schema.ts, cli/reader-options.ts).
 */
export interface ReaderOption {
  /** The field's value, validated when the recipe is read and before the reader runs. */
  schema: z.ZodType;
  /** One line for the flag's help and messages. */
  describe: string;
  /** The flag: its name (default the key in kebab-case, `plateMap` -> `--plate-map`) and form (default `string`). */
  flag?: { name?: string; form?: ReaderFlagForm };
}

/** A reader for one on-disk layout of microscopy images and metadata. */
export interface DatasetReader {
  /** Layout name used by `--layout` and recipes' `data.source` (`rxrx1-wilds`, `rxrx1`, `loaddata-csv`). */
  readonly name: string;
  /** Other names the recipe's `data.source` accepts (`loaddata` for `loaddata-csv`). */
  readonly aliases?: readonly string[];
  /** One line for `--help`. */
  readonly description: string;
  /**
   * Place in layout detection: when no layout is named, readers with a number are asked, in
   * increasing order, whether `path` is theirs; a reader without one is never guessed (it must be named).
   */
  readonly detectOrder?: number;
  /** The reader's own options (recipe `data.<key>`, flags), by key; shared ones are shared objects. */
  readonly options: Readonly<Record<string, ReaderOption>>;
  /** True when `path` looks like this layout (used when no layout is named). */
  detect(path: string): Promise<boolean>;
  /** Reads the metadata table and (per `opts.load`) the images. */
  read(path: string, opts?: ReadOptions & Record<string, unknown>): Promise<Dataset>;
}

/** Registry of readers by layout name: the one list of reader names and options. */
export const readers = new Registry<DatasetReader>('dataset layout');
