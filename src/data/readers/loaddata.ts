import { dirname, isAbsolute, join, resolve } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { UserError } from '../../util/errors.ts';
import { readCsv, requireColumns, type CsvTable } from '../csv.ts';
import { assembleDataset, type Dataset, type ReadOptions } from '../dataset.ts';
import { WELL_TYPES, type SiteRecord, type WellType } from '../types.ts';
import type { DatasetReader } from './reader.ts';

/** Options of the LoadData reader: which `Metadata_*` columns carry our fields. */
export interface LoadDataReadOptions extends ReadOptions {
  /** Column of the treatment label (default: the first of Metadata_Treatment, _Label, _pert_iname, _broad_sample, _Compound, _sirna). */
  labelColumn?: string;
  /** Column of the experiment / batch (default Metadata_Experiment or Metadata_Batch; else ''). */
  experimentColumn?: string;
  /** Labels that mark negative-control wells when there is no Metadata_WellType column (default DMSO, EMPTY, negcon). */
  negativeControls?: string[];
  /** Channel names to read, in order (default: every FileName_<Channel> column, in CSV order). */
  channels?: string[];
}

const LABEL_COLUMNS = ['Metadata_Treatment', 'Metadata_Label', 'Metadata_pert_iname', 'Metadata_broad_sample', 'Metadata_Compound', 'Metadata_sirna'];
const WELL_TYPE_ALIASES: Record<string, WellType> = {
  treatment: 'treatment', trt: 'treatment', negative_control: 'negative_control', negcon: 'negative_control', ctl_vehicle: 'negative_control',
  positive_control: 'positive_control', poscon: 'positive_control',
};

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
 * CellProfiler LoadData CSV: one row per site with `FileName_<Ch>` (and optional `PathName_<Ch>`,
 * relative to the CSV's folder) per channel, `Metadata_Plate`, `Metadata_Well`, optional
 * `Metadata_Site`, and any other `Metadata_*` columns (kept in `extra`). PNG or 8/16-bit TIFF.
 */
export const loadDataReader: DatasetReader = {
  name: 'loaddata-csv',
  description: 'CellProfiler LoadData CSV: FileName_<Ch>/PathName_<Ch>, Metadata_Plate/Well/Site (+ Metadata_*)',
  async detect(path) {
    try {
      const t = normalise(await readCsv(await csvPathOf(path)));
      return t.columns.some((c) => c.startsWith('FileName_')) && t.columns.includes('Metadata_Plate');
    } catch {
      return false;
    }
  },
  async read(path, opts: LoadDataReadOptions = {}): Promise<Dataset> {
    const csv = await csvPathOf(path);
    const table = normalise(await readCsv(csv));
    const base = dirname(resolve(csv));
    const fileCols = table.columns.filter((c) => c.startsWith('FileName_')).map((c) => c.slice('FileName_'.length));
    const channels = opts.channels ?? fileCols;
    requireColumns(table, ['Metadata_Plate', 'Metadata_Well', ...channels.map((c) => `FileName_${c}`)],
      'A LoadData CSV needs Metadata_Plate, Metadata_Well and a FileName_<Channel> column per channel.');
    if (channels.length === 0) throw new UserError(`${csv} has no FileName_<Channel> columns; add one per channel.`);
    const labelCol = opts.labelColumn ?? LABEL_COLUMNS.find((c) => table.columns.includes(c));
    if (labelCol) requireColumns(table, [labelCol], 'Name an existing column with --label-column.');
    const expCol = opts.experimentColumn ?? ['Metadata_Experiment', 'Metadata_Batch'].find((c) => table.columns.includes(c));
    if (expCol) requireColumns(table, [expCol], 'Name an existing column with --experiment-column.');
    const ctCol = ['Metadata_CellType', 'Metadata_Cell_Type', 'Metadata_cell_type'].find((c) => table.columns.includes(c));
    const negs = new Set(opts.negativeControls ?? ['DMSO', 'EMPTY', 'negcon']);
    const rows: SiteRecord[] = [];
    const badRows: { source: string; reason: string; siteId: string }[] = [];
    // Without Metadata_Site, each row is the next site of its well (LoadData has one row per site).
    const siteCounter = new Map<string, number>();
    for (const rec of table.records) {
      const v = rec.values;
      const source = `${csv} line ${rec.line}`;
      let siteStr = v.Metadata_Site;
      if (siteStr === undefined) {
        const wk = `${expCol ? v[expCol] : ''}/${v.Metadata_Plate}/${v.Metadata_Well}`;
        siteCounter.set(wk, (siteCounter.get(wk) ?? 0) + 1);
        siteStr = String(siteCounter.get(wk));
      }
      const site = Number(siteStr);
      let err: string | undefined;
      if (!Number.isInteger(site) || site < 0) err = `${source}: Metadata_Site "${siteStr}" is not an integer; fix it.`;
      const label = labelCol ? v[labelCol] : '';
      let wellType: WellType = negs.has(label) ? 'negative_control' : 'treatment';
      if (v.Metadata_WellType !== undefined) {
        const wt = WELL_TYPE_ALIASES[v.Metadata_WellType];
        if (!wt) err = `${source}: Metadata_WellType "${v.Metadata_WellType}" is not one of ${WELL_TYPES.join(', ')}; fix it.`;
        else wellType = wt;
      }
      const paths = channels.map((c) => {
        const f = v[`FileName_${c}`];
        const dir = v[`PathName_${c}`] ?? '';
        if (!f) err ??= `${source}: FileName_${c} is empty; fill it in.`;
        const p = join(dir, f ?? '');
        return isAbsolute(p) ? p : join(base, p);
      });
      if (err) {
        if (!opts.skipBad) throw new UserError(err + ' Or pass --skip-bad to skip the row.');
        badRows.push({ source, reason: err, siteId: '' });
        continue;
      }
      const experiment = expCol ? v[expCol] : '';
      const extra: Record<string, string> = {};
      for (const c of table.columns) if (c.startsWith('Metadata_')) extra[c] = v[c];
      rows.push({
        siteId: `${experiment ? experiment + '_' : ''}${v.Metadata_Plate}_${v.Metadata_Well}_${site}`,
        experiment,
        plate: v.Metadata_Plate,
        well: v.Metadata_Well,
        site,
        cellType: ctCol ? v[ctCol] : '',
        label,
        wellType,
        split: v.Metadata_Split || 'all',
        paths,
        extra,
        source,
      });
    }
    const ds = await assembleDataset(rows, channels, csv, 'loaddata-csv', opts);
    ds.skipped.push(...badRows);
    return ds;
  },
};
