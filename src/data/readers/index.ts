import { UserError } from '../../util/errors.ts';
import type { Dataset, ReadOptions } from '../dataset.ts';
import { loadDataReader } from './loaddata.ts';
import { readers } from './reader.ts';
import { rxrx1Reader } from './rxrx1.ts';
import { rxrx1WildsReader } from './rxrx1-wilds.ts';

readers.register(rxrx1WildsReader.name, rxrx1WildsReader);
readers.register(rxrx1Reader.name, rxrx1Reader);
readers.register(loadDataReader.name, loadDataReader);

export { readers };
export type { DatasetReader } from './reader.ts';

/** Layouts tried, in order, when none is named. */
const DETECT_ORDER = ['rxrx1-wilds', 'rxrx1', 'loaddata-csv'];

/**
 * Reads a data set in the named layout, or the first layout whose `detect` accepts `path`.
 * Extra reader options (e.g. LoadData's `labelColumn`) pass through.
 */
export async function readDataset(path: string, opts: ReadOptions & { layout?: string } & Record<string, unknown> = {}): Promise<Dataset> {
  const { layout, ...rest } = opts;
  if (layout) return readers.get(layout).read(path, rest);
  for (const name of DETECT_ORDER) {
    const r = readers.get(name);
    if (await r.detect(path)) return r.read(path, rest);
  }
  throw new UserError(`Cannot tell the layout of ${path}. Name it with --layout (${readers.names().join(', ')}).`);
}
