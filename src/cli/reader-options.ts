import type { Argv } from 'yargs';
import { INTENSITY_MODES, type IntensityOptions } from '../data/preprocess.ts';
import { UserError } from '../util/errors.ts';

const GROUP = 'Reading your own images (LoadData CSV, image folder):';

/**
 * The reader options of `ben data info` and `ben embed`, the same fields as a recipe's `data`
 * section: channels, label / experiment / control columns, image-folder pattern and plate map,
 * intensity scaling.
 */
export function readerFlags<T>(y: Argv<T>): Argv<T> {
  return y
    .option('channels', { type: 'string', array: true, group: GROUP, describe: 'Channels to read, by name, in order (e.g. --channels DNA ER RNA AGP Mito)' })
    .option('label-column', { type: 'string', group: GROUP, describe: 'Column of the treatment label (Metadata_ prefix optional)' })
    .option('experiment-column', { type: 'string', group: GROUP, describe: 'Column(s) of the experiment, comma-separated (default Metadata_Source,Metadata_Batch when both exist)' })
    .option('negative-control', { type: 'string', array: true, group: GROUP, describe: 'Negative-control wells as COLUMN=VALUE (repeatable; e.g. Metadata_control_type=negcon, Compound=DMSO)' })
    .option('positive-control', { type: 'string', array: true, group: GROUP, describe: 'Positive-control wells as COLUMN=VALUE (repeatable)' })
    .option('pattern', { type: 'string', group: GROUP, describe: "image-folder: file-name regex with named groups ch, well | row + col, plate, site (e.g. 'Channel(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif')" })
    .option('plate-map', { type: 'string', group: GROUP, describe: 'image-folder: plate-map CSV joined on the well (relative to the folder or absolute)' })
    .option('plate-map-well', { type: 'string', group: GROUP, describe: 'image-folder: plate-map column of the well (default Well, else Row + Column)' })
    .option('channel-name', { type: 'string', array: true, group: GROUP, describe: 'image-folder: name a ch value, VALUE=NAME (e.g. --channel-name 1=GFP 2=DNA)' })
    .option('plate', { type: 'string', group: GROUP, describe: 'image-folder: plate id when the pattern has no plate group (default the folder name)' })
    .option('intensity', { choices: INTENSITY_MODES, group: GROUP, describe: 'Intensity scaling: raw (default), image (per-image percentiles), plate (per-plate percentiles of control wells)' })
    .option('intensity-from', { choices: ['controls', 'all'] as const, group: GROUP, describe: 'plate scaling: fit on the negative controls (default) or on all images of the plate' })
    .option('intensity-percentiles', { type: 'string', group: GROUP, describe: 'Low,high percentiles mapped to the sample range (default 0.1,99.9)' });
}

function pairs(list: unknown, flag: string): Record<string, string[]> | undefined {
  if (list === undefined) return undefined;
  const out: Record<string, string[]> = {};
  for (const item of list as string[]) {
    const k = String(item).indexOf('=');
    if (k <= 0) throw new UserError(`${flag} "${item}": give COLUMN=VALUE (e.g. ${flag} Metadata_control_type=negcon).`);
    (out[String(item).slice(0, k)] ??= []).push(String(item).slice(k + 1));
  }
  return out;
}

/** The reader options of parsed {@link readerFlags} (absent flags are left out). */
export function readerOptionsOf(argv: Record<string, unknown>): Record<string, unknown> {
  let intensity: IntensityOptions | undefined;
  if (argv.intensity !== undefined || argv['intensity-from'] !== undefined || argv['intensity-percentiles'] !== undefined) {
    const mode = (argv.intensity as IntensityOptions['mode'] | undefined) ?? 'raw';
    let low: number | undefined, high: number | undefined;
    if (argv['intensity-percentiles'] !== undefined) {
      [low, high] = String(argv['intensity-percentiles']).split(',').map(Number);
      if (!Number.isFinite(low) || !Number.isFinite(high)) throw new UserError(`--intensity-percentiles "${String(argv['intensity-percentiles'])}": give two numbers, low,high (e.g. 0.1,99.9).`);
    }
    if (mode === 'raw' && (low !== undefined || argv['intensity-from'] !== undefined)) throw new UserError('--intensity-from / --intensity-percentiles need --intensity image or plate.');
    intensity = mode === 'raw' ? { mode } : mode === 'image' ? { mode, low, high } : { mode, low, high, from: argv['intensity-from'] as 'controls' | 'all' | undefined };
  }
  const names = pairs(argv['channel-name'], '--channel-name');
  const o: Record<string, unknown> = {
    channels: argv.channels,
    labelColumn: argv['label-column'],
    experimentColumn: argv['experiment-column'],
    negativeControls: pairs(argv['negative-control'], '--negative-control'),
    positiveControls: pairs(argv['positive-control'], '--positive-control'),
    pattern: argv.pattern,
    plateMap: argv['plate-map'],
    plateMapWell: argv['plate-map-well'],
    channelNames: names && Object.fromEntries(Object.entries(names).map(([k, v]) => [k, v[v.length - 1]])),
    plate: argv.plate,
    intensity,
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
