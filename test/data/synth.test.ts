import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig, synthImageCount } from '../../src/data/synth/config.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { accuracy, fitLogistic, meanStd, richFeatures, standardise } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-synth-'));

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(dir, p)).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

describe('synthetic generator', () => {
  it('same seed gives the same bytes; another seed differs', async () => {
    const cfg = resolveSynthConfig('tiny', { seed: 7 });
    await generateSynthetic(cfg, join(tmp, 'a'));
    await generateSynthetic(cfg, join(tmp, 'b'));
    await generateSynthetic(resolveSynthConfig('tiny', { seed: 8 }), join(tmp, 'c'));
    expect(hashTree(join(tmp, 'a'))).toBe(hashTree(join(tmp, 'b')));
    expect(hashTree(join(tmp, 'a'))).not.toBe(hashTree(join(tmp, 'c')));
    const rec = JSON.parse(readFileSync(join(tmp, 'a', 'synth.json'), 'utf8'));
    expect(rec.config).toEqual(cfg);
  });

  it('has the WILDS design: every treatment on every plate, controls on every plate, OOD experiments unseen in training', async () => {
    const cfg = resolveSynthConfig('tiny', { seed: 7 });
    const ds = await readDataset(join(tmp, 'a'));
    expect(ds.size).toBe(synthImageCount(cfg));
    expect(ds.channels).toHaveLength(3);
    expect([ds.height, ds.width]).toEqual([32, 32]);
    for (const [plate, idx] of ds.groups(['experiment', 'plate'])) {
      const labels = new Set(idx.map((i) => ds.rows[i].label));
      expect(labels.size, plate).toBe(cfg.treatments + cfg.positiveControls + 1);
      expect(idx.filter((i) => ds.rows[i].wellType === 'negative_control').length).toBe(cfg.negativeControlWells * cfg.sitesPerWell);
    }
    const expOf = (split: string) => new Set(ds.rows.filter((r) => r.split === split).map((r) => r.experiment));
    const train = expOf('train');
    expect([...expOf('test')].some((e) => train.has(e))).toBe(false);
    expect(expOf('id_test')).toEqual(train);
    expect(ds.rows.filter((r) => r.split === 'train').every((r) => r.site === 1)).toBe(true);
    expect(ds.rows.filter((r) => r.split === 'id_test').every((r) => r.site === 2)).toBe(true);
    // Experiments are grouped by cell type.
    for (const e of new Set(ds.rows.map((r) => r.experiment))) expect(new Set(ds.rows.filter((r) => r.experiment === e).map((r) => r.cellType)).size).toBe(1);
  });
});

/**
 * The property the BEN claim rests on: batch effects dominate whole-image statistics, while the
 * treatment is identifiable relative to its plate. Run on the `small` preset (1,152 images).
 */
describe('synthetic batch effects vs biology (small preset)', () => {
  let ds: Dataset;
  let plateOf: number[];
  let y: number[];
  const site = (s: number) => ds.rows.map((r, i) => (r.site === s ? i : -1)).filter((i) => i >= 0);
  beforeAll(async () => {
    await generateSynthetic(resolveSynthConfig('small', { seed: 0 }), join(tmp, 'small'));
    ds = await readDataset(join(tmp, 'small'));
    const plates = ds.plates();
    plateOf = ds.rows.map((r) => plates.indexOf(`${r.experiment}/${r.plate}`));
    y = Array.from(ds.classIds());
  });

  it('per-image channel means/stds predict the plate well, the treatment barely', () => {
    const X = standardise(ds.rows.map((_, i) => meanStd(ds.images.getSync(i), 3)), site(1));
    const nPlates = ds.plates().length;
    const plateAcc = accuracy(fitLogistic(X, plateOf, nPlates), X, plateOf, site(2));
    const treatAcc = accuracy(fitLogistic(X, y, ds.labels.length), X, y, site(2));
    const majority = Math.max(...ds.labels.map((_, k) => y.filter((v) => v === k).length)) / y.length;
    // Held-out site 2 of the same wells: plate 24 ways (chance 0.04), treatment 8 ways (majority ~0.17).
    expect(plateAcc).toBeGreaterThan(0.8);
    expect(treatAcc).toBeLessThan(0.4);
    expect(plateAcc).toBeGreaterThan(2 * treatAcc);
    expect(treatAcc).toBeGreaterThanOrEqual(majority - 0.05);
  });

  it('richer features predict the treatment within plates, and on unseen experiments only plate-relative ones do', () => {
    const rich = ds.rows.map((_, i) => richFeatures(ds.images.getSync(i), ds.height, ds.width, 3).map((v) => Math.log(Math.abs(v) + 1e-3)));
    const rel = rich.map((r) => [...r]);
    for (const [, idx] of ds.groups()) standardise(rel, idx, idx);
    // Within plates: hold out every third well of each (plate, treatment).
    const seen = new Map<string, number>();
    const wellRank = ds.rows.map((r) => {
      const k = `${r.experiment}/${r.plate}/${r.label}`;
      const w = `${k}/${r.well}`;
      if (!seen.has(w)) seen.set(w, [...seen.keys()].filter((x) => x.startsWith(k + '/')).length);
      return seen.get(w)!;
    });
    const trainW = ds.rows.map((_, i) => i).filter((i) => wellRank[i] % 3 !== 2);
    const testW = ds.rows.map((_, i) => i).filter((i) => wellRank[i] % 3 === 2);
    const within = accuracy(fitLogistic(trainW.map((i) => rel[i]), trainW.map((i) => y[i]), ds.labels.length, { iters: 400 }), rel, y, testW);
    expect(within).toBeGreaterThan(0.7);
    // Train experiments -> OOD test experiments: plate-relative features transfer, absolute ones do not.
    const tr = ds.rows.map((r, i) => (r.extra.dataset === 'train' ? i : -1)).filter((i) => i >= 0);
    const te = ds.rows.map((r, i) => (r.extra.dataset === 'test' ? i : -1)).filter((i) => i >= 0);
    const oodRel = accuracy(fitLogistic(tr.map((i) => rel[i]), tr.map((i) => y[i]), ds.labels.length, { iters: 400 }), rel, y, te);
    const abs = standardise(rich.map((r) => [...r]), tr);
    const oodAbs = accuracy(fitLogistic(tr.map((i) => abs[i]), tr.map((i) => y[i]), ds.labels.length, { iters: 400 }), abs, y, te);
    expect(oodRel).toBeGreaterThan(0.6);
    expect(oodRel - oodAbs).toBeGreaterThan(0.25);
  });
});
