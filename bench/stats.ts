/** The benchmarks' per-seed summaries: the library's statistics (one home). */
export { mean, pairedDifference, sampleSd as sd } from '../src/util/stats.ts';
