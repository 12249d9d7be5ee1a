/**
 * The one run-directory layout: every stage writes, and the report and `--resume` read, these names.
 *
 * ```
 * <runDir>/
 *   run.json                    status (running | finished | failed | stopped), writer pid, git revision, backend
 *   resolved-recipe.yaml        the recipe as run (all defaults filled in)
 *   .lock                       one writer per run directory (util/run-lock.ts)
 *   <variant>/                  one folder per recipe variant (`ben`, `baseline`, ...); a recipe
 *                               without variants uses its own name
 *     run.json, resolved-recipe.yaml
 *     checkpoint/               latest checkpoint (atomic; exact resume)
 *     metrics.jsonl             training log, one JSON object per step
 *     model/                    the trained backbone (`ben embed --model`)
 *     results.json              supervised accuracy per split
 *     embeddings.parquet        image-level (or site-level) embeddings, Metadata_* + emb_*
 *     embeddings.wells.parquet  well-level embeddings with Metadata_Count
 *     embeddings.cells.parquet  single-cell embeddings (cell recipes)
 *     embeddings-probe-train.parquet  training-split embeddings for the linear probe
 *     profiles.parquet          corrected profiles (the profiles stage)
 *     eval.json                 the evaluation summary (every numeric leaf is a report row)
 *   illumination/               illumination functions computed per plate (data.illumination: compute): .npy + illumination.csv
 *   illumination.png            a plate's illumination function per channel (the report shows it)
 *   classical/                  classical features of the sites (dose-response stage)
 *   dose-response.md / .json    the dose-response table of every arm (and .png figures)
 *   examples.json               optional example images for the report
 *   report/                     index.html + figures/*.png
 * ```
 */
export const RUN_LAYOUT = {
  info: 'run.json',
  recipe: 'resolved-recipe.yaml',
  checkpoint: 'checkpoint',
  metrics: 'metrics.jsonl',
  model: 'model',
  results: 'results.json',
  embeddings: 'embeddings.parquet',
  probeTrainEmbeddings: 'embeddings-probe-train.parquet',
  profiles: 'profiles.parquet',
  evaluation: 'eval.json',
  examples: 'examples.json',
  illumination: 'illumination',
  illuminationFigure: 'illumination.png',
  reportDir: 'report',
  doseResponseTable: 'dose-response.md',
  doseResponse: 'dose-response.json',
  doseResponseFigure: 'dose-response.png',
  controlSeparationFigure: 'control-separation.png',
  classicalArm: 'classical',
} as const;
