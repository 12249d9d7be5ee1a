import { describe, expect, it } from 'vitest';
import { applyRowFilters, resolveMapConfig, withReferenceIndex } from '../../src/evaluation/map-presets.ts';
import { metrics, parseMetricOptions, type MetricContext } from '../../src/evaluation/metric.ts';
import '../../src/evaluation/metrics.ts';
import { computeAveragePrecisionTable, computeMeanAveragePrecision } from '../../src/evaluation/map.ts';
import { selectRows, type ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

const rng = new Rng(21);
const n = 36;
const t: ProfileTable = {
  n,
  d: 5,
  featureNames: ['a', 'b', 'c', 'd', 'e'],
  features: Float32Array.from({ length: n * 5 }, () => rng.normal()),
  meta: {
    Metadata_cpd: Array.from({ length: n }, (_, i) => (i % 6 === 0 ? 'DMSO' : `c${i % 6}`)),
    Metadata_plate: Array.from({ length: n }, (_, i) => `P${Math.floor(i / 12)}`),
    Metadata_cell: Array.from({ length: n }, (_, i) => (i % 2 ? 'A549' : 'U2OS')),
  },
};
const columns = { plate: 'Metadata_plate', replicate: ['Metadata_cpd'], control: { column: 'Metadata_cpd', value: 'DMSO' } };
/** The map metric's context with its options parsed by its own schema (null size 500). */
const ctx = (options: Record<string, unknown> = {}): MetricContext => ({ table: t, columns, seed: 0, options: parseMetricOptions(metrics.get('map'), { nullSize: 500, ...options }) });

describe('mAP presets and row filters', () => {
  it('--include: values of one column are alternatives, columns must all match; --exclude drops any match', () => {
    const f = applyRowFilters(t, [{ column: 'cpd', value: 'c1' }, { column: 'cpd', value: 'c2' }, { column: 'cell', value: 'A549' }], [{ column: 'plate', value: 'P2' }]);
    const want = [...Array(n).keys()].filter((i) => ['c1', 'c2'].includes(t.meta.Metadata_cpd[i]) && t.meta.Metadata_cell[i] === 'A549' && t.meta.Metadata_plate[i] !== 'P2');
    expect(f.n).toBe(want.length);
    expect(f.meta.Metadata_cpd).toEqual(want.map((i) => t.meta.Metadata_cpd[i]));
    expect(() => applyRowFilters(t, [{ column: 'cpd', value: 'none' }], [])).toThrow(/leave no rows/);
  });

  it('a list given replaces only that list of the preset; all four make a custom run; filters replace the preset exclusions', () => {
    const part = resolveMapConfig(columns, 'replicate', ['Metadata_cpd'], { posDiffby: [] });
    expect(part.preset).toBe('replicate (lists overridden)');
    expect(part.lists).toEqual({ posSameby: ['Metadata_cpd'], posDiffby: [], negSameby: [], negDiffby: ['Metadata_cpd'] });
    expect(part.exclude).toEqual([{ column: 'Metadata_cpd', value: 'DMSO' }]);
    const all = resolveMapConfig(columns, 'replicate', ['Metadata_cpd'], { posSameby: ['cpd'], posDiffby: [], negSameby: ['cell'], negDiffby: ['cpd'], include: [{ column: 'cell', value: 'A549' }] });
    expect(all.preset).toBe('custom');
    expect(all.exclude).toEqual([]);
    expect(all.include).toEqual([{ column: 'cell', value: 'A549' }]);
    expect(() => resolveMapConfig(columns, 'replicate', [], { posSameby: [], posDiffby: [], negSameby: [], negDiffby: ['cpd'] })).toThrow(/both empty/);
  });

  it('the map metric with lists and filters equals the pipeline run by hand on the filtered table', async () => {
    // As the flags give them: lists, and a filter as COL=VALUE.
    const r = await metrics.get('map').compute(ctx({ posSameby: ['cpd'], posDiffby: ['plate'], negSameby: ['cell'], negDiffby: ['cpd'], exclude: ['cpd=DMSO'] }));
    const rows = [...Array(n).keys()].filter((i) => t.meta.Metadata_cpd[i] !== 'DMSO');
    const f = selectRows(t, rows);
    const apr = computeAveragePrecisionTable(f, { pos: { sameby: ['Metadata_cpd'], diffby: ['Metadata_plate'] }, neg: { sameby: ['Metadata_cell'], diffby: ['Metadata_cpd'] }, nullSize: 500, seed: 0 });
    const m = computeMeanAveragePrecision(f, apr, ['Metadata_cpd']);
    expect(r.summary.map).toBe(m.meanMap);
    expect(r.summary).toMatchObject({ preset: 'custom', pos_sameby: '[Metadata_cpd]', neg_sameby: '[Metadata_cell]', filters: 'exclude cpd=DMSO', groups: 5 });
  });

  it('reference index: row number for the controls, -1 elsewhere (copairs assign_reference_index)', () => {
    const r = withReferenceIndex(t, { column: 'cpd', value: 'DMSO' });
    expect(r.meta.Metadata_reference_index.slice(0, 7)).toEqual(['0', '-1', '-1', '-1', '-1', '-1', '6']);
  });
});
