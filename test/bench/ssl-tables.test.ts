import { describe, expect, it } from 'vitest';
import { tables } from '../../bench/ssl.ts';

const metrics = (p: number) => ({ probeWell: p, knnCrossPlate: p / 2, knnCrossExperiment: p / 3, mapReplicate: p / 4, platePredictability: 0.3, platePredictabilityAll: 0.1 });
const row = (arm: string, seed: number, p: number, iterations: number | null = 100) => ({
  objective: 'simclr',
  arm,
  corrected: false,
  seed,
  ...metrics(p),
  probeConverged: true,
  probeIterations: iterations as number,
  probeTrainWells: 10,
  probeTestWells: 5,
});

describe('ssl benchmark tables', () => {
  it('pairs arms by seed, lists the seeds, and gives a lever no interval on one seed', () => {
    const rows = [row('ben', 0, 0.6, null), row('ben', 1, 0.64), row('ben', 2, 0.62), row('random-plate', 0, 0.7), row('random-plate', 1, 0.7), row('random-plate', 2, 0.72), row('lever:x', 1, 0.5)];
    const { summary, differences, md } = tables(rows, { title: 't' });
    const ben = summary.find((s) => s.arm === 'ben')!;
    expect(ben.seedList).toEqual([0, 1, 2]);
    expect((ben.probeWell as { mean: number }).mean).toBeCloseTo(0.62, 12);
    // A seed whose iteration count was not recorded does not hide the others'.
    expect(ben.probeIterations).toBe(100);
    const d = differences.find((x) => x.a === 'ben' && x.b === 'random-plate')!;
    expect(d.probeWell.n).toBe(3);
    // Paired: -0.1, -0.06, -0.1 -> mean -0.08667, SD 0.02309, t(2) 4.303.
    expect(d.probeWell.mean).toBeCloseTo(-0.26 / 3, 12);
    const half = (4.302652729911275 * Math.sqrt(((0.1 - 0.26 / 3) ** 2 * 2 + (0.06 - 0.26 / 3) ** 2) / 2)) / Math.sqrt(3);
    expect(d.probeWell.hi - d.probeWell.mean).toBeCloseTo(half, 6);
    const lever = differences.find((x) => x.a === 'lever:x' && x.b === 'ben')!;
    expect(lever.probeWell.n).toBe(1);
    expect(lever.probeWell.mean).toBeCloseTo(0.5 - 0.64, 12);
    expect(md).toContain('| simclr | - | lever:x − ben | -14.0 (1 seed)');
    expect(md).toContain('| simclr | BEN + x | - | 50.0 | ');
  });
});
