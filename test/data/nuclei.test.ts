/**
 * Nuclei detection (data/cells/nuclei.ts) on drawn images of known nuclei: counts exact and
 * centroids within 1 px, bright and dim nuclei in one field, touching pairs split, debris dropped;
 * Otsu's threshold and the component labelling against naive references.
 */
import { describe, expect, it } from 'vitest';
import { detectNuclei, labelComponents, otsuThreshold } from '../../src/data/cells/nuclei.ts';
import { Rng } from '../../src/util/rng.ts';

interface Drawn { x: number; y: number; rx: number; ry: number; amp: number }

/** Nuclei as soft-edged ellipses (flat top, 1.5-px ramp) on a dim noisy background, [0, 1]. */
function draw(H: number, W: number, nuclei: Drawn[], seed: number, noise = 0.02): Float32Array {
  const rng = new Rng(seed);
  const img = new Float32Array(H * W);
  for (let p = 0; p < img.length; p++) img[p] = 0.03 + noise * rng.normal();
  for (const n of nuclei) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const d = Math.sqrt(((x - n.x) / n.rx) ** 2 + ((y - n.y) / n.ry) ** 2);
        const m = Math.min(1, Math.max(0, (1 - d) * Math.min(n.rx, n.ry) / 1.5 + 0.5));
        // Brightest at the centre (chromatin), so touching nuclei meet at a valley.
        img[y * W + x] = Math.max(img[y * W + x], 0.03 + n.amp * m * (1 - 0.35 * d * d));
      }
    }
  }
  return img;
}

function matchCentroids(found: { x: number; y: number }[], want: Drawn[]): number[] {
  // Distance from each drawn nucleus to its nearest detection.
  return want.map((w) => Math.min(...found.map((f) => Math.hypot(f.x - w.x, f.y - w.y))));
}

describe('nuclei detection on drawn fields', () => {
  it('finds every nucleus of a field of bright and dim ones, centroids within 1 px', () => {
    const rng = new Rng(3);
    const want: Drawn[] = [];
    // A jittered grid: no two nuclei touch; amplitudes 0.15-0.25 (dim: 6-9x the background) and 0.6-0.9 (bright).
    for (let gy = 0; gy < 5; gy++) {
      for (let gx = 0; gx < 6; gx++) {
        want.push({ x: 18 + gx * 30 + rng.uniform(-4, 4), y: 18 + gy * 30 + rng.uniform(-4, 4), rx: rng.uniform(6, 9), ry: rng.uniform(5, 8), amp: rng.next() < 0.4 ? rng.uniform(0.15, 0.25) : rng.uniform(0.6, 0.9) });
      }
    }
    const H = 165, W = 195;
    const r = detectNuclei(draw(H, W, want, 1), H, W);
    expect(r.nuclei).toHaveLength(want.length);
    for (const d of matchCentroids(r.nuclei, want)) expect(d).toBeLessThan(1);
    // Without the log transform, Otsu sits between bright nuclei and the rest: dim ones are lost.
    const plain = detectNuclei(draw(H, W, want, 1), H, W, { logThreshold: false });
    expect(plain.nuclei.length).toBeLessThan(want.length);
  });

  it('splits touching nuclei at the intensity valley and drops debris', () => {
    const want: Drawn[] = [
      { x: 30, y: 30, rx: 8, ry: 7, amp: 0.6 },
      { x: 44, y: 31, rx: 8, ry: 7, amp: 0.55 }, // touches the first
      { x: 80, y: 60, rx: 7, ry: 9, amp: 0.7 },
      { x: 80, y: 76, rx: 7, ry: 8, amp: 0.7 }, // touches the third
      { x: 25, y: 80, rx: 9, ry: 6, amp: 0.5 },
    ];
    const H = 100, W = 110;
    const img = draw(H, W, want, 2);
    // Debris: a 2x2 bright speck.
    for (const [y, x] of [[10, 90], [10, 91], [11, 90], [11, 91]]) img[y * W + x] = 0.9;
    const r = detectNuclei(img, H, W);
    expect(r.nuclei).toHaveLength(5);
    for (const d of matchCentroids(r.nuclei, want)) expect(d).toBeLessThan(1);
    // Without declumping the touching pairs merge.
    expect(detectNuclei(img, H, W, { declump: false }).nuclei).toHaveLength(3);
  });

  it('a field with a single nucleus gives exactly it (area and box too)', () => {
    const H = 64, W = 64;
    const r = detectNuclei(draw(H, W, [{ x: 30.3, y: 25.6, rx: 8, ry: 6, amp: 0.5 }], 5, 0.01), H, W);
    expect(r.nuclei).toHaveLength(1);
    const [n] = r.nuclei;
    expect(Math.hypot(n.x - 30.3, n.y - 25.6)).toBeLessThan(1);
    // The ellipse's area is pi * 8 * 6 = 151 px; the low (log-space) threshold on the smoothed
    // image (sigma 2) takes about 1.5 px more all round: pi * 9.5 * 7.5 = 224.
    expect(n.area).toBeGreaterThan(150);
    expect(n.area).toBeLessThan(260);
    expect(n.box.x0).toBeGreaterThanOrEqual(21);
    expect(n.box.x1).toBeLessThanOrEqual(39);
  });
});

describe('pieces against naive references', () => {
  it("Otsu's threshold maximises the between-class variance over every cut", () => {
    const rng = new Rng(9);
    const v = Float32Array.from({ length: 3000 }, (_, i) => (i < 2000 ? rng.normal(0.2, 0.05) : rng.normal(0.7, 0.1)));
    const t = otsuThreshold(v, 64);
    // Naive: every cut at a bin edge of the same 64-bin grid, between-class variance from the samples.
    let lo = Infinity, hi = -Infinity;
    for (const x of v) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    let best = -1, bestT = NaN;
    for (let b = 1; b < 64; b++) {
      const cut = lo + (b * (hi - lo)) / 64;
      const a = Array.from(v).filter((x) => x < cut), c = Array.from(v).filter((x) => x >= cut);
      if (!a.length || !c.length) continue;
      const ma = a.reduce((s, x) => s + x, 0) / a.length, mc = c.reduce((s, x) => s + x, 0) / c.length;
      const between = a.length * c.length * (ma - mc) ** 2;
      if (between > best) { best = between; bestT = cut; }
    }
    expect(t).toBeCloseTo(bestT, 5);
    expect(t).toBeGreaterThan(0.3);
    expect(t).toBeLessThan(0.6);
  });

  it('8-connected labelling equals a union-find over random masks', () => {
    const rng = new Rng(4);
    const H = 23, W = 31;
    for (let trial = 0; trial < 5; trial++) {
      const mask = Uint8Array.from({ length: H * W }, () => (rng.next() < 0.45 ? 1 : 0));
      const { labels, count } = labelComponents(mask, H, W);
      const parent = Int32Array.from({ length: H * W }, (_, i) => i);
      const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const p = y * W + x;
        if (!mask[p]) continue;
        for (const [dy, dx] of [[0, 1], [1, -1], [1, 0], [1, 1]]) {
          const yy = y + dy, xx = x + dx;
          if (yy < H && xx >= 0 && xx < W && mask[yy * W + xx]) parent[find(p)] = find(yy * W + xx);
        }
      }
      const roots = new Set<number>();
      for (let p = 0; p < H * W; p++) if (mask[p]) roots.add(find(p));
      expect(count).toBe(roots.size);
      for (let p = 0; p < H * W; p++) {
        expect(labels[p] > 0).toBe(mask[p] === 1);
        for (let q = p + 1; q < Math.min(H * W, p + W + 2); q++) if (mask[p] && mask[q]) expect(labels[p] === labels[q]).toBe(find(p) === find(q));
      }
    }
  });
});
