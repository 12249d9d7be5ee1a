import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';

describe('wasm Identity (tf.clone) shares the buffer', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('a clone has the same values, allocates nothing, and outlives the original', () => {
    const before = tf.memory();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const buffers = tf.memory().numDataBuffers;
    const y = tf.clone(x);
    expect(tf.memory().numDataBuffers).toBe(buffers); // no second buffer
    expect(y.shape).toEqual([2, 3]);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    // A new tensor must not reuse the still-referenced buffer.
    const z = tf.fill([2, 3], 9);
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    tf.dispose([y, z]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
  });

  it('int32 and bool clones keep their dtype and values', () => {
    const a = tf.tensor1d([3, -1, 7], 'int32');
    const b = tf.tensor1d([1, 0, 1], 'bool');
    const [ca, cb] = [tf.clone(a), tf.clone(b)];
    tf.dispose([a, b]);
    expect(ca.dtype).toBe('int32');
    expect(Array.from(ca.dataSync())).toEqual([3, -1, 7]);
    expect(cb.dtype).toBe('bool');
    expect(Array.from(cb.dataSync())).toEqual([1, 0, 1]);
    tf.dispose([ca, cb]);
  });
});
