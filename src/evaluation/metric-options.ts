/**
 * Option fields that several metrics share, written once: a metric spreads the ones it uses into
 * its own schema, so the flag, its default and its description stay one definition. Lists are
 * arrays; on the command line they are comma-separated (a field whose metadata says `repeat` is a
 * repeatable flag instead).
 */
import { z } from 'zod';
import { similarities } from './similarity.ts';
import type { RowFilter } from './metric.ts';

const similarityName = (what: string, byDefault: string) =>
  z
    .string()
    .default(byDefault)
    .refine((s) => similarities.has(s), { error: (i) => `unknown similarity "${String(i.input)}"; choose one of: ${similarities.names().join(', ')}` })
    .describe(what);

/** A row filter given as `COL=VALUE` (flags, recipes) or as {column, value} (the library). */
export const rowFilter = z.union([
  z.object({ column: z.string(), value: z.string() }).strict(),
  z
    .string()
    .refine((s) => s.indexOf('=') > 0, { error: (i) => `"${String(i.input)}": write Column=Value, e.g. Compound=DMSO` })
    .transform((s): RowFilter => ({ column: s.slice(0, s.indexOf('=')), value: s.slice(s.indexOf('=') + 1) })),
]);

/** copairs mAP: similarity, null size, p-value threshold. */
export const mapScoreOptions = {
  similarity: similarityName('Similarity for mAP (cosine | pearson | spearman | kendall)', 'cosine'),
  nullSize: z.int().positive().default(10000).describe('mAP null distribution size'),
  threshold: z.number().gt(0).lt(1).default(0.05).describe('p-value threshold for the fraction retrieved'),
};

/** copairs' pair lists (each replaces the preset's list where given; "" on the command line is an empty list). */
export const pairListOptions = {
  posSameby: z.array(z.string()).optional().describe('copairs pos_sameby for map (comma-separated; "" for none)'),
  posDiffby: z.array(z.string()).optional().describe('copairs pos_diffby for map'),
  negSameby: z.array(z.string()).optional().describe('copairs neg_sameby for map'),
  negDiffby: z.array(z.string()).optional().describe('copairs neg_diffby for map'),
};

/** Rows kept / dropped before pairing (they replace a preset's exclusions when given). */
export const rowFilterOptions = {
  include: z.array(rowFilter).optional().meta({ repeat: true, description: 'Keep only rows with COL=VALUE before pairing (repeatable; values of one column are alternatives)' }),
  exclude: z.array(rowFilter).optional().meta({ repeat: true, description: 'Drop rows with COL=VALUE before pairing (repeatable)' }),
};

/** The similarity of percent replicating and the cytominer-eval metrics (its default Pearson). */
export const correlationOptions = {
  correlation: similarityName('Similarity for percent replicating / cytominer-eval metrics', 'pearson'),
};

/** The linear probe's fit (scikit-learn's LogisticRegression vocabulary). */
export const probeFitOptions = {
  probeC: z.number().positive().default(1).describe("Linear probe inverse regularisation, scikit-learn's C (penalty 1 / (C n) on the mean cross-entropy)"),
  probeMaxIter: z.int().positive().default(1000).describe('Linear probe L-BFGS iteration cap (the result says whether it converged)'),
  probeTol: z.number().positive().default(1e-4).describe("Linear probe gradient tolerance (scikit-learn's lbfgs tol)"),
  l2: z.number().min(0).optional().describe('Linear probe L2 penalty in mean form (overrides --probe-c)'),
};
