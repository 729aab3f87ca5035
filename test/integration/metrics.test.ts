import { join } from 'node:path';
import { freeLoopbackPort } from '../sandbox/ports';
import { startEntryPoint } from './node-process';
import { TEST_SANDBOX_DIR } from './sandbox-env';

/** The project's own metrics as Prometheus scrapes them from the SDK runtime's exporter. */
describe('release metrics through the Prometheus exporter', () => {
  it('exposes the counters and the step-duration histogram (with its buckets) under the dashboard’s names', async () => {
    const port = await freeLoopbackPort();
    const proc = startEntryPoint({
      name: 'metrics-fixture',
      entry: 'test/integration/fixtures/emit-release-metrics.ts',
      logDir: join(TEST_SANDBOX_DIR, 'metrics-test'),
      env: { TENANT_FLEET_METRICS_PORT: String(port) },
    });
    try {
      await proc.waitForOutput(/"msg":"metrics emitted"/);
      let text = '';
      for (let attempt = 0; attempt < 40 && !text.includes('tenant_fleet_step_duration_seconds_count'); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      }
      expect(text).toMatch(/^tenant_fleet_releases_started_total\{[^}]*environment="prod"[^}]*\} 1$/m);
      expect(text).toMatch(/^tenant_fleet_tenants_deployed_total\{[^}]*\} 1$/m);
      expect(text).toMatch(/^tenant_fleet_tenants_rolled_back_total\{[^}]*\} 1$/m);
      expect(text).toMatch(/^tenant_fleet_tenants_failed_total\{[^}]*\} 1$/m);
      expect(text).toMatch(/^tenant_fleet_step_duration_seconds_bucket\{[^}]*le="15"[^}]*\} 0$/m);
      expect(text).toMatch(/^tenant_fleet_step_duration_seconds_bucket\{[^}]*le="60"[^}]*\} 1$/m);
      expect(text).toMatch(/^tenant_fleet_step_duration_seconds_sum\{[^}]*outcome="succeeded"[^}]*step="deployWorkload"[^}]*\} 42$/m);
    } finally {
      proc.signal('SIGTERM');
      await proc.exited(10_000);
    }
  });
});
