import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  at: number;
}

/**
 * A real webhook endpoint on 127.0.0.1 that records every delivery, as Slack or an on-call tool
 * would receive it. `deliveries(key)` is what a receiver that honours Idempotency-Key acts on:
 * one per key, however often a retry sent it.
 */
export class WebhookReceiver {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly received: Delivery[],
  ) {}

  /** `failFirst`: answer that many requests 503 (recorded all the same), as an endpoint in trouble would. */
  static async start(options: { failFirst?: number } = {}): Promise<WebhookReceiver> {
    const received: Delivery[] = [];
    let failuresLeft = options.failFirst ?? 0;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          response.writeHead(400).end('expected JSON');
          return;
        }
        received.push({ headers: request.headers, body, at: Date.now() });
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          response.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
          return;
        }
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('webhook receiver: no port');
    return new WebhookReceiver(server, `http://127.0.0.1:${address.port}/hooks/fleet`, received);
  }

  /** Every request that carried this Idempotency-Key (more than one when a retry sent it again). */
  requests(key: string): Delivery[] {
    return this.received.filter((d) => d.headers['idempotency-key'] === key);
  }

  /** Distinct deliveries (by Idempotency-Key) that match. */
  deliveries(match: (d: Delivery) => boolean = () => true): Delivery[] {
    const byKey = new Map<string, Delivery>();
    for (const d of this.received) {
      const key = String(d.headers['idempotency-key']);
      if (match(d) && !byKey.has(key)) byKey.set(key, d);
    }
    return [...byKey.values()];
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
