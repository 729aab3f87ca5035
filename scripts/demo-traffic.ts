// The demo's traffic: the prober (test/sandbox/data-plane/prober.ts) sends steady requests to every
// tenant hostname through the sandbox's load balancer during a release, one phase per wave.
import type { Client } from '@temporalio/client';
import { releaseProgress } from '../src/client/releases';
import type { FleetConfig } from '../src/shared/config/schema';
import { probeTable, startProber, type ProbeSnapshot } from '../test/sandbox/data-plane/prober';

export interface ReleaseTraffic {
  /** Stops probing; the per-wave table (wave, requests, failed, p99) and the counts. */
  stop(): Promise<{ table: string; snapshot: ProbeSnapshot }>;
}

/** Requests per second per hostname: enough to see a failure, little enough for a shared 2-core machine. */
const RATE = 2;

export async function probeRelease(stateDir: string, client: Client, config: FleetConfig, releaseId: string): Promise<ReleaseTraffic> {
  // Every tenant on both runtimes: each ECS task and each Ready pod is a tenant app process behind the load balancer (docs/sandbox.md).
  const targets = config.tenants.flatMap((t) => t.hostnames.map((hostname) => ({ hostname, tenantId: t.id })));
  const prober = await startProber({ stateDir, targets, ratePerSecond: RATE, phase: '(before wave 1)' });
  let wave: string | undefined;
  let watching = true;
  // The wave in progress is the last one started; its phase begins when the release starts it.
  const watch = (async () => {
    while (watching) {
      const progress = await releaseProgress(client, releaseId).catch(() => undefined);
      const current = progress?.waves.filter((w) => w.startedAt).at(-1)?.name;
      if (current && current !== wave) {
        wave = current;
        prober.phase(current);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    async stop() {
      watching = false;
      await watch;
      const snapshot = await prober.stop();
      return { table: probeTable(snapshot, { phaseHeader: 'wave' }), snapshot };
    },
  };
}
