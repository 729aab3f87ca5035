/**
 * `npm run probe`: steady requests to tenant hostnames through the sandbox's load balancer
 * emulator, then a table of requests, failures and latency per tenant (test/sandbox/data-plane/prober.ts).
 *
 *   npm run probe -- [--state-dir .sandbox] [--host <hostname> ...] [--rate 5] [--duration 30] [--path /] [--json]
 *
 * Without --host it probes every hostname whose Route53 record points at a load balancer; without
 * --duration it runs until Ctrl-C.
 */
import './quiet-aws-sdk';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { probeTable, startProber } from '../test/sandbox/data-plane/prober';
import { repoRoot } from '../test/sandbox/tools';

const USAGE = 'usage: npm run probe -- [--state-dir <dir>] [--host <hostname> ...] [--rate <per second>] [--duration <seconds>] [--path <path>] [--json]';

function fail(message: string): never {
  console.error(`probe: ${message}\n${USAGE}`);
  process.exit(2);
}

function positiveNumber(flag: string, value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) fail(`${flag}: expected a number > 0 (got ${JSON.stringify(value)})`);
  return number;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        'state-dir': { type: 'string' },
        host: { type: 'string', multiple: true },
        rate: { type: 'string' },
        duration: { type: 'string' },
        path: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    // node's message names the flag: "Unknown option '--hots'", "Option '--rate <value>' argument missing".
    fail((error as Error).message);
  }
  const { values } = parsed;
  const rate = positiveNumber('--rate', values.rate, 5);
  const duration = positiveNumber('--duration', values.duration, undefined);
  if (values.path !== undefined && !values.path.startsWith('/')) fail(`--path: expected a path starting with / (got ${JSON.stringify(values.path)})`);
  const stateDir = values['state-dir'] ?? join(repoRoot, '.sandbox');

  let prober;
  try {
    prober = await startProber({ stateDir, targets: values.host?.map((hostname) => ({ hostname })), ratePerSecond: rate, path: values.path, phase: 'probe' });
  } catch (error) {
    fail((error as Error).message);
  }
  if (!values.json) console.error(`probing ${values.host?.join(', ') ?? 'every tenant hostname'} at ${rate}/s each${duration ? ` for ${duration} s` : ' (Ctrl-C to stop)'}`);
  await new Promise<void>((resolve) => {
    const timer = duration ? setTimeout(resolve, duration * 1000) : undefined;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        clearTimeout(timer);
        resolve();
      });
    }
  });
  const snapshot = await prober.stop();
  if (values.json) console.log(JSON.stringify(snapshot, null, 2));
  else console.log(probeTable(snapshot, { perTenant: true }));
  if (!values.json && !values.host && snapshot.phases.every((p) => p.total.requests === 0)) console.error('no tenant hostname leads to a load balancer yet: provision tenants first');
  process.exitCode = snapshot.phases.some((p) => p.total.failed > 0) ? 1 : 0;
}

void main();
