/** Child of the kill test: starts an export, reports the first row group on disk, then hangs. */
import { writeProfilesParquet } from '../../src/tables/parquet.ts';
import { makeTable } from './helpers.ts';

const t = makeTable({ plates: 2, wells: 10, d: 4, seed: 2 });
await writeProfilesParquet(process.argv[2], t, {
  rowGroupSize: 10,
  onRowGroup: async () => {
    process.stdout.write('row group written\n');
    setInterval(() => undefined, 1000); // keep the event loop alive
    await new Promise(() => undefined); // never resolves: the parent kills us here
  },
});
