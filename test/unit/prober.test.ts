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

  it("with outage, adds each tenant's first-to-last failed answer and the phase's longest", () => {
    const down = (ms: number) => ({ ...stats(40, 8, 30), outage: { from: '2026-12-02T04:00:00.000Z', to: '2026-12-02T04:00:30.000Z', ms } });
    const phases = [{ name: 'canary', startedAt: '', total: stats(80, 13, 30), tenants: { acme: down(31_200), globex: { ...down(12_000), failed: 5 }, initech: stats(40, 0, 20) } }];
    expect(probeTable({ phases }, { phaseHeader: 'wave', perTenant: true, outage: true }).split('\n')).toEqual([
      'wave    tenant   requests  failed  p99    outage',
      'canary  all      80        13      30 ms  31.2 s',
      '        acme     40        8       30 ms  31.2 s',
      '        globex   40        5       30 ms  12.0 s',
      '        initech  40        0       20 ms  -',
    ]);
  });
});
