import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { DataError, UserError } from '../../util/errors.ts';
import { readCsv, requireColumns, type CsvTable } from '../csv.ts';
import { assembleDataset, type Dataset, type ReadOptions } from '../image-dataset.ts';
import { WELL_TYPES, type SiteRecord, type WellType } from '../types.ts';
import type { DatasetReader } from './reader.ts';

/** Columns of RxRx1(-WILDS) `metadata.csv`. */
export const RXRX1_COLUMNS = ['site_id', 'well_id', 'cell_type', 'dataset', 'experiment', 'plate', 'well', 'site', 'well_type', 'sirna', 'sirna_id'] as const;

/** Channel names of the RxRx1-WILDS RGB composites (Hoechst, ConA, phalloidin in the real data). */
export const WILDS_CHANNELS = ['nucleus', 'cytoplasm', 'texture'];

/**
 * WILDS `official` split of RxRx1 (Koh et al. 2021): `train` = site 1 of the training
 * experiments, `id_test` = site 2 of them, `val` and `test` = the held-out (OOD) experiments,
 * both sites.
 */
export function wildsSplit(dataset: string, site: number): string {
  if (dataset === 'train') return site === 1 ? 'train' : 'id_test';
  return dataset;
}

/** Parses the shared RxRx1 metadata columns of one record into a SiteRecord (paths filled by the caller). */
export function parseRxrx1Record(
  table: CsvTable,
  rec: CsvTable['records'][number],
  splitOf: (dataset: string, site: number) => string,
): SiteRecord | string {
  const v = rec.values;
  const source = `${table.path} line ${rec.line}`;
  const site = Number(v.site);
  if (!Number.isInteger(site) || site < 1) return `${source}: site "${v.site}" is not a positive integer; fix the site column.`;
  if (!(WELL_TYPES as readonly string[]).includes(v.well_type)) {
    return `${source}: well_type "${v.well_type}" is not one of ${WELL_TYPES.join(', ')}; fix the well_type column.`;
  }
  for (const c of ['experiment', 'well', 'sirna', 'dataset'] as const) {
    if (v[c] === '') return `${source}: ${c} is empty; fill it in.`;
  }
  return {
    siteId: v.site_id || `${v.experiment}_${v.plate}_${v.well}_${site}`,
    experiment: v.experiment,
    plate: v.plate,
    well: v.well,
    site,
    cellType: v.cell_type,
    label: v.sirna,
    wellType: v.well_type as WellType,
    split: splitOf(v.dataset, site),
    paths: [],
    extra: { dataset: v.dataset, sirna_id: v.sirna_id ?? '', well_id: v.well_id ?? '' },
    source,
  };
}

/** Label order by `sirna_id` when the column is numeric, so class ids match WILDS. */
export function sirnaOrder(rows: readonly SiteRecord[]): string[] | undefined {
  const ids = new Map<string, number>();
  for (const r of rows) {
    const id = Number(r.extra.sirna_id);
    if (r.extra.sirna_id === '' || !Number.isFinite(id)) return undefined;
    ids.set(r.label, id);
  }
  return [...ids.entries()].sort((a, b) => a[1] - b[1]).map(([l]) => l);
}

/** Reads `metadata.csv` rows of an RxRx1-style folder, collecting bad rows (or throwing). */
export async function readRxrx1Rows(
  root: string,
  opts: ReadOptions,
  splitOf: (dataset: string, site: number) => string,
  requiredExtra: readonly string[] = [],
): Promise<{ rows: SiteRecord[]; badRows: { source: string; reason: string }[] }> {
  const table = await readCsv(join(root, 'metadata.csv'));
  const required = ['cell_type', 'dataset', 'experiment', 'plate', 'well', 'site', 'well_type', 'sirna', ...requiredExtra];
  requireColumns(table, required, 'RxRx1 metadata needs one row per site with these columns; add them or choose another --layout.');
  const rows: SiteRecord[] = [];
  const badRows: { source: string; reason: string }[] = [];
  for (const rec of table.records) {
    const r = parseRxrx1Record(table, rec, splitOf);
    if (typeof r === 'string') {
      if (!opts.skipBad) throw new UserError(r + ' Or pass --skip-bad to skip the row.');
      badRows.push({ source: `${table.path} line ${rec.line}`, reason: r });
      continue;
    }
    rows.push(r);
  }
  return { rows, badRows };
}

/**
 * RxRx1-WILDS layout: `metadata.csv` and `images/<experiment>/Plate<plate>/<well>_s<site>.png`
 * (8-bit RGB). Splits follow WILDS' official scheme ({@link wildsSplit}).
 */
export const rxrx1WildsReader: DatasetReader = {
  name: 'rxrx1-wilds',
  detectOrder: 1,
  options: {},
  description: 'RxRx1-WILDS: metadata.csv + images/<experiment>/Plate<plate>/<well>_s<site>.png (RGB)',
  async detect(path) {
    try {
      // Any of the first rows with its image in place (a bad first row must not hide the layout).
      const t = await readCsv(join(path, 'metadata.csv'));
      for (const { values: r } of t.records.slice(0, 50)) {
        const ok = await stat(wildsPath(path, r.experiment, r.plate, r.well, Number(r.site))).then((s) => s.isFile(), () => false);
        if (ok) return true;
      }
      return false;
    } catch (e) {
      // Bytes that are not UTF-8 are this file's problem, not a sign of another layout.
      if (e instanceof DataError) throw e;
      return false;
    }
  },
  async read(path, opts = {}): Promise<Dataset> {
    const { rows, badRows } = await readRxrx1Rows(path, opts, wildsSplit);
    for (const r of rows) r.paths = [wildsPath(path, r.experiment, r.plate, r.well, r.site)];
    const ds = await assembleDataset(rows, WILDS_CHANNELS, path, 'rxrx1-wilds', { ...opts, labelOrder: sirnaOrder(rows) });
    ds.skipped.push(...badRows.map((b) => ({ ...b, siteId: '' })));
    return ds;
  },
};

/** Path of a site's image in the RxRx1-WILDS layout. */
export function wildsPath(root: string, experiment: string, plate: string | number, well: string, site: number): string {
  return join(root, 'images', experiment, `Plate${plate}`, `${well}_s${site}.png`);
}
