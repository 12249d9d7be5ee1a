/** Mean of a list (benchmarks summarise per-seed results with it). */
export const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

/** Sample standard deviation (n - 1); 0 for a single value. */
export const sd = (a: number[]): number => (a.length > 1 ? Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1)) : 0);
