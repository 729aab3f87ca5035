// The process behind one sandbox ECS task or Kubernetes pod (docs/sandbox.md "data plane").
// Plain JavaScript run by `node` without tsx, so that forty of them stay cheap.
// Arguments: one JSON object (see tenant-app.ts). The first stdout line is `listening <port>`.
import { createServer } from 'node:http';

const options = JSON.parse(process.argv[2] ?? '{}');
const { tenantId, service, version, healthPath, command } = options;
const broken = version.endsWith('-broken');
const failing = version.endsWith('-failing');

let draining = false;
function answer(path, request, response) {
  // A draining process tells keep-alive clients to reconnect elsewhere once this response is done.
  if (draining) response.setHeader('connection', 'close');
  const healthy = path === healthPath;
  const status = failing && !healthy ? 500 : 200;
  const body = healthy ? { status: 'ok', version } : { tenant: tenantId, service, version, host: request.headers.host ?? '', ...(command ? { command } : {}) };
  const text = JSON.stringify(failing && !healthy ? { ...body, error: 'failing build' } : body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

const server = createServer((request, response) => {
  const [path = '/', query = ''] = (request.url ?? '/').split('?');
  // `?delay=<ms>` holds the answer back: how tests keep a request in flight (draining, health check timeouts).
  const delay = Math.min(Number(new URLSearchParams(query).get('delay') ?? 0) || 0, 30_000);
  setTimeout(() => answer(path, request, response), delay);
});
// Without this, a keep-alive client (the load balancer emulator, the prober) would hold close() open forever.
server.keepAliveTimeout = 2_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`listening ${port}\n`);
  // The container's command: the app runs the same whatever it says, so the log shows what ECS would have run.
  const started = command ? ` command ${JSON.stringify(command)}` : '';
  console.error(`${new Date().toISOString()} ${tenantId}/${service} ${version} listening on 127.0.0.1:${port}${started}`);
  // The `-broken` convention: a crash loop that never gets healthy.
  if (broken) {
    console.error(`${new Date().toISOString()} ${version}: broken build, exiting`);
    process.exit(1);
  }
});

// Graceful drain: stop accepting, let in-flight requests finish, close idle keep-alive sockets.
process.once('SIGTERM', () => {
  console.error(`${new Date().toISOString()} SIGTERM: draining`);
  draining = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
