import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { awsServerError, awsThrottle, classifyAwsRequest } from './aws';
import { FaultCounters } from './counters';
import { kubeServerError, kubeThrottle, type KubeProxyTls } from './kube';
import { chooseFaults, faultRulesSchema, seededRandom, type FaultRule, type FaultRuleInput, type RequestFacts, type Target } from './rules';

export interface FaultProxyOptions {
  target: Target;
  /** AWS: the emulator's `http://127.0.0.1:<port>`; Kubernetes: taken from `tls.upstream`. */
  upstream?: string;
  /** Kubernetes only: TLS termination and re-origination material (see kube.ts). */
  tls?: KubeProxyTls;
  /** Shared with the other target's proxy, so one rule list and one set of counters cover both. */
  state: FaultState;
}

/** Rules, counters and the dice, shared by the AWS and Kubernetes proxies of one sandbox. */
export class FaultState {
  private current: FaultRule[] = [];
  readonly counters = new FaultCounters();
  readonly random: () => number;

  constructor(readonly seed: number) {
    this.random = seededRandom(seed);
  }

  /** Validated here, so a typo in a test's rule is an error instead of a fault that never fires. */
  setRules(rules: readonly FaultRuleInput[]): FaultRule[] {
    this.current = faultRulesSchema.parse(rules);
    return this.current;
  }

  rules(): FaultRule[] {
    return this.current;
  }
}

export interface FaultProxy {
  target: Target;
  /** Where clients connect instead of the real server. */
  url: string;
  stop(): Promise<void>;
}

type Answer = { status: number; headers: Record<string, string>; body: string };

/**
 * A reverse proxy on 127.0.0.1 that forwards every request to the real server unless a rule
 * says otherwise: then it answers as that server would when throttling or failing, delays the
 * request, or closes the connection. Request bodies are read whole first (AWS query requests
 * carry their operation in the form body); answers are streamed back.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { target, state, tls } = options;
  const upstream = new URL(tls?.upstream ?? options.upstream ?? '');
  const secure = upstream.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 64, ca: tls?.ca, cert: tls?.clientCert, key: tls?.clientKey })
    : new http.Agent({ keepAlive: true, maxSockets: 64 });

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => res.destroy());
    req.on('end', () => void serve(req, res, Buffer.concat(chunks)));
  };

  const serve = async (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const aws = target === 'aws' ? classifyAwsRequest(method, path, req.headers, body) : undefined;
    const facts: RequestFacts = { target, service: aws?.service ?? 'kube-apiserver', action: aws?.action ?? method, method, path };
    state.counters.record(facts, 'seen');
    const { latency, failure } = chooseFaults(state.rules(), facts, state.random);

    if (latency) {
      state.counters.record(facts, 'latency');
      await new Promise((resolve) => setTimeout(resolve, latency.latencyMs));
    }
    if (failure?.fault === 'throttle' || failure?.fault === '5xx') {
      state.counters.record(facts, failure.fault);
      const requestId = randomUUID();
      const answer: Answer = aws
        ? failure.fault === 'throttle' ? awsThrottle(aws, requestId) : awsServerError(aws, requestId)
        : failure.fault === 'throttle' ? kubeThrottle() : kubeServerError();
      res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
      return;
    }
    if (failure?.fault === 'drop' && failure.dropStage === 'request') {
      state.counters.record(facts, 'drop');
      req.socket.destroy();
      return;
    }
    const dropAnswer = failure?.fault === 'drop';

    const forward = (secure ? https : http).request(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method, path, headers: req.headers, agent },
      (upstreamRes) => {
        if (dropAnswer) {
          // The server acted on the request; the caller never hears about it.
          state.counters.record(facts, 'drop');
          upstreamRes.resume();
          req.socket.destroy();
          return;
        }
        state.counters.record(facts, 'forwarded');
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', (error) => {
      // The real server is down (a restart, say): say so the way a gateway would.
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream ${upstream.host} unreachable: ${error.message}`);
    });
    forward.end(body);
  };

  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handle) : http.createServer(handle);
  // Keep-alive sockets would hold stop() open until the clients time them out.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    target,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      agent.destroy();
    },
  };
}
