import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curvesFromRecords, discoverRuns, flattenMetrics, parseMetricsJsonl, readExamplesJson, readRun, runLabel } from '../../src/report/run-dir.ts';

describe('curvesFromRecords', () => {
  it('makes one curve per numeric field over step, skipping bookkeeping and text', () => {
    const curves = curvesFromRecords([
      { time: 'x', step: 0, epoch: 0, loss: 5, lr: 0.1 },
      { step: 10, loss: 4, phase: 'train' },
      { step: 20, loss: NaN, knn: 0.5 },
    ]);
    expect(curves.map((c) => c.metric)).toEqual(['loss', 'lr', 'knn']);
    expect(curves[0].step).toEqual([0, 10, 20]);
    expect(curves[0].value.slice(0, 2)).toEqual([5, 4]);
    expect(Number.isNaN(curves[0].value[2])).toBe(true);
    expect(curves[2]).toEqual({ metric: 'knn', step: [20], value: [0.5] });
  });
  it('uses the record index when there is no step', () => {
    expect(curvesFromRecords([{ loss: 3 }, { loss: 2 }])[0].step).toEqual([0, 1]);
  });
});

describe('parseMetricsJsonl', () => {
  it('skips blank lines and names the bad line', () => {
    expect(parseMetricsJsonl('{"a":1}\n\n{"a":2}\n').length).toBe(2);
    expect(() => parseMetricsJsonl('{"a":1}\n{oops\n', 'm.jsonl')).toThrow(/m\.jsonl line 2/);
    expect(() => parseMetricsJsonl('[1,2]\n', 'm.jsonl')).toThrow(/line 1 is not a JSON object/);
  });
});

describe('flattenMetrics', () => {
  it('keeps numeric leaves by dotted path and skips arrays and strings', () => {
    const e = flattenMetrics({ knn: { nsc: { accuracy: 0.5, k: 20 }, metric: 'cosine' }, perGroup: [{ a: 1 }], ok: true, map: 0.3 });
    expect(e).toEqual([
      { key: 'knn.nsc.accuracy', value: 0.5 },
      { key: 'knn.nsc.k', value: 20 },
      { key: 'ok', value: 1 },
      { key: 'map', value: 0.3 },
    ]);
  });
});

describe('run directory', () => {
  it('discovers run folders (ben, baseline first) and reads their files; given fields win', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-rundir-'));
    for (const r of ['zeta', 'baseline', 'ben', 'alpha', 'report', 'empty']) await mkdir(join(dir, r));
    await writeFile(join(dir, 'zeta', 'eval.json'), '{"m":1}');
    await writeFile(join(dir, 'alpha', 'eval.json'), '{"m":2}');
    await writeFile(join(dir, 'ben', 'metrics.jsonl'), '{"step":1,"loss":2}\n');
    await writeFile(join(dir, 'ben', 'eval.json'), '{"m":3}');
    await writeFile(join(dir, 'baseline', 'eval.json'), '{"m":4}');
    await writeFile(join(dir, 'report', 'eval.json'), '{"m":5}');
    expect(await discoverRuns(dir)).toEqual(['ben', 'baseline', 'alpha', 'zeta']);
    const ben = await readRun(dir, 'ben');
    expect(ben.curves).toEqual([{ metric: 'loss', step: [1], value: [2] }]);
    expect(ben.evaluation).toEqual({ m: 3 });
    const given = await readRun(dir, 'ben', { evaluation: { m: 9 } });
    expect(given.evaluation).toEqual({ m: 9 });
    expect(given.curves?.length).toBe(1);
    await writeFile(join(dir, 'alpha', 'eval.json'), '{broken');
    await expect(readRun(dir, 'alpha')).rejects.toThrow(/alpha\/eval\.json is not valid JSON/);
  });
  it('reads examples.json with paths relative to the run dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-rundir-'));
    expect(await readExamplesJson(dir)).toBeUndefined();
    await writeFile(join(dir, 'examples.json'), JSON.stringify([{ plate: 'P1', path: 'img/a.png' }, { plate: 'P2', path: '/abs/b.png', caption: 'c' }]));
    expect(await readExamplesJson(dir)).toEqual([
      { plate: 'P1', path: join(dir, 'img/a.png'), caption: undefined },
      { plate: 'P2', path: '/abs/b.png', caption: 'c' },
    ]);
    await writeFile(join(dir, 'examples.json'), JSON.stringify([{ plate: 1 }]));
    await expect(readExamplesJson(dir)).rejects.toThrow(/entry 0: needs string fields/);
  });
  it('names a missing run directory', async () => {
    await expect(discoverRuns('/nonexistent/run')).rejects.toThrow(/does not exist/);
  });
  it('labels the two standard runs', () => {
    expect(runLabel({ name: 'ben' })).toMatch(/^BEN/);
    expect(runLabel({ name: 'baseline' })).toMatch(/random batches/);
    expect(runLabel({ name: 'x', label: 'Y' })).toBe('Y');
  });
});
