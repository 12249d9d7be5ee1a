import { z } from 'zod';
import { UserError } from '../../util/errors.ts';

/**
 * Every parameter of the synthetic microscopy generator. Morphology is described by
 * {@link FEATURES}, each a log-scale multiplier: an image's feature vector is
 * `cellTypeBase + experimentShift + plateShift + wellShift + treatmentEffect`, so a treatment acts
 * RELATIVE to its plate's (biological) baseline. Shift and effect sizes are standard deviations
 * in that log space. Technical effects (gain, offset, gamma, illumination, blur, noise) are drawn
 * per experiment and plate on top.
 *
 * Intensity statistics (`intensityMatch`, default 1): a treated site's recorded per-channel mean
 * and std are those of an untreated field of the same well (its twin, rendered with the same
 * microscope), by a monotone clamp-aware map of its optical signal (match.ts). So the plate's
 * technical and biological shifts move the image-level means/stds, as in real screens, while a
 * treatment only changes spatial structure: cell and nucleus shape and size against their count,
 * spot count against spot brightness, texture scale. A logistic regression on per-image channel
 * means/stds then finds the plate but not the treatment; plate-relative spatial descriptors find
 * the treatment. With 0 treatments also move the means/stds (before this choice the treatment was
 * 0.29 from them on `small`, majority 0.17).
 */
export const synthConfigSchema = z.object({
  seed: z.number().int().min(0).describe('Random seed; same seed and parameters give the same bytes'),
  layout: z.enum(['rxrx1-wilds', 'rxrx1', 'loaddata-csv']).describe('On-disk layout to write'),
  bitDepth: z.union([z.literal(8), z.literal(16)]).describe('Sample depth (16 only for loaddata-csv, written as TIFF)'),
  channels: z
    .union([z.literal(3), z.literal(5)])
    .optional()
    .describe('Channels: 3 (nucleus, cytoplasm, texture; default) or 5 Cell-Painting-like (DNA, ER, RNA, AGP, Mito; rxrx1 or loaddata-csv layout)'),
  height: z.number().int().min(16).max(4096).describe('Image height (px; JUMP fields are 1080, many instruments write 2160)'),
  width: z.number().int().min(16).max(4096).describe('Image width (px)'),
  cellTypes: z.number().int().min(1).max(8).describe('Cell types; experiments are grouped by cell type'),
  trainExperimentsPerCellType: z.number().int().min(1).describe('Training experiments per cell type (WILDS dataset=train)'),
  valExperimentsPerCellType: z.number().int().min(0).describe('Held-out validation experiments per cell type (dataset=val)'),
  testExperimentsPerCellType: z.number().int().min(0).describe('Held-out OOD test experiments per cell type (dataset=test)'),
  platesPerExperiment: z.number().int().min(1).max(16).describe('Plates per experiment'),
  treatments: z.number().int().min(1).describe('Treatments (siRNAs), each on every plate'),
  wellsPerTreatment: z.number().int().min(1).describe('Wells per treatment on each plate'),
  negativeControlWells: z.number().int().min(1).describe('Negative-control wells per plate'),
  positiveControls: z.number().int().min(0).describe('Distinct positive controls'),
  positiveControlWells: z.number().int().min(0).describe('Wells per positive control on each plate'),
  sitesPerWell: z.number().int().min(1).max(9).describe('Imaged sites per well'),
  cellsPerImage: z.number().positive().describe('Mean cell count per image at baseline'),
  cellRadius: z.number().positive().describe('Mean cell radius (px) at baseline'),
  treatmentEffect: z.number().min(0).describe('Std of a treatment effect per feature (log scale)'),
  coverageEffectWeight: z.number().min(0).describe('Scale of treatment effects on cell size and density relative to the other features (with intensityMatch < 1, coverage moves image means)'),
  intensityMatch: z.number().min(0).max(1).describe('How far (0..1) a treated site\'s per-channel mean and std are moved to those of an untreated field of the same well (1: treatments change spatial structure only, not image-level intensity statistics)'),
  positiveControlEffect: z.number().min(0).describe('Std of a positive-control effect per feature (log scale)'),
  cellTypeShift: z.number().min(0).describe('Std of the cell-type baseline per feature (biological)'),
  experimentShift: z.number().min(0).describe('Std of the experiment shift per feature (biological batch effect)'),
  plateShift: z.number().min(0).describe('Std of the plate shift per feature'),
  wellShift: z.number().min(0).describe('Std of the well shift per feature (replicate noise)'),
  cellNoise: z.number().min(0).describe('Std of cell-to-cell variation of size and intensity (log scale)'),
  gainShift: z.number().min(0).describe('Std of log per-channel gain per experiment'),
  plateGainShift: z.number().min(0).describe('Std of log per-channel gain per plate'),
  siteGainJitter: z.number().min(0).describe('Std of log per-channel gain per site (exposure/focus variation between fields)'),
  offsetMax: z.number().min(0).max(0.5).describe('Max per-channel offset (fraction of range), per plate'),
  gammaShift: z.number().min(0).describe('Std of log per-channel gamma per experiment (plate adds a third)'),
  illumination: z.number().min(0).max(0.9).describe('Max strength of the illumination fall-off/gradient per plate'),
  blurMax: z.number().min(0).describe('Max optical blur sigma (px) per plate'),
  noiseMax: z.number().min(0).describe('Max noise std (fraction of range) per plate'),
  illuminationFunctions: z
    .boolean()
    .optional()
    .describe("Also write each plate's illumination function per channel as .npy, named by FileName_Illum<Ch>/PathName_Illum<Ch> columns (loaddata-csv layout)"),
  nucleiTable: z
    .boolean()
    .optional()
    .describe('Also write nuclei.csv: the centre of every nucleus drawn inside a field, CellProfiler-style (Metadata_Plate/Well/Site, Nuclei_Location_Center_X/Y)'),
});

/** Parameters of the synthetic generator (see {@link synthConfigSchema} for each field). */
export type SynthConfig = z.infer<typeof synthConfigSchema>;

/** Morphological features the biology acts on (log-scale multipliers, 0 = baseline). */
export const FEATURES = [
  'cellSize', // cell radius
  'nucleusRatio', // nucleus radius / cell radius
  'elongation', // cell aspect ratio
  'density', // cells per image
  'spotRate', // spots per cell (texture channel)
  'spotIntensity', // spot brightness
  'nucleusIntensity', // nuclear stain brightness relative to cytoplasm
  'textureScale', // correlation length of cytoplasm texture
  'textureContrast', // amplitude of cytoplasm texture
] as const;

const base: SynthConfig = {
  seed: 0,
  layout: 'rxrx1-wilds',
  bitDepth: 8,
  height: 64,
  width: 64,
  cellTypes: 2,
  trainExperimentsPerCellType: 3,
  valExperimentsPerCellType: 0,
  testExperimentsPerCellType: 1,
  platesPerExperiment: 3,
  treatments: 6,
  wellsPerTreatment: 3,
  negativeControlWells: 4,
  positiveControls: 1,
  positiveControlWells: 2,
  sitesPerWell: 2,
  cellsPerImage: 8,
  cellRadius: 7,
  // Effects a little larger than the biological batch shifts: with matched intensity statistics
  // the treatment shows only in spatial structure (0.3 and 0.5 before intensityMatch).
  treatmentEffect: 0.45,
  coverageEffectWeight: 1,
  intensityMatch: 1,
  positiveControlEffect: 0.6,
  cellTypeShift: 0.35,
  experimentShift: 0.3,
  plateShift: 0.1,
  wellShift: 0.04,
  cellNoise: 0.12,
  gainShift: 0.5,
  plateGainShift: 0.3,
  siteGainJitter: 0.15,
  offsetMax: 0.12,
  gammaShift: 0.25,
  illumination: 0.5,
  blurMax: 1.4,
  noiseMax: 0.06,
};

/**
 * Size presets (generation time on the shared 2-core machine under load, one thread; the
 * untreated twin of every treated site that intensityMatch renders costs about 1.6x):
 * `tiny`: tests, 144 images of 32x32, 8 plates, 5 labels (~0.4 s). `small`: quickstart, 1,152
 * images of 64x64, 24 plates (8 experiments x 3), 8 labels (~4.5 s). `bench`: 19,840 images of
 * 64x64, 80 plates (20 experiments x 4: 12 train, 4 val, 4 test), 13 labels (~65 s).
 */
export const SYNTH_PRESETS: Record<'tiny' | 'small' | 'bench', SynthConfig> = {
  tiny: {
    ...base,
    height: 32,
    width: 32,
    cellTypes: 2,
    trainExperimentsPerCellType: 1,
    testExperimentsPerCellType: 1,
    platesPerExperiment: 2,
    treatments: 3,
    wellsPerTreatment: 2,
    negativeControlWells: 2,
    positiveControls: 1,
    positiveControlWells: 1,
    cellsPerImage: 5,
    cellRadius: 4,
  },
  small: { ...base },
  bench: {
    ...base,
    cellTypes: 4,
    trainExperimentsPerCellType: 3,
    valExperimentsPerCellType: 1,
    testExperimentsPerCellType: 1,
    platesPerExperiment: 4,
    treatments: 10,
    wellsPerTreatment: 10,
    negativeControlWells: 16,
    positiveControls: 2,
    positiveControlWells: 4,
  },
};

/** Preset names. */
export type SynthPreset = keyof typeof SYNTH_PRESETS;

/** The preset with `overrides` applied, validated (a bad value is a UserError naming the field). */
export function resolveSynthConfig(preset: string, overrides: Partial<Record<keyof SynthConfig, unknown>> = {}): SynthConfig {
  const p = SYNTH_PRESETS[preset as SynthPreset];
  if (!p) throw new UserError(`Unknown synthetic preset "${preset}". Choose one of: ${Object.keys(SYNTH_PRESETS).join(', ')}.`);
  const merged = { ...p, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  const r = synthConfigSchema.strict().safeParse(merged);
  if (!r.success) {
    const msgs = r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new UserError(`Invalid synthetic data parameters: ${msgs.join('; ')}.`);
  }
  const c = r.data;
  // 3 is the default: left out of the config so the default output (synth.json) stays the same.
  if (c.channels === 3) delete c.channels;
  if (c.illuminationFunctions === false) delete c.illuminationFunctions;
  if (c.nucleiTable === false) delete c.nucleiTable;
  if (c.illuminationFunctions && c.layout !== 'loaddata-csv') throw new UserError('illuminationFunctions are named by the LoadData CSV (FileName_Illum<Ch>); use --layout loaddata-csv.');
  const wells = c.treatments * c.wellsPerTreatment + c.negativeControlWells + c.positiveControls * c.positiveControlWells;
  if (wells > 384) throw new UserError(`A plate holds at most 384 wells but the parameters need ${wells}; lower treatments or wells per treatment.`);
  if (c.channels === 5 && c.layout === 'rxrx1-wilds') throw new UserError('channels 5: the rxrx1-wilds layout stores RGB PNGs (3 channels); use --layout loaddata-csv (or rxrx1) with --channels 5.');
  if (c.bitDepth === 16 && c.layout !== 'loaddata-csv') throw new UserError('bitDepth 16 is only written by the loaddata-csv layout (TIFF); use --layout loaddata-csv or --bit-depth 8.');
  return c;
}

/** Images the configuration produces. */
export function synthImageCount(c: SynthConfig): number {
  const exps = c.cellTypes * (c.trainExperimentsPerCellType + c.valExperimentsPerCellType + c.testExperimentsPerCellType);
  const wells = c.treatments * c.wellsPerTreatment + c.negativeControlWells + c.positiveControls * c.positiveControlWells;
  return exps * c.platesPerExperiment * wells * c.sitesPerWell;
}
