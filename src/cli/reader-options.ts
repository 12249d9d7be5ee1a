import type { Argv } from 'yargs';
import { ILLUMINATION_MODES, type IlluminationMode } from '../data/illumination/record.ts';
import { INTENSITY_MODES, type IntensityOptions } from '../data/preprocess.ts';
import { optionFlag, readerOptions, type ReaderFlagForm } from '../data/readers/index.ts';
import { UserError } from '../util/errors.ts';

const GROUP = 'Reading your own images (readers, illumination, intensity):';

/** yargs settings of a flag form. */
function flagType(form: ReaderFlagForm): { type: 'string' | 'number'; array?: boolean } {
  return form === 'number' ? { type: 'number' } : form === 'string' ? { type: 'string' } : { type: 'string', array: true };
}

/**
 * The reader options of `ben data info` and `ben embed`, the same fields as a recipe's `data`
 * section: every registered reader's options (readers/, each declaring its own), then the
 * illumination correction and the intensity scaling.
 */
export function readerFlags<T>(y: Argv<T>): Argv<T> {
  const all = [...readerOptions().values()];
  for (const { key, option, readers: owners } of all) {
    // Options of some readers only say whose they are.
    const whose = owners.length < new Set(all.flatMap((d) => d.readers)).size ? `${owners.join(', ')}: ` : '';
    y = y.option(optionFlag(key, option), { ...flagType(option.flag?.form ?? 'string'), group: GROUP, describe: `${whose}${option.describe}` });
  }
  return y
    .option('illumination', { choices: ILLUMINATION_MODES, group: GROUP, describe: 'Illumination correction: loaddata (divide by the FileName_Illum<Ch> functions; the default when the CSV names them), compute (estimate per plate, CellProfiler-style), none' })
    .option('illumination-dir', { type: 'string', group: GROUP, describe: 'With --illumination compute: the folder the functions (.npy) and their LoadData CSV are written to' })
    .option('illumination-filter-size', { type: 'number', group: GROUP, describe: "With --illumination compute: CellProfiler's smoothing filter size in px (default min(30, image size / 40))" })
    .option('intensity', { choices: INTENSITY_MODES, group: GROUP, describe: 'Intensity scaling: raw (default), image (per-image percentiles), plate (per-plate percentiles of control wells)' })
    .option('intensity-from', { choices: ['controls', 'all'] as const, group: GROUP, describe: 'plate scaling: fit on the negative controls (default) or on all images of the plate' })
    .option('intensity-percentiles', { type: 'string', group: GROUP, describe: 'Low,high percentiles mapped to the sample range (default 0.1,99.9)' });
}

function pairs(list: unknown, flag: string, example: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of list as string[]) {
    const k = String(item).indexOf('=');
    if (k <= 0) throw new UserError(`--${flag} "${item}": give KEY=VALUE (e.g. --${flag} ${example}).`);
    (out[String(item).slice(0, k)] ??= []).push(String(item).slice(k + 1));
  }
  return out;
}

/** A flag's parsed value as the recipe field's value. */
function fieldValue(v: unknown, form: ReaderFlagForm, flag: string): unknown {
  if (form === 'pairs') return pairs(v, flag, 'Metadata_control_type=negcon');
  if (form === 'mapping') return Object.fromEntries(Object.entries(pairs(v, flag, 'NAME=VALUE')).map(([k, vs]) => [k, vs[vs.length - 1]]));
  return v;
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
  let illumination: { mode?: IlluminationMode; dir?: string; filterSize?: number } | undefined;
  if (argv.illumination !== undefined || argv['illumination-dir'] !== undefined || argv['illumination-filter-size'] !== undefined) {
    const mode = argv.illumination as IlluminationMode | undefined;
    if (mode !== 'compute' && (argv['illumination-dir'] !== undefined || argv['illumination-filter-size'] !== undefined)) throw new UserError('--illumination-dir / --illumination-filter-size go with --illumination compute.');
    illumination = { mode, dir: argv['illumination-dir'] as string | undefined, filterSize: argv['illumination-filter-size'] as number | undefined };
  }
  const o: Record<string, unknown> = { intensity, illumination };
  for (const { key, option } of readerOptions().values()) {
    const flag = optionFlag(key, option);
    if (argv[flag] !== undefined) o[key] = fieldValue(argv[flag], option.flag?.form ?? 'string', flag);
  }
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
