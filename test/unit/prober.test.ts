import { percentile, probeTable } from '../../test/sandbox/data-plane/prober';

const stats = (requests: number, failed: number, p99Ms: number) => ({ requests, failed, p50Ms: 1, p99Ms, maxMs: p99Ms, byOutcome: {} });

describe('prober counts', () => {
  it('takes the nearest-rank percentile', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 99)).toBe(0);
  });

  it('prints one compact row per wave', () => {
    const phases = [
      { name: 'canary', startedAt: '', total: stats(120, 0, 12), tenants: {} },
      { name: 'rest', startedAt: '', total: stats(960, 3, 40), tenants: {} },
    ];
    expect(probeTable({ phases }, { phaseHeader: 'wave' }).split('\n')).toEqual([
      'wave    requests  failed  p99',
      'canary  120       0       12 ms',
      'rest    960       3       40 ms',
    ]);
  });
});
