import { isUserError } from '../util/errors.ts';
import type { Dataset } from './image-dataset.ts';
import type { SkippedSite } from './types.ts';

/**
 * Decodes every image of `ds` once, through its store (so illumination functions are read and
 * checked too), and drops the pixels: finds truncated and corrupt files, which reading the
 * metadata alone cannot see, without holding the data set in memory. The first bad
 * site (in table order) throws, unless `skipBad`: then all bad sites are returned.
 */
export async function checkImages(ds: Dataset, opts: { skipBad?: boolean; concurrency?: number; onProgress?: (n: number) => void } = {}): Promise<SkippedSite[]> {
  const bad: { i: number; site: SkippedSite; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ds.rows.length && (opts.skipBad || bad.length === 0)) {
      const i = next++;
      const row = ds.rows[i];
      try {
        await ds.images.get(i);
      } catch (e) {
        if (!isUserError(e)) throw e;
        bad.push({ i, error: e, site: { source: row.source, siteId: row.siteId, file: row.paths.join(';'), reason: e.message } });
      }
      opts.onProgress?.(1);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  bad.sort((a, b) => a.i - b.i);
  if (bad.length && !opts.skipBad) throw bad[0].error;
  return bad.map((b) => b.site);
}
