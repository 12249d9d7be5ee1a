/**
 * One score per table for a batch correction, in the sense of Arevalo et al. (Nature
 * Communications 2024), who took it from scIB (Luecken et al., Nature Methods 2022):
 * overall = 0.4 x batch removal + 0.6 x biology conservation, each the mean of its metrics, all on
 * [0, 1] with higher better. The components here are the ones ben evaluate computes:
 * - batch removal: silhouette on batch (`silhouette` batch_score), iLISI scaled (`lisi`
 *   ilisi_scaled), graph connectivity (`graph-connectivity` score);
 * - biology conservation: silhouette on label (`silhouette` label_score), cLISI scaled (`lisi`
 *   clisi_scaled), replicate mAP (`map` map).
 * scIB and Arevalo et al. also use kBET, PCR, NMI / ARI of a clustering and isolated labels, which
 * are not computed here: compare scores only between tables scored with the same components.
 */

/** The weighting of batch removal and biology conservation (Luecken et al. 2022; Arevalo et al. 2024). */
export const SUMMARY_WEIGHTS = { batchRemoval: 0.4, bioConservation: 0.6 } as const;

/** Components of each side: [metric name, summary field, label]. */
export const SUMMARY_COMPONENTS = {
  batchRemoval: [
    ['silhouette', 'batch_score', 'silhouette on batch'],
    ['lisi', 'ilisi_scaled', 'iLISI (scaled)'],
    ['graph-connectivity', 'score', 'graph connectivity'],
  ],
  bioConservation: [
    ['silhouette', 'label_score', 'silhouette on label'],
    ['lisi', 'clisi_scaled', 'cLISI (scaled)'],
    ['map', 'map', 'replicate mAP'],
  ],
} as const;

/** The summary score of a table and what went into it. */
export interface SummaryScore {
  batchRemoval: number;
  bioConservation: number;
  overall: number;
  /** The components used, `metric.field` -> value. */
  components: Record<string, number>;
  weighting: string;
}

/**
 * The summary score from the metrics' summaries (`metrics[name].summary[field]`); undefined unless
 * at least one batch-removal and one biology-conservation component were computed.
 */
export function summaryScore(metrics: Record<string, { summary: Record<string, number | string>; notComputed?: string }>): SummaryScore | undefined {
  const components: Record<string, number> = {};
  const side = (list: readonly (readonly [string, string, string])[]) => {
    const vals: number[] = [];
    for (const [m, f] of list) {
      const v = metrics[m]?.notComputed ? undefined : metrics[m]?.summary[f];
      if (typeof v === 'number' && Number.isFinite(v)) {
        vals.push(v);
        components[`${m}.${f}`] = v;
      }
    }
    return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : undefined;
  };
  const batchRemoval = side(SUMMARY_COMPONENTS.batchRemoval);
  const bioConservation = side(SUMMARY_COMPONENTS.bioConservation);
  if (batchRemoval === undefined || bioConservation === undefined) return undefined;
  return {
    batchRemoval,
    bioConservation,
    overall: SUMMARY_WEIGHTS.batchRemoval * batchRemoval + SUMMARY_WEIGHTS.bioConservation * bioConservation,
    components,
    weighting: '0.4 batch removal + 0.6 biology conservation (Luecken et al. 2022, as used by Arevalo et al. 2024)',
  };
}
