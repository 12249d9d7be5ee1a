/**
 * Single-cell crops (data/cells/crops.ts): crop geometry at the field's edges, the seeded per-site
 * sample, and a data set of cells cut from drawn sites of known nuclei.
 */
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cellCrops, cropAt, cropStart, dnaChannelIndex, sampleCells, surveyNuclei } from '../../src/data/cells/crops.ts';
import { writeNucleiFigure } from '../../src/report/nuclei-figure.ts';
import { decodeImage } from '../../src/data/decode.ts';
import { channelPlane, detectNuclei } from '../../src/data/cells/nuclei.ts';
import { Dataset } from '../../src/data/image-dataset.ts';
import { MemoryImageStore } from '../../src/data/image-store.ts';
import type { SiteRecord } from '../../src/data/types.ts';
import { Rng } from '../../src/util/rng.ts';
import { isUserError } from '../../src/util/errors.ts';

const H = 80, W = 90;

/** Sites with bright discs (radius 6) at `centres` in channel 0 and the pixel index mod 251 in channel 1. */
function sites(centres: [number, number][][]): Dataset {
  const per = H * W * 2;
  const buf = new Uint8Array(centres.length * per);
  centres.forEach((cs, s) => {
    for (let p = 0; p < H * W; p++) {
      const y = Math.floor(p / W), x = p % W;
      const inside = cs.some(([cx, cy]) => (x - cx) ** 2 + (y - cy) ** 2 <= 36);
      buf[s * per + p * 2] = inside ? 200 : 10;
      buf[s * per + p * 2 + 1] = p % 251;
    }
  });
  const rows: SiteRecord[] = centres.map((_, i) => ({
    siteId: `P${i % 2}_A01_${i}`, experiment: 'E', plate: `P${i % 2}`, well: 'A01', site: i, cellType: '', label: 'x',
    wellType: 'treatment', split: 'all', paths: [], extra: { Metadata_Foo: 'bar' }, source: `row ${i}`,
  }));
  return new Dataset({ rows, channels: ['DNA', 'GFP'], images: new MemoryImageStore({ height: H, width: W, channels: 2, dtype: 'uint8' }, buf), root: 'mem', layout: 'test' });
}

describe('crop geometry', () => {
  it('centres the window on the nucleus, moves it inside at the edges, pads only a smaller field', () => {
    expect(cropStart(40, 90, 16)).toBe(32);
    expect(cropStart(3, 90, 16)).toBe(0);
    expect(cropStart(88, 90, 16)).toBe(74);
    expect(cropStart(5, 10, 16)).toBe(-3);
    const shape = { height: 3, width: 4, channels: 1, dtype: 'uint8' as const };
    const px = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    // A 5x5 window at (-1, -1) of a 3x4 image: the image inside, zeros around it.
    expect(Array.from(cropAt(px, shape, -1, -1, 5))).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 5, 6, 7, 8, 0, 9, 10, 11, 12, 0, 0, 0, 0, 0]);
  });

  it('samples at most max cells per site, seeded, in increasing order', () => {
    expect(sampleCells(4, undefined, new Rng(1))).toEqual([0, 1, 2, 3]);
    const a = sampleCells(20, 5, new Rng(1));
    expect(a).toHaveLength(5);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(sampleCells(20, 5, new Rng(1))).toEqual(a);
    expect(sampleCells(20, 5, new Rng(2))).not.toEqual(a);
  });

  it('finds the DNA channel by name, or refuses naming the channels', () => {
    expect(dnaChannelIndex(['OrigAGP', 'OrigDNA'])).toBe(1);
    expect(dnaChannelIndex(['nucleus', 'cytoplasm'])).toBe(0);
    expect(dnaChannelIndex(['a', 'b'], 'B')).toBe(1);
    expect(dnaChannelIndex(['a', 'b'], 1)).toBe(1);
    for (const bad of [() => dnaChannelIndex(['GFP', 'x']), () => dnaChannelIndex(['a'], 'DNA'), () => dnaChannelIndex(['a'], 3)]) {
      try {
        bad();
        expect.unreachable();
      } catch (e) {
        expect(isUserError(e)).toBe(true);
        expect((e as Error).message).toMatch(/data\.crops/);
      }
    }
  });
});

describe('cellCrops', () => {
  it('one crop per nucleus, centred on it, with the site metadata and the cell centroid', async () => {
    const centres: [number, number][][] = [[[20, 20], [60, 30], [45, 65]], [[8, 40], [80, 70]], [[30, 30]]];
    const ds = sites(centres);
    const { data, sites: counts } = await cellCrops(ds, { size: 16, nuclei: { minArea: 20 } });
    expect(counts.map((c) => [c.detected, c.kept])).toEqual([[3, 3], [2, 2], [1, 1]]);
    expect(data.size).toBe(6);
    expect([data.height, data.width, data.images.channels]).toEqual([16, 16, 2]);
    // Plates contiguous in first-seen order: P0 (sites 0 and 2), then P1 (site 1).
    expect(data.rows.map((r) => r.plate)).toEqual(['P0', 'P0', 'P0', 'P0', 'P1', 'P1']);
    for (let j = 0; j < data.size; j++) {
      const r = data.rows[j];
      const cx = Number(r.extra.CellX), cy = Number(r.extra.CellY);
      const want = centres[r.site].find(([x, y]) => Math.hypot(x - cx, y - cy) < 1);
      expect(want).toBeDefined();
      expect(r.extra.Metadata_Foo).toBe('bar');
      expect(r.siteId).toBe(`${ds.rows[r.site].siteId}/cell${r.extra.Cell}`);
      // Channel 1 holds the source pixel index: the crop's top-left is where cropStart put it.
      const y0 = cropStart(cy, H, 16), x0 = cropStart(cx, W, 16);
      const px = data.images.getSync(j);
      expect(px[1]).toBe((y0 * W + x0) % 251);
      // The crop's DNA at the nucleus centre is the disc.
      expect(px[((Math.round(cy) - y0) * 16 + (Math.round(cx) - x0)) * 2]).toBe(200);
    }
    const some = await cellCrops(ds, { size: 16, nuclei: { minArea: 20 }, maxPerSite: 1 });
    expect(some.data.size).toBe(3);
    expect(some.sites.map((c) => c.kept)).toEqual([1, 1, 1]);
  });

  it('refuses a data set where no nucleus is found, naming the channel', async () => {
    await expect(cellCrops(sites([[]]), { size: 16, nuclei: { threshold: 0.99 } })).rejects.toThrow(/no nuclei found on channel DNA/);
  });
});

describe('nuclei survey and figure', () => {
  it('counts per site and draws the boxes on the DNA image', async () => {
    const ds = sites([[[20, 20], [60, 30]], [[30, 30]]]);
    const r = await surveyNuclei(ds, { nuclei: { minArea: 20 }, keep: [0] });
    expect(r.counts.map((c) => c.detected)).toEqual([2, 1]);
    const path = join(mkdtempSync(join(tmpdir(), 'ben-fig-')), 'fig.png');
    expect(await writeNucleiFigure(path, r.kept.map((k) => ({ plane: k.plane, height: H, width: W, nuclei: k.nuclei })))).toEqual({ width: W, height: H });
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    // The box is a red ring just outside the object; background far from any nucleus is grey.
    const b = r.kept[0].nuclei[0].box;
    const [red, g] = at(Math.round((b.x0 + b.x1) / 2), b.y0 - 1);
    expect(at(b.x1 + 1, Math.round((b.y0 + b.y1) / 2))[0]).toBeGreaterThan(150);
    expect(red).toBeGreaterThan(150);
    expect(g).toBeLessThan(120);
    const bg = at(85, 75);
    expect(bg[0]).toBe(bg[1]);
  });

  const field = '../shared/data/real/images/bbbc013/Channel2-01-A-01.tif';
  it.skipIf(!existsSync(field))('on a real BBBC013 field: a few hundred nuclei of U2OS size (sanity range, not a fit)', async () => {
    const im = await decodeImage(field);
    expect([im.width, im.height, im.channels]).toEqual([640, 640, 1]);
    const { nuclei } = detectNuclei(channelPlane(im.data, im, 0), im.height, im.width);
    expect(nuclei.length).toBeGreaterThan(150);
    expect(nuclei.length).toBeLessThan(450);
    const areas = nuclei.map((n) => n.area).sort((a, b) => a - b);
    expect(areas[areas.length >> 1]).toBeGreaterThan(80);
    expect(areas[areas.length >> 1]).toBeLessThan(500);
  });
});
