import { describe, expect, it } from 'vitest';
import { categoryColor, escapeXml, formatTick, lineChartSvg, naturalSort, niceTicks, scatterSvg } from '../../src/report/svg.ts';

describe('niceTicks / formatTick', () => {
  it('gives round steps covering the range', () => {
    expect(niceTicks(0, 1, 5).map((t) => formatTick(t))).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1']);
    expect(niceTicks(3, 97, 5)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(-1.2, 0.7, 4).map((t) => formatTick(t))).toEqual(['-1', '-0.5', '0', '0.5']);
    expect(niceTicks(2, 2)).toEqual([2]);
  });
  it('formats without float noise', () => {
    expect(formatTick(0.1 + 0.2)).toBe('0.3');
    expect(formatTick(1e-4)).toBe('1e-4');
    expect(formatTick(250000)).toBe('2.5e+5');
    expect(formatTick(0.00105, { exponent: true })).toBe('1.05e-3');
    expect(formatTick(0.0011)).toBe('0.0011');
  });
});

describe('naturalSort / categoryColor / escapeXml', () => {
  it('sorts plate names as people read them', () => {
    expect(naturalSort(['Plate10', 'Plate2', 'Plate1'])).toEqual(['Plate1', 'Plate2', 'Plate10']);
  });
  it('gives distinct colours to many categories', () => {
    const cs = Array.from({ length: 200 }, (_, i) => categoryColor(i));
    expect(new Set(cs).size).toBe(200);
    expect(cs[0]).toBe('#1f77b4');
  });
  it('escapes markup', () => {
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  });
});

describe('scatterSvg', () => {
  const x = [0, 1, 2, 3, 4, 5];
  const y = [5, 4, 3, 2, 1, 0];
  const lab = ['b', 'a', 'b', 'a', '<c>', 'b'];
  const svg = scatterSvg(x, y, lab, { title: 'T & U', legendTitle: 'plate', width: 400, height: 300 });

  it('draws one marker per point in its category colour, plus one per legend entry', () => {
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="[\d.]+" fill="([^"]+)"\/>/g)];
    expect(circles.length).toBe(6 + 3);
    const colorOf: Record<string, string> = { '<c>': categoryColor(0), a: categoryColor(1), b: categoryColor(2) };
    // Points: recover each point from its position (x increases left to right).
    const pts = circles.slice(0, 6).map((m) => ({ cx: Number(m[1]), cy: Number(m[2]), fill: m[3] })).sort((p, q) => p.cx - q.cx);
    pts.forEach((p, i) => expect(p.fill).toBe(colorOf[lab[i]]));
    // y grows upwards: the leftmost point (y = 5) is highest on screen.
    expect(pts[0].cy).toBeLessThan(pts[5].cy);
    // Every point lies inside the 400 x 300 canvas, left of the legend.
    for (const p of pts) {
      expect(p.cx).toBeGreaterThan(0);
      expect(p.cx).toBeLessThan(400 - 150);
      expect(p.cy).toBeGreaterThan(0);
      expect(p.cy).toBeLessThan(300);
    }
  });
  it('escapes the title and labels and is well-formed', () => {
    expect(svg).toContain('T &amp; U');
    expect(svg).toContain('&lt;c&gt;');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
  });
  it('caps the legend and says how many more', () => {
    const n = 30;
    const s = scatterSvg(Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => `L${i}`), { maxLegend: 10 });
    expect(s).toContain('+ 20 more');
  });
  it('rejects mismatched lengths', () => {
    expect(() => scatterSvg([1, 2], [1], ['a', 'b'])).toThrow(/differ in length/);
  });
});

describe('lineChartSvg', () => {
  it('draws one path per series and breaks lines at non-finite values', () => {
    const svg = lineChartSvg(
      [
        { name: 'ben', x: [0, 1, 2, 3], y: [4, 3, NaN, 1] },
        { name: 'baseline', x: [0, 1, 2, 3], y: [4, 3.5, 3, 2.5] },
      ],
      { title: 'loss', xLabel: 'step' },
    );
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]);
    expect(paths.length).toBe(2);
    expect(paths[0].match(/M/g)!.length).toBe(2); // NaN splits the first line
    expect(paths[1].match(/M/g)!.length).toBe(1);
    expect(svg).not.toContain('NaN');
  });
  it('places a constant curve at its value, not at 0', () => {
    const svg = lineChartSvg([{ name: 'lr', x: [0, 10], y: [1e-3, 1e-3] }]);
    const texts = [...svg.matchAll(/text-anchor="end">([^<]+)</g)].map((m) => m[1]);
    expect(texts.every((t) => t.includes('e-'))).toBe(true); // one form per axis (9.5e-4 next to 1e-3, not 0.001)
    const labels = texts.map(Number);
    expect(Math.min(...labels)).toBeGreaterThan(0);
    expect(Math.min(...labels)).toBeLessThanOrEqual(1e-3);
    expect(Math.max(...labels)).toBeGreaterThanOrEqual(1e-3);
  });
});
