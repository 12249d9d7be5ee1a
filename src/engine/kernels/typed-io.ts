import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Backend-neutral float32 access for kernels written as JS loops over typed arrays (wasm heap
 * views on wasm, the data arrays on cpu): `make` allocates outputs, `view` gives a tensor's data.
 * On wasm the outputs are allocated first and views taken after (an allocation may grow the
 * heap and detach earlier views).
 */
export function typedIO(backend: KernelBackend): {
  make: (shapes: number[][]) => TensorInfo[];
  view: (t: TensorInfo) => Float32Array;
} {
  const b = backend as unknown as {
    typedArrayFromHeap?: (t: TensorInfo) => Float32Array;
    makeOutput?: (shape: number[], dtype: 'float32') => TensorInfo;
    data?: { get(id: object): { values: Float32Array } };
    makeTensorInfo?: (shape: number[], dtype: 'float32', values: Float32Array) => TensorInfo;
  };
  if (b.typedArrayFromHeap && b.makeOutput) {
    return {
      make: (shapes) => shapes.map((s) => b.makeOutput!(s, 'float32')),
      view: (t) => b.typedArrayFromHeap!(t),
    };
  }
  return {
    make: (shapes) => shapes.map((s) => b.makeTensorInfo!(s, 'float32', new Float32Array(s.reduce((a, c) => a * c, 1)))),
    view: (t) => b.data!.get(t.dataId).values,
  };
}
