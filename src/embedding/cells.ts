/**
 * Profiles from single-cell embeddings, as in the BEN paper (Lin & Lu, MLCB 2022): every cell's
 * embedding is L2-normalised, and a site's (or well's) profile is the mean of its cells'
 * normalised embeddings, with the number of cells (`Metadata_Count`). Writes the three files of a
 * cell embedding run: cells, sites and wells.
 */
import type { Dataset } from '../data/image-dataset.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
import { aggregateProfiles, WELL_COLUMNS } from '../profiles/aggregate.ts';
import { wellPathFor } from './export.ts';
import { writeProfilesParquet, type ProfileParquetSummary } from '../tables/parquet.ts';
import { unitRows } from '../util/unit-rows.ts';

/** The columns that identify a site. */
export const SITE_KEYS = [...WELL_COLUMNS, 'Metadata_Site'];

/** The cell columns added to a cell embedding table (index in the site, centroid x and y). */
export const CELL_COLUMNS = ['Metadata_Cell', 'Metadata_CellX', 'Metadata_CellY'] as const;


/**
 * Site and well profiles of a cell table: the mean of the L2-normalised cell embeddings per site
 * and per well, with `Metadata_Count` cells. Both record `pooling: mean-of-l2-normalized-cells`.
 */
export function poolCells(cells: ProfileTable): { sites: ProfileTable; wells: ProfileTable } {
  const unit = { ...cells, features: unitRows(cells.features, cells.d) };
  unit.keyValue = { ...cells.keyValue, pooling: 'mean-of-l2-normalized-cells', unit: 'cell' };
  const pool = (by: string[]) => {
    const t = aggregateProfiles(unit, { by, method: 'mean' });
    for (const c of CELL_COLUMNS) delete t.meta[c];
    return t;
  };
  return { sites: pool(SITE_KEYS), wells: pool(WELL_COLUMNS) };
}

/**
 * Adds the cell columns ({@link CELL_COLUMNS}) of `cells` (a data set from data/cells/crops.ts)
 * to its embedding table. The embedder keeps the data set's order when its plates are contiguous,
 * as cell data sets are; a table in another order is refused.
 */
export function withCellColumns(t: ProfileTable, cells: Dataset): ProfileTable {
  if (t.n !== cells.size) throw new Error(`cell table has ${t.n} rows for ${cells.size} cells`);
  for (let i = 0; i < t.n; i++) {
    const r = cells.rows[i];
    if (t.meta.Metadata_Well[i] !== r.well || t.meta.Metadata_Plate[i] !== r.plate) throw new Error(`cell table row ${i} is ${t.meta.Metadata_Plate[i]}/${t.meta.Metadata_Well[i]} but cell ${r.siteId} is ${r.plate}/${r.well}: the embedder reordered the cells`);
  }
  const meta = { ...t.meta };
  meta.Metadata_Cell = cells.rows.map((r) => r.extra.Cell ?? '');
  meta.Metadata_CellX = cells.rows.map((r) => r.extra.CellX ?? '');
  meta.Metadata_CellY = cells.rows.map((r) => r.extra.CellY ?? '');
  return { ...t, meta, keyValue: { ...t.keyValue, unit: 'cell' } };
}

/** `x.parquet` -> `x.cells.parquet`. */
export function cellPathFor(path: string): string {
  return path.endsWith('.parquet') ? `${path.slice(0, -'.parquet'.length)}.cells.parquet` : `${path}.cells.parquet`;
}

/** What {@link exportCellProfiles} wrote. */
export interface CellExportSummary {
  cells: ProfileParquetSummary;
  sites: ProfileParquetSummary;
  wells: ProfileParquetSummary;
  /** The site profiles (what evaluation reads). */
  siteTable: ProfileTable;
}

/**
 * Writes a cell embedding table three ways: the cells to `cellPath` (default
 * {@link cellPathFor}(path)), the site profiles (mean of L2-normalised cells) to `path` and the
 * well profiles to `wellPath` (default `<path>.wells.parquet`), each atomically.
 */
export async function exportCellProfiles(path: string, cells: ProfileTable, o: { cellPath?: string; wellPath?: string } = {}): Promise<CellExportSummary> {
  const { sites, wells } = poolCells(cells);
  return {
    cells: await writeProfilesParquet(o.cellPath ?? cellPathFor(path), cells),
    sites: await writeProfilesParquet(path, sites),
    wells: await writeProfilesParquet(o.wellPath ?? wellPathFor(path), wells),
    siteTable: sites,
  };
}
