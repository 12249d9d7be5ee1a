import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { DataError, UserError } from '../../util/errors.ts';
import { readCsv } from '../csv.ts';
import { assembleDataset, type Dataset, type ReadOptions } from '../image-dataset.ts';
import type { DatasetReader } from './reader.ts';
import { readRxrx1Rows, sirnaOrder } from './rxrx1-wilds.ts';

/** The six RxRx1 stains, in w1..w6 order (Sypherd et al., rxrx.ai). */
export const RXRX1_CHANNELS = ['hoechst', 'cona', 'phalloidin', 'syto14', 'mitotracker', 'wga'];

/** Path of channel `w` (1-based) of a site in the original RxRx1 layout; `dataset` folder optional. */
export function rxrx1Path(root: string, dataset: string | undefined, experiment: string, plate: string | number, well: string, site: number, w: number): string {
  const parts = dataset ? [root, 'images', dataset] : [root, 'images'];
  return join(...parts, experiment, `Plate${plate}`, `${well}_s${site}_w${w}.png`);
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Options of the original RxRx1 reader. */
export interface Rxrx1ReadOptions extends ReadOptions {
  /** Channels per site (default: as many consecutive `_w<k>` files as the first site has, up to 6). */
  channels?: number;
}

/**
 * Original RxRx1 layout: `metadata.csv` and one 8-bit grey PNG per channel,
 * `images/[<dataset>/]<experiment>/Plate<plate>/<well>_s<site>_w<1..6>.png`, stacked to HWC.
 * The split is the `dataset` column (train / test).
 */
export const rxrx1Reader: DatasetReader = {
  name: 'rxrx1',
  detectOrder: 2,
  options: {},
  description: 'RxRx1 original: metadata.csv + images/[<dataset>/]<experiment>/Plate<plate>/<well>_s<site>_w<k>.png (one grey PNG per channel)',
  async detect(path) {
    try {
      for (const { values: r } of (await readCsv(join(path, 'metadata.csv'))).records.slice(0, 50)) {
        const s = Number(r.site);
        if ((await isFile(rxrx1Path(path, r.dataset, r.experiment, r.plate, r.well, s, 1))) || (await isFile(rxrx1Path(path, undefined, r.experiment, r.plate, r.well, s, 1)))) return true;
      }
      return false;
    } catch (e) {
      // Bytes that are not UTF-8 are this file's problem, not a sign of another layout.
      if (e instanceof DataError) throw e;
      return false;
    }
  },
  async read(path, opts: Rxrx1ReadOptions = {}): Promise<Dataset> {
    const { rows, badRows } = await readRxrx1Rows(path, opts, (d) => d);
    if (rows.length === 0) throw new UserError(`${join(path, 'metadata.csv')} has no usable rows.`);
    // Folder scheme and channel count from the first site that has a w1 file.
    let withDataset: boolean | undefined;
    let nch = opts.channels;
    for (const r of rows) {
      const d = r.extra.dataset;
      if (await isFile(rxrx1Path(path, d, r.experiment, r.plate, r.well, r.site, 1))) withDataset = true;
      else if (await isFile(rxrx1Path(path, undefined, r.experiment, r.plate, r.well, r.site, 1))) withDataset = false;
      else continue;
      if (nch === undefined) {
        nch = 0;
        while (nch < 6 && (await isFile(rxrx1Path(path, withDataset ? d : undefined, r.experiment, r.plate, r.well, r.site, nch + 1)))) nch++;
      }
      break;
    }
    if (withDataset === undefined || !nch) {
      throw new UserError(`No RxRx1 channel images found under ${join(path, 'images')} (expected <experiment>/Plate<plate>/<well>_s<site>_w1.png). Check the folder or choose another --layout.`);
    }
    for (const r of rows) {
      r.paths = Array.from({ length: nch }, (_, k) => rxrx1Path(path, withDataset ? r.extra.dataset : undefined, r.experiment, r.plate, r.well, r.site, k + 1));
    }
    const names = nch === 6 ? RXRX1_CHANNELS : Array.from({ length: nch }, (_, k) => `w${k + 1}`);
    const ds = await assembleDataset(rows, names, path, 'rxrx1', { ...opts, labelOrder: sirnaOrder(rows) });
    ds.skipped.push(...badRows.map((b) => ({ ...b, siteId: '' })));
    return ds;
  },
};
