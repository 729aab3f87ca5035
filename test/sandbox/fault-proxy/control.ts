import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { CounterRow } from './counters';
import type { FaultState } from './proxy';
import type { FaultRule, FaultRuleInput } from './rules';

/**
 * The proxies' control API on 127.0.0.1, for tests that run in another process than the
 * sandbox (jest's globalSetup starts the sandbox; test files run in worker processes):
 *
 *   GET  /rules            the rules in force
 *   PUT  /rules            replace them (a JSON array of rules; 400 names the field at fault)
 *   GET  /counters         requests seen and faults injected, by target, service and action
 *   POST /counters/reset   start counting from zero
 */
export async function startFaultControl(state: FaultState): Promise<{ url: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const route = `${req.method} ${req.url}`;
      if (route === 'GET /rules') return send(200, state.rules());
      if (route === 'GET /counters') return send(200, state.counters.snapshot());
      if (route === 'POST /counters/reset') return (state.counters.reset(), send(200, {}));
      if (route === 'PUT /rules') {
        try {
          return send(200, state.setRules(JSON.parse(Buffer.concat(chunks).toString('utf8')) as FaultRuleInput[]));
        } catch (error) {
          const problems = error instanceof z.ZodError ? error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) : [(error as Error).message];
          return send(400, { problems });
        }
      }
      send(404, { problems: [`${route}: no such control endpoint`] });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The same operations from any process, given the control URL (TENANT_FLEET_FAULT_CONTROL_URL). */
export class FaultControlClient {
  constructor(readonly url: string) {}

  async setRules(rules: FaultRuleInput[]): Promise<FaultRule[]> {
    return this.call<FaultRule[]>('PUT', '/rules', rules);
  }

  async clear(): Promise<void> {
    await this.setRules([]);
  }

  counters(): Promise<CounterRow[]> {
    return this.call<CounterRow[]>('GET', '/counters');
  }

  async resetCounters(): Promise<void> {
    await this.call('POST', '/counters/reset');
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(this.url + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const answer = (await response.json()) as T | { problems: string[] };
    if (!response.ok) throw new Error(`fault control ${method} ${path}: ${(answer as { problems: string[] }).problems.join('; ')}`);
    return answer as T;
  }
}
