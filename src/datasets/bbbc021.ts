/**
 * Loader of the raw BBBC021 per-well mean profiles of Ljosa et al. 2013 as shipped by
 * cytomining/cytominergallery (inst/extdata): joins the three files into one profile table.
 *   ljosa_jbiomolscreen_2013_per_well_mean.csv.gz  (Image_Metadata_Plate, Image_Metadata_Well, features)
 *   BBBC021_v1_image.csv.gz                        (plate, well -> compound, concentration; one row per site)
 *   BBBC021_v1_moa.csv                             (compound, concentration -> moa)
 * Only wells with an annotated MoA (DMSO included) are kept: 632 wells x 516 features, 55 plates.
 */
import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { readProfileTable, type ReadProfileReport } from '../tables/read.ts';
import { selectRows, type ProfileTable } from '../tables/profile-table.ts';
import { UserError } from '../util/errors.ts';

/** File names of the cytominergallery BBBC021 extdata. */
export const BBBC021_FILES = {
  perWell: 'ljosa_jbiomolscreen_2013_per_well_mean.csv.gz',
  image: 'BBBC021_v1_image.csv.gz',
  moa: 'BBBC021_v1_moa.csv',
} as const;

/** True when `dir` holds the three cytominergallery BBBC021 files. */
export async function isBbbc021GalleryDir(dir: string): Promise<boolean> {
  try {
    if (!(await stat(dir)).isDirectory()) return false;
    await Promise.all(Object.values(BBBC021_FILES).map((f) => stat(join(dir, f))));
    return true;
  } catch {
    return false;
  }
}

async function readCsvObjects(path: string): Promise<Record<string, string>[]> {
  let buf = await readFile(path);
  if (path.endsWith('.gz')) buf = gunzipSync(buf);
  return parse(buf, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
}

/**
 * Joins the raw per-well means with compound, concentration and MoA. Metadata columns:
 * `Metadata_Plate`, `Metadata_Well`, `Metadata_Batch` (the week, `Week4` from `Week4_27481`),
 * `Metadata_Compound`, `Metadata_Concentration` (as in the MoA file, e.g. `0.003`),
 * `Metadata_Treatment` (`compound@concentration`), `Metadata_moa`. Constant / NaN feature columns
 * are dropped and reported.
 */
export async function loadBbbc021Gallery(dir: string): Promise<{ table: ProfileTable; report: ReadProfileReport }> {
  if (!(await isBbbc021GalleryDir(dir))) {
    throw new UserError(`"${dir}" does not hold the BBBC021 files ${Object.values(BBBC021_FILES).join(', ')} (cytominergallery inst/extdata).`);
  }
  const { table, report } = await readProfileTable(join(dir, BBBC021_FILES.perWell), {
    extraMeta: ['Image_Metadata_Plate', 'Image_Metadata_Well'],
    dropConstant: true,
    dropNaN: true,
  });
  const images = await readCsvObjects(join(dir, BBBC021_FILES.image));
  const moas = await readCsvObjects(join(dir, BBBC021_FILES.moa));
  const num = (s: string) => String(Number(s));
  const moaOf = new Map(moas.map((r) => [`${r.compound}@${num(r.concentration)}`, r.moa]));
  const treatmentOf = new Map<string, { compound: string; concentration: string }>();
  for (const r of images) {
    treatmentOf.set(`${r.Image_Metadata_Plate_DAPI}/${r.Image_Metadata_Well_DAPI}`, {
      compound: r.Image_Metadata_Compound,
      concentration: num(r.Image_Metadata_Concentration),
    });
  }
  const plates = table.meta.Image_Metadata_Plate;
  const wells = table.meta.Image_Metadata_Well;
  const keep: number[] = [];
  const cols = { compound: [] as string[], concentration: [] as string[], moa: [] as string[] };
  for (let i = 0; i < table.n; i++) {
    const tr = treatmentOf.get(`${plates[i]}/${wells[i]}`);
    if (!tr) continue;
    const moa = moaOf.get(`${tr.compound}@${tr.concentration}`);
    if (moa === undefined) continue;
    keep.push(i);
    cols.compound.push(tr.compound);
    cols.concentration.push(tr.concentration);
    cols.moa.push(moa);
  }
  const t = selectRows(table, keep);
  const plate = t.meta.Image_Metadata_Plate;
  t.meta = {
    Metadata_Plate: plate,
    Metadata_Well: t.meta.Image_Metadata_Well,
    Metadata_Batch: plate.map((p) => p.split('_')[0]),
    Metadata_Compound: cols.compound,
    Metadata_Concentration: cols.concentration,
    Metadata_Treatment: cols.compound.map((c, i) => `${c}@${cols.concentration[i]}`),
    Metadata_moa: cols.moa,
  };
  return { table: t, report };
}
