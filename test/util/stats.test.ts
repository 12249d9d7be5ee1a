import { describe, expect, it } from 'vitest';
import { pairedDifference, sampleSd, tQuantile975 } from '../../src/util/stats.ts';

describe('paired differences over seeds', () => {
  it("t quantiles are scipy's t.ppf(0.975, df)", () => {
    expect(tQuantile975(1)).toBeCloseTo(12.706205, 6);
    expect(tQuantile975(2)).toBeCloseTo(4.302653, 6);
    expect(tQuantile975(5)).toBeCloseTo(2.570582, 6);
    expect(tQuantile975(30)).toBeCloseTo(2.042272, 6);
    expect(() => tQuantile975(0)).toThrow(/positive integer/);
  });

  it('mean, SD and 95 % interval equal scipy on the same three pairs', () => {
    // /usr/bin/python3: d = a - b; d.mean(), d.std(ddof=1), mean -+ t.ppf(0.975, 2) * sd / sqrt(3)
    const r = pairedDifference([0.46, 0.49, 0.51], [0.33, 0.31, 0.36]);
    expect(r.n).toBe(3);
    expect(r.mean).toBeCloseTo(0.15333333333333335, 12);
    expect(r.sd).toBeCloseTo(0.02516611478423585, 12);
    expect(r.lo).toBeCloseTo(0.09081723853722452, 7);
    expect(r.hi).toBeCloseTo(0.2158494281294422, 7);
    expect(sampleSd([1])).toBe(0);
    expect(Number.isNaN(pairedDifference([1], [0]).lo)).toBe(true);
  });
});
