/**
 * `ben run recipes/bbbc013.yaml` shortened for CI: two training steps, 4 cells per site, two
 * shuffles, three plate rows (A, E and F: both halves of the control layout, 3 positive and 6
 * negative control wells; nuclei detection on every site is what costs the time). Checks the
 * table's shape (three arms and their column-shuffled controls, four scores), that the classical
 * arm's Z' is finite and that its nuclear/cytoplasmic GFP ratio orders positive above negative
 * controls, and that the report shows the two figures. Skipped where ../shared/data is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProfileTable } from '../../src/tables/read.ts';

const BBBC013 = '../shared/data/real/images/bbbc013';
const have = existsSync(BBBC013);
if (!have) console.warn(`skipping the bbbc013 recipe test: ${BBBC013} is missing (the shared data folder beside the checkout)`);

describe.skipIf(!have)('ben run recipes/bbbc013.yaml (shortened)', () => {
  it('writes one table of three arms and their shuffled controls, the classical readout orders the controls, the report shows the figures', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ben-bbbc013-')), 'run');
    const sets = [
      'training.steps=2',
      'training.warmupSteps=1',
      'sampler.batchSize=16',
      'data.crops.maxPerSite=4',
      'doseResponse.shuffles=2',
      'evaluation.mapNullSize=200',
      `output.dir=${dir}`,
      String.raw`data.pattern=Channel(?<ch>\d)-\d+-(?<row>[AEF])-(?<col>\d+)\.tif`,
    ].flatMap((s) => ['--set', s]);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', 'recipes/bbbc013.yaml', ...sets], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);

    const md = readFileSync(join(dir, 'dose-response.md'), 'utf8');
    expect(r.stdout).toContain(md.trim().split('\n')[0]); // the table is printed at the end
    const rows = md.trim().split('\n').slice(2).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    expect(rows.map((c) => c[0])).toEqual([
      'SimCLR (trained)', 'SimCLR (trained), column-shuffled (2 permutations)',
      'untrained (random init)', 'untrained (random init), column-shuffled (2 permutations)',
      'classical features', 'classical features, column-shuffled (2 permutations)',
    ]);
    for (const c of rows) expect(c).toHaveLength(5);

    const json = JSON.parse(readFileSync(join(dir, 'dose-response.json'), 'utf8')) as { arms: { name: string; wells: number; observed: Record<string, number>; perDose: unknown[] }[] };
    expect(json.arms.map((a) => a.name)).toEqual(['simclr', 'untrained', 'classical']);
    const classical = json.arms.find((a) => a.name === 'classical')!;
    expect(classical.wells).toBe(36);
    expect(classical.perDose).toHaveLength(9);
    expect(Number.isFinite(classical.observed.zPrime)).toBe(true);
    for (const a of json.arms) for (const k of ['meanMap', 'fractionSignificant', 'spearman']) expect(a.observed[k], `${a.name} ${k}`).not.toBeNull();

    // The assay's own readout: GFP moves into the nucleus in the positive controls.
    const t = (await readProfileTable(join(dir, 'classical', 'embeddings.parquet'))).table;
    const f = t.featureNames.indexOf('Ratio_NucleiCytoplasm_GFP');
    const ratio = (type: string) => {
      const v = t.meta.Metadata_WellType.map((w, i) => (w === type ? t.features[i * t.d + f] : NaN)).filter(Number.isFinite);
      return v.reduce((a, b) => a + b, 0) / v.length;
    };
    expect(ratio('positive_control')).toBeGreaterThan(2 * ratio('negative_control'));

    const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
    expect(html).toContain('Dose response: activity mAP per dose, each arm');
    expect(html).toContain('Control separation');
    for (const png of ['dose-response.png', 'control-separation.png']) expect(existsSync(join(dir, png))).toBe(true);
  }, 180_000);
});
