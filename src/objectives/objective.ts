import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { Registry } from '../util/registry.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';

import type { ObjectiveBatch } from '../data/batch.ts';

/** A training batch as the data pipeline yields it (defined with the pipeline; all views come from the same images, in order). */
export type { ObjectiveBatch };

/** Result of one loss evaluation: the scalar to minimise and named scalar metrics. */
export interface ObjectiveOutput {
  loss: tf.Scalar;
  metrics: Record<string, tf.Scalar>;
}

/** What an objective needs to build its heads. */
export interface ObjectiveContext {
  /** The backbone model (images -> embeddings). */
  backbone: tfl.LayersModel;
  /** The backbone's embedding dimension. */
  embeddingDim: number;
  /** Number of classes for supervised objectives. */
  numClasses?: number;
  /** Seed for head initialisation. */
  seed: number;
  /**
   * Builds a fresh backbone of the same architecture (same layer order and weight shapes), for
   * objectives that keep a second copy (BYOL's target network). When absent, such objectives clone
   * `backbone` from its serialized config, which needs its custom layers registered.
   */
  buildBackbone?: () => tfl.LayersModel;
}

/**
 * A training objective (SimCLR, BYOL, supervised cross-entropy...). It owns its heads (projector,
 * predictor, classifier, target network); the trainer owns the optimizer, schedule and loop.
 * Solo-learn's shape: a method declares its heads, its learnable parameters, its momentum pairs
 * and its training step.
 */
export interface Objective {
  readonly name: string;
  /** Augmented views per image the data pipeline must produce (1 for supervised, 2+ for SSL). */
  readonly views: number;
  /** Creates the heads around the backbone. Called once before training. */
  build(ctx: ObjectiveContext): void;
  /**
   * Forward pass and loss, in training mode (BN uses batch statistics). Called inside
   * `tf.variableGrads`; must not dispose its inputs.
   */
  loss(batch: ObjectiveBatch): ObjectiveOutput;
  /** Variables the optimizer updates (backbone + online heads; never a BYOL target). */
  trainableVariables(): tf.Variable[];
  /**
   * Learning-rate multipliers aligned with {@link trainableVariables} (e.g. BYOL's predictor at 10x
   * the backbone's). Omitted: 1 for every variable.
   */
  lrScales?(): number[];
  /** Hook after each optimizer step (e.g. BYOL's EMA target update). */
  afterStep?(step: number, totalSteps: number): void;
  /** Extra state to checkpoint (e.g. the target network's weights), by name. */
  extraState?(): Record<string, tf.Tensor>;
  /** Restores {@link extraState}. */
  loadExtraState?(state: Record<string, tf.Tensor>): void;
  /** Frees tensors the objective holds besides its variables (e.g. SimCLR's previous-batch negatives). */
  dispose?(): void;
  /**
   * Objectives that predict the label (supervised) report accuracy on labelled plates, embedded
   * plate by plate with BN normalization `mode`.
   */
  evaluate?(plates: Iterable<EvalPlate>, mode: NormalizationMode): Promise<EvalResult>;
}

/** One plate's evaluation images, in batches the caller chooses. */
export interface EvalPlate {
  /** Plate key, e.g. `EXP-3/2`. */
  key: string;
  /** The plate's images [B, H, W, C] with their class ids [B]; called once per pass. */
  batches: () => Iterable<{ images: tf.Tensor4D; labels: Int32Array }> | AsyncIterable<{ images: tf.Tensor4D; labels: Int32Array }>;
  /** The plate's negative-control images (for `controls`); called once per pass. */
  controls?: () => Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>;
}

/** Accuracy and mean cross-entropy over a set of plates. */
export interface EvalResult {
  accuracy: number;
  loss: number;
  images: number;
  /** Accuracy per plate key. */
  perPlate: Record<string, number>;
}


/** Factory from typed options (validated at the entry point) to an objective. */
export type ObjectiveFactory = (options: Record<string, unknown>) => Objective;

/** Registry of objectives by name (`simclr`, `byol`, `supervised`). */
export const objectives = new Registry<ObjectiveFactory>('objective');

/** Validates `options` against `schema`, naming the offending field in a {@link UserError}. */
export function parseObjectiveOptions<S extends z.ZodType>(objective: string, schema: S, options: unknown): z.infer<S> {
  const r = schema.safeParse(options ?? {});
  if (r.success) return r.data;
  const msg = r.error.issues.map((i) => `objective.options.${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new UserError(`Invalid options for objective "${objective}": ${msg}. Fix the recipe's objective.options.`);
}
