import { DescribeDBClustersCommand } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Client } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxAdminClients } from '../sandbox/admin-clients';
import { connectClient, temporalSettingsFromEnv } from '../../src/client/connection';
import { loadFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import { decodePayloads } from './histories';
import { startEntryPoint, type EntryPointProcess } from './node-process';
import { TEST_SANDBOX_DIR } from './sandbox-env';

// The demo in its own sandbox folder beside the test run's, left running (--keep) to be searched.
const DEMO_DIR = `${TEST_SANDBOX_DIR}-demo`;

let demo: EntryPointProcess;
let env: Record<string, string>;
let client: Client;

beforeAll(async () => {
  demo = startEntryPoint({ name: 'demo', entry: 'scripts/demo.ts', args: ['--keep'], env: { TENANT_FLEET_SANDBOX_DIR: DEMO_DIR, CI: 'true' }, logDir: join(DEMO_DIR, '..', 'logs') });
  await demo.waitForOutput(/--keep: sandbox and workers keep running/, 900_000);
  env = parseEnvFile(readFileSync(join(DEMO_DIR, 'env'), 'utf8'));
  client = await connectClient(temporalSettingsFromEnv(env));
}, 960_000);

afterAll(async () => {
  // Only when the test failed before stopping the demo itself.
  await client?.connection.close().catch(() => undefined);
  if (demo) await demo.exited(1_000).catch(() => demo.kill());
});

describe('a full demo run', () => {
  it('exits cleanly from --keep and leaves no secret in any workflow history', async () => {
    const secrets = await knownSecrets();
    // Every tenant's database password (the demo deprovisions globex), the payload key, the UI token, the Kubernetes key.
    expect([...secrets.keys()].filter((what) => what.startsWith('the database password')).length).toBe(11);
    expect([...secrets.keys()]).toEqual(expect.arrayContaining(['a payload encryption key', 'the codec server token', 'the Kubernetes client key']));

    const codecs = temporalSettingsFromEnv(env).dataConverter.payloadCodecs ?? [];
    let histories = 0;
    const leaks: string[] = [];
    for await (const execution of client.workflow.list()) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      await decodePayloads(history, codecs);
      const text = JSON.stringify(history, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
      histories += 1;
      for (const [what, secret] of secrets) if (text.includes(secret)) leaks.push(`${execution.workflowId} (${execution.runId}) holds ${what}`);
      const credential = /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|secretAccessKey|SecretAccessKey|sessionToken|SessionToken|BEGIN [A-Z ]*PRIVATE KEY/.exec(text);
      if (credential) leaks.push(`${execution.workflowId} (${execution.runId}) holds something like a credential: ${credential[0]}`);
    }
    // Provisioning, locks, the release and its tenants, certificates, deprovisioning: dozens of histories.
    expect(histories).toBeGreaterThan(40);
    expect(leaks).toEqual([]);

    // Ctrl-C in a terminal signals tsx and the demo both: the demo still stops everything and exits 0.
    await client.connection.close();
    process.kill(-demo.pid, 'SIGINT');
    expect(await demo.exited(180_000)).toEqual({ code: 0, signal: null });
    expect(demo.output()).toMatch(/cluster tenant-fleet stopped/);
  });
});

/** The real secret values of this demo's sandbox, read from where they live. */
async function knownSecrets(): Promise<Map<string, string>> {
  const secrets = new Map<string, string>();
  const config = await loadFleetConfig(env.TENANT_FLEET_CONFIG!);
  // Reading the secrets is the administrator's business, not the workers' (their roles cannot).
  const aws = sandboxAdminClients(env);
  try {
    for (const t of config.tenants) {
      const tenant = resolveTenantSpec(config, t.id);
      const { DBClusters = [] } = await aws.rds(tenant.aws).send(new DescribeDBClustersCommand({ DBClusterIdentifier: `tenant-${t.id}` })).catch(() => ({ DBClusters: [] }));
      const arn = DBClusters[0]?.MasterUserSecret?.SecretArn;
      if (!arn) continue; // deprovisioned by the demo
      const secretsManager = new SecretsManagerClient({ region: tenant.aws.region, endpoint: env.AWS_ENDPOINT_URL, credentials: aws.credentialsFor(tenant.aws) });
      const { SecretString } = await secretsManager.send(new GetSecretValueCommand({ SecretId: arn }));
      secretsManager.destroy();
      const password = (JSON.parse(SecretString ?? '{}') as { password?: string }).password;
      if (password) secrets.set(`the database password of ${t.id}`, password);
    }
  } finally {
    aws.destroy();
  }
  for (const line of readFileSync(env.TENANT_FLEET_CODEC_KEY_FILE!, 'utf8').split('\n')) {
    const key = /^[^#:\s]+:(\S+)$/.exec(line.trim())?.[1];
    if (key) secrets.set('a payload encryption key', key);
  }
  const token = readFileSync(join(DEMO_DIR, 'codec', 'codec-token'), 'utf8').trim();
  if (token) secrets.set('the codec server token', token);
  const kubeconfig = readFileSync(env.KUBECONFIG!, 'utf8');
  const inlineKey = /client-key-data:\s*(\S+)/.exec(kubeconfig)?.[1];
  const keyFile = /client-key:\s*(\S+)/.exec(kubeconfig)?.[1];
  // A PEM's first base64 line is as unique as the key.
  const kubeKey = inlineKey ?? (keyFile ? readFileSync(keyFile, 'utf8').split('\n')[1] : undefined);
  if (kubeKey) secrets.set('the Kubernetes client key', kubeKey);
  return secrets;
}

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of text.matchAll(/^export ([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) out[match[1]!] = match[2]!.replace(/'\\''/g, "'");
  return out;
}
