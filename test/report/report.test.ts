import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport } from '../../src/report/report.ts';
import { makeRunDir, syntheticProfiles } from './fixtures.ts';

/** <svg> elements not nested in another svg. */
function topLevelSvgs(html: string): number {
  return (html.match(/<figure><svg /g) ?? []).length;
}

describe('writeReport from a run directory', () => {
  it('writes a self-contained page and the PNG figures, the same for the same seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-report-'));
    await makeRunDir(dir, { perCell: 6, d: 8 });
    const res = await writeReport(dir, { quiet: true });
    expect(res.runs).toEqual(['ben', 'baseline']);
    expect(res.notes).toEqual([]);
    expect(res.htmlPath).toBe(join(dir, 'report', 'index.html'));
    const names = res.figures.map((f) => f.slice(f.lastIndexOf('/') + 1));
    expect(names).toEqual([
      'umap_ben_by_plate.png', 'umap_baseline_by_plate.png', 'umap_ben_by_treatment.png', 'umap_baseline_by_treatment.png',
      'curve_loss.png', 'curve_lr.png', 'examples.png',
    ]);
    // PNGs decode and have the size of their SVG at 2x (UMAP panels are 520 x 420).
    const meta = await sharp(res.figures[0]).metadata();
    expect([meta.width, meta.height]).toEqual([1040, 840]);
    const ex = await sharp(res.figures[6]).metadata();
    expect(ex.width).toBeGreaterThan(300);

    const html = await readFile(res.htmlPath, 'utf8');
    expect(topLevelSvgs(html)).toBe(4 + 2);
    expect((html.match(/<img src="data:image\/png;base64,/g) ?? []).length).toBe(4 * 2);
    // Nothing external: no script, no stylesheet link, no http(s) resource.
    expect(html).not.toMatch(/<script|<link |src="http|href="http|url\(/i);
    // Metric table: rows by dotted path, values per run in column order (ben, baseline).
    expect(html).toMatch(/<td>knn\.nsc\.accuracy<\/td><td class="num">0\.78<\/td><td class="num">0\.41<\/td>/);
    expect(html).toMatch(/<td>plate_predictability<\/td><td class="num">0\.31<\/td><td class="num">0\.97<\/td>/);
    expect(html).toContain('normalization plate');
    // Atomic output: no temporary folder left beside the report.
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const again = await writeReport(dir, { quiet: true });
    expect(await readFile(again.htmlPath, 'utf8')).toBe(html);
  });

  it('refuses a directory without runs, naming what it expects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-report-'));
    await expect(writeReport(dir, { quiet: true })).rejects.toThrow(/No runs found .*ben\/, baseline\/.*embeddings\.parquet/);
  });

  it('names a missing plate column', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-report-'));
    const t = syntheticProfiles({ plateEffect: 0, perCell: 2, d: 4 });
    await expect(writeReport(dir, { quiet: true, runs: [{ name: 'ben', embeddings: t }], plateColumns: ['Metadata_Batch'] })).rejects.toThrow(
      /Metadata_Batch not all found.*Available: Metadata_Plate/,
    );
  });
});

describe('writeReport with partial inputs', () => {
  it('leaves out the treatment UMAPs when there is no treatment column, and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-report-'));
    const t = syntheticProfiles({ plateEffect: 0, perCell: 3, d: 4 });
    delete t.meta.Metadata_Label;
    const res = await writeReport(dir, { quiet: true, runs: [{ name: 'ben', embeddings: t }] });
    expect(res.figures.map((f) => f.slice(f.lastIndexOf('/') + 1))).toEqual(['umap_ben_by_plate.png']);
    expect(res.notes).toContain('The embeddings have no treatment column, so the UMAP by treatment is left out.');
    expect(res.notes.some((n) => /No training curves/.test(n)) && res.notes.some((n) => /No evaluation metrics/.test(n))).toBe(true);
  });
});

describe('writeReport from inputs in memory', () => {
  it('takes ProfileTables, curves and metrics directly and says which sections are empty', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'ben-report-')), 'fresh-run');
    const ben = syntheticProfiles({ plateEffect: 0, perCell: 5, d: 8 });
    const base = syntheticProfiles({ plateEffect: 4, perCell: 5, d: 8 });
    const res = await writeReport(dir, {
      quiet: true,
      title: 'Quickstart',
      runs: [
        { name: 'ben', embeddings: ben, curves: [{ metric: 'loss', step: [0, 1, 2], value: [3, 2, 1] }], evaluation: { map: 0.5 } },
        { name: 'baseline', label: 'Random', embeddings: base, evaluation: { map: 0.2 } },
      ],
    });
    expect(res.figures.length).toBe(4 + 1);
    expect(res.notes).toEqual([expect.stringMatching(/No example images/)]);
    const html = await readFile(res.htmlPath, 'utf8');
    expect(html).toContain('<title>Quickstart</title>');
    expect(html).toContain('<th>Random</th>');
    expect(html).toMatch(/<td>map<\/td><td class="num">0\.5<\/td><td class="num">0\.2<\/td>/);
    expect(html).toContain('No example images');
  });

  it('shows pictures the caller gives (a cell recipe\'s nuclei detections) in their own section', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ben-report-'));
    const png = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 200, g: 0, b: 0 } } }).png().toBuffer();
    const pic = join(root, 'nuclei.png');
    await (await import('node:fs/promises')).writeFile(pic, png);
    const res = await writeReport(join(root, 'run'), {
      quiet: true,
      runs: [{ name: 'ben', embeddings: syntheticProfiles({ plateEffect: 0, perCell: 5, d: 8 }) }],
      pictures: [{ title: 'Nuclei detections', caption: 'A01: 317 nuclei', path: pic }],
    });
    const html = await readFile(res.htmlPath, 'utf8');
    expect(html).toContain('<h2>Nuclei detections</h2><p class="lead">A01: 317 nuclei</p>');
    expect(html).toContain(`data:image/png;base64,${png.toString('base64')}`);
  });
});

describe('ben report (CLI)', () => {
  it('writes the report of a run directory and prints where', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-report-'));
    await makeRunDir(dir, { perCell: 4, d: 8 });
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', dir, '--max-points', '60'], {
      env: { ...process.env, BEN_QUIET: '1' },
    });
    expect(stdout).toContain(`report: ${join(dir, 'report', 'index.html')} (7 PNG figures, runs: ben, baseline)`);
    const html = await readFile(join(dir, 'report', 'index.html'), 'utf8');
    expect(html).toContain('60 of 80 images');
  });
});
