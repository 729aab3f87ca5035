import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { ListHostedZonesCommand, ListResourceRecordSetsCommand, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import type { SandboxAdminClients } from '../admin-clients';
import { SANDBOX_ACCOUNTS, SANDBOX_REGION } from '../aws-baseline';
import { adminClients, adminTarget } from './elb-config';
import type { LoadBalancerEntry } from './load-balancer';

/**
 * A tenant hostname as a client would reach it: its Route53 record (an alias, or a CNAME) names a
 * load balancer's DNS name, and the load balancer emulator serves that load balancer's listener on
 * a loopback port. The sandbox has no resolver, so this stands in for DNS.
 */
export interface TenantEndpoint {
  hostname: string;
  loadBalancerArn: string;
  /** The listener's port as AWS has it (443, 80). */
  listenerPort: number;
  /** Where the emulator serves it; send the request there with `Host: <hostname>`. */
  url: string;
}

export class UnresolvedHostnameError extends Error {}

/** The sandbox env file's variables (`export KEY='value'` lines). */
export function readSandboxEnvFile(stateDir: string): Record<string, string> {
  const path = join(stateDir, 'env');
  if (!existsSync(path)) throw new Error(`no sandbox at ${stateDir}: ${path} does not exist (start one with npm run sandbox)`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/'\\''/g, "'");
  }
  return env;
}

export function readLoadBalancers(stateDir: string): LoadBalancerEntry[] {
  const path = join(stateDir, 'data-plane', 'load-balancers.json');
  if (!existsSync(path)) throw new Error(`no load balancer emulator state at ${path}: is the sandbox running?`);
  return JSON.parse(readFileSync(path, 'utf8')) as LoadBalancerEntry[];
}

/** Admin clients for the sandbox in `stateDir` (from its env file). */
export function sandboxClients(stateDir: string): SandboxAdminClients {
  const env = readSandboxEnvFile(stateDir);
  const endpoint = env.TENANT_FLEET_DIRECT_AWS_ENDPOINT_URL ?? env.AWS_ENDPOINT_URL;
  const accessKeyId = env.TENANT_FLEET_SANDBOX_ADMIN_ACCESS_KEY_ID;
  const secretAccessKey = env.TENANT_FLEET_SANDBOX_ADMIN_SECRET_ACCESS_KEY;
  if (!endpoint || !accessKeyId || !secretAccessKey) throw new Error(`the sandbox env file in ${stateDir} lacks AWS_ENDPOINT_URL or the admin keys`);
  return adminClients(endpoint, { accessKeyId, secretAccessKey });
}

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, '').replace(/^dualstack\./, '');

/** Every record in the sandbox's hosted zones (all accounts), with its zone. */
export async function listRecords(clients: SandboxAdminClients): Promise<ResourceRecordSet[]> {
  const records: ResourceRecordSet[] = [];
  for (const account of SANDBOX_ACCOUNTS) {
    const route53 = clients.route53(adminTarget(account.accountId, SANDBOX_REGION));
    for (const zone of (await route53.send(new ListHostedZonesCommand({}))).HostedZones ?? []) {
      let start: { name?: string; type?: string } = {};
      for (;;) {
        const page = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.Id, StartRecordName: start.name, StartRecordType: start.type as never }));
        records.push(...(page.ResourceRecordSets ?? []));
        if (!page.IsTruncated) break;
        start = { name: page.NextRecordName, type: page.NextRecordType };
      }
    }
  }
  return records;
}

/** The load balancer a record points at (through up to a few CNAMEs), or undefined. */
export function loadBalancerOf(hostname: string, records: ResourceRecordSet[], loadBalancers: LoadBalancerEntry[]): LoadBalancerEntry | undefined {
  let name = normalize(hostname);
  for (let hop = 0; hop < 5; hop++) {
    const direct = loadBalancers.find((lb) => normalize(lb.dnsName) === name);
    if (direct) return direct;
    const record = records.find((r) => normalize(r.Name ?? '') === name && (r.AliasTarget || r.Type === 'CNAME'));
    const next = record?.AliasTarget?.DNSName ?? record?.ResourceRecords?.[0]?.Value;
    if (!next) return undefined;
    name = normalize(next);
  }
  return undefined;
}

export function endpointOf(hostname: string, lb: LoadBalancerEntry, port?: number): TenantEndpoint {
  const listener = port !== undefined ? lb.listeners.find((l) => l.port === port) : (lb.listeners.find((l) => l.port === 443) ?? lb.listeners.find((l) => l.port === 80) ?? lb.listeners[0]);
  if (!listener || !listener.localPort) throw new UnresolvedHostnameError(`${hostname}: load balancer ${lb.arn} has no listener${port !== undefined ? ` on port ${port}` : ''} served by the emulator`);
  return { hostname, loadBalancerArn: lb.arn, listenerPort: listener.port, url: `http://127.0.0.1:${listener.localPort}` };
}

/** Route53 record → alias to the load balancer's DNS name → the emulator's local port (DATAPLANE contract). */
export async function resolveTenantEndpoint(stateDir: string, hostname: string, options: { port?: number; clients?: SandboxAdminClients } = {}): Promise<TenantEndpoint> {
  const clients = options.clients ?? sandboxClients(stateDir);
  try {
    const lb = loadBalancerOf(hostname, await listRecords(clients), readLoadBalancers(stateDir));
    if (!lb) throw new UnresolvedHostnameError(`${hostname}: no Route53 record in the sandbox's zones points at a load balancer the emulator serves`);
    return endpointOf(hostname, lb, options.port);
  } finally {
    if (!options.clients) clients.destroy();
  }
}

/** An answer through the load balancer emulator; `version` is the tenant app's (its JSON body names it), absent from the load balancer's own text answers. */
export interface ThroughAnswer {
  status: number;
  body: string;
  version?: string;
  contentType?: string;
  ms: number;
}

/**
 * One request to a listener the emulator serves (`url`: a TenantEndpoint's) with the tenant's Host
 * header, as a user's would arrive (fetch would not send a Host of our own), on a connection of its
 * own, so no kept-alive socket outlives a listener or a target. Rejects when no answer arrives.
 */
export function getThrough(url: string, host: string, options: { path?: string; headers?: Record<string, string> } = {}): Promise<ThroughAnswer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(`${url}${options.path ?? '/'}`, { headers: { host, ...options.headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', reject);
      res.on('end', () => {
        let version: string | undefined;
        try {
          version = (JSON.parse(body) as { version?: string }).version;
        } catch {
          // the load balancer's own answers are text
        }
        const contentType = res.headers['content-type'];
        resolve({ status: res.statusCode ?? 0, body, ...(version ? { version } : {}), ...(contentType ? { contentType } : {}), ms: Date.now() - started });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
