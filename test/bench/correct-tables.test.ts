import { describe, expect, it } from 'vitest';
import { REAL_CONFIGS, SYNTHETIC_CONFIGS, tables } from '../../bench/correct.ts';
import { corrections } from '../../src/profiles/correction.ts';
import '../../src/profiles/correct.ts';

const row = (arm: string, config: string, seed: number, probe: number) => ({ arm, config, seed, scores: { probeWell: probe, overall: probe / 2 }, seconds: 1, warnings: config === 'tvn' ? ['tvn: 6 of 6 group(s) fit ... on fewer rows (4) than the 9 features'] : [] });
const cols: [string, string, boolean][] = [
  ['probeWell', 'probe (%)', false],
  ['overall', 'overall', false],
];

describe('correct benchmark tables', () => {
  it('mean ± SD per (arm, correction), differences paired by seed with a t interval, warned rows marked', () => {
    const rows = [row('ben', 'none', 0, 0.6), row('ben', 'none', 1, 0.64), row('ben', 'none', 2, 0.62), row('baseline', 'tvn', 0, 0.5), row('baseline', 'tvn', 1, 0.5), row('baseline', 'tvn', 2, 0.56)];
    const { summary, differences, md } = tables(rows, cols, [['ben|none', 'baseline|tvn']], 'T', 'note');
    expect(summary.find((s) => s.arm === 'ben')!.stats.probeWell.mean).toBeCloseTo(0.62, 12);
    const d = differences[0].diff.probeWell;
    // Paired: 0.1, 0.14, 0.06 -> mean 0.1, SD 0.04, t(2) 4.303.
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.hi - d.mean).toBeCloseTo((4.302653 * 0.04) / Math.sqrt(3), 5);
    expect(md).toMatch(/\| ben \+ none \| 62\.0 ± 2\.0 \| 0\.310 ± 0\.010 \| 1\.0 \|  \|/);
    expect(md).toMatch(/\| baseline \+ tvn \| .* \| fewer fit rows than features \|/);
    expect(md).toMatch(/\| ben \+ none − baseline \+ tvn \| \+10\.0 \[0\.1, 19\.9\]/);
  });

  it('every configuration names a registered correction', () => {
    for (const c of [...REAL_CONFIGS, ...SYNTHETIC_CONFIGS]) if (c.correction) expect(corrections.has(c.correction.method)).toBe(true);
  });
});
