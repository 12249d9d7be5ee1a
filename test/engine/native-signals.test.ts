import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/engine/native.ts';

/**
 * Signals that arrive while oneDNN runs must not corrupt the heap: oneDNN 2.6's JIT f32 GEMM
 * points the stack pointer into the heap, so the addon blocks signals around its calls
 * (native/signals.h). Without that guard this child aborted with "corrupted size vs. prev_size"
 * in 3 of 3 runs on an AVX-512 machine.
 */
const addon = loadNative();
const child = fileURLToPath(new URL('./fixtures/knn-under-profiler.ts', import.meta.url));

describe.skipIf(!addon)('native engine under signals', () => {
  it('runs the sgemm kNN while a sampling profiler interrupts it, without heap corruption', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, '40'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/corrupt|invalid pointer|free\(\)/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
  }, 130_000);
});
