/**
 * Graph connectivity (scIB, Luecken et al. 2022; a batch-removal metric of Arevalo et al. 2024):
 * on the kNN graph of the treatment profiles (15 Euclidean neighbours, edges made undirected),
 * for each label the share of its profiles in the largest connected component of the subgraph of
 * that label, averaged over labels. 1: every label is one connected piece across batches; a batch
 * effect that splits a label into per-batch islands lowers it.
 */
import { z } from 'zod';
import { defineMetric, type MetricResult } from './metric.ts';
import { euclideanNeighbours } from './neighbours.ts';
import { integrationInput } from './integration.ts';

/** Options of the `graph-connectivity` metric. */
export const graphConnectivityOptions = z
  .object({
    graphNeighbours: z.number().int().positive().default(15).describe("Graph connectivity: neighbours per profile (scanpy's pp.neighbors default 15)"),
  })
  .strict();

/** Graph connectivity of profiles `x` ([n, d]) with labels `labels`, and per label its largest component share. */
export function graphConnectivity(x: ArrayLike<number>, n: number, d: number, labels: readonly string[], k = 15): { score: number; perLabel: { label: string; profiles: number; largest: number }[] } {
  const kk = Math.min(k, n - 1);
  const nn = euclideanNeighbours(x, n, d, kk);
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  // Only edges within a label matter: the subgraph of a label keeps the edges between its profiles.
  for (let i = 0; i < n; i++)
    for (let r = 0; r < kk; r++) {
      const j = nn.index[i * kk + r];
      if (labels[i] !== labels[j]) continue;
      const a = find(i);
      const b = find(j);
      if (a !== b) parent[a] = b;
    }
  const byLabel = new Map<string, Map<number, number>>();
  const sizes = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    const comps = byLabel.get(l) ?? byLabel.set(l, new Map()).get(l)!;
    const root = find(i);
    comps.set(root, (comps.get(root) ?? 0) + 1);
    sizes.set(l, (sizes.get(l) ?? 0) + 1);
  }
  const perLabel = [...byLabel].map(([label, comps]) => ({ label, profiles: sizes.get(label)!, largest: Math.max(...comps.values()) / sizes.get(label)! }));
  return { score: perLabel.reduce((s, p) => s + p.largest, 0) / perLabel.length, perLabel };
}

/** The `graph-connectivity` metric. */
export const graphConnectivityMetric = defineMetric({
  name: 'graph-connectivity',
  description: 'Graph connectivity (scIB): per label, the share of its profiles in the largest connected piece of the 15-NN graph; 1 = no label split by batch; treatments only',
  options: graphConnectivityOptions,
  needs: { columns: ['label', 'plate'] },
  async compute(ctx): Promise<MetricResult> {
    const o = ctx.options;
    const inp = integrationInput(ctx);
    if (inp.n < 2) return { summary: { score: NaN, profiles: inp.n }, tables: {} };
    const r = graphConnectivity(inp.x, inp.n, inp.d, inp.labels, o.graphNeighbours);
    return {
      summary: { score: r.score, neighbours: Math.min(o.graphNeighbours, inp.n - 1), labels: r.perLabel.length, profiles: inp.n, ...(inp.sampled ? { sampled_from: inp.treatmentRows } : {}) },
      tables: { per_label: r.perLabel.map((p) => ({ label: p.label, profiles: p.profiles, largest_component_share: p.largest })) },
    };
  },
});
