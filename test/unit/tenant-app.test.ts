import { request } from 'node:http';
import { startTenantApp, type RunningTenantApp } from '../../test/sandbox/data-plane/tenant-app';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function get(port: number, path: string, host = 'a.example.test'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

const base = { tenantId: 't-1', service: 'web', hostnames: ['a.example.test'], healthPath: '/healthz' };
const apps: RunningTenantApp[] = [];
async function start(version: string): Promise<RunningTenantApp> {
  const app = await startTenantApp({ ...base, version });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')));
});

describe('tenant app', () => {
  it('answers its health path and, on any other path, its tenant, version and the Host header', async () => {
    const app = await start('1.2.3');
    await expect(get(app.port, '/healthz')).resolves.toEqual({ status: 200, body: { status: 'ok', version: '1.2.3' } });
    await expect(get(app.port, '/orders?x=1', 'b.example.test')).resolves.toEqual({ status: 200, body: { tenant: 't-1', service: 'web', version: '1.2.3', host: 'b.example.test' } });
  });

  it("given its container's command (an ECS task's), answers it on any path but the health path", async () => {
    const app = await startTenantApp({ ...base, service: 'tenant-t-1--worker', version: '1.2.3', command: ['worker', '--queue', 'default'], environment: { SERVICE_ROLE: 'worker' } });
    apps.push(app);
    await expect(get(app.port, '/')).resolves.toMatchObject({ status: 200, body: { service: 'tenant-t-1--worker', command: ['worker', '--queue', 'default'] } });
    await expect(get(app.port, '/healthz')).resolves.toEqual({ status: 200, body: { status: 'ok', version: '1.2.3' } });
  });

  it('a -broken tag exits 1 right after start, so nothing ever answers', async () => {
    const app = await start('1.2.4-broken');
    await expect(app.exited).resolves.toBe(1);
    await expect(get(app.port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a -failing tag passes its health check but answers 500 everywhere else', async () => {
    const app = await start('1.2.5-failing');
    await expect(get(app.port, '/healthz')).resolves.toMatchObject({ status: 200 });
    await expect(get(app.port, '/')).resolves.toMatchObject({ status: 500 });
  });

  it('on SIGTERM stops accepting, finishes the request in flight and exits 0', async () => {
    const app = await start('1.2.3');
    const inFlight = get(app.port, '/slow?delay=400');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = app.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(get(app.port, '/')).rejects.toThrow(/ECONNREFUSED/);
    await expect(inFlight).resolves.toMatchObject({ status: 200, body: { version: '1.2.3' } });
    await stopped;
    await expect(app.exited).resolves.toBe(0);
  });

  it('refuses bad options naming the field', async () => {
    await expect(startTenantApp({ ...base, version: '1', healthPath: 'healthz' })).rejects.toThrow(/healthPath/);
  });
});
