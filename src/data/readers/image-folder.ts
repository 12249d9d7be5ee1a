import { readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { DataError, UserError } from '../../util/errors.ts';
import { SKIP_BAD_HINT } from '../decode.ts';
import { readCsv, type CsvTable } from '../csv.ts';
import { assembleDataset, type Dataset, type ReadOptions } from '../image-dataset.ts';
import { NO_SPLIT, type SiteRecord } from '../types.ts';
import type { DatasetReader } from './reader.ts';
import { z } from 'zod';
import { CHANNELS_OPTION, findColumn, requireColumn, resolveSiteFields, SITE_FIELD_OPTIONS, type SiteFieldOptions } from './site-fields.ts';

/** Options of the image-folder reader (recipe `data.*`, `ben embed --pattern ...`). */
export interface ImageFolderReadOptions extends ReadOptions, SiteFieldOptions {
  /**
   * Regular expression matched against each file name (the whole name), with named groups
   * (CellProfiler's metadata from file names): `ch` (channel; absent = one multi-channel file per
   * site), `well` or `row` + `col`, optional `plate`, `site`, `experiment`. Example:
   * `Channel(?<ch>\d)-\d+-(?<row>[A-H])-(?<col>\d+)\.tif`. Without `ch`, `channels` names the
   * file's own channels in order (a multi-page or OME-TIFF's pages).
   */
  pattern?: string;
  /** Plate-map CSV (absolute, or relative to the folder), joined to the images on the well (and plate, when both have one). */
  plateMap?: string;
  /** Plate-map column of the well (`A01`); default Metadata_Well / Well, else row + column columns. */
  plateMapWell?: string;
  /** Names of the `ch` values (`{ '1': GFP, '2': DNA }`; default the values themselves). */
  channelNames?: Record<string, string>;
  /** Channels to read, in order, by name (default every channel found, in natural order of the `ch` values). */
  channels?: string[];
  /** Plate id when the pattern has no `plate` group (default the folder's name). */
  plate?: string;
}

const IMAGE_EXT = /\.(tiff?|png)$/i;

/** Normalised well id: row letters upper-case + column number two digits (`a1`, `A01`, `A-1` -> `A01`). */
export function normaliseWell(row: string, col: string | number): string {
  const n = Number(col);
  return `${row.trim().toUpperCase()}${Number.isInteger(n) ? String(n).padStart(2, '0') : String(col).trim()}`;
}

/** Splits a well id like `B07` / `b7` into row and column; undefined when it is not letters + digits. */
function splitWell(well: string): [string, string] | undefined {
  const m = /^\s*([A-Za-z]+)[-_ ]?0*(\d+)\s*$/.exec(well);
  return m ? [m[1], m[2]] : undefined;
}

/** Compiles the user's pattern, checking it has the groups we need (errors name the option). */
export function compileFilePattern(pattern: string | undefined, folder: string): RegExp {
  if (!pattern) {
    throw new UserError(
      `The image-folder layout needs a file-name pattern with named groups: set data.pattern (or --pattern), e.g. 'Channel(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif' for the files in ${folder}.`,
    );
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch (e) {
    throw new UserError(`data.pattern (--pattern) "${pattern}" is not a valid regular expression: ${(e as Error).message}.`);
  }
  const groups = new Set([...pattern.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]));
  if (!groups.has('well') && !(groups.has('row') && groups.has('col'))) {
    throw new UserError(`data.pattern (--pattern) "${pattern}" has no well: add a named group (?<well>...) or both (?<row>...) and (?<col>...). Groups found: ${[...groups].join(', ') || 'none'}.`);
  }
  return re;
}

/** The plate map as well key -> row values; the key is `plate|well` when `byPlate`, else `well`. */
function plateMapIndex(table: CsvTable, o: ImageFolderReadOptions, plateCol: string | undefined): Map<string, { values: Record<string, string>; line: number }> {
  const wellCol = o.plateMapWell !== undefined ? requireColumn(table, o.plateMapWell, 'data.plateMapWell') : ['Metadata_Well', 'Well', 'well', 'WellName', 'well_position'].find((c) => table.columns.includes(c));
  const rowCol = wellCol ? undefined : ['Metadata_Row', 'Row', 'row', 'WellRow'].find((c) => table.columns.includes(c));
  const colCol = wellCol ? undefined : ['Metadata_Column', 'Metadata_Col', 'Column', 'Col', 'column', 'col', 'WellColumn'].find((c) => table.columns.includes(c));
  if (!wellCol && !(rowCol && colCol)) {
    throw new DataError(`Plate map ${table.path} has no well column (Well, Metadata_Well, or Row + Column); name it with data.plateMapWell (--plate-map-well). Columns: ${table.columns.join(', ')}.`);
  }
  const out = new Map<string, { values: Record<string, string>; line: number }>();
  for (const rec of table.records) {
    const v = rec.values;
    let well: string;
    if (wellCol) {
      const rc = splitWell(v[wellCol]);
      if (!rc) throw new DataError(`Plate map ${table.path} line ${rec.line}: ${wellCol} "${v[wellCol]}" is not a well id like A01; fix it.`);
      well = normaliseWell(rc[0], rc[1]);
    } else {
      well = normaliseWell(v[rowCol!], v[colCol!]);
    }
    const key = plateCol ? `${v[plateCol]}|${well}` : well;
    const prev = out.get(key);
    if (prev) throw new DataError(`Plate map ${table.path} line ${rec.line}: well ${well}${plateCol ? ` of plate ${v[plateCol]}` : ''} is already on line ${prev.line}; one row per well.`);
    out.set(key, { values: v, line: rec.line });
  }
  return out;
}

/**
 * A folder of per-channel images plus a plate map: every file name matching `pattern` gives
 * channel, well (or row + column), and optionally plate, site and experiment; files of the same
 * site are stacked in channel order; each site takes its well's row of the plate-map CSV (label,
 * controls, any column kept as `Metadata_<name>`). There is no split column, so every site is in
 * {@link NO_SPLIT}. An example: BBBC013 (`Channel<c>-<NN>-<Row>-<Col>.tif` + `1049_Metadata.csv`).
 */
export const imageFolderReader: DatasetReader = {
  name: 'image-folder',
  options: {
    channels: CHANNELS_OPTION,
    ...SITE_FIELD_OPTIONS,
    pattern: { schema: z.string(), describe: "File-name regex with named groups ch, well | row + col, plate, site (e.g. 'Channel(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif')" },
    plateMap: { schema: z.string(), describe: 'Plate-map CSV joined on the well (relative to the folder or absolute)' },
    plateMapWell: { schema: z.string(), describe: 'Plate-map column of the well (default Well, else Row + Column)' },
    channelNames: { schema: z.record(z.string(), z.string()), describe: 'Name a ch value, VALUE=NAME (e.g. --channel-name 1=GFP 2=DNA)', flag: { name: 'channel-name', form: 'mapping' } },
    plate: { schema: z.string(), describe: 'Plate id when the pattern has no plate group (default the folder name)' },
  },
  description: 'Folder of per-channel images named by a pattern with named groups (ch, well | row + col, plate, site) + a plate-map CSV joined on the well',
  async detect() {
    // Needs a pattern, which only the user can give: never detected.
    return false;
  },
  async read(path, opts: ImageFolderReadOptions = {}): Promise<Dataset> {
    const st = await stat(path).catch(() => undefined);
    if (!st) throw new UserError(`Image folder ${resolve(path)} does not exist; check data.path (or --data).`);
    if (!st.isDirectory()) throw new UserError(`${path} is a file; the image-folder layout reads a folder of images (data.path / --data).`);
    const re = compileFilePattern(opts.pattern, path);
    const files = (await readdir(path)).filter((f) => IMAGE_EXT.test(f)).sort();
    if (files.length === 0) throw new UserError(`Image folder ${path} holds no .tif, .tiff or .png files; check data.path.`);
    const matched = files.map((f) => ({ f, m: re.exec(f) })).filter((x) => x.m);
    if (matched.length === 0) {
      throw new UserError(`data.pattern (--pattern) "${opts.pattern}" matches none of the ${files.length} images in ${path} (e.g. ${files.slice(0, 3).join(', ')}); fix the pattern (it must match the whole file name).`);
    }
    const hasCh = matched[0].m!.groups?.ch !== undefined;

    let map: Map<string, { values: Record<string, string>; line: number }> | undefined;
    let mapTable: CsvTable | undefined;
    let mapPlateCol: string | undefined;
    const hasPlateGroup = matched[0].m!.groups?.plate !== undefined;
    if (opts.plateMap) {
      const mp = isAbsolute(opts.plateMap) ? opts.plateMap : join(path, opts.plateMap);
      mapTable = await readCsv(mp);
      if (mapTable.records.length === 0) throw new DataError(`Plate map ${mp} has a header but no rows; add one row per well.`);
      mapPlateCol = hasPlateGroup ? findColumn(mapTable.columns, 'Metadata_Plate') ?? findColumn(mapTable.columns, 'Plate') : undefined;
      map = plateMapIndex(mapTable, opts, mapPlateCol);
    }
    const fields = mapTable ? resolveSiteFields(mapTable, opts) : undefined;
    if (!mapTable && (opts.labelColumn || opts.negativeControls || opts.positiveControls)) {
      throw new UserError('data.labelColumn / negativeControls / positiveControls name plate-map columns: set data.plateMap (--plate-map) to the plate-map CSV.');
    }

    // Group files into sites.
    type Site = { experiment: string; plate: string; well: string; site: number; files: Map<string, string>; first: string };
    const sites = new Map<string, Site>();
    const defaultPlate = opts.plate ?? basename(resolve(path));
    for (const { f, m } of matched) {
      const g = m!.groups ?? {};
      let well: string;
      if (g.well !== undefined) {
        const rc = splitWell(g.well);
        if (!rc) throw new UserError(`${join(path, f)}: the pattern's well group gave "${g.well}", not a well id like A01; fix data.pattern (--pattern).`);
        well = normaliseWell(rc[0], rc[1]);
      } else {
        well = normaliseWell(g.row, g.col);
      }
      const site = g.site !== undefined ? Number(g.site) : 1;
      if (!Number.isInteger(site)) throw new UserError(`${join(path, f)}: the pattern's site group gave "${g.site}", not a number; fix data.pattern (--pattern).`);
      const plate = g.plate ?? defaultPlate;
      const experiment = g.experiment ?? '';
      const key = `${experiment}/${plate}/${well}/${site}`;
      let s = sites.get(key);
      if (!s) sites.set(key, (s = { experiment, plate, well, site, files: new Map(), first: f }));
      const ch = hasCh ? g.ch : '';
      if (s.files.has(ch)) throw new UserError(`${join(path, f)} and ${s.files.get(ch)} are the same site (well ${well}, site ${site}) and channel "${ch}"; make data.pattern tell them apart (a site group?).`);
      s.files.set(ch, join(path, f));
    }
    const coll = new Intl.Collator('en', { numeric: true });
    const chValues = hasCh ? [...new Set(matched.map((x) => x.m!.groups!.ch))].sort(coll.compare) : [''];
    const nameOf = (v: string) => opts.channelNames?.[v] ?? (v === '' ? 'image' : v);
    for (const k of Object.keys(opts.channelNames ?? {})) {
      if (!chValues.includes(k)) throw new UserError(`data.channelNames names channel "${k}", but the pattern's ch group takes the values ${chValues.join(', ')} in ${path}.`);
    }
    const byName = new Map(chValues.map((v) => [nameOf(v), v]));
    // Without a ch group a file holds every channel (an RGB image, a multi-page or OME-TIFF):
    // data.channels names them in the file's order.
    const channels = opts.channels ?? [...byName.keys()];
    for (const c of hasCh ? channels : []) {
      if (!byName.has(c)) throw new UserError(`Channel "${c}" (data.channels, --channels): the images in ${path} have the channels ${[...byName.keys()].join(', ')}${hasCh ? ' (values of the ch group, renamed by data.channelNames)' : ''}.`);
    }
    const wanted = hasCh ? channels.map((c) => byName.get(c)!) : [''];

    const rows: SiteRecord[] = [];
    const badRows: { source: string; reason: string; siteId: string }[] = [];
    for (const s of sites.values()) {
      const source = join(path, s.first);
      const siteId = `${s.experiment ? s.experiment + '_' : ''}${s.plate}_${s.well}_${s.site}`;
      const fail = (reason: string) => {
        if (!opts.skipBad) throw new DataError(`${reason} Or ${SKIP_BAD_HINT}.`);
        badRows.push({ source, reason, siteId });
      };
      const missing = wanted.filter((v) => !s.files.has(v));
      if (missing.length) {
        fail(`${source}: well ${s.well} site ${s.site} has no image for channel(s) ${missing.map(nameOf).join(', ')} (data.pattern group ch); restore the file(s).`);
        continue;
      }
      let label = '', experiment = s.experiment, wellType: SiteRecord['wellType'] = 'treatment';
      const extra: Record<string, string> = {};
      if (map && mapTable && fields) {
        const hit = map.get(mapPlateCol ? `${s.plate}|${s.well}` : s.well);
        if (!hit) {
          fail(`${source}: well ${s.well}${mapPlateCol ? ` of plate ${s.plate}` : ''} is not in the plate map ${mapTable.path}; add its row, or remove the image.`);
          continue;
        }
        const f = fields.of(hit.values);
        if (typeof f === 'string') {
          fail(`${mapTable.path} line ${hit.line}: ${f}.`);
          continue;
        }
        ({ label, wellType } = f);
        if (f.experiment) experiment = f.experiment;
        for (const c of mapTable.columns) extra[c.startsWith('Metadata_') ? c : `Metadata_${c}`] = hit.values[c];
      }
      rows.push({ siteId, experiment, plate: s.plate, well: s.well, site: s.site, cellType: '', label, wellType, split: NO_SPLIT, paths: wanted.map((v) => s.files.get(v)!), extra, source });
    }
    if (rows.length === 0 && badRows.length) throw new DataError(`No usable sites in ${path}: ${badRows[0].reason}`);
    // Rows in plate-map-like order: plate, then well row-major, then site.
    rows.sort((a, b) => coll.compare(a.plate, b.plate) || coll.compare(a.well, b.well) || a.site - b.site);
    const ds = await assembleDataset(rows, channels, path, 'image-folder', opts);
    ds.skipped.push(...badRows);
    ds.fields = { label: fields?.labelColumn ?? '', experiment: fields?.experimentColumns.join('/') ?? '', controls: fields?.describe ?? 'none (no plate map)' };
    return ds;
  },
};
