/**
 * The Cell Painting Gallery's own LoadData file (JUMP cpg0016 plate BR00117035, one row, in
 * ../shared/data/real/formats/): `URL_Orig<Ch>` / `URL_Illum<Ch>` columns with s3:// URLs, five
 * stains and three brightfield planes. Its metadata read without any image (`--no-check`); then a
 * local mirror with the gallery's paths (real jump-rab30 pixels for the five stains, generated
 * brightfield planes, CellProfiler-style .npy functions) read and corrected through --url-root.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { readCsv } from '../../src/data/csv.ts';
import { decodeImage, encodeTiff } from '../../src/data/decode.ts';
import { encodeNpy } from '../../src/data/npy.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import { vignette } from './screen-fixtures.ts';

const CSV = resolve('../shared/data/real/formats/jump-source4-BR00117035/load_data_with_illum.csv');
const RAB30 = resolve('../shared/data/real/images/jump-rab30/images');
const have = existsSync(CSV) && existsSync(RAB30);
const root = mkdtempSync(join(tmpdir(), 'ben-gallery-'));
const GALLERY = 's3://cellpainting-gallery';

function ben(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
}

describe.skipIf(!have)("the Cell Painting Gallery's load_data_with_illum.csv", () => {
  it('reads with --url-root and --no-check: sites, the 8 channels and their functions, no pixels', () => {
    const mirror = join(root, 'not-downloaded');
    const r = ben('data', 'info', CSV, '--url-root', `${GALLERY}=${mirror}`, '--no-check', '--json');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ layout: 'loaddata-csv', images: 1, plates: 1, imagesRead: false, plateKeys: ['source_4/2021_04_26_Batch1/BR00117035'] });
    expect([...s.channels].sort()).toEqual(['AGP', 'Brightfield', 'Brightfield_H', 'Brightfield_L', 'DNA', 'ER', 'Mito', 'RNA']);
    expect(s.illumination).toMatchObject({ mode: 'loaddata', applied: false, files: 8 });
    expect(s.illumination.plates['source_4/2021_04_26_Batch1/BR00117035'].DNA).toBe(join(mirror, 'cpg0016-jump/source_4/images/2021_04_26_Batch1/illum/BR00117035/BR00117035_IllumDNA.npy'));
    // The text summary lists them too.
    const text = ben('data', 'info', CSV, '--url-root', `${GALLERY}=${mirror}`, '--no-check');
    expect(text.stdout).toMatch(/channels 8 \(.*DNA.*\); images not opened \(--no-check: metadata only\)/);
    expect(text.stdout).toMatch(/illumination: loaddata, not applied \(metadata only\); 8 function file\(s\) over 1 plate\(s\)/);
    expect(text.stdout).toMatch(/DNA: .*BR00117035_IllumDNA\.npy/);
    // Without the mapping: one message naming the column, the URL and the flag; exit 3 (bad data).
    const bad = ben('data', 'info', CSV, '--no-check');
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/load_data_with_illum\.csv line 2: URL_Orig\w+ "s3:\/\/cellpainting-gallery\/cpg0016-jump\/.*\.tiff" is not a local path; .*--url-root s3:\/\/cellpainting-gallery=DIR/);
  });

  describe('a local mirror with the same paths', () => {
    const mirror = join(root, 'gallery');
    const rab30: Record<string, string> = { AGP: 'AGP', DNA: 'DNA', ER: 'ER', Mito: 'Mito', RNA: 'RNA' };
    const fns = new Map<string, Float32Array>();
    const raws = new Map<string, Uint16Array>();
    beforeAll(async () => {
      const row = (await readCsv(CSV)).records[0].values;
      const at = (url: string) => join(mirror, url.slice(GALLERY.length + 1));
      const chans = Object.keys(row).filter((c) => c.startsWith('URL_Orig')).map((c) => c.slice('URL_Orig'.length));
      for (const [k, ch] of chans.entries()) {
        const img = at(row[`URL_Orig${ch}`]);
        mkdirSync(dirname(img), { recursive: true });
        if (rab30[ch]) {
          // Real source_4 pixels (384 x 384, 16-bit) at the gallery's path.
          copyFileSync(join(RAB30, `BR00123947_G01_s1_${rab30[ch]}.tiff`), img);
        } else {
          writeFileSync(img, await encodeTiff(Uint16Array.from({ length: 384 * 384 }, (_, p) => 20000 + ((p * 7919 + k * 13) % 5000)), 384, 384));
        }
        raws.set(ch, (await decodeImage(img)).data as Uint16Array);
        const f = vignette(384, 384, 0.3 + 0.05 * k, 0.1).map((v) => 1 / v); // >= 1, as CellProfiler's rescaled functions
        const m = Float32Array.from(f).sort()[Math.floor(0.02 * f.length)];
        fns.set(ch, f.map((v) => Math.max(v, m) / m));
        const npy = at(row[`URL_Illum${ch}`]);
        mkdirSync(dirname(npy), { recursive: true });
        writeFileSync(npy, encodeNpy(fns.get(ch)!, [384, 384]));
      }
    });

    it('every image read from the mirror and divided by its function', async () => {
      const ds = await readDataset(CSV, { urlRoot: { [GALLERY]: mirror } });
      expect(ds.summary()).toMatchObject({ images: 1, height: 384, width: 384, dtype: 'float32', illumination: { mode: 'loaddata', applied: true, files: 8 } });
      const px = ds.images.getSync(0);
      const C = ds.channels.length;
      let worst = 0;
      ds.channels.forEach((ch, c) => {
        const raw = raws.get(ch)!, f = fns.get(ch)!;
        for (let p = 0; p < raw.length; p++) worst = Math.max(worst, Math.abs(px[p * C + c] - raw[p] / 65535 / f[p]));
      });
      expect(worst).toBeLessThan(1e-7);
      // The CLI reads it the same way and checks every image.
      const r = ben('data', 'info', CSV, '--url-root', `${GALLERY}=${mirror}`, '--json', '--channels', 'DNA', 'ER', 'RNA', 'AGP', 'Mito');
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ images: 1, imagesChecked: true, dtype: 'float32', channels: ['DNA', 'ER', 'RNA', 'AGP', 'Mito'], illumination: { files: 5 } });
      // --figure: the plate's function per channel.
      const fig = join(root, 'illum.png');
      const f = ben('data', 'info', CSV, '--url-root', `${GALLERY}=${mirror}`, '--channels', 'DNA', 'Mito', '--figure', fig);
      expect(f.status, f.stderr).toBe(0);
      expect(f.stdout).toMatch(/wrote .*illum\.png: Illumination functions of plate source_4\/2021_04_26_Batch1\/BR00117035 .*DNA 1\.00-/);
      expect(existsSync(fig)).toBe(true);
    });
  });
});
