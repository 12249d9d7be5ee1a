/**
 * A sequence of weight-initialiser seeds derived from a backbone's seed. Never 0: tfjs
 * initialisers treat a seed of 0 as "no seed" and fall back to Math.random, which silently breaks
 * same-seed-same-weights for the layer that gets it.
 */
export function seedSequence(seed = 0): () => number {
  let next = (Math.abs(Math.trunc(seed)) % 0x3fffffff) * 1000 + 1;
  return () => next++;
}
