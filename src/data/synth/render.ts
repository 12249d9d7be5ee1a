import { Rng } from '../../util/rng.ts';
import { FEATURES, type SynthConfig } from './config.ts';
export { hashSeed } from '../seed.ts';

/** Index of each morphological feature in a feature vector. */
const F = Object.fromEntries(FEATURES.map((f, i) => [f, i])) as Record<(typeof FEATURES)[number], number>;

/** Technical (imaging) parameters of one plate: what the microscope does to the true signal. */
export interface PlateTechnical {
  /** Per-channel multiplicative gain. */
  gain: number[];
  /** Per-channel additive offset (fraction of full range). */
  offset: number[];
  /** Per-channel gamma (signal^gamma). */
  gamma: number[];
  /** Illumination field: radial fall-off strength, its centre (fractions of W/H), linear gradient and its angle. */
  illum: { falloff: number; cx: number; cy: number; gradient: number; angle: number };
  /** Gaussian blur sigma (px). */
  blur: number;
  /** Noise std (fraction of full range). */
  noise: number;
}

/** Channels the generator draws: nucleus stain, cytoplasm stain, spotty/textured organelle stain. */
export const SYNTH_CHANNELS = ['nucleus', 'cytoplasm', 'texture'];

/**
 * The five Cell Painting channels (Bray et al., Nat Protoc 2016), in the order JUMP recipes list
 * them: DNA (Hoechst: nuclei), ER (concanavalin A: perinuclear reticulum), RNA (SYTO 14: nucleoli
 * and cytoplasmic RNA), AGP (phalloidin + WGA: actin cortex and plasma membrane), Mito
 * (MitoTracker: punctate organelles).
 */
export const CELL_PAINTING_CHANNELS = ['DNA', 'ER', 'RNA', 'AGP', 'Mito'];

/** Channel names of a configuration: {@link SYNTH_CHANNELS}, or {@link CELL_PAINTING_CHANNELS} with `channels: 5`. */
export function synthChannels(cfg: Pick<SynthConfig, 'channels'>): string[] {
  return cfg.channels === 5 ? CELL_PAINTING_CHANNELS : SYNTH_CHANNELS;
}

function poisson(rng: Rng, mean: number): number {
  // Knuth for small means, normal approximation above (counts here are < 100).
  if (mean > 30) return Math.max(0, Math.round(rng.normal(mean, Math.sqrt(mean))));
  const L = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng.next();
  } while (p > L);
  return k - 1;
}

const clamp = (x: number, lo: number, hi: number) => (x < lo ? lo : x > hi ? hi : x);

/** Smooth value noise in [-1.7, 1.7] approx. (bilinear-interpolated Gaussian lattice at `scale` px). */
function valueNoise(rng: Rng, H: number, W: number, scale: number): Float32Array {
  const gh = Math.ceil(H / scale) + 2;
  const gw = Math.ceil(W / scale) + 2;
  const g = new Float32Array(gh * gw);
  for (let i = 0; i < g.length; i++) g[i] = rng.normal();
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const fy = y / scale;
    const y0 = Math.floor(fy);
    let ty = fy - y0;
    ty = ty * ty * (3 - 2 * ty);
    for (let x = 0; x < W; x++) {
      const fx = x / scale;
      const x0 = Math.floor(fx);
      let tx = fx - x0;
      tx = tx * tx * (3 - 2 * tx);
      const a = g[y0 * gw + x0];
      const b = g[y0 * gw + x0 + 1];
      const c = g[(y0 + 1) * gw + x0];
      const d = g[(y0 + 1) * gw + x0 + 1];
      out[y * W + x] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
    }
  }
  return out;
}

/**
 * Draws the true (pre-microscope) signal of one site: cells with a nucleus, a textured cytoplasm
 * and cytoplasmic spots, whose morphology follows the feature vector `feat` (log multipliers, see
 * FEATURES). Returns three planes [3][H*W] of non-negative floats (about 0..1.5); with
 * `cfg.channels` 5, the five Cell Painting planes ({@link CELL_PAINTING_CHANNELS}): the same
 * nuclei (DNA) and spots (Mito), the cytoplasm split into a perinuclear ER, a membrane/cortex AGP
 * ring and a faint RNA stain with nucleoli. `nuclei`, when given, receives each cell's nucleus
 * centre (pixel coordinates, x the column; cells drawn partly outside the field included).
 */
export function renderCells(feat: ArrayLike<number>, cfg: SynthConfig, rng: Rng, nuclei?: { x: number; y: number }[]): Float32Array[] {
  const H = cfg.height;
  const W = cfg.width;
  const nuc = new Float32Array(H * W);
  const cyto = new Float32Array(H * W);
  const spots = new Float32Array(H * W);
  // Cell Painting planes, drawn only with 5 channels (the 3-channel stream of draws is unchanged).
  const five = cfg.channels === 5;
  const er = five ? new Float32Array(H * W) : spots;
  const agp = five ? new Float32Array(H * W) : spots;
  const rna = five ? new Float32Array(H * W) : spots;
  const R0 = cfg.cellRadius * Math.exp(feat[F.cellSize]);
  const nucRatio = clamp(0.5 * Math.exp(feat[F.nucleusRatio]), 0.2, 0.85);
  const aspect = clamp(1.3 * Math.exp(feat[F.elongation]), 1, 3.5);
  const nCells = clamp(poisson(rng, cfg.cellsPerImage * Math.exp(feat[F.density])), 1, 120);
  const spotMean = 5 * Math.exp(feat[F.spotRate]);
  const spotI = 0.7 * Math.exp(feat[F.spotIntensity]);
  const nucI = 0.8 * Math.exp(feat[F.nucleusIntensity]);
  const texScale = Math.max(1, 3 * (cfg.cellRadius / 7) * Math.exp(feat[F.textureScale]));
  const texC = clamp(0.35 * Math.exp(feat[F.textureContrast]), 0, 0.95);
  const spotSigma = 0.7 * Math.sqrt(cfg.cellRadius / 7);
  const sa = Math.sqrt(aspect);
  const na = Math.pow(aspect, 0.25);
  for (let k = 0; k < nCells; k++) {
    const cx = rng.uniform(-0.1 * W, 1.1 * W);
    const cy = rng.uniform(-0.1 * H, 1.1 * H);
    const r = R0 * Math.exp(rng.normal(0, cfg.cellNoise));
    const ci = Math.exp(rng.normal(0, cfg.cellNoise));
    const a = r * sa;
    const b = r / sa;
    const th = rng.uniform(0, Math.PI);
    const co = Math.cos(th);
    const si = Math.sin(th);
    const an = r * nucRatio * na;
    const bn = (r * nucRatio) / na;
    const ox = rng.normal(0, 0.15 * r * (1 - nucRatio));
    const oy = rng.normal(0, 0.15 * r * (1 - nucRatio));
    nuclei?.push({ x: cx + ox, y: cy + oy });
    const ext = Math.ceil(a + 2);
    const x0 = Math.max(0, Math.floor(cx - ext));
    const x1 = Math.min(W - 1, Math.ceil(cx + ext));
    const y0 = Math.max(0, Math.floor(cy - ext));
    const y1 = Math.min(H - 1, Math.ceil(cy + ext));
    const edge = 1.2 / Math.max(b, 1); // soft edge about 1 px wide
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = x - cx;
        const dy = y - cy;
        const u = (dx * co + dy * si) / a;
        const v = (-dx * si + dy * co) / b;
        const d = Math.sqrt(u * u + v * v);
        if (d >= 1 + edge) continue;
        const m = clamp((1 + edge - d) / (2 * edge), 0, 1);
        const p = y * W + x;
        const cv = 0.55 * ci * m;
        if (cv > cyto[p]) cyto[p] = cv;
        const sv = 0.08 * m;
        if (sv > spots[p]) spots[p] = sv;
        if (five) {
          const ev = 0.6 * ci * m * (1 - 0.65 * Math.min(d, 1));
          if (ev > er[p]) er[p] = ev;
          const ring = (d - 1) / 0.18;
          const av = ci * (0.12 * m + 0.7 * m * Math.exp(-ring * ring));
          if (av > agp[p]) agp[p] = av;
          const rv = 0.18 * ci * m;
          if (rv > rna[p]) rna[p] = rv;
        }
        const nx = dx - ox;
        const ny = dy - oy;
        const un = (nx * co + ny * si) / an;
        const vn = (-nx * si + ny * co) / bn;
        const dn = Math.sqrt(un * un + vn * vn);
        if (dn < 1 + edge) {
          const mn = clamp((1 + edge - dn) / (2 * edge), 0, 1);
          const nv = nucI * ci * mn;
          if (nv > nuc[p]) nuc[p] = nv;
          if (five && 0.1 * ci * mn > rna[p]) rna[p] = 0.1 * ci * mn;
        }
      }
    }
    if (five) {
      // Nucleoli: 1-3 bright RNA spots inside the nucleus.
      const nn = 1 + Math.floor(rng.next() * 3);
      const ns2 = Math.max(0.6, 0.18 * r * nucRatio);
      const inv2 = 1 / (2 * ns2 * ns2);
      const rr2 = Math.ceil(2.5 * ns2);
      for (let q = 0; q < nn; q++) {
        const t = Math.sqrt(rng.next()) * 0.6;
        const ph = rng.uniform(0, 2 * Math.PI);
        const u = t * Math.cos(ph) * an;
        const v = t * Math.sin(ph) * bn;
        const qx = cx + ox + u * co - v * si;
        const qy = cy + oy + u * si + v * co;
        const amp = 0.9 * ci * rng.uniform(0.6, 1.2);
        for (let y = Math.max(0, Math.floor(qy - rr2)); y <= Math.min(H - 1, Math.ceil(qy + rr2)); y++) {
          for (let x = Math.max(0, Math.floor(qx - rr2)); x <= Math.min(W - 1, Math.ceil(qx + rr2)); x++) {
            rna[y * W + x] += amp * Math.exp(-((x - qx) ** 2 + (y - qy) ** 2) * inv2);
          }
        }
      }
    }
    // Spots (e.g. mitochondria / vesicles) scattered in the cytoplasm.
    const ns = poisson(rng, spotMean);
    const rad = Math.ceil(2.5 * spotSigma);
    const inv = 1 / (2 * spotSigma * spotSigma);
    for (let s = 0; s < ns; s++) {
      const rr = Math.sqrt(rng.next()) * 0.9;
      const ph = rng.uniform(0, 2 * Math.PI);
      const u = rr * Math.cos(ph) * a;
      const v = rr * Math.sin(ph) * b;
      const sx = cx + u * co - v * si;
      const sy = cy + u * si + v * co;
      const amp = spotI * rng.uniform(0.5, 1.5);
      const px0 = Math.max(0, Math.floor(sx - rad));
      const px1 = Math.min(W - 1, Math.ceil(sx + rad));
      const py0 = Math.max(0, Math.floor(sy - rad));
      const py1 = Math.min(H - 1, Math.ceil(sy + rad));
      for (let y = py0; y <= py1; y++) {
        for (let x = px0; x <= px1; x++) {
          const ddx = x - sx;
          const ddy = y - sy;
          spots[y * W + x] += amp * Math.exp(-(ddx * ddx + ddy * ddy) * inv);
        }
      }
    }
  }
  // Texture: the cytoplasm (and weakly the nucleus) are modulated by smooth noise.
  const tex = valueNoise(rng, H, W, texScale);
  for (let p = 0; p < H * W; p++) {
    cyto[p] *= Math.max(0, 1 + texC * tex[p]);
    nuc[p] *= Math.max(0, 1 + 0.15 * tex[p]);
  }
  if (five) {
    for (let p = 0; p < H * W; p++) {
      er[p] *= Math.max(0, 1 + texC * tex[p]);
      agp[p] *= Math.max(0, 1 - 0.5 * texC * tex[p]);
    }
    return [nuc, er, rna, agp, spots];
  }
  return [nuc, cyto, spots];
}

function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(2.5 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Separable Gaussian blur of one plane with edge clamping, in place. */
export function blurPlane(plane: Float32Array, H: number, W: number, sigma: number): void {
  if (sigma < 0.3) return;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += k[i + r] * plane[row + clamp(x + i, 0, W - 1)];
      tmp[row + x] = acc;
    }
  }
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += k[i + r] * tmp[clamp(y + i, 0, H - 1) * W + x];
      plane[y * W + x] = acc;
    }
  }
}

/** The plate's illumination field [H * W]: a radial fall-off and a linear gradient (at least 0.1). */
export function illuminationField(tech: PlateTechnical, H: number, W: number): Float32Array {
  const { falloff, cx, cy, gradient, angle } = tech.illum;
  const ga = Math.cos(angle);
  const gb = Math.sin(angle);
  const illum = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const dx = x / W - cx;
      const dy = y / H - cy;
      illum[y * W + x] = Math.max(0.1, 1 - falloff * 2 * (dx * dx + dy * dy) + gradient * ((x / W - 0.5) * ga + (y / H - 0.5) * gb));
    }
  }
  return illum;
}

/**
 * The plate's illumination function of channel `c` as CellProfiler would save it: the field it
 * multiplies the signal by after the detector's gamma (`field^gamma_c`), divided by its robust
 * minimum (the 2nd percentile) so it is >= 1. The camera's offset is added after the field, so
 * dividing by this leaves the offset slightly shaded, as with a real microscope.
 */
export function illuminationFunctionOf(tech: PlateTechnical, c: number, H: number, W: number): Float32Array {
  const field = illuminationField(tech, H, W);
  const g = tech.gamma[c];
  const f = Float32Array.from(field, (v) => Math.pow(v, g));
  const sorted = Float32Array.from(f).sort();
  const m = sorted[Math.floor(0.02 * f.length)];
  return f.map((v) => Math.max(v, m) / m);
}

/**
 * The optics of the plate's microscope, in place on true signal planes [C][H*W]: illumination
 * field, optical blur and the detector's per-channel gamma (returns new float64 planes). What is left is the signal the camera
 * records before gain, offset, noise and quantisation ({@link recordSignal}).
 */
export function opticalSignal(planes: Float32Array[], tech: PlateTechnical, cfg: SynthConfig): Float64Array[] {
  const H = cfg.height;
  const W = cfg.width;
  const illum = illuminationField(tech, H, W);
  return planes.map((p, c) => {
    for (let i = 0; i < H * W; i++) p[i] *= illum[i];
    blurPlane(p, H, W, tech.blur);
    const g = tech.gamma[c];
    const out = new Float64Array(H * W); // float64 from here on, as the camera's arithmetic
    for (let i = 0; i < H * W; i++) out[i] = p[i] > 0 ? Math.pow(p[i], g) : 0; // pow(0, g > 0) = 0
    return out;
  });
}

/**
 * The camera: per-channel gain and offset, signal-dependent noise, quantisation, on the output of
 * {@link opticalSignal}. Returns HWC samples (uint8 or uint16).
 */
export function recordSignal(planes: Float64Array[], tech: PlateTechnical, cfg: SynthConfig, rng: Rng): Uint8Array | Uint16Array {
  const H = cfg.height;
  const W = cfg.width;
  const C = planes.length;
  const maxv = cfg.bitDepth === 16 ? 65535 : 255;
  const out = cfg.bitDepth === 16 ? new Uint16Array(H * W * C) : new Uint8Array(H * W * C);
  let spare = NaN;
  const normal = () => {
    if (!Number.isNaN(spare)) {
      const s = spare;
      spare = NaN;
      return s;
    }
    let u = 0;
    while (u === 0) u = rng.next();
    const v = rng.next();
    const m = Math.sqrt(-2 * Math.log(u));
    spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  };
  for (let c = 0; c < C; c++) {
    const p = planes[c];
    const gain = tech.gain[c];
    const off = tech.offset[c];
    for (let i = 0; i < H * W; i++) {
      let v = gain * p[i] + off;
      v += tech.noise * (0.5 + 0.5 * Math.sqrt(Math.max(v, 0))) * normal();
      out[i * C + c] = clamp(Math.round(v * maxv), 0, maxv);
    }
  }
  return out;
}

/**
 * Passes true signal planes through the plate's microscope ({@link opticalSignal} then
 * {@link recordSignal}): illumination field, blur, gamma, gain and offset, signal-dependent noise,
 * quantisation. Returns HWC samples (uint8 or uint16).
 */
export function applyMicroscope(planes: Float32Array[], tech: PlateTechnical, cfg: SynthConfig, rng: Rng): Uint8Array | Uint16Array {
  return recordSignal(opticalSignal(planes, tech, cfg), tech, cfg, rng);
}
