import { z } from 'zod';
import { Registry } from '../../util/registry.ts';
import { UserError } from '../../util/errors.ts';
import type { Rng } from '../../util/rng.ts';
import { cropResize, flip, gaussianBlur, rot90, scaleShift, standardize, type Image32 } from './ops.ts';

/** One random image transformation; draws its randomness from `rng` only (so a seed fixes it). */
export interface Augmentation {
  readonly name: string;
  /** Transforms `img` (may modify it in place and return it, or return a new image). */
  apply(img: Image32, rng: Rng): Image32;
}

/** An augmentation named in a recipe, with its options: `{ name: 'random-resized-crop', scale: [0.5, 1] }`. */
export type AugmentationSpec = { name: string } & Record<string, unknown>;

/** Builds an augmentation from its options (validated; a bad option is a UserError naming it). */
export type AugmentationFactory = (options: Record<string, unknown>) => Augmentation;

/** Registry of augmentations by name. */
export const augmentations = new Registry<AugmentationFactory>('augmentation');

function parse<T extends z.ZodTypeAny>(name: string, schema: T, options: Record<string, unknown>): z.infer<T> {
  const r = schema.safeParse(options);
  if (!r.success) throw new UserError(`augmentation "${name}": ${r.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`);
  return r.data;
}

const prob = z.number().min(0).max(1);
const range = z.tuple([z.number(), z.number()]).refine(([a, b]) => a <= b, 'range must be [low, high] with low <= high');

/** Random rotation by a multiple of 90 degrees (uniform k in 0..3; 0 or 2 only for non-square images). */
augmentations.register('rot90', (o) => {
  parse('rot90', z.object({}).strict(), o);
  return {
    name: 'rot90',
    apply: (img, rng) => rot90(img, img.height === img.width ? rng.int(4) : 2 * rng.int(2)),
  };
});

/** Random horizontal and/or vertical flips, each with probability `p` (default 0.5). */
augmentations.register('flip', (o) => {
  const c = parse('flip', z.object({ p: prob.default(0.5), horizontal: z.boolean().default(true), vertical: z.boolean().default(true) }).strict(), o);
  return {
    name: 'flip',
    apply(img, rng) {
      // Both draws always happen so the random stream does not depend on the options' outcome.
      const h = rng.next() < c.p;
      const v = rng.next() < c.p;
      if (c.horizontal && h) img = flip(img, true);
      if (c.vertical && v) img = flip(img, false);
      return img;
    },
  };
});

/**
 * Random resized crop (Szegedy et al. 2015; torchvision's RandomResizedCrop): a box of
 * `scale` x area and aspect ratio in `ratio` (log-uniform), resized bilinearly to `size`
 * (default: the input size). Falls back to the whole image after 10 tries.
 */
augmentations.register('random-resized-crop', (o) => {
  const c = parse('random-resized-crop', z.object({ scale: range.default([0.5, 1]), ratio: range.default([3 / 4, 4 / 3]), size: z.number().int().positive().optional() }).strict(), o);
  return {
    name: 'random-resized-crop',
    apply(img, rng) {
      const { height: H, width: W } = img;
      const oh = c.size ?? H;
      const ow = c.size ?? W;
      let box: [number, number, number, number] = [0, 0, 1, 1];
      for (let t = 0; t < 10; t++) {
        const area = H * W * rng.uniform(c.scale[0], c.scale[1]);
        const ar = Math.exp(rng.uniform(Math.log(c.ratio[0]), Math.log(c.ratio[1])));
        const w = Math.round(Math.sqrt(area * ar));
        const h = Math.round(Math.sqrt(area / ar));
        if (w >= 2 && h >= 2 && w <= W && h <= H) {
          const y0 = rng.int(H - h + 1);
          const x0 = rng.int(W - w + 1);
          box = [y0 / (H - 1), x0 / (W - 1), (y0 + h - 1) / (H - 1), (x0 + w - 1) / (W - 1)];
          break;
        }
      }
      return cropResize(img, box, oh, ow);
    },
  };
});

/** Gaussian blur with sigma uniform in `sigma` (px), applied with probability `p` (default 0.5). */
augmentations.register('gaussian-blur', (o) => {
  const c = parse('gaussian-blur', z.object({ p: prob.default(0.5), sigma: range.default([0.1, 1.5]) }).strict(), o);
  return {
    name: 'gaussian-blur',
    apply(img, rng) {
      const on = rng.next() < c.p;
      const s = rng.uniform(c.sigma[0], c.sigma[1]);
      return on && s > 0.05 ? gaussianBlur(img, s) : img;
    },
  };
});

/**
 * Per-channel intensity jitter x * (1 + U(-scale, scale)) + U(-shift, shift). Place it AFTER
 * `standardize`: per-image standardisation undoes any per-channel gain/offset applied before it.
 */
augmentations.register('intensity-jitter', (o) => {
  const c = parse('intensity-jitter', z.object({ scale: z.number().min(0).max(1).default(0.2), shift: z.number().min(0).default(0.2), p: prob.default(1) }).strict(), o);
  return {
    name: 'intensity-jitter',
    apply(img, rng) {
      const on = rng.next() < c.p;
      const a = Array.from({ length: img.channels }, () => 1 + rng.uniform(-c.scale, c.scale));
      const b = Array.from({ length: img.channels }, () => rng.uniform(-c.shift, c.shift));
      return on ? scaleShift(img, a, b) : img;
    },
  };
});

/** Per-image per-channel standardisation (deterministic; see ops.standardize). */
augmentations.register('standardize', (o) => {
  parse('standardize', z.object({}).strict(), o);
  return { name: 'standardize', apply: (img) => standardize(img) };
});

/** Applies augmentations in order. */
export function compose(parts: readonly Augmentation[]): Augmentation {
  return {
    name: parts.map((p) => p.name).join('>'),
    apply(img, rng) {
      for (const p of parts) img = p.apply(img, rng);
      return img;
    },
  };
}

/** Builds the composed augmentation of a list of specs (or a preset name). */
export function buildAugmentation(specs: readonly AugmentationSpec[] | AugmentPreset): Augmentation {
  const list = typeof specs === 'string' ? AUGMENT_PRESETS[specs] : specs;
  if (!list) throw new UserError(`Unknown augmentation preset "${String(specs)}". Choose one of: ${Object.keys(AUGMENT_PRESETS).join(', ')}.`);
  return compose(list.map(({ name, ...opts }) => augmentations.get(name)(opts)));
}

/**
 * Named augmentation lists. `wilds`: rot90 + flips + standardisation (WILDS RxRx1, BEN
 * supervised). `ssl`: random resized crop, rot90, flips, blur, standardisation, intensity jitter
 * (SimCLR/BYOL-style views for microscopy). `none`: standardisation only (evaluation).
 */
export const AUGMENT_PRESETS = {
  wilds: [{ name: 'rot90' }, { name: 'flip', vertical: false }, { name: 'standardize' }],
  ssl: [
    { name: 'random-resized-crop', scale: [0.4, 1] },
    { name: 'rot90' },
    { name: 'flip' },
    { name: 'gaussian-blur', p: 0.5, sigma: [0.1, 1.5] },
    { name: 'standardize' },
    { name: 'intensity-jitter', scale: 0.2, shift: 0.2, p: 0.8 },
  ],
  none: [{ name: 'standardize' }],
} satisfies Record<string, AugmentationSpec[]>;

/** Preset names. */
export type AugmentPreset = keyof typeof AUGMENT_PRESETS;
