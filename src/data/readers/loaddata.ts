import { dirname, isAbsolute, join, resolve } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { DataError, UserError } from '../../util/errors.ts';
import { SKIP_BAD_HINT } from '../decode.ts';
import { readCsv, requireColumns, type CsvTable } from '../csv.ts';
import { assembleDataset, type Dataset, type ReadOptions } from '../image-dataset.ts';
import { NO_SPLIT, type SiteRecord } from '../types.ts';
import type { DatasetReader } from './reader.ts';
import { z } from 'zod';
import { CHANNELS_OPTION, resolveSiteFields, SITE_FIELD_OPTIONS, type SiteFieldOptions } from './site-fields.ts';
import { isUrl, localPathOfUrl, urlRootHint, type UrlRoot } from './url-root.ts';

/** Options of the LoadData reader: which columns carry our fields, which channels to read. */
export interface LoadDataReadOptions extends ReadOptions, SiteFieldOptions {
  /**
   * Channel names to read, in this order (`[DNA, ER, RNA, AGP, Mito]`); each finds `FileName_<name>`
   * or `FileName_Orig<name>` (CellProfiler's and JUMP's conventions), or `URL_<name>` /
   * `URL_Orig<name>`. Default: every image column in CSV order except illumination functions
   * (`FileName_Illum*`, `URL_Illum*`).
   */
  channels?: string[];
  /** Remote URL prefix -> local folder, for `URL_*` columns and `PathName_*` holding URLs. */
  urlRoot?: UrlRoot;
}

/** Where one image (or illumination function) of a row is named: CellProfiler's column trio. */
export interface LoadDataLocation {
  /** `FileName_<raw>`. */
  file?: string;
  /** `PathName_<raw>`. */
  path?: string;
  /** `URL_<raw>`. */
  url?: string;
}

/** The columns of one channel: its image, and its illumination function when the CSV names one. */
export interface LoadDataChannel {
  image: LoadDataLocation;
  illum?: LoadDataLocation;
  /** `Frame_<Ch>`: the plane of a multi-page file (from 0). */
  frame?: string;
  /** `Series_<Ch>`: the series (OME image) of a multi-series file (from 0). */
  series?: string;
}

/** The FileName_/PathName_/URL_ columns of `raw` present in `columns`, or undefined when none is. */
function locationOf(columns: readonly string[], raw: string): LoadDataLocation | undefined {
  const has = (c: string) => (columns.includes(c) ? c : undefined);
  const loc = { file: has(`FileName_${raw}`), path: has(`PathName_${raw}`), url: has(`URL_${raw}`) };
  return loc.file || loc.url ? loc : undefined;
}


/**
 * The channels of a LoadData table: name -> its image columns (`FileName_`/`PathName_` or `URL_`,
 * and `Frame_`/`Series_` naming a plane of a multi-page file) and its illumination function's
 * (`Illum<name>` or `Illum<raw name>`, CellProfiler's CorrectIlluminationCalculate naming). Names
 * drop JUMP's `Orig` prefix (`FileName_OrigDNA` is channel `DNA`, its function `FileName_IllumDNA`).
 */
export function loadDataChannels(table: CsvTable): Map<string, LoadDataChannel> {
  const out = new Map<string, LoadDataChannel>();
  for (const c of table.columns) {
    const m = /^(FileName|URL)_(.+)$/.exec(c);
    if (!m) continue;
    const raw = m[2];
    if (raw.startsWith('Illum')) continue;
    const name = raw.startsWith('Orig') && raw.length > 4 ? raw.slice(4) : raw;
    if (out.has(name)) continue;
    const illum = [`Illum${name}`, `Illum${raw}`].map((r) => locationOf(table.columns, r)).find(Boolean);
    const has = (k: string) => (table.columns.includes(`${k}_${raw}`) ? `${k}_${raw}` : undefined);
    out.set(name, { image: locationOf(table.columns, raw)!, ...(illum ? { illum } : {}), frame: has('Frame'), series: has('Series') });
  }
  return out;
}

/**
 * The local path a row gives for `loc`: `FileName_` joined to `PathName_` (absolute, relative to
 * the CSV's folder `base`, or a URL mapped through `urlRoot`), else `URL_`; `undefined` when the
 * row leaves them empty, an error sentence when it names a URL no prefix maps.
 */
export function locate(v: Record<string, string>, loc: LoadDataLocation, base: string, urlRoot: UrlRoot | undefined): string | { error: string } | undefined {
  const mapUrl = (col: string, url: string) => localPathOfUrl(url, urlRoot) ?? { error: `${col} "${url}" is not a local path; ${urlRootHint(url)}.` };
  const file = loc.file ? v[loc.file] : '';
  if (file) {
    let dir = loc.path ? (v[loc.path] ?? '') : '';
    if (isUrl(dir)) {
      const d = mapUrl(loc.path!, dir);
      if (typeof d !== 'string') return d;
      dir = d;
    }
    const p = join(dir, file);
    return isAbsolute(p) ? p : join(base, p);
  }
  const url = loc.url ? v[loc.url] : '';
  if (url) {
    if (!isUrl(url)) return isAbsolute(url) ? url : join(base, url);
    return mapUrl(loc.url!, url);
  }
  return undefined;
}

/** Resolves a LoadData path argument: a CSV file, or a folder holding exactly one `.csv`. */
async function csvPathOf(path: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UserError(`${path} does not exist; name a LoadData CSV file or its folder.`);
  if (st.isFile()) return path;
  const csvs = (await readdir(path)).filter((f) => f.endsWith('.csv'));
  if (csvs.length !== 1) throw new UserError(`${path} holds ${csvs.length} CSV files; name the LoadData CSV file itself.`);
  return join(path, csvs[0]);
}

/** Column names with CellProfiler's optional `Image_` prefix removed (BBBC021 exports use it). */
function normalise(table: CsvTable): CsvTable {
  if (!table.columns.some((c) => c.startsWith('Image_'))) return table;
  const strip = (c: string) => (c.startsWith('Image_') ? c.slice(6) : c);
  return {
    ...table,
    columns: table.columns.map(strip),
    records: table.records.map((r) => ({ line: r.line, values: Object.fromEntries(Object.entries(r.values).map(([k, v]) => [strip(k), v])) })),
  };
}

/**
 * CellProfiler / JUMP LoadData CSV: one row per site with `FileName_<Ch>` or `FileName_Orig<Ch>`
 * (and optional `PathName_<Ch>`, absolute or relative to the CSV's folder), or `URL_<Ch>` /
 * `URL_Orig<Ch>` (file:// or mapped through `urlRoot`), per channel, the illumination function of
 * each channel when named (`FileName_Illum<Ch>` / `PathName_Illum<Ch>` or `URL_Illum<Ch>`: kept in
 * each row's `illumination`, applied by data/illumination/),
 * `Metadata_Plate`, `Metadata_Well`, optional `Metadata_Site`, `Metadata_Source` /
 * `Metadata_Batch` (the experiment), `Metadata_Split`, and any other `Metadata_*` columns (kept
 * in `extra`). Without a split column every row is in split {@link NO_SPLIT}, which any split
 * name selects. `Frame_<Ch>` / `Series_<Ch>` (from 0) name a channel's plane in a multi-page file
 * (OME-TIFF, ImageJ stacks); without them a file is read whole. PNG or TIFF (decode.ts).
 */
export const loadDataReader: DatasetReader = {
  name: 'loaddata-csv',
  aliases: ['loaddata'],
  description: 'CellProfiler LoadData CSV: FileName_<Ch>/PathName_<Ch> or URL_<Ch>, Metadata_Plate/Well/Site (+ Metadata_*), FileName_Illum<Ch> functions',
  detectOrder: 3,
  options: {
    channels: CHANNELS_OPTION,
    ...SITE_FIELD_OPTIONS,
    urlRoot: {
      schema: z.record(z.string(), z.string()),
      describe: 'Read remote URLs (URL_<Ch> columns, s3:// or https:// PathName_) from a local mirror: PREFIX=DIR, repeatable (e.g. --url-root s3://cellpainting-gallery=/data/gallery)',
      flag: { form: 'mapping' },
    },
  },
  async detect(path) {
    try {
      const t = normalise(await readCsv(await csvPathOf(path)));
      return t.columns.some((c) => c.startsWith('FileName_') || c.startsWith('URL_')) && t.columns.includes('Metadata_Plate');
    } catch (e) {
      // Bytes that are not UTF-8 are this file's problem, not a sign of another layout.
      if (e instanceof DataError) throw e;
      return false;
    }
  },
  async read(path, opts: LoadDataReadOptions = {}): Promise<Dataset> {
    const csv = await csvPathOf(path);
    const table = normalise(await readCsv(csv));
    const base = dirname(resolve(csv));
    const available = loadDataChannels(table);
    if (available.size === 0) throw new UserError(`${csv} has no FileName_<Channel> or URL_<Channel> columns (columns: ${table.columns.join(', ')}); a LoadData CSV needs one FileName_<Channel> (and PathName_<Channel>) or URL_<Channel> per channel.`);
    const channels = opts.channels ?? [...available.keys()];
    if (channels.length === 0) throw new UserError(`data.channels is empty; name the channels to read (${csv} has ${[...available.keys()].join(', ')}).`);
    for (const c of channels) {
      if (!available.has(c)) {
        throw new UserError(`Channel "${c}" (data.channels / --channels): ${csv} has no FileName_${c}, FileName_Orig${c}, URL_${c} or URL_Orig${c} column. Its channels: ${[...available.keys()].join(', ')}.`);
      }
    }
    requireColumns(table, ['Metadata_Plate', 'Metadata_Well'], 'A LoadData CSV needs Metadata_Plate, Metadata_Well and a FileName_<Channel> column per channel.');
    if (table.records.length === 0) throw new DataError(`${csv} has a header but no rows; add one row per site.`);
    const fields = resolveSiteFields(table, opts);
    const ctCol = ['Metadata_CellType', 'Metadata_Cell_Type', 'Metadata_cell_type'].find((c) => table.columns.includes(c));
    const rows: SiteRecord[] = [];
    const badRows: { source: string; reason: string; siteId: string }[] = [];
    // Without Metadata_Site, each row is the next site of its well (LoadData has one row per site).
    const siteCounter = new Map<string, number>();
    for (const rec of table.records) {
      const v = rec.values;
      const source = `${csv} line ${rec.line}`;
      const f = fields.of(v);
      let err: string | undefined = typeof f === 'string' ? `${source}: ${f}.` : undefined;
      const experiment = typeof f === 'string' ? '' : f.experiment;
      let siteStr = v.Metadata_Site;
      if (siteStr === undefined) {
        const wk = `${experiment}/${v.Metadata_Plate}/${v.Metadata_Well}`;
        siteCounter.set(wk, (siteCounter.get(wk) ?? 0) + 1);
        siteStr = String(siteCounter.get(wk));
      }
      const site = Number(siteStr);
      if (siteStr === '' || !Number.isInteger(site) || site < 0) err ??= `${source}: Metadata_Site "${siteStr}" is not an integer; fix it.`;
      // Frame_/Series_ columns name the plane of a multi-page file (OME-TIFF, ImageJ stacks).
      const planed = channels.some((c) => available.get(c)!.frame || available.get(c)!.series);
      const planes = channels.map((c) => {
        const col = available.get(c)!;
        const at = (k: string | undefined) => {
          const s = k ? (v[k] ?? '').trim() : '';
          const n = s === '' ? 0 : Number(s);
          if (!Number.isInteger(n) || n < 0) err ??= `${source}: ${k} "${v[k!]}" is not a plane number (0, 1, 2...); fix it.`;
          return n;
        };
        return { series: at(col.series), frame: at(col.frame) };
      });
      const where = (loc: LoadDataLocation) => {
        const p = locate(v, loc, base, opts.urlRoot);
        if (typeof p === 'string') return p;
        const cols = [loc.file, loc.url].filter(Boolean);
        err ??= `${source}: ${p ? p.error : `${cols.join(' and ')} ${cols.length > 1 ? 'are' : 'is'} empty; fill ${cols.length > 1 ? 'one' : 'it'} in.`}`;
        return '';
      };
      const paths = channels.map((c) => where(available.get(c)!.image));
      // Illumination functions: '' for a channel whose function the CSV does not name.
      const illumination = channels.map((c) => {
        const loc = available.get(c)!.illum;
        if (!loc) return '';
        const p = locate(v, loc, base, opts.urlRoot);
        if (typeof p === 'string') return p;
        if (p) err ??= `${source}: ${p.error}`;
        return '';
      });
      if (err || typeof f === 'string') {
        const reason = err ?? String(f);
        if (!opts.skipBad) throw new DataError(`${reason} Or ${SKIP_BAD_HINT}.`);
        badRows.push({ source, reason, siteId: '' });
        continue;
      }
      const extra: Record<string, string> = {};
      for (const c of table.columns) if (c.startsWith('Metadata_')) extra[c] = v[c];
      rows.push({
        siteId: `${experiment ? experiment + '_' : ''}${v.Metadata_Plate}_${v.Metadata_Well}_${site}`,
        experiment,
        plate: v.Metadata_Plate,
        well: v.Metadata_Well,
        site,
        cellType: ctCol ? v[ctCol] : '',
        label: f.label,
        wellType: f.wellType,
        split: v.Metadata_Split || NO_SPLIT,
        paths,
        ...(planed ? { planes } : {}),
        ...(illumination.some(Boolean) ? { illumination } : {}),
        extra,
        source,
      });
    }
    const ds = await assembleDataset(rows, channels, csv, 'loaddata-csv', opts);
    ds.skipped.push(...badRows);
    ds.fields = { label: fields.labelColumn ?? '', experiment: fields.experimentColumns.join('/'), controls: fields.describe };
    return ds;
  },
};
