import { freeLoopbackPorts } from '../sandbox/ports';
import { startWorkerProcess, type EntryPointProcess } from './node-process';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';
import { join } from 'node:path';

/**
 * The worker process as production runs it (src/workers/main.ts in its own process, configured
 * only through its environment): JSON logs, Prometheus metrics and probes on loopback, and a
 * SIGTERM that drains and exits 0.
 */
describe('worker process', () => {
  const env = sandboxEnv();
  let worker: EntryPointProcess;
  let metricsUrl: string;
  let healthUrl: string;

  beforeAll(async () => {
    const [metricsPort, healthPort] = (await freeLoopbackPorts(2)) as [number, number];
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    healthUrl = `http://127.0.0.1:${healthPort}`;
    worker = await startWorkerProcess({
      name: 'worker-sigterm',
      sandboxEnv: env,
      logDir: join(TEST_SANDBOX_DIR, 'worker-process-test'),
      roles: 'workflows,aws',
      env: {
        TENANT_FLEET_METRICS_PORT: String(metricsPort),
        TENANT_FLEET_HEALTH_PORT: String(healthPort),
        TENANT_FLEET_SHUTDOWN_GRACE: '10s',
      },
    });
  });

  afterAll(async () => {
    await worker.kill();
  });

  it('logs one JSON object per line, tagged with its service and roles', async () => {
    const line = await worker.waitForOutput(/"msg":"workers started"/);
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'info', service: 'tenant-fleet-worker', roles: ['workflows', 'aws'] });
    expect(entry.metrics).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof entry.time).toBe('string');
  });

  it('is live and ready while polling, on loopback only', async () => {
    expect((await fetch(`${healthUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${healthUrl}/readyz`)).status).toBe(200);
  });

  it('exports the SDK runtime metrics for Prometheus', async () => {
    // Poller metrics appear once the workers have polled; give the exporter a moment.
    let text = '';
    for (let attempt = 0; attempt < 40 && !/temporal_num_pollers/.test(text); attempt++) {
      text = await (await fetch(metricsUrl)).text();
      if (!/temporal_num_pollers/.test(text)) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(text).toMatch(/temporal_num_pollers\{[^}]*task_queue="tenant-fleet"/);
    expect(text).toMatch(/temporal_num_pollers\{[^}]*task_queue="tenant-fleet-aws"/);
  });

  it('drains on SIGTERM and exits 0', async () => {
    worker.signal('SIGTERM');
    const exit = await worker.exited(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    const lines = worker.output().split('\n').filter((l) => l.startsWith('{'));
    const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['draining', 'workers stopped']));
    expect(messages.indexOf('draining')).toBeLessThan(messages.indexOf('workers stopped'));
  });
});
