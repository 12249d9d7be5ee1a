import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from '../../src/report/report.ts';
import { findChromium, inspectPage } from './chromium.ts';
import { makeRunDir } from './fixtures.ts';

const chromium = findChromium();
if (!chromium) {
  console.warn(
    'SKIP report browser test: no chromium on PATH (set $CHROMIUM or install it: ' +
      'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core).',
  );
}

describe.skipIf(!chromium)('report in headless chromium', () => {
  it('loads from disk without console errors or network, and shows every figure with a size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-report-browser-'));
    await makeRunDir(dir, { perCell: 6, d: 8 });
    const res = await writeReport(dir, { quiet: true });
    const page = await inspectPage(chromium!, pathToFileURL(res.htmlPath).href);
    // Keep the screenshot for people to look at (BEN_REPORT_SCREENSHOT=path).
    if (process.env.BEN_REPORT_SCREENSHOT) await writeFile(process.env.BEN_REPORT_SCREENSHOT, page.screenshot);

    expect(page.title).toBe(`ben-ssl report: ${dir.slice(dir.lastIndexOf('/') + 1)}`);
    expect(page.consoleErrors).toEqual([]);
    expect(page.exceptions).toEqual([]);
    expect(page.logErrors).toEqual([]);
    expect(page.failedRequests).toEqual([]);
    expect(page.requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);

    const svgs = page.figures.filter((f) => f.tag === 'svg');
    const imgs = page.figures.filter((f) => f.tag === 'img');
    expect(svgs.map((f) => f.label)).toEqual([
      'BEN (one plate per batch)', 'Baseline (random batches)', 'BEN (one plate per batch)', 'Baseline (random batches)', 'loss', 'lr',
    ]);
    expect(imgs.length).toBe(8);
    for (const f of page.figures) {
      expect(f.loaded, f.label).toBe(true);
      expect(f.width, f.label).toBeGreaterThan(100);
      expect(f.height, f.label).toBeGreaterThan(100);
    }
    // The UMAP panels sit side by side: BEN and baseline at the same height, each about half the page.
    expect(svgs[0].width).toBeCloseTo(svgs[1].width, 0);
    expect(svgs[0].width).toBeGreaterThan(400);

    // The screenshot is the whole page and not blank.
    const shot = sharp(page.screenshot);
    const meta = await shot.metadata();
    expect(meta.width).toBe(1280);
    expect(meta.height).toBeGreaterThan(2000);
    const stats = await shot.stats();
    expect(stats.channels[0].stdev).toBeGreaterThan(10);
  });
});
