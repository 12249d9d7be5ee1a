import { z } from 'zod';
import { checkImages } from '../../data/check.ts';
import type { Argv, CommandModule } from 'yargs';
import { SYNTH_PRESETS, resolveSynthConfig, synthConfigSchema, synthImageCount, type SynthConfig } from '../../data/synth/config.ts';
import { generateSynthetic } from '../../data/synth/generate.ts';
import { readDataset, readers } from '../../data/readers/index.ts';
import { createProgress } from '../../util/progress.ts';
import { readerFlags, readerOptionsOf } from '../reader-options.ts';
import { surveyNuclei } from '../../data/cells/crops.ts';
import { writeNucleiFigure } from '../../report/nuclei-figure.ts';
import { writeRecordFigure } from '../../report/illumination-figure.ts';
import type { IlluminationRecord } from '../../data/illumination/record.ts';

type Args = Record<string, unknown> & { _: (string | number)[] };

/** yargs options for every synthetic parameter, from the schema (camelCase -> --kebab-case). */
function synthOptions(y: Argv): Argv {
  const shape = synthConfigSchema.shape;
  for (const [key, field] of Object.entries(shape)) {
    if (key === 'seed' || key === 'layout') continue;
    const inner = field instanceof z.ZodOptional ? field.unwrap() : field;
    const boolean = inner instanceof z.ZodBoolean;
    y = y.option(key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), { type: boolean ? 'boolean' : 'number', describe: field.description, group: 'Generator parameters (override the preset):' });
  }
  return y;
}

const synthCommand: CommandModule<object, Args> = {
  command: 'synth',
  describe: 'Generate a synthetic multi-plate microscopy data set (RxRx1-WILDS layout by default)',
  builder: (y) =>
    synthOptions(
      y
        .option('preset', { choices: Object.keys(SYNTH_PRESETS), default: 'tiny', describe: 'Size preset (tiny: tests, small: quickstart, bench: ~20k images)' })
        .option('out', { type: 'string', demandOption: true, describe: 'Output folder (replaced atomically)' })
        .option('seed', { type: 'number', default: 0, describe: 'Random seed (same seed, same bytes)' })
        .option('layout', { choices: ['rxrx1-wilds', 'rxrx1', 'loaddata-csv'], default: 'rxrx1-wilds', describe: 'On-disk layout' })
        .option('quiet', { type: 'boolean', describe: 'No progress output' }),
    ) as never,
  handler: async (argv) => {
    const overrides: Partial<Record<keyof SynthConfig, unknown>> = { seed: argv.seed, layout: argv.layout };
    for (const key of Object.keys(synthConfigSchema.shape)) if (argv[key] !== undefined && key !== 'seed' && key !== 'layout') overrides[key as keyof SynthConfig] = argv[key];
    const cfg = resolveSynthConfig(String(argv.preset), overrides);
    const bar = createProgress({ label: 'synth', total: synthImageCount(cfg), unit: 'img', quiet: Boolean(argv.quiet) });
    const r = await generateSynthetic(cfg, String(argv.out), { preset: String(argv.preset), onProgress: (n) => bar.tick(n) });
    bar.stop();
    console.log(JSON.stringify({ out: r.out, layout: cfg.layout, images: r.images, plates: r.plates, seconds: Number(r.seconds.toFixed(2)) }));
  },
};

const readOptions = (y: Argv) =>
  readerFlags(
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'Data set folder (or LoadData CSV)' })
      .option('layout', { choices: readers.names(), describe: 'Layout (default: detected; image-folder must be named)' })
      .option('skip-bad', { type: 'boolean', describe: 'Skip bad sites (missing/corrupt/mis-sized images, duplicate rows) and count them' }),
  );

const infoCommand: CommandModule<object, Args> = {
  command: 'info <path>',
  describe: 'Read a data set and print its summary (images, plates, splits, labels, illumination, skipped sites)',
  builder: (y) =>
    readOptions(y)
      .option('json', { type: 'boolean', describe: 'Print JSON' })
      .option('load', { type: 'boolean', default: false, describe: 'Hold every image in memory (as training does)' })
      .option('check', { type: 'boolean', default: true, describe: 'Decode every image once to find truncated or corrupt files (--no-check: the metadata only; no image is opened, so sites, channels and illumination functions are listed even where the images are not on this machine)' })
      .option('figure', { type: 'string', describe: "Write a PNG of a plate's illumination functions, one panel per channel (--figure-plate; default the first plate)" })
      .option('figure-plate', { type: 'string', describe: 'With --figure: the plate key to draw' }) as never,
  handler: async (argv) => {
    const metadataOnly = !argv.check && !argv.load;
    const ds = await readDataset(String(argv.path), {
      ...readerOptionsOf(argv),
      layout: argv.layout as string | undefined,
      skipBad: Boolean(argv.skipBad),
      load: Boolean(argv.load),
      metadataOnly,
    });
    let skipped = ds.skipped;
    let checked = false;
    if (argv.check && !argv.load) {
      const bar = createProgress({ label: 'check images', total: ds.size, unit: 'img', quiet: Boolean(argv.json) || !process.stderr.isTTY });
      skipped = [...skipped, ...(await checkImages(ds, { skipBad: Boolean(argv.skipBad), onProgress: (n) => bar.tick(n) }))];
      bar.stop();
      checked = true;
    }
    const figure = argv.figure ? await writeRecordFigure(String(argv.figure), ds.illumination, argv.figurePlate as string | undefined) : undefined;
    const s = { path: String(argv.path), layout: ds.layout, ...ds.summary(), skipped: skipped.length, imagesChecked: checked || Boolean(argv.load), ...(figure ? { figure: String(argv.figure) } : {}) };
    if (argv.json) {
      console.log(JSON.stringify({ ...s, skippedSites: skipped }, null, 2));
      return;
    }
    console.log(`${s.path} (${s.layout}): ${s.images} images, ${s.experiments} experiments, ${s.plates} plates, ${s.wells} wells, ${s.labels} labels`);
    if (s.imagesRead) console.log(`images ${s.height}x${s.width}x${s.channels.length} ${s.dtype} (${s.channels.join(', ')}), ${s.imagesChecked ? 'every image decoded and checked' : 'images not checked (--check decodes them all)'}`);
    else console.log(`channels ${s.channels.length} (${s.channels.join(', ')}); images not opened (--no-check: metadata only)`);
    console.log(`splits: ${Object.entries(s.splits).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    console.log(`plates: ${s.plateKeys.slice(0, 8).join(', ')}${s.plateKeys.length > 8 ? `, ... (${s.plateKeys.length})` : ''}`);
    if (s.fields) console.log(`fields: label ${s.fields.label || '-'}, experiment ${s.fields.experiment || '-'}, controls ${s.fields.controls}`);
    const wt: Record<string, number> = {};
    for (const r of ds.rows) wt[r.wellType] = (wt[r.wellType] ?? 0) + 1;
    console.log(`well types: ${Object.entries(wt).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    for (const line of illuminationLines(ds.illumination)) console.log(line);
    console.log(`intensity: ${JSON.stringify(s.intensity)}`);
    if (figure) console.log(`wrote ${argv.figure}: ${figure.caption}`);
    if (s.skipped) {
      console.log(`skipped ${s.skipped} bad site(s):`);
      for (const b of skipped.slice(0, 20)) console.log(`  ${b.source}: ${b.reason}`);
      if (skipped.length > 20) console.log(`  ... and ${skipped.length - 20} more (--json lists all)`);
    }
  },
};

/** The illumination record as a few lines: the mode, then each plate's function files (the first plates). */
function illuminationLines(r: IlluminationRecord): string[] {
  const plates = Object.keys(r.plates);
  const head = `illumination: ${r.mode}${r.mode === 'none' ? '' : `${r.applied ? ', images divided by the functions' : ', not applied (metadata only)'}; ${r.files} function file(s) over ${plates.length} plate(s)`}` +
    `${r.filterSize !== undefined ? `; filter size ${+r.filterSize.toFixed(2)} px (median radius ${r.radius})` : ''}${r.csv ? `; LoadData CSV ${r.csv}` : ''}${r.note ? ` (${r.note})` : ''}`;
  const lines = [head];
  for (const p of plates.slice(0, 3)) {
    lines.push(`  ${p}:`);
    for (const [ch, f] of Object.entries(r.plates[p])) lines.push(`    ${ch}: ${f}`);
  }
  if (plates.length > 3) lines.push(`  ... ${plates.length - 3} more plates (--json lists all)`);
  return lines;
}

const nucleiCommand: CommandModule<object, Args> = {
  command: 'nuclei <path>',
  describe: 'Find nuclei on the DNA channel of every site: count per site, and a figure of the detections (check before training on cells)',
  builder: (y) =>
    readOptions(y)
      .option('dna-channel', { type: 'string', describe: 'The DNA channel, by name or index (default: the channel named DNA/Hoechst/DAPI/nucleus)' })
      .option('figure', { type: 'string', describe: 'Write a PNG of the detections (boxes, centroids) on --fields sites' })
      .option('fields', { type: 'string', default: '0,1', describe: 'Comma-separated site indices (data set order) for --figure' })
      .option('min-area', { type: 'number', describe: 'Smallest nucleus kept, in pixels (default 30)' })
      .option('json', { type: 'boolean', describe: 'Print JSON (per-site counts)' }) as never,
  handler: async (argv) => {
    const ds = await readDataset(String(argv.path), { layout: argv.layout as string | undefined, skipBad: Boolean(argv.skipBad), labelColumn: argv.labelColumn as string | undefined });
    const ch = argv.dnaChannel as string | undefined;
    const fields = String(argv.fields).split(',').map(Number);
    const bar = createProgress({ label: 'nuclei', total: ds.size, unit: 'site', quiet: Boolean(argv.json) });
    const r = await surveyNuclei(ds, { channel: ch !== undefined && /^\d+$/.test(ch) ? Number(ch) : ch, nuclei: { minArea: argv.minArea as number | undefined }, keep: argv.figure ? fields : [], onSite: () => bar.tick(1) });
    bar.stop();
    const n = r.counts.map((c) => c.detected).sort((a, b) => a - b);
    const q = (f: number) => n[Math.min(n.length - 1, Math.floor(f * n.length))];
    const summary = { sites: n.length, total: n.reduce((a, b) => a + b, 0), min: n[0], p10: q(0.1), median: q(0.5), p90: q(0.9), max: n.at(-1) };
    if (argv.figure) {
      await writeNucleiFigure(String(argv.figure), r.kept.map((k) => ({ plane: k.plane, height: ds.height, width: ds.width, nuclei: k.nuclei, title: `${ds.rows[k.index].plate} ${ds.rows[k.index].well} s${ds.rows[k.index].site}: ${k.nuclei.length} nuclei` })));
    }
    if (argv.json) {
      console.log(JSON.stringify({ ...summary, figure: argv.figure ?? null, perSite: r.counts.map((c) => ({ siteId: c.siteId, nuclei: c.detected })) }, null, 2));
      return;
    }
    console.log(`nuclei per site over ${summary.sites} sites: min ${summary.min}, 10% ${summary.p10}, median ${summary.median}, 90% ${summary.p90}, max ${summary.max} (${summary.total} in all)`);
    if (argv.figure) console.log(`wrote ${argv.figure}`);
  },
};

/** `ben data synth|info|nuclei`: the data layer's commands. */
export const dataCommand: CommandModule<object, Args> = {
  command: 'data <command>',
  describe: 'Data sets: generate synthetic microscopy, inspect and check a data set',
  builder: (y) => y.command(synthCommand).command(infoCommand).command(nucleiCommand).demandCommand(1) as never,
  handler: () => undefined,
};
