/**
 * The look a user should take before trusting a cell recipe: the nuclei found on two fields (a
 * negative and a positive control where the plate map has them), drawn to a PNG that the run's
 * report shows, with the count per field.
 */
import type { Dataset } from '../data/image-dataset.ts';
import { surveyNuclei } from '../data/cells/crops.ts';
import type { NucleiOptions } from '../data/cells/nuclei.ts';
import { writeNucleiFigure } from '../report/nuclei-figure.ts';

/**
 * Draws the detections of two fields of `sites` to `path`; returns the caption. With `cells` (crops
 * cut at given centres) the fields show those centres, each with its `size` crop window as the box.
 */
export async function writeNucleiCheck(sites: Dataset, path: string, o: { channel?: string | number; nuclei?: NucleiOptions; cells?: Dataset; size?: number } = {}): Promise<string> {
  const neg = sites.rows.findIndex((r) => r.wellType === 'negative_control');
  const pos = sites.rows.findIndex((r) => r.wellType === 'positive_control');
  const picks = [...new Set([neg >= 0 ? neg : 0, pos >= 0 ? pos : sites.size - 1])];
  const keep = new Set(picks.map((i) => sites.rows[i].siteId));
  const two = await sites.filter((r) => keep.has(r.siteId)).load();
  const r = await surveyNuclei(two, { channel: o.channel, nuclei: o.nuclei, keep: two.rows.map((_, i) => i) });
  if (o.cells) {
    const half = (o.size ?? 0) / 2;
    r.kept.forEach((k, i) => {
      const id = `${two.rows[i].siteId}/`;
      k.nuclei = o.cells!.rows.filter((c) => c.siteId.startsWith(id)).map((c) => {
        const x = Number(c.extra.CellX), y = Number(c.extra.CellY);
        return { x, y, area: 0, box: { x0: Math.round(x - half), y0: Math.round(y - half), x1: Math.round(x + half) - 1, y1: Math.round(y + half) - 1 } };
      });
    });
    const given = (i: number) => `${two.rows[i].plate} ${two.rows[i].well} s${two.rows[i].site} (${two.rows[i].wellType}): ${r.kept[i].nuclei.length} given centres`;
    await writeNucleiFigure(path, r.kept.map((k, i) => ({ plane: k.plane, height: two.height, width: two.width, nuclei: k.nuclei, title: given(i) })));
    return `Crops cut at the given nuclei centres of two fields (cross: centre, box: crop window): ${r.kept.map((_, i) => given(i)).join('; ')}.`;
  }
  const title = (i: number) => `${two.rows[i].plate} ${two.rows[i].well} s${two.rows[i].site} (${two.rows[i].wellType}): ${r.kept[i].nuclei.length} nuclei`;
  await writeNucleiFigure(path, r.kept.map((k, i) => ({ plane: k.plane, height: two.height, width: two.width, nuclei: k.nuclei, title: title(i) })));
  return `Nuclei found on the DNA channel of two fields (box: object, cross: centroid): ${r.kept.map((_, i) => title(i)).join('; ')}.`;
}
