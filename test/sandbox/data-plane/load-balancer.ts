import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ElbMetrics, putMetrics } from './elb-metrics';
import { adminClients, readElbConfig, targetKey, type ElbConfig, type ListenerConfig, type LoadBalancerConfig, type TargetGroupConfig } from './elb-config';
import { matchRule, pickTargetGroup, type RuleAction } from './routing';
import { matchesHttpCode, TargetHealthTracker, type CheckResult, type TargetHealth } from './target-health';

/**
 * The sandbox's Application Load Balancer (docs/sandbox.md "Data plane"): serves every load
 * balancer's listeners that moto knows on 127.0.0.1 ports, routes by the listener rules, health
 * checks the registered targets with their target group's settings, drains deregistered ones, pushes
 * target health into moto (patches/elbv2_target_health.py) and puts the AWS/ApplicationELB metrics
 * into moto's CloudWatch. It runs inside the sandbox's node process: no process of its own.
 */

export interface LoadBalancerEmulatorOptions {
  /** moto itself, never a fault proxy: the emulator is part of AWS here. */
  awsEndpoint: string;
  adminCredentials: { accessKeyId: string; secretAccessKey: string };
  accounts: readonly string[];
  region: string;
  /** `<sandbox>/data-plane`: load-balancers.json and load-balancer.log go here. */
  stateDir: string;
  /** TENANT_FLEET_SANDBOX_TIME_SCALE: AWS's seconds (health check interval, timeout, deregistration delay) times this. */
  timeScale: number;
  /** How often moto's ELBv2 write counter is read (ms); the configuration is re-read only when it moved. */
  pollMs?: number;
  /** Floors under the scaled durations, so that checks stay meaningful on a busy machine (ms). */
  floors?: Partial<Floors>;
  /** How often the metrics are put (ms); default one CloudWatch minute times the time scale, at least 5 s. */
  metricsPeriodMs?: number;
}

interface Floors {
  intervalMs: number;
  timeoutMs: number;
  deregistrationDelayMs: number;
}

/**
 * The health check timeout and the deregistration delay bound how long a target may take to answer
 * a request, and requests are not scaled: scaled alone, AWS's 5 s timeout became 10 ms (400 ms with
 * the old floor) and its 30 s delay 60 ms, so a machine busy enough to answer in half a second had
 * healthy tasks marked unhealthy (replaced, and failing deployments by the circuit breaker) and
 * in-flight requests cut (502s in a clean release), which AWS would never do. The floors cost
 * nothing when targets answer: a passing check ends at the answer, and draining ends as soon as
 * nothing is in flight.
 */
const DEFAULT_FLOORS: Floors = { intervalMs: 500, timeoutMs: 5_000, deregistrationDelayMs: 5_000 };
/** ALB's idle timeout (60 s), not scaled: it bounds a request, not a step of an operation. */
const IDLE_TIMEOUT_MS = 60_000;
/** Requests slower than this are logged with their target. */
const SLOW_REQUEST_MS = 2_000;
/** Even without a write, the configuration is re-read this often (ms). */
const FULL_READ_MS = 30_000;

export interface LoadBalancerEntry {
  arn: string;
  dnsName: string;
  account: string;
  region: string;
  listeners: { port: number; protocol: string; localPort: number }[];
}

export interface LoadBalancerEmulator {
  stateFile: string;
  /** Reads moto now and applies what changed (tests call it instead of waiting for the next poll). */
  refresh(): Promise<void>;
  loadBalancers(): LoadBalancerEntry[];
  /** The emulator's view of a target group's targets, by `id:port`. */
  targetHealth(targetGroupArn: string): Record<string, TargetHealth>;
  /** Puts the metrics counted so far into CloudWatch now. */
  flushMetrics(): Promise<void>;
  stop(): Promise<void>;
}

type Mode = 'active' | 'unused' | 'draining';

interface Target {
  tgArn: string;
  key: string;
  id: string;
  port: number;
  mode: Mode;
  tracker: TargetHealthTracker;
  checkTimer?: NodeJS.Timeout;
  drainTimer?: NodeJS.Timeout;
  inFlight: Set<ClientRequest>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export async function startLoadBalancerEmulator(options: LoadBalancerEmulatorOptions): Promise<LoadBalancerEmulator> {
  mkdirSync(options.stateDir, { recursive: true });
  const stateFile = join(options.stateDir, 'load-balancers.json');
  const logFile = join(options.stateDir, 'load-balancer.log');
  const log = (line: string) => appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  const floors = { ...DEFAULT_FLOORS, ...options.floors };
  const scaled = (seconds: number, floorMs: number) => Math.max(seconds * 1000 * options.timeScale, floorMs);
  const clients = adminClients(options.awsEndpoint, options.adminCredentials);
  const metrics = new ElbMetrics();

  let config: ElbConfig = { loadBalancers: [], targetGroups: new Map() };
  let generation = -1;
  let lastFullRead = 0;
  let stopped = false;
  const targets = new Map<string, Map<string, Target>>();
  const servers = new Map<string, { server: Server; localPort: number }>();
  const roundRobin = new Map<string, number>();

  // ---------------------------------------------------------------- target health

  const effectiveHealth = (target: Target): TargetHealth => {
    if (target.mode === 'draining') return { state: 'draining', reason: 'Target.DeregistrationInProgress', description: 'Target deregistration is in progress' };
    if (target.mode === 'unused') return { state: 'unused', reason: 'Target.NotInUse', description: 'Target group is not configured to receive traffic from the load balancer' };
    if (!config.targetGroups.get(target.tgArn)?.healthCheck.enabled) return { state: 'unavailable', reason: 'Target.HealthCheckDisabled', description: 'Health checks are disabled' };
    return target.tracker.health;
  };

  const scheduleCheck = (target: Target, delayMs: number) => {
    clearTimeout(target.checkTimer);
    target.checkTimer = setTimeout(() => void check(target), delayMs);
  };

  const check = async (target: Target) => {
    const group = config.targetGroups.get(target.tgArn);
    if (stopped || !group || target.mode !== 'active' || !group.healthCheck.enabled) return;
    const hc = group.healthCheck;
    const intervalMs = scaled(hc.intervalSeconds, floors.intervalMs);
    // Not capped by the interval (ALB requires timeout < interval): one check at a time, so a slow answer only delays the next.
    const timeoutMs = scaled(hc.timeoutSeconds, floors.timeoutMs);
    const result = await healthCheck(target.id, hc.port === 'traffic-port' ? target.port : Number(hc.port), hc.path, hc.matcher, timeoutMs);
    if (stopped || target.mode !== 'active' || targets.get(target.tgArn)?.get(target.key) !== target) return;
    if (target.tracker.record(result, { healthy: hc.healthyThreshold, unhealthy: hc.unhealthyThreshold })) {
      log(`${group.name} ${target.key}: ${target.tracker.health.state}${target.tracker.health.reason ? ` (${target.tracker.health.reason})` : ''}`);
      schedulePush();
    }
    scheduleCheck(target, intervalMs);
  };

  const startDraining = (target: Target, group: TargetGroupConfig | undefined) => {
    clearTimeout(target.checkTimer);
    target.mode = 'draining';
    log(`${group?.name ?? target.tgArn} ${target.key}: draining (${target.inFlight.size} in flight)`);
    // AWS completes a deregistration at once when the target has nothing in flight.
    if (target.inFlight.size === 0 || !group) {
      finishDraining(target);
      return;
    }
    target.drainTimer = setTimeout(() => finishDraining(target), scaled(group.deregistrationDelaySeconds, floors.deregistrationDelayMs));
  };

  const finishDraining = (target: Target) => {
    clearTimeout(target.drainTimer);
    // Past the deregistration delay, what is still in flight is cut, as ALB closes the connections.
    for (const request of target.inFlight) request.destroy(new Error('deregistration delay elapsed'));
    const group = targets.get(target.tgArn);
    if (group?.get(target.key) === target) group.delete(target.key);
    log(`${target.tgArn} ${target.key}: deregistered`);
    schedulePush();
  };

  const dropTarget = (target: Target) => {
    clearTimeout(target.checkTimer);
    clearTimeout(target.drainTimer);
    for (const request of target.inFlight) request.destroy(new Error('target group deleted'));
  };

  // ---------------------------------------------------------------- pushing health into moto

  let pushTimer: NodeJS.Timeout | undefined;
  let pushing: Promise<void> = Promise.resolve();
  const schedulePush = () => {
    if (pushTimer || stopped) return;
    pushTimer = setTimeout(() => {
      pushTimer = undefined;
      pushing = pushing.then(push).catch((error: Error) => log(`push failed: ${error.message}`));
    }, 20);
  };
  const push = async () => {
    const targetGroups: Record<string, Record<string, { State: string; Reason?: string; Description?: string }>> = {};
    for (const [tgArn, group] of targets) {
      targetGroups[tgArn] = {};
      for (const [key, target] of group) {
        const health = effectiveHealth(target);
        targetGroups[tgArn][key] = { State: health.state, Reason: health.reason, Description: health.description };
      }
    }
    const response = await fetch(`${options.awsEndpoint}/_sandbox/elbv2/target-health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ generation, targetGroups }),
    });
    if (!response.ok) throw new Error(`moto refused the target health push: ${response.status} ${await response.text()}`);
  };

  // ---------------------------------------------------------------- applying moto's configuration

  const apply = async (next: ElbConfig) => {
    config = next;
    for (const [tgArn, group] of targets) {
      const tg = next.targetGroups.get(tgArn);
      if (!tg) {
        for (const target of group.values()) dropTarget(target);
        targets.delete(tgArn);
        continue;
      }
      const registered = new Set(tg.targets.map(targetKey));
      for (const target of group.values()) if (!registered.has(target.key) && target.mode !== 'draining') startDraining(target, tg);
    }
    for (const tg of next.targetGroups.values()) {
      let group = targets.get(tg.arn);
      if (!group) targets.set(tg.arn, (group = new Map<string, Target>()));
      const mode: Mode = tg.loadBalancerArns.length > 0 ? 'active' : 'unused';
      for (const { id, port } of tg.targets) {
        const key = targetKey({ id, port });
        const known = group.get(key);
        if (known && known.mode === mode) continue;
        if (known) {
          // Re-registered while draining, or its group newly (not) in use: what is in flight goes on, health checking starts over.
          clearTimeout(known.checkTimer);
          clearTimeout(known.drainTimer);
        }
        const target: Target = { tgArn: tg.arn, key, id, port, mode, tracker: new TargetHealthTracker(), inFlight: known?.inFlight ?? new Set() };
        group.set(key, target);
        if (mode === 'active') scheduleCheck(target, 0);
      }
    }
    await syncListeners(next.loadBalancers);
    writeState();
    schedulePush();
  };

  // One refresh at a time: the poll and a test's refresh() must not both create a listener's server.
  let refreshing: Promise<void> = Promise.resolve();
  const refresh = () => {
    const next = refreshing.catch(() => undefined).then(readAndApply);
    refreshing = next;
    return next;
  };
  const readAndApply = async () => {
    const response = await fetch(`${options.awsEndpoint}/_sandbox/elbv2/generation`);
    if (!response.ok) throw new Error(`moto has no ELBv2 write counter (${response.status}): is patches/elbv2_target_health.py applied?`);
    const { generation: current } = (await response.json()) as { generation: number };
    if (current === generation && Date.now() - lastFullRead < FULL_READ_MS) return;
    const next = await readElbConfig(clients, options.accounts, options.region);
    generation = current;
    lastFullRead = Date.now();
    if (!stopped) await apply(next);
  };

  // ---------------------------------------------------------------- listeners and routing

  const syncListeners = async (loadBalancers: LoadBalancerConfig[]) => {
    const wanted = new Map(loadBalancers.flatMap((lb) => lb.listeners.map((l) => [l.arn, lb] as const)));
    for (const [arn, { server }] of servers) {
      if (!wanted.has(arn)) {
        servers.delete(arn);
        server.close();
        server.closeAllConnections();
      }
    }
    for (const arn of wanted.keys()) {
      if (servers.has(arn)) continue;
      const server = createServer((req, res) => handle(arn, req, res));
      // ALB keeps an idle client connection open for its idle timeout. Node's default (5 s) closed
      // idle keep-alive connections under clients that were about to reuse them: resets users see.
      server.keepAliveTimeout = IDLE_TIMEOUT_MS;
      const localPort = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
      });
      servers.set(arn, { server, localPort });
    }
  };

  const find = (listenerArn: string): [LoadBalancerConfig, ListenerConfig] | undefined => {
    for (const lb of config.loadBalancers) {
      const listener = lb.listeners.find((l) => l.arn === listenerArn);
      if (listener) return [lb, listener];
    }
    return undefined;
  };

  const elbRespond = (lb: LoadBalancerConfig | undefined, res: ServerResponse, status: number, body = '', contentType = 'text/plain', headers: Record<string, string> = {}) => {
    if (lb) metrics.elbResponse(lb.arn, status);
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), server: 'awselb/2.0', ...headers });
    res.end(body);
  };

  const handle = (listenerArn: string, req: IncomingMessage, res: ServerResponse) => {
    const found = find(listenerArn);
    if (!found) return elbRespond(undefined, res, 503, 'listener gone');
    const [lb, listener] = found;
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const rule = matchRule(listener.rules, {
      host: req.headers.host ?? '',
      path,
      method: req.method ?? 'GET',
      query: new URLSearchParams(query),
      headers: req.headers,
      sourceIp: req.socket.remoteAddress ?? '',
    });
    const action: RuleAction = rule?.action ?? { type: 'fixed-response', statusCode: 503 };
    if (action.type === 'fixed-response') {
      metrics.request(lb.arn);
      return elbRespond(lb, res, action.statusCode, action.body ?? '', action.contentType ?? 'text/plain');
    }
    if (action.type === 'redirect') {
      metrics.request(lb.arn);
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      const fill = (value: string | undefined, fallback: string) =>
        (value ?? fallback).replace('#{protocol}', listener.protocol.toLowerCase()).replace('#{host}', host).replace('#{port}', String(listener.port)).replace('#{path}', path.slice(1)).replace('#{query}', query);
      const location = `${fill(action.protocol, '#{protocol}').toLowerCase()}://${fill(action.host, '#{host}')}:${fill(action.port, '#{port}')}${fill(action.path, '/#{path}')}${query || action.query ? `?${fill(action.query, '#{query}')}` : ''}`;
      return elbRespond(lb, res, action.statusCode, '', 'text/plain', { location });
    }
    const tgArn = pickTargetGroup(action.targetGroups, Math.random());
    metrics.request(lb.arn, tgArn);
    const target = tgArn ? pickTarget(tgArn) : undefined;
    if (!tgArn || !target) {
      log(`${req.headers.host ?? '-'}: 503, no target in ${tgArn ?? 'no target group'}`);
      return elbRespond(lb, res, 503, '503 Service Temporarily Unavailable');
    }
    forward(lb, listener, tgArn, target, req, res);
  };

  /** Round robin over the healthy targets; over the unhealthy ones when none is healthy (ALB fails open). */
  const pickTarget = (tgArn: string): Target | undefined => {
    const active = [...(targets.get(tgArn)?.values() ?? [])].filter((t) => t.mode === 'active');
    const state = (t: Target) => effectiveHealth(t).state;
    let eligible = active.filter((t) => state(t) === 'healthy' || state(t) === 'unavailable');
    if (eligible.length === 0) eligible = active.filter((t) => state(t) === 'unhealthy');
    if (eligible.length === 0) return undefined;
    const next = (roundRobin.get(tgArn) ?? 0) % eligible.length;
    roundRobin.set(tgArn, next + 1);
    return eligible[next];
  };

  const forward = (lb: LoadBalancerConfig, listener: ListenerConfig, tgArn: string, target: Target, req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const headers: Record<string, string | string[] | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    const forwardedFor = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = `${forwardedFor ? `${String(forwardedFor)}, ` : ''}${req.socket.remoteAddress ?? ''}`;
    headers['x-forwarded-proto'] = listener.protocol.toLowerCase();
    headers['x-forwarded-port'] = String(listener.port);
    headers.connection = 'close';
    // One connection per request: a draining target then has no idle connection that would hold its deregistration open.
    const upstream = httpRequest({ host: target.id, port: target.port, method: req.method, path: req.url, headers, agent: false });
    target.inFlight.add(upstream);
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      target.inFlight.delete(upstream);
      if (target.mode === 'draining' && target.inFlight.size === 0) finishDraining(target);
    };
    upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy(Object.assign(new Error('target timed out'), { code: 'ETIMEDOUT' })));
    upstream.on('response', (answer) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (seconds * 1000 > SLOW_REQUEST_MS) log(`${req.headers.host ?? '-'} -> ${target.key}: answered ${answer.statusCode ?? '-'} after ${Math.round(seconds * 1000)} ms`);
      metrics.targetResponse(lb.arn, tgArn, answer.statusCode ?? 0, seconds);
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on('end', done);
      answer.on('error', () => {
        done();
        res.destroy();
      });
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      // Rare and always worth a line: a request users see fail through no answer of the target's.
      log(`${req.headers.host ?? '-'} -> ${target.key} (${target.mode}, ${effectiveHealth(target).state}): ${error.code ?? error.message}`);
      done();
      if (res.headersSent) res.destroy();
      else elbRespond(lb, res, error.code === 'ETIMEDOUT' ? 504 : 502, error.code === 'ETIMEDOUT' ? '504 Gateway Time-out' : '502 Bad Gateway');
    });
    req.pipe(upstream);
  };

  // ---------------------------------------------------------------- state file, metrics, polling

  const entries = (): LoadBalancerEntry[] =>
    config.loadBalancers.map((lb) => ({
      arn: lb.arn,
      dnsName: lb.dnsName,
      account: lb.account,
      region: lb.region,
      listeners: lb.listeners.map((l) => ({ port: l.port, protocol: l.protocol, localPort: servers.get(l.arn)?.localPort ?? 0 })),
    }));

  const writeState = () => {
    // Written whole and renamed, so that a reader never sees half a file.
    writeFileSync(`${stateFile}.tmp`, `${JSON.stringify(entries(), null, 2)}\n`);
    renameSync(`${stateFile}.tmp`, stateFile);
  };

  const flushMetrics = async () => {
    const hostCounts = [...config.targetGroups.values()].flatMap((tg) => {
      const states = [...(targets.get(tg.arn)?.values() ?? [])].filter((t) => t.mode === 'active').map((t) => effectiveHealth(t).state);
      const healthy = states.filter((s) => s === 'healthy').length;
      const unhealthy = states.filter((s) => s === 'unhealthy').length;
      return tg.loadBalancerArns.map((lbArn) => ({ lbArn, tgArn: tg.arn, healthy, unhealthy }));
    });
    const accountOf = (arn: string) => arn.split(':')[4] ?? '';
    await putMetrics(clients, options.region, metrics.drain(hostCounts, accountOf));
  };

  writeState();
  await refresh();
  log(`started: ${config.loadBalancers.length} load balancer(s), ${config.targetGroups.size} target group(s)`);

  let pollTimer: NodeJS.Timeout | undefined;
  const poll = () => {
    pollTimer = setTimeout(() => {
      refresh()
        .catch((error: Error) => log(`reading moto failed: ${error.message}`))
        .finally(() => {
          if (!stopped) poll();
        });
    }, options.pollMs ?? 500);
  };
  poll();
  const metricsPeriodMs = options.metricsPeriodMs ?? Math.max(60_000 * options.timeScale, 5_000);
  const metricsTimer = setInterval(() => void flushMetrics().catch((error: Error) => log(`putting metrics failed: ${error.message}`)), metricsPeriodMs);
  metricsTimer.unref();

  return {
    stateFile,
    refresh,
    loadBalancers: entries,
    targetHealth: (tgArn) => Object.fromEntries([...(targets.get(tgArn)?.entries() ?? [])].map(([key, t]) => [key, effectiveHealth(t)])),
    flushMetrics,
    async stop() {
      stopped = true;
      clearTimeout(pollTimer);
      clearInterval(metricsTimer);
      clearTimeout(pushTimer);
      for (const group of targets.values()) for (const target of group.values()) dropTarget(target);
      await Promise.all(
        [...servers.values()].map(
          ({ server }) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
      servers.clear();
      clients.destroy();
    },
  };
}

/** One ALB health check: GET the path; a matching status within the timeout passes. */
function healthCheck(host: string, port: number, path: string, matcher: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const req = httpRequest({ host, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'ELB-HealthChecker/2.0', connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(matchesHttpCode(matcher, status) ? { ok: true } : { ok: false, reason: 'Target.ResponseCodeMismatch', description: `Health checks failed with these codes: [${status}]` });
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve({ ok: false, reason: 'Target.Timeout', description: 'Request timed out' });
    });
    req.on('error', () => resolve({ ok: false, reason: 'Target.FailedHealthChecks', description: 'Health checks failed' }));
    req.end();
  });
}
