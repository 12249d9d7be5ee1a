import { z } from 'zod';
import { INTENSITY_MODES, RESIZE_MODES } from '../data/preprocess.ts';
import { ILLUMINATION_MODES } from '../data/illumination/record.ts';
import { readerForSource, readerSourceNames } from '../data/readers/index.ts';
import { samplers } from '../data/samplers/index.ts';
import { metrics } from '../evaluation/metric.ts';
import '../evaluation/metrics.ts';
import { backbones } from '../models/index.ts';
import { objectives } from '../objectives/index.ts';
import { optimizers } from '../training/optimizers.ts';
import type { Registry } from '../util/registry.ts';
import { PROJECTION_METHODS } from '../evaluation/z-prime.ts';
import { NORMALIZATION_MODES } from '../models/ben-batchnorm.ts';
import { AGGREGATE_METHODS } from '../profiles/aggregate.ts';
import { CORRECTION_METHODS, PER_PLATE_CORRECTIONS } from '../profiles/correct.ts';

/**
 * The recipe: a YAML file that fully describes a run (data, sampler, augmentation, backbone,
 * objective, optimizer, schedule, normalization mode, evaluation, outputs). Validated once at the
 * entry point; library functions take the typed pieces, never the whole recipe.
 */

const groupKey = z.enum(['experiment', 'plate', 'cellType', 'well']);

/**
 * A plug-in name, checked against its registry when the recipe is read: the registries are the one
 * list of names, so a new plug-in needs no change here.
 */
function pluginName<T>(registry: Registry<T>) {
  return z.string().refine((name) => registry.has(name), { error: (issue) => `unknown ${registry.kind} "${String(issue.input)}"; choose one of: ${registry.names().join(', ')}` });
}

/** Single-cell crops (see `data.crops`). */
export const CropsSchema = z
  .object({
    mode: z.literal('cells'),
    /** Crop size in pixels. */
    size: z.number().int().positive().default(48),
    /** At most this many cells per site (a seeded sample); absent = all. */
    maxPerSite: z.number().int().positive().optional(),
    /** The DNA channel, by name or index (default: the channel named DNA, Hoechst, DAPI or nucleus). */
    channel: z.union([z.string(), z.number().int().min(0)]).optional(),
    /**
     * Nuclei given by CellProfiler instead of detected: a table (CSV, CSV.gz, Parquet) with
     * Metadata_Plate / Well / Site and (<Object>_)Location_Center_X/Y, CellProfiler's per-object
     * table keyed by ImageNumber (with `locationsImages`, its per-image table), or DeepProfiler's
     * `locations/` folder. Crops are cut at exactly these centres.
     */
    locations: z.string().optional(),
    /** CellProfiler's per-image table (ImageNumber -> Metadata_*), when `locations` is keyed by ImageNumber. */
    locationsImages: z.string().optional(),
    /** Nuclei detection: smoothing sigma (px), smallest and largest object (px). */
    sigma: z.number().min(0).optional(),
    minArea: z.number().int().min(1).optional(),
    maxArea: z.number().int().min(1).optional(),
  })
  .strict();

/** Where images come from. */
export const DataSchema = z
  .object({
    /**
     * `synthetic` generates (and caches) the embedded default; the others name a reader
     * (data/readers/: its name or alias, e.g. `loaddata`, `image-folder`) that reads a real copy.
     * A reader's own options are fields of this section too (`channels`, `labelColumn`,
     * `pattern`, `urlRoot`...): each reader declares them, and they are checked when the recipe
     * is read (recipe/load.ts).
     */
    source: z
      .string()
      .default('synthetic')
      .refine((s) => s === 'synthetic' || readerForSource(s) !== undefined, { error: (issue) => `unknown data source "${String(issue.input)}"; choose one of: synthetic, ${readerSourceNames().join(', ')}` }),
    /** Synthetic preset (tiny | small | bench) when source = synthetic. */
    preset: z.string().default('small'),
    /** Generator parameter overrides when source = synthetic. */
    params: z.record(z.string(), z.unknown()).default({}),
    /** Data set root (real data), or the cache directory of the synthetic set. */
    path: z.string().optional(),
    /** LoadData CSV file when source = loaddata. */
    csv: z.string().optional(),
    /** Splits used for training (WILDS names: train, id_test, val, test). */
    trainSplits: z.array(z.string()).default(['train']),
    /** Splits embedded and evaluated. */
    evalSplits: z.array(z.string()).default(['test']),
    /** Skip unreadable images with a count instead of failing. */
    skipBad: z.boolean().default(false),
    /**
     * Intensity scaling before the model input: `raw` (as stored), `image` (each image's own
     * low/high percentiles), `plate` (each plate's, from its negative controls or all its images). Absent = raw.
     */
    intensity: z
      .object({
        mode: z.enum(INTENSITY_MODES).default('raw'),
        low: z.number().min(0).max(100).optional(),
        high: z.number().min(0).max(100).optional(),
        from: z.enum(['controls', 'all']).optional(),
        maxImages: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    /**
     * Illumination correction, CellProfiler's way (divide each image by its plate's function):
     * `loaddata` (the functions the LoadData CSV names, FileName_Illum<Ch> / URL_Illum<Ch>),
     * `compute` (estimated per plate and channel from the images, written to the run directory's
     * `illumination/`), `none`. Absent: `loaddata` when the metadata names functions, else `none`.
     * The object form sets compute's smoothing filter size (px; default min(30, max(H, W) / 40)).
     */
    illumination: z
      .union([z.enum(ILLUMINATION_MODES), z.object({ mode: z.enum(ILLUMINATION_MODES), filterSize: z.number().positive().optional() }).strict()])
      .optional(),
    /**
     * Single-cell crops instead of whole sites (data/cells/): nuclei found on the DNA channel, a
     * `size` x `size` crop around each, at most `maxPerSite` per site. Training and embedding then
     * work on cells; the embed stage writes the cells and the site and well profiles (mean of the
     * L2-normalised cell embeddings, with the cell count).
     */
    crops: CropsSchema.optional(),
  })
  // The readers' options (above): validated against the chosen reader's declarations in recipe/load.ts.
  .catchall(z.unknown());

/** The fields of the `data` section itself (the rest are reader options). */
export const DATA_FIELDS: readonly string[] = Object.keys(DataSchema.shape);

/** Which images form a training batch. */
export const SamplerSchema = z
  .object({
    /** `plate`: every batch from one group (BEN). `random`: the usual baseline. */
    type: pluginName(samplers).default('plate'),
    /** Columns whose values define a group (default one plate of one experiment). */
    groupBy: z.array(groupKey).default(['experiment', 'plate']),
    /** Images per batch, or `whole-group`. */
    batchSize: z.union([z.number().int().positive(), z.literal('whole-group')]).default(64),
    /** Groups mixed in one batch (1 = pure BEN). */
    groupsPerBatch: z.number().int().positive().default(1),
    /**
     * With groupsPerBatch > 1: every BatchNorm normalizes each group's images with that group's
     * own statistics (BEN with several plates per batch); false: one set of statistics for the
     * mixed batch. Absent = false.
     */
    perGroupStatistics: z.boolean().optional(),
    /**
     * `image`: the sampler draws images and an image's views are augmentations of it. `well`: the
     * sampler draws wells and the views are different sites of the well (positives share the
     * treatment, not the cell layout). Absent = image.
     */
    unit: z.enum(['image', 'well']).optional(),
    dropLast: z.boolean().default(true),
    shuffle: z.boolean().default(true),
  })
  .strict();

/** Augmentations, applied per view. */
export const AugmentSchema = z
  .object({
    /** Views per image (1 supervised, 2+ self-supervised). */
    views: z.number().int().positive().optional(),
    /** Output crop size in pixels. */
    cropSize: z.number().int().positive().default(64),
    /** Random resized crop area range. */
    cropScale: z.tuple([z.number().positive(), z.number().positive()]).default([0.4, 1]),
    flip: z.boolean().default(true),
    rot90: z.boolean().default(true),
    /** Probability of a Gaussian blur. */
    blurProb: z.number().min(0).max(1).default(0.2),
    /** Per-channel intensity jitter strength. */
    intensityJitter: z.number().min(0).default(0.2),
    /** Per-image per-channel standardisation (as in BEN and WILDS). */
    standardize: z.boolean().default(true),
    /**
     * Asymmetric views: one entry per view, each overriding the settings above for that view
     * (BYOL's recipe: `[{ blurProb: 1 }, { blurProb: 0.1 }]`). Crop size and standardisation stay
     * shared (the views are stacked, and inference standardises as training did). Absent = every
     * view alike.
     */
    perView: z
      .array(
        z
          .object({
            cropScale: z.tuple([z.number().positive(), z.number().positive()]),
            flip: z.boolean(),
            rot90: z.boolean(),
            blurProb: z.number().min(0).max(1),
            intensityJitter: z.number().min(0),
          })
          .partial()
          .strict(),
      )
      .min(1)
      .optional(),
  })
  .strict();

export const BackboneSchema = z
  .object({
    /**
     * Backbone registry name (models/): `resnet-small`, `small-convnet`, `resnet18`, `resnet50`, or
     * the small-image-stem variants `resnet18-cifar`, `resnet50-cifar` (the stem is part of the name).
     */
    name: pluginName(backbones).default('resnet-small'),
  })
  .strict();

export const ObjectiveSchema = z
  .object({
    name: pluginName(objectives).default('simclr'),
    /** Objective-specific options (temperature, projector sizes, momentum...). */
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const OptimizerSchema = z
  .object({
    name: pluginName(optimizers).default('adam'),
    lr: z.number().positive().default(1e-3),
    weightDecay: z.number().min(0).default(1e-5),
    momentum: z.number().min(0).max(1).default(0.9),
  })
  .strict();

export const TrainingSchema = z
  .object({
    epochs: z.number().positive().default(5),
    /** Overrides epochs when set; 0 saves the initialised network untrained (a random-initialisation baseline). */
    steps: z.number().int().min(0).optional(),
    warmupSteps: z.number().int().min(0).default(50),
    checkpointEvery: z.number().int().positive().default(200),
    logEvery: z.number().int().positive().default(10),
    /** Online kNN monitor on a held-out plate every N steps (0 = off). */
    knnMonitorEvery: z.number().int().min(0).default(0),
    /** Split the monitor's held-out plate comes from (its first plate); falls back to the first eval split. */
    monitorSplit: z.string().default('id_test'),
  })
  .strict();

/** BN normalization at inference: running averages, the batch, the whole plate, or its controls. */
export const NormalizationSchema = z.enum(NORMALIZATION_MODES);

export const EmbeddingSchema = z
  .object({
    normalization: NormalizationSchema.default('plate'),
    /** Well-level aggregation written beside the per-image file (`l2-mean`: mean of unit-length embeddings). */
    aggregate: z.enum(AGGREGATE_METHODS).default('mean'),
    batchSize: z.number().int().positive().default(128),
    /**
     * Images of another size than the model input: `resize` (the whole field), `center-crop`, or
     * `tiles` (crops of the training size covering the field, embeddings averaged per site).
     * Training records it in the saved model as `ben embed`'s default; absent = the model's
     * default (`resize`).
     */
    resizeMode: z.enum(RESIZE_MODES).optional(),
  })
  .strict();

/**
 * The `profiles` stage: the variant's embeddings -> well profiles -> per-plate correction ->
 * optional consensus, written to `<variant>/profiles.parquet` (`ben profiles` with these options).
 */
export const ProfilesSchema = z
  .object({
    /** Sites -> wells: `mean`, `median`, `l2-mean`, or `none` (keep one row per image). */
    aggregate: z.enum([...AGGREGATE_METHODS, 'none']).default('mean'),
    /** Columns of a well. */
    aggregateBy: z.array(z.string()).default(['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well']),
    /** `none` or a correction from the registry (profiles/correct.ts): per `plate` group, or between the `batch` columns (combat, harmony). */
    normalize: z.enum(['none', ...CORRECTION_METHODS]).default('none'),
    /**
     * Columns whose tuple is the group a per-plate correction is fitted on (plate numbers repeat
     * across experiments). Absent: `[Metadata_Experiment, Metadata_Plate]`, except for sphering,
     * which then pools every plate (give it to sphere per plate).
     */
    plate: z.array(z.string()).optional(),
    /** Batch columns: TVN's alignment, ComBat's batches, Harmony's covariates (default `plate`). */
    batch: z.array(z.string()).optional(),
    /** Fit on the negative controls (`evaluation.controlColumn` = `controlValue`) or on all wells (absent: the correction's default, controls for the per-plate ones, all for combat / harmony). */
    fitOn: z.enum(['controls', 'all']).optional(),
    /** The correction's own options (e.g. harmony `{ theta: 2, nPcs: 30 }`, combat `{ covariates: [Metadata_Label] }`; docs/corrections.md). */
    options: z.record(z.string(), z.unknown()).default({}),
    /** mad_robustize: added to 1.4826 * MAD (pycytominer default). */
    epsilon: z.number().min(0).default(1e-18),
    /** Columns of a treatment for a consensus profile after correction (absent: none). */
    consensus: z.array(z.string()).optional(),
    consensusMethod: z.enum(AGGREGATE_METHODS).default('median'),
  })
  .strict();

/** copairs' pair vocabulary for the `map` metric (lists replace the preset's; filters `COL=VALUE`, applied before pairing). */
export const MapSchema = z
  .object({
    /** `replicate` (replicates on other plates vs other treatments), `activity` (vs negative controls), `moa`. */
    preset: z.string().default('replicate'),
    posSameby: z.array(z.string()).optional(),
    posDiffby: z.array(z.string()).optional(),
    negSameby: z.array(z.string()).optional(),
    negDiffby: z.array(z.string()).optional(),
    include: z.array(z.string()).optional(),
    exclude: z.array(z.string()).optional(),
  })
  .strict();

export const EvaluationSchema = z
  .object({
    metrics: z
      .array(pluginName(metrics))
      .default(['knn', 'map', 'linear-probe', 'plate-predictability']),
    labelColumn: z.string().default('Metadata_Label'),
    plateColumn: z.string().default('Metadata_Plate'),
    batchColumn: z.string().default('Metadata_Experiment'),
    controlColumn: z.string().default('Metadata_WellType'),
    controlValue: z.string().default('negative_control'),
    /** Other values of the control column that are not treatments (never kNN queries, not in the probe). */
    skipValues: z.array(z.string()).default(['positive_control']),
    k: z.number().int().positive().default(20),
    /**
     * Splits whose embeddings train the linear probe (tested on `data.evalSplits`). Default
     * `id_test`: unseen sites of the training experiments, so the probe is tested out of distribution.
     */
    probeTrainSplits: z.array(z.string()).default(['id_test']),
    /** The linear probe (Lin & Lu 2022's primary metric): its level and its fit. */
    probe: z
      .object({
        /**
         * `well` (default, the paper's protocol): every image (site or cell) embedding L2-normalised
         * and mean-pooled per well, one probe row per well; `image`: one row per image.
         */
        level: z.enum(['well', 'image']).default('well'),
        /** Inverse regularisation, scikit-learn's `LogisticRegression(C=...)` (features standardised on the training rows). */
        C: z.number().positive().default(1),
        /** L-BFGS iteration cap; the evaluation reports whether the fit converged (gradient max-norm below 1e-4). */
        maxIter: z.number().int().positive().default(1000),
      })
      .strict()
      .default({ level: 'well', C: 1, maxIter: 1000 }),
    /** Null-distribution size of the mAP p-values. */
    mapNullSize: z.number().int().positive().default(1000),
    /** The mAP definition (copairs lists or a preset). */
    map: MapSchema.default(MapSchema.parse({})),
    /** What the evaluate stage scores: the per-image `embeddings`, or the `profiles` stage's output. */
    input: z.enum(['embeddings', 'profiles']).default('embeddings'),
    /**
     * Any metric's own options by metric name (`{ knn: { vote: weighted }, map: { threshold: 0.01 } }`),
     * checked against the metric's schema (the fields of `ben evaluate --help`'s metric options);
     * they override the protocol's settings above.
     */
    options: z
      .record(z.string(), z.record(z.string(), z.unknown()))
      .default({})
      .superRefine((byMetric, ctx) => {
        for (const [name, o] of Object.entries(byMetric)) {
          if (!metrics.has(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `unknown metric "${name}"; choose one of: ${metrics.names().join(', ')}` });
            continue;
          }
          const r = metrics.get(name).options.safeParse(o);
          if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: [name, ...(i.code === 'unrecognized_keys' ? [i.keys.join(', ')] : i.path)], message: i.code === 'unrecognized_keys' ? `not an option of ${name}` : i.message });
        }
      }),
  })
  .strict();

/**
 * The `dose-response` stage (recipe/dose-response.ts): every variant's well embeddings and,
 * optionally, classical features scored side by side for dose response and control separation,
 * with a column-shuffled control; one table in the run directory.
 */
export const DoseResponseSchema = z
  .object({
    /** Numeric dose column of the embeddings (default `evaluation.labelColumn`). */
    doseColumn: z.string().optional(),
    /** Value of `evaluation.controlColumn` that marks the positive controls. */
    positiveControlValue: z.string().default('positive_control'),
    /** Classical-features arm: the reporter channel (its nuclear / cytoplasmic ratio) and the cytoplasm ring width in px. */
    classical: z.object({ reporter: z.string(), ringWidth: z.number().int().positive().default(5) }).strict().optional(),
    /** Well profiles standardised per plate on the negative controls before scoring (the same for every arm). */
    normalize: z.enum(['none', ...PER_PLATE_CORRECTIONS]).default('standardize'),
    /** Z': the 1-D projection fitted on the other control wells (`lda`: Ledoit-Wolf shrinkage LDA). */
    projection: z.enum(PROJECTION_METHODS).default('lda'),
    /** Z': folds of control wells (absent: leave one well out). */
    folds: z.number().int().min(2).optional(),
    /** Column-shuffled control: permutations of the labels within plate rows (0 = none). */
    shuffles: z.number().int().min(0).default(20),
    /** Display names of the arms in the table and figures (variant name or `classical` -> label). */
    labels: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export const RecipeSchema = z
  .object({
    /** Run name; the run directory defaults to runs/<name>. */
    name: z.string().min(1),
    description: z.string().optional(),
    seed: z.number().int().default(0),
    /** Stages `ben run` executes, in order. */
    stages: z
      .array(z.enum(['data', 'train', 'embed', 'profiles', 'evaluate', 'dose-response', 'report']))
      .default(['data', 'train', 'embed', 'evaluate', 'report']),
    data: DataSchema.default(DataSchema.parse({})),
    sampler: SamplerSchema.default(SamplerSchema.parse({})),
    augment: AugmentSchema.default(AugmentSchema.parse({})),
    backbone: BackboneSchema.default(BackboneSchema.parse({})),
    objective: ObjectiveSchema.default(ObjectiveSchema.parse({})),
    optimizer: OptimizerSchema.default(OptimizerSchema.parse({})),
    training: TrainingSchema.default(TrainingSchema.parse({})),
    embedding: EmbeddingSchema.default(EmbeddingSchema.parse({})),
    profiles: ProfilesSchema.default(ProfilesSchema.parse({})),
    evaluation: EvaluationSchema.default(EvaluationSchema.parse({})),
    doseResponse: DoseResponseSchema.default(DoseResponseSchema.parse({})),
    /**
     * Named variants run side by side (e.g. BEN vs the random-batch baseline): each is a map of
     * dotted overrides applied on top of this recipe.
     */
    variants: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    /** A saved model to start from (embed/evaluate-only recipes, fine-tuning). */
    model: z
      .object({
        path: z.string().optional(),
        /**
         * In a variant: embed with the model an EARLIER variant of the same run trained, without
         * training again (e.g. the baseline's random-batch model with `plate` statistics).
         */
        variant: z.string().optional(),
      })
      .strict()
      .default({}),
    output: z.object({ dir: z.string().optional() }).strict().default({}),
  })
  .strict();

/** A validated recipe with every default filled in. */
export type Recipe = z.infer<typeof RecipeSchema>;
