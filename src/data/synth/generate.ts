import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../../util/rng.ts';
import { markerFile, withAtomicOutput } from '../../util/atomic.ts';
import { toCsv } from '../csv.ts';
import { encodePng, encodeTiff } from '../decode.ts';
import type { WellType } from '../types.ts';
import { FEATURES, synthImageCount, type SynthConfig } from './config.ts';
import { illuminationFunctionOf, opticalSignal, synthChannels, recordSignal, renderCells, type PlateTechnical } from './render.ts';
import { encodeNpy } from '../npy.ts';
import { matchRecordedMoments, recordedMoments } from './match.ts';
import { hashSeed } from '../seed.ts';
import { wildsSplit } from '../readers/rxrx1-wilds.ts';

/** RxRx1 cell line names, reused for the synthetic cell types (then CT5...). */
const CELL_TYPE_NAMES = ['HEPG2', 'HUVEC', 'RPE', 'U2OS'];

/** One synthetic plate: its place, technical parameters and biological shift. */
export interface SynthPlate {
  experiment: string;
  /** 1-based plate number inside the experiment. */
  plate: number;
  cellType: string;
  /** WILDS `dataset` value: train | val | test. */
  dataset: 'train' | 'val' | 'test';
  /** Biological baseline of the plate (cell type + experiment + plate shift), per feature. */
  baseline: number[];
  technical: PlateTechnical;
  /** Well name -> index into {@link SynthWorld.labels}. */
  wells: { well: string; label: number }[];
}

/** The drawn ground truth of a synthetic data set (also written to synth.json). */
export interface SynthWorld {
  features: readonly string[];
  /** Label names: treatments, positive controls, then the negative control `EMPTY`. */
  labels: { name: string; wellType: WellType; effect: number[] }[];
  plates: SynthPlate[];
}

/** The 308 wells RxRx1 images on a 384-well plate (rows B-O, columns 2-23). */
function plateWells(): string[] {
  const out: string[] = [];
  for (const r of 'BCDEFGHIJKLMNO') for (let c = 2; c <= 23; c++) out.push(`${r}${String(c).padStart(2, '0')}`);
  // Then the edge wells, if a configuration needs more than 308.
  for (const r of 'ABCDEFGHIJKLMNOP') for (const c of [1, 24]) out.push(`${r}${String(c).padStart(2, '0')}`);
  for (const r of 'AP') for (let c = 2; c <= 23; c++) out.push(`${r}${String(c).padStart(2, '0')}`);
  return out;
}

const normals = (rng: Rng, n: number, std: number) => Array.from({ length: n }, () => rng.normal(0, std));
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Draws the world: label effects, cell-type baselines, experiment and plate shifts, technical
 * parameters and plate maps. Pure function of the config (each part from its own seeded stream,
 * so e.g. adding plates does not change the treatment effects).
 */
export function drawWorld(cfg: SynthConfig): SynthWorld {
  const D = FEATURES.length;
  const effRng = new Rng(hashSeed(cfg.seed, 1));
  const labels: SynthWorld['labels'] = [];
  const pad = String(cfg.treatments).length < 2 ? 2 : String(cfg.treatments).length;
  // The treatment's effect on coverage (size, density) is scaled by coverageEffectWeight (coverage
  // moves whole-image intensity statistics unless intensityMatch removes that).
  const w = FEATURES.map((f) => (f === 'cellSize' || f === 'density' ? cfg.coverageEffectWeight : 1));
  const effect = (std: number) => normals(effRng, D, std).map((v, i) => round4(v * w[i]));
  for (let t = 0; t < cfg.treatments; t++) labels.push({ name: `siRNA-${String(t + 1).padStart(pad, '0')}`, wellType: 'treatment', effect: effect(cfg.treatmentEffect) });
  for (let t = 0; t < cfg.positiveControls; t++) labels.push({ name: `POS-${t + 1}`, wellType: 'positive_control', effect: effect(cfg.positiveControlEffect) });
  labels.push({ name: 'EMPTY', wellType: 'negative_control', effect: new Array(D).fill(0) });
  const layout: number[] = [];
  for (let t = 0; t < cfg.treatments; t++) for (let w = 0; w < cfg.wellsPerTreatment; w++) layout.push(t);
  for (let t = 0; t < cfg.positiveControls; t++) for (let w = 0; w < cfg.positiveControlWells; w++) layout.push(cfg.treatments + t);
  for (let w = 0; w < cfg.negativeControlWells; w++) layout.push(labels.length - 1);
  const allWells = plateWells();
  const plates: SynthPlate[] = [];
  const perCt = cfg.trainExperimentsPerCellType + cfg.valExperimentsPerCellType + cfg.testExperimentsPerCellType;
  for (let ct = 0; ct < cfg.cellTypes; ct++) {
    const ctName = CELL_TYPE_NAMES[ct] ?? `CT${ct + 1}`;
    const ctBase = normals(new Rng(hashSeed(cfg.seed, 2, ct)), D, cfg.cellTypeShift);
    for (let e = 0; e < perCt; e++) {
      const experiment = `${ctName}-${String(e + 1).padStart(2, '0')}`;
      const dataset = e < cfg.trainExperimentsPerCellType ? 'train' : e < cfg.trainExperimentsPerCellType + cfg.valExperimentsPerCellType ? 'val' : 'test';
      const er = new Rng(hashSeed(cfg.seed, 3, ct, e));
      const expShift = normals(er, D, cfg.experimentShift);
      const nC = synthChannels(cfg).length;
      const expGain = normals(er, nC, cfg.gainShift);
      const expGamma = normals(er, nC, cfg.gammaShift);
      for (let p = 0; p < cfg.platesPerExperiment; p++) {
        const pr = new Rng(hashSeed(cfg.seed, 4, ct, e, p));
        const plateShift = normals(pr, D, cfg.plateShift);
        const technical: PlateTechnical = {
          gain: expGain.map((g) => round4(0.55 * Math.exp(g + pr.normal(0, cfg.plateGainShift)))),
          offset: expGain.map(() => round4(pr.uniform(0, cfg.offsetMax))),
          gamma: expGamma.map((g) => round4(Math.exp(g + pr.normal(0, cfg.gammaShift / 3)))),
          illum: {
            falloff: round4(cfg.illumination * pr.uniform(0.2, 1)),
            cx: round4(pr.uniform(0.2, 0.8)),
            cy: round4(pr.uniform(0.2, 0.8)),
            gradient: round4(cfg.illumination * pr.uniform(-0.6, 0.6)),
            angle: round4(pr.uniform(0, 2 * Math.PI)),
          },
          blur: round4(cfg.blurMax * pr.uniform(0.15, 1)),
          noise: round4(cfg.noiseMax * pr.uniform(0.2, 1)),
        };
        const order = pr.shuffle(layout.map((_, i) => i)) as number[];
        const wells = order.map((li, j) => ({ well: allWells[j], label: layout[li] })).sort((a, b) => (a.well < b.well ? -1 : 1));
        plates.push({
          experiment,
          plate: p + 1,
          cellType: ctName,
          dataset,
          baseline: ctBase.map((b, i) => round4(b + expShift[i] + plateShift[i])),
          technical,
          wells,
        });
      }
    }
  }
  return { features: FEATURES, labels, plates };
}

/** One site to render: where it is and its feature vector. */
export interface SynthSite {
  plateIndex: number;
  wellIndex: number;
  site: number;
}

/**
 * Pixels (HWC, uint8/uint16) of one site. Deterministic in (config, site); `nuclei` receives the
 * centre of every nucleus drawn (some outside the field). A treated site's
 * optical signal gets, per channel, the mean and std of an untreated field of the same plate and
 * well (its "twin", `cfg.intensityMatch` of the way): the treatment then changes where the signal
 * is, not the image-level intensity statistics, which only the plate's shifts move.
 */
export function renderSite(cfg: SynthConfig, world: SynthWorld, s: SynthSite, nuclei?: { x: number; y: number }[]): Uint8Array | Uint16Array {
  const plate = world.plates[s.plateIndex];
  const well = plate.wells[s.wellIndex];
  const wr = new Rng(hashSeed(cfg.seed, 5, s.plateIndex, s.wellIndex));
  const eff = world.labels[well.label].effect;
  const wellNoise = plate.baseline.map(() => wr.normal(0, cfg.wellShift));
  const feat = plate.baseline.map((b, i) => b + eff[i] + wellNoise[i]);
  const wellFeat = plate.baseline.map((b, i) => b + wellNoise[i]);
  const rng = new Rng(hashSeed(cfg.seed, 6, s.plateIndex, s.wellIndex, s.site));
  const planes = opticalSignal(renderCells(feat, cfg, rng, nuclei), plate.technical, cfg);
  const tech = { ...plate.technical, gain: plate.technical.gain.map((g) => g * Math.exp(rng.normal(0, cfg.siteGainJitter))) };
  if (cfg.intensityMatch > 0 && eff.some((v) => v !== 0)) {
    // The untreated twin: another field of the same well without the treatment, same microscope.
    const twin = opticalSignal(renderCells(wellFeat, cfg, new Rng(hashSeed(cfg.seed, 7, s.plateIndex, s.wellIndex, s.site))), plate.technical, cfg);
    const rec = tech.gain.map((gain, c) => ({ gain, offset: tech.offset[c] }));
    matchRecordedMoments(planes, twin.map((p, c) => recordedMoments(p, rec[c])), rec, cfg.intensityMatch);
  }
  return recordSignal(planes, tech, cfg, rng);
}

/** Summary returned by {@link generateSynthetic}. */
export interface SynthResult {
  out: string;
  images: number;
  plates: number;
  seconds: number;
}

/**
 * Writes a synthetic data set to `out` (atomically: a temp folder renamed at the end) in
 * `cfg.layout`, with `synth.json` recording every parameter and the drawn world.
 * Layouts: rxrx1-wilds (metadata.csv + RGB PNGs), rxrx1 (metadata.csv + one grey PNG per channel
 * under images/<dataset>/), loaddata-csv (load_data.csv + grey PNG or 16-bit TIFF per channel).
 * With `illuminationFunctions` (loaddata-csv) each plate's function per channel is written to
 * `illum/<plate>/<plate>_Illum<Ch>.npy` and named by `FileName_Illum<Ch>` / `PathName_Illum<Ch>`;
 * with `nucleiTable`, `nuclei.csv` lists the centre of every nucleus drawn inside a field
 * (`Metadata_Experiment`, `Metadata_Plate`, `Metadata_Well`, `Metadata_Site`, `ObjectNumber`,
 * `Nuclei_Location_Center_X/Y`), as CellProfiler's nuclei table would.
 */
export async function generateSynthetic(
  cfg: SynthConfig,
  out: string,
  opts: { preset?: string; onProgress?: (n: number) => void } = {},
): Promise<SynthResult> {
  const t0 = performance.now();
  const world = drawWorld(cfg);
  const sites: SynthSite[] = [];
  world.plates.forEach((p, pi) => p.wells.forEach((_, wi) => {
    for (let s = 1; s <= cfg.sitesPerWell; s++) sites.push({ plateIndex: pi, wellIndex: wi, site: s });
  }));
  if (sites.length !== synthImageCount(cfg)) throw new Error('site count mismatch');
  await withAtomicOutput(out, async (tmp) => {
    const H = cfg.height;
    const W = cfg.width;
    const CHANNELS = synthChannels(cfg);
    const C = CHANNELS.length;
    const madeDirs = new Set<string>();
    const ensureDir = async (d: string) => {
      if (!madeDirs.has(d)) {
        await mkdir(d, { recursive: true });
        madeDirs.add(d);
      }
    };
    const split = (pl: SynthPlate, site: number) => wildsSplit(pl.dataset, site);
    const metaRows: (string | number)[][] = [];
    const nucleiOf = new Map<SynthSite, { x: number; y: number }[]>();
    const plateIdOf = (pl: SynthPlate) => (cfg.layout === 'loaddata-csv' ? `${pl.experiment}_P${pl.plate}` : String(pl.plate));
    const illumDir = (pl: SynthPlate) => `illum/${plateIdOf(pl)}`;
    const writeSite = async (s: SynthSite) => {
      const pl = world.plates[s.plateIndex];
      const { well } = pl.wells[s.wellIndex];
      const drawn: { x: number; y: number }[] | undefined = cfg.nucleiTable ? [] : undefined;
      const px = renderSite(cfg, world, s, drawn);
      if (drawn) nucleiOf.set(s, drawn.filter((n) => n.x >= 0 && n.x <= W - 1 && n.y >= 0 && n.y <= H - 1));
      if (cfg.layout === 'rxrx1-wilds') {
        const dir = join(tmp, 'images', pl.experiment, `Plate${pl.plate}`);
        await ensureDir(dir);
        await writeFile(join(dir, `${well}_s${s.site}.png`), await encodePng(px as Uint8Array, W, H, 3));
        return;
      }
      const planes = Array.from({ length: C }, (_, c) => {
        const a = px instanceof Uint16Array ? new Uint16Array(H * W) : new Uint8Array(H * W);
        for (let i = 0; i < H * W; i++) a[i] = px[i * C + c];
        return a;
      });
      if (cfg.layout === 'rxrx1') {
        const dir = join(tmp, 'images', pl.dataset, pl.experiment, `Plate${pl.plate}`);
        await ensureDir(dir);
        await Promise.all(planes.map(async (a, c) => writeFile(join(dir, `${well}_s${s.site}_w${c + 1}.png`), await encodePng(a as Uint8Array, W, H, 1))));
        return;
      }
      const plateId = `${pl.experiment}_P${pl.plate}`;
      const dir = join(tmp, 'images', plateId);
      await ensureDir(dir);
      const ext = cfg.bitDepth === 16 ? 'tif' : 'png';
      await Promise.all(planes.map(async (a, c) => {
        const bytes = cfg.bitDepth === 16 ? await encodeTiff(a, W, H) : await encodePng(a as Uint8Array, W, H, 1);
        await writeFile(join(dir, `${well}_s${s.site}_${CHANNELS[c]}.${ext}`), bytes);
      }));
    };
    for (const s of sites) {
      const pl = world.plates[s.plateIndex];
      const { well, label } = pl.wells[s.wellIndex];
      const lab = world.labels[label];
      if (cfg.layout === 'loaddata-csv') {
        const plateId = `${pl.experiment}_P${pl.plate}`;
        const ext = cfg.bitDepth === 16 ? 'tif' : 'png';
        metaRows.push([plateId, pl.experiment, well, s.site, pl.cellType, lab.name, lab.wellType, split(pl, s.site), pl.dataset,
          ...CHANNELS.flatMap((ch) => [`${well}_s${s.site}_${ch}.${ext}`, `images/${plateId}`]),
          ...(cfg.illuminationFunctions ? CHANNELS.flatMap((ch) => [`${plateId}_Illum${ch}.npy`, illumDir(pl)]) : [])]);
      } else {
        metaRows.push([`${pl.experiment}_${pl.plate}_${well}_${s.site}`, `${pl.experiment}_${pl.plate}_${well}`, pl.cellType, pl.dataset,
          pl.experiment, pl.plate, well, s.site, lab.wellType, lab.name, label]);
      }
    }
    // Rendering is synchronous JS; PNG encoding and file writes run on libuv's pool meanwhile.
    const inflight = new Set<Promise<void>>();
    for (const s of sites) {
      const p: Promise<void> = writeSite(s).then(() => {
        inflight.delete(p);
        opts.onProgress?.(1);
      });
      inflight.add(p);
      if (inflight.size >= 16) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (cfg.layout === 'loaddata-csv') {
      const cols = ['Metadata_Plate', 'Metadata_Experiment', 'Metadata_Well', 'Metadata_Site', 'Metadata_CellType', 'Metadata_Treatment', 'Metadata_WellType', 'Metadata_Split', 'Metadata_Dataset',
        ...CHANNELS.flatMap((ch) => [`FileName_${ch}`, `PathName_${ch}`]),
        ...(cfg.illuminationFunctions ? CHANNELS.flatMap((ch) => [`FileName_Illum${ch}`, `PathName_Illum${ch}`]) : [])];
      await writeFile(join(tmp, 'load_data.csv'), toCsv(cols, metaRows));
      if (cfg.illuminationFunctions) {
        for (const pl of world.plates) {
          await ensureDir(join(tmp, illumDir(pl)));
          for (const [c, ch] of CHANNELS.entries()) await writeFile(join(tmp, illumDir(pl), `${plateIdOf(pl)}_Illum${ch}.npy`), encodeNpy(illuminationFunctionOf(pl.technical, c, H, W), [H, W]));
        }
      }
    } else {
      await writeFile(join(tmp, 'metadata.csv'), toCsv(['site_id', 'well_id', 'cell_type', 'dataset', 'experiment', 'plate', 'well', 'site', 'well_type', 'sirna', 'sirna_id'], metaRows));
    }
    if (cfg.nucleiTable) {
      const rows: (string | number)[][] = [];
      for (const s of sites) {
        const pl = world.plates[s.plateIndex];
        (nucleiOf.get(s) ?? []).forEach((n, k) => rows.push([pl.experiment, plateIdOf(pl), pl.wells[s.wellIndex].well, s.site, k + 1, +n.x.toFixed(3), +n.y.toFixed(3)]));
      }
      await writeFile(join(tmp, 'nuclei.csv'), toCsv(['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'ObjectNumber', 'Nuclei_Location_Center_X', 'Nuclei_Location_Center_Y'], rows));
    }
    const record = {
      generator: 'ben-ssl synthetic microscopy v2',
      preset: opts.preset ?? null,
      config: cfg,
      intensityStatistics: cfg.intensityMatch > 0
        ? `treated sites get ${cfg.intensityMatch === 1 ? 'the' : `${cfg.intensityMatch} of the way to the`} recorded per-channel mean/std of an untreated field of the same well: treatments change spatial structure, plates the means/stds`
        : 'not matched: treatments also move the per-channel means/stds',
      images: sites.length,
      channels: CHANNELS,
      world,
    };
    await writeFile(join(tmp, 'synth.json'), JSON.stringify(record, null, 1) + '\n');
  }, { marker: markerFile('synth.json'), markerName: 'synth.json', flag: '--out' });
  return { out, images: sites.length, plates: world.plates.length, seconds: (performance.now() - t0) / 1000 };
}
