import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateProfiles } from '../../src/evaluation/evaluate.ts';
import { loadProfiles } from '../../src/tables/load.ts';
import { formatMarkdown, toCsv, writeEvaluation } from '../../src/evaluation/report.ts';
import { metrics } from '../../src/evaluation/metric.ts';
import { MORPHEUS } from './fixtures.ts';
import { computeKnnAccuracy } from '../../src/evaluation/knn.ts';
import { aggregateProfiles } from '../../src/profiles/aggregate.ts';

describe('evaluateProfiles on the BBBC021 profiles (real/profiles)', async () => {
  const { table, report, source } = await loadProfiles(MORPHEUS);
  const columns = {
    label: 'moa',
    plate: 'Plate',
    compound: 'Compound',
    replicate: ['Compound', 'Concentration'],
    control: { column: 'Compound', value: 'DMSO' },
  };

  it('reports cross-plate mAP, percent replicating and NSC / NSCB accuracy', async () => {
    const r = await evaluateProfiles(
      table,
      { columns, metrics: ['map', 'percent-replicating', 'knn'], batchFromPlate: '^(Week\\d+)_', options: { map: { nullSize: 2000 } } },
      { source, report },
    );
    expect(r.columns.batch).toBe('Metadata_Batch');
    const map = r.metrics.map.summary;
    expect(map.groups).toBe(103);
    expect(map.profiles).toBe(302);
    expect(map.map as number).toBeGreaterThan(0.3);
    expect(r.metrics['percent-replicating'].summary.groups).toBe(103);
    const knn = r.metrics.knn.summary;
    expect(knn.nsc_queries).toBe(103);
    expect(knn.nscb_queries).toBe(92);
    // The metric equals the direct library call on treatment means.
    const tr = aggregateProfiles({ ...table, meta: { ...table.meta, Metadata_Batch: table.meta.Metadata_Plate.map((p) => p.split('_')[0]) } }, {
      by: ['Compound', 'Concentration'],
      varying: 'join',
    });
    const direct = await computeKnnAccuracy(tr, {
      label: 'moa',
      excludeSame: [['Compound']],
      skipRows: (i) => tr.meta.Metadata_Compound[i] === 'DMSO',
    });
    expect(knn.nsc_accuracy).toBe(direct.accuracy);
    const md = formatMarkdown(r);
    expect(md).toContain('| knn nsc_accuracy |');
    // Per-group mAP rows are written next to the summary.
    const dir = join(mkdtempSync(join(tmpdir(), 'ben-eval-')), 'out');
    const files = await writeEvaluation(dir, r);
    expect(readdirSync(dir).sort()).toEqual([...files].sort());
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.metrics.knn.nsc_accuracy).toBe(direct.accuracy);
    const perGroup = readFileSync(join(dir, 'map__per_group.csv'), 'utf8').trim().split('\n');
    expect(perGroup.length).toBe(104);
    expect(readdirSync(join(dir, '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('fails early with a clear message for a missing column or metric', async () => {
    await expect(evaluateProfiles(table, { columns: { ...columns, label: 'MoA_typo' }, metrics: ['knn'] })).rejects.toThrow(
      /Metadata column "MoA_typo" not found. Available: Metadata_Plate/,
    );
    await expect(evaluateProfiles(table, { columns, metrics: ['nope'] })).rejects.toThrow(/Unknown metric "nope"/);
    await expect(evaluateProfiles(table, { columns: { replicate: ['Compound'] }, metrics: ['knn'] })).rejects.toThrow(/needs the label column/);
  });

  it('leaves no output folder when a metric fails', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ben-eval-')), 'out');
    const bad = { input: { source: '', n: 0, d: 0, droppedConstant: 0, droppedNaN: 0 }, preprocessing: { normalize: 'none' as const }, columns: {}, seed: 0, options: {}, metrics: { x: { summary: {}, tables: { t: null as never }, seconds: 0 } } };
    await expect(writeEvaluation(dir, bad)).rejects.toThrow();
    expect(existsSync(dir)).toBe(false);
  });

  it('registry lists the built-in metrics; CSV escapes', () => {
    expect(metrics.names()).toEqual(
      ['batch-predictability', 'dose-response', 'graph-connectivity', 'knn', 'linear-probe', 'lisi', 'map', 'map-activity', 'map-moa', 'percent-replicating', 'plate-predictability', 'precision-recall', 'replicate-reproducibility', 'silhouette', 'z-prime'].sort(),
    );
    expect(toCsv([{ a: 'x,y', b: 1 }, { a: 'q"', c: true }])).toBe('a,b,c\n"x,y",1,\n"q""",,true\n');
  });
});
