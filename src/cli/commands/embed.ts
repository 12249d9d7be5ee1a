import type { CommandModule } from 'yargs';
import { initBackend } from '../../engine/backend.ts';
import { embedToParquet } from '../../embedding/run.ts';
import { NORMALIZATION_MODES, type NormalizationMode } from '../../models/ben-batchnorm.ts';
import { PREPROCESS, type PreprocessName } from '../../embedding/embedder.ts';
import { AGGREGATE_METHODS, type AggregateMethod } from '../../profiles/aggregate.ts';
import { RESIZE_MODES, type ResizeMode } from '../../embedding/input.ts';
import { createProgress, type Progress } from '../../util/progress.ts';
import { readerFlags, readerOptionsOf } from '../reader-options.ts';
import { parsePlateList, parseShard } from '../../embedding/shard.ts';
import { UserError } from '../../util/errors.ts';

interface EmbedArgs {
  backend?: string;
  model: string;
  data: string;
  out: string;
  shard?: string;
  plates?: string[];
  normalization: NormalizationMode;
  layout?: string;
  split?: string[];
  'batch-size': number;
  preprocess?: PreprocessName;
  'resize-mode'?: ResizeMode;
  aggregate: AggregateMethod | 'none';
  'well-out'?: string;
  'skip-bad'?: boolean;
  cells?: boolean;
  'cell-size'?: number;
  'max-cells'?: number;
  'dna-channel'?: string;
  locations?: string;
  'locations-images'?: string;
  quiet?: boolean;
  json?: boolean;
}

/** `ben embed`: a saved model over a data set, plate by plate, to Parquet. */
export const embedCommand: CommandModule<{ backend?: string }, EmbedArgs> = {
  command: 'embed',
  describe: 'Embed every image of a data set with a saved model, plate by plate, and write Parquet profiles (+ well aggregates)',
  builder: (y) =>
    readerFlags(y)
      .option('model', { type: 'string', demandOption: true, describe: 'Saved model directory (model.json + weights.bin)' })
      .option('data', { type: 'string', demandOption: true, describe: 'Data set folder (rxrx1-wilds, rxrx1) or LoadData CSV' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output Parquet file, one row per image; or a folder (e.g. emb/): a Hive-partitioned dataset emb/plate=<key>/part-<shard>.parquet, wells in emb.wells/' })
      .option('shard', { type: 'string', describe: 'Embed shard i of n (i/n, 0-based) of the plates, whole plates balanced by images, into the dataset folder --out; auto or auto/n takes i from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX' })
      .option('plates', { type: 'string', array: true, describe: 'Embed only these plates (experiment/plate keys, comma-separated), or a file with one key per line' })
      .option('normalization', {
        choices: NORMALIZATION_MODES,
        default: 'plate' as NormalizationMode,
        describe: 'BEN BatchNorm statistics at inference: running | batch (one plate per batch) | plate (exact per-plate) | controls (negative controls of the plate)',
      })
      .option('layout', { type: 'string', describe: 'Data set layout (default: detected)' })
      .option('split', { type: 'string', array: true, describe: 'Embed only these splits (e.g. --split val test)' })
      .option('batch-size', { type: 'number', default: 64, describe: 'Images per forward pass (in batch mode: per normalised batch)' })
      .option('preprocess', { choices: Object.keys(PREPROCESS) as PreprocessName[], describe: "Image preprocessing (default: the model's metadata, else standardize)" })
      .option('resize-mode', {
        choices: RESIZE_MODES,
        describe: "Images of another size than the model input: resize (whole field) | center-crop | tiles (crops of the training size covering the field, embeddings averaged per site). Default: the model's metadata, else resize",
      })
      .option('aggregate', { choices: [...AGGREGATE_METHODS, 'none'] as const, default: 'mean' as const, describe: 'Well-level file aggregation (l2-mean: mean of unit-length embeddings)' })
      .option('well-out', { type: 'string', describe: 'Well-level Parquet file (default <out>.wells.parquet)' })
      .option('cells', { type: 'boolean', describe: 'Embed single cells: nuclei on the DNA channel, a crop around each; --out gets site profiles (mean of L2-normalised cells), <out>.cells.parquet the cells' })
      .option('cell-size', { type: 'number', describe: "With --cells: crop size (px); default the model's training crops, else 48" })
      .option('max-cells', { type: 'number', describe: 'With --cells: at most this many cells per site (seeded sample)' })
      .option('dna-channel', { type: 'string', describe: 'With --cells: the DNA channel, by name or index (default: the channel named DNA/Hoechst/DAPI/nucleus)' })
      .option('locations', { type: 'string', describe: "Cells at CellProfiler's nuclei instead of detected ones (implies --cells): a table with Metadata_Plate/Well/Site and (Nuclei_)Location_Center_X/Y (CSV, CSV.gz, Parquet), a per-object table keyed by ImageNumber (with --locations-images), or DeepProfiler's locations/ folder" })
      .option('locations-images', { type: 'string', describe: "With --locations keyed by ImageNumber: CellProfiler's per-image table (ImageNumber -> Metadata_Plate/Well/Site)" })
      .option('skip-bad', { type: 'boolean', describe: 'Skip unreadable images (counted) instead of failing' })
      .option('quiet', { type: 'boolean', describe: 'No progress bar' })
      .option('json', { type: 'boolean', describe: 'Print the summary as JSON' }) as never,
  handler: async (argv) => {
    // Flags first: a bad --shard fails before the backend starts.
    if (argv['locations-images'] !== undefined && argv.locations === undefined) throw new UserError('--locations-images is the per-image table of --locations (a per-object table keyed by ImageNumber); give --locations too.');
    const shard = argv.shard !== undefined ? parseShard(argv.shard) : undefined;
    const plates = argv.plates !== undefined ? parsePlateList(argv.plates) : undefined;
    await initBackend(argv.backend);
    const tag = shard ? ` shard ${shard.index}/${shard.count}` : '';
    let bar: Progress | undefined;
    const summary = await embedToParquet({
      modelDir: argv.model,
      dataPath: argv.data,
      out: argv.out,
      shard,
      plates,
      normalization: argv.normalization,
      layout: argv.layout,
      splits: argv.split,
      batchSize: argv['batch-size'],
      preprocess: argv.preprocess,
      resizeMode: argv['resize-mode'],
      aggregate: argv.aggregate,
      wellOut: argv['well-out'],
      skipBad: argv['skip-bad'],
      read: readerOptionsOf(argv as unknown as Record<string, unknown>),
      cells: argv.cells || argv.locations !== undefined
        ? {
            size: argv['cell-size'],
            maxPerSite: argv['max-cells'],
            channel: argv['dna-channel'] !== undefined && /^\d+$/.test(argv['dna-channel']) ? Number(argv['dna-channel']) : argv['dna-channel'],
            locations: argv.locations,
            locationsImages: argv['locations-images'],
          }
        : undefined,
      progress: {
        start: (total) => (bar = createProgress({ label: `embed${tag} (${argv.normalization})`, total, unit: 'img', quiet: argv.quiet })),
        tick: (n) => bar?.tick(n),
        stop: () => bar?.stop(),
      },
      log: argv.quiet ? undefined : (line) => console.error(line),
    });
    const out = {
      images: summary.stats.images,
      plates: summary.stats.plates,
      ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}),
      ...(plates || shard ? { plateKeys: summary.plateKeys } : {}),
      skipped: summary.skipped,
      normalization: argv.normalization,
      files: [summary.files.profiles.path, ...(summary.files.wells ? [summary.files.wells.path] : []), ...(summary.files.cells ? [summary.files.cells.path] : [])],
      embedImagesPerSec: +summary.embedImagesPerSec.toFixed(1),
      writeRowsPerSec: Math.round(summary.writeRowsPerSec),
      seconds: {
        embed: +summary.stats.embedSeconds.toFixed(2),
        plateStatistics: +summary.stats.statsSeconds.toFixed(2),
        write: +summary.writeSeconds.toFixed(2),
      },
    };
    if (argv.json) {
      console.log(JSON.stringify(out, null, 2));
      return;
    }
    console.log(`embedded ${out.images} images from ${out.plates} plates${tag} (normalization ${out.normalization}${out.skipped ? `, ${out.skipped} skipped` : ''})`);
    for (const f of out.files) console.log(`wrote ${f}`);
    console.log(`embedding ${out.embedImagesPerSec} img/s; writing ${out.writeRowsPerSec} rows/s`);
  },
};
