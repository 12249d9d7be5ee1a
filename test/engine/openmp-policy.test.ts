import { describe, expect, it } from 'vitest';
import { chooseOpenMpPolicy, IDLE_SPIN_COUNT } from '../../src/engine/openmp-policy.ts';

describe('chooseOpenMpPolicy', () => {
  it('spins briefly when the machine is idle', () => {
    const p = chooseOpenMpPolicy({}, 0.3, 2);
    expect(p.env).toEqual({ OMP_WAIT_POLICY: 'PASSIVE', GOMP_SPINCOUNT: String(IDLE_SPIN_COUNT) });
    expect(p.describe).toMatch(/idle/);
  });
  it('sleeps when the load is at least half the cores', () => {
    expect(chooseOpenMpPolicy({}, 1.0, 2).env).toEqual({ OMP_WAIT_POLICY: 'PASSIVE' });
    expect(chooseOpenMpPolicy({}, 9, 16).env).toEqual({ OMP_WAIT_POLICY: 'PASSIVE' });
  });
  it("leaves the user's own settings alone", () => {
    const a = chooseOpenMpPolicy({ OMP_WAIT_POLICY: 'ACTIVE' }, 0, 2);
    expect(a.env).toEqual({});
    expect(a.describe).toContain('OMP_WAIT_POLICY=ACTIVE');
    expect(chooseOpenMpPolicy({ GOMP_SPINCOUNT: '0' }, 0, 2).env).toEqual({});
  });
});
