import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { generateKeyPair, exportJWK, SignJWT, type KeyLike } from 'jose';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { EncryptionCodec, parseKeyring } from '../../src/client/codec';
import { connectClient, temporalSettingsFromEnv } from '../../src/client/connection';
import { sha256Hex } from '../../src/codec-server/callers';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { freeLoopbackPort } from '../sandbox/ports';
import { startHarness } from './harness';
import { startEntryPoint, type EntryPointProcess } from './node-process';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: { metadata: Record<string, string>; data?: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

/** The production entry point (src/codec-server/main.ts) as its own process on a free loopback port. */
describe('codec server', () => {
  const dir = join(TEST_SANDBOX_DIR, 'codec-server-test');
  const retiredKey = `k1:${randomBytes(32).toString('base64')}`;
  const keys = `k2:${randomBytes(32).toString('base64')},${retiredKey}`;
  const opsToken = randomBytes(24).toString('base64url');
  const otherTeamToken = randomBytes(24).toString('base64url');
  const uiOrigin = 'http://127.0.0.1:8233';
  const issuer = 'https://login.example.test/realms/ops';
  let server: EntryPointProcess;
  let url: string;
  // The identity provider's signing key and its JWKS on loopback, as the Temporal UI's login would have them.
  let idpKey: KeyLike;
  let jwks: Server;

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    ({ privateKey: idpKey } = await generateKeyPair('RS256'));
    const { n, e, kty } = await exportJWK(idpKey);
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ n, e, kty, kid: 'k1', alg: 'RS256' }] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const callersFile = join(dir, 'callers.yaml');
    writeFileSync(
      callersFile,
      toYaml({
        callers: [
          { name: 'ops', tokenSha256: sha256Hex(opsToken), namespaces: ['tenant-fleet'] },
          { name: 'other-team', tokenSha256: sha256Hex(otherTeamToken), namespaces: ['other'] },
        ],
        oidc: {
          issuer,
          audience: 'temporal-ui',
          jwksUri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`,
          nameClaim: 'email',
          namespaces: [{ claim: 'groups', value: 'fleet-oncall', namespaces: ['tenant-fleet'] }],
        },
      }),
    );
    const port = await freeLoopbackPort();
    url = `http://127.0.0.1:${port}`;
    server = startEntryPoint({
      name: 'codec-server',
      entry: 'src/codec-server/main.ts',
      logDir: dir,
      env: {
        TENANT_FLEET_CODEC_KEYS: keys,
        TENANT_FLEET_CODEC_SERVER_PORT: String(port),
        TENANT_FLEET_CODEC_SERVER_CALLERS_FILE: callersFile,
        TENANT_FLEET_CODEC_SERVER_ALLOWED_ORIGINS: uiOrigin,
      },
    });
    await server.waitForOutput(/codec server listening/);
  });

  afterAll(async () => {
    server.signal('SIGTERM');
    expect((await server.exited(10_000)).code).toBe(0);
    await new Promise((resolve) => jwks.close(resolve));
  });

  const encrypted = async (value: unknown, keyring = keys) =>
    (await new EncryptionCodec(parseKeyring(keyring.split(','), 'test')).encode([defaultPayloadConverter.toPayload(value)]))[0]!;

  const post = (path: string, headers: Record<string, string>, payloads: Payload[]) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ payloads: payloads.map(toJson) }) });

  it('decodes for an allowed caller, also payloads written with a retired key', async () => {
    const current = await encrypted({ tenantId: 'acme', step: 'deploy' });
    const old = await encrypted({ tenantId: 'acme', step: 'old' }, retiredKey);
    const response = await post('/decode', { authorization: `Bearer ${opsToken}`, 'x-namespace': 'tenant-fleet', origin: uiOrigin }, [current, old]);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    const body = (await response.json()) as { payloads: { metadata: Record<string, string>; data?: string }[] };
    expect(body.payloads.map((p) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual([
      { tenantId: 'acme', step: 'deploy' },
      { tenantId: 'acme', step: 'old' },
    ]);
  });

  it('encodes for an allowed caller (the UI sends signal and start inputs through /encode)', async () => {
    const response = await post('/encode', { authorization: `Bearer ${opsToken}`, 'x-namespace': 'tenant-fleet' }, [defaultPayloadConverter.toPayload('approve')]);
    expect(response.status).toBe(200);
    const [payload] = ((await response.json()) as { payloads: { metadata: Record<string, string>; data?: string }[] }).payloads;
    expect(Buffer.from(payload!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
  });

  it('refuses a caller without a token (401) or with an unknown one (401), and reveals nothing', async () => {
    const payload = await encrypted({ secret: 'do-not-show' });
    const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${randomBytes(24).toString('base64url')}` }, { authorization: `Basic ${opsToken}` }];
    for (const headers of attempts) {
      const response = await post('/decode', { 'x-namespace': 'tenant-fleet', ...headers }, [payload]);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.text()).not.toContain('do-not-show');
    }
  });

  it('refuses a known caller for a namespace it may not see (403)', async () => {
    const response = await post('/decode', { authorization: `Bearer ${otherTeamToken}`, 'x-namespace': 'tenant-fleet' }, [await encrypted('x')]);
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('caller \\"other-team\\" may not use the codec for namespace \\"tenant-fleet\\"');
  });

  it('answers the UI origin’s CORS preflight and refuses other origins', async () => {
    const preflight = await fetch(`${url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: uiOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
    const evil = await post('/decode', { authorization: `Bearer ${opsToken}`, 'x-namespace': 'tenant-fleet', origin: 'https://evil.example.com' }, [await encrypted('x')]);
    expect(evil.status).toBe(403);
  });

  it('accepts the Temporal UI’s OIDC access token from the configured issuer, for the namespaces its claims grant', async () => {
    const accessToken = (groups: string[], key: KeyLike = idpKey) =>
      new SignJWT({ email: 'ana@example.test', groups }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(issuer).setAudience('temporal-ui').setExpirationTime('5m').sign(key);
    const payload = await encrypted({ tenantId: 'acme' });
    const ok = await post('/decode', { authorization: `Bearer ${await accessToken(['fleet-oncall'])}`, 'x-namespace': 'tenant-fleet', origin: uiOrigin }, [payload]);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { payloads: { metadata: Record<string, string>; data?: string }[] };
    expect(defaultPayloadConverter.fromPayload(fromJson(body.payloads[0]!))).toEqual({ tenantId: 'acme' });
    expect((await post('/decode', { authorization: `Bearer ${await accessToken(['developers'])}`, 'x-namespace': 'tenant-fleet' }, [payload])).status).toBe(403);
    const { privateKey: forger } = await generateKeyPair('RS256');
    const forged = await post('/decode', { authorization: `Bearer ${await accessToken(['fleet-oncall'], forger)}`, 'x-namespace': 'tenant-fleet' }, [payload]);
    expect(forged.status).toBe(401);
    expect(await forged.text()).not.toContain('acme');
    expect(server.output()).toContain('"caller":"oidc:ana@example.test"');
  });

  it('does not take tokens in the path unless configured to (production default)', async () => {
    const response = await post(`/${opsToken}/decode`, { 'x-namespace': 'tenant-fleet' }, [await encrypted('x')]);
    expect(response.status).toBe(404);
  });

  it('reports a payload it cannot decrypt without echoing it', async () => {
    const foreign = await encrypted({ secret: 'do-not-show' }, `k9:${randomBytes(32).toString('base64')}`);
    const response = await post('/decode', { authorization: `Bearer ${opsToken}`, 'x-namespace': 'tenant-fleet' }, [foreign]);
    expect(response.status).toBe(422);
    expect(await response.text()).toMatch(/key ID \\"k9\\", which is not in the keyring/);
  });

  it('never writes tokens into its access log', () => {
    expect(server.output()).toContain('"caller":"ops"');
    expect(server.output()).not.toContain(opsToken);
    expect(server.output()).not.toContain(otherTeamToken);
  });
});

/** The sandbox: clients encrypt what Temporal stores, and the UI is configured with the codec server. */
describe('sandbox payload encryption', () => {
  const env = sandboxEnv();

  it('stores only ciphertext in history, and the UI’s codec endpoint decodes it for the UI origin', async () => {
    const client = await connectClient(temporalSettingsFromEnv(env));
    const workflowId = `codec-probe-${randomBytes(4).toString('hex')}`;
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    // No worker serves this queue: the workflow only has to exist for its input to be in history.
    const handle = await client.workflow.start('codecProbe', { taskQueue: 'codec-probe', workflowId, args: [{ marker }] });
    try {
      const raw = await client.connection.workflowService.getWorkflowExecutionHistory({ namespace: env.TEMPORAL_NAMESPACE, execution: { workflowId } });
      const input = raw.history!.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      expect(Buffer.from(input.metadata!.encoding!).toString()).toBe('binary/encrypted');
      expect(Buffer.from(input.data!).toString('latin1')).not.toContain(marker);

      const settings = (await (await fetch(`${env.TEMPORAL_UI_URL}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
      const uiEndpoint = settings.Codec?.Endpoint;
      expect(uiEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.+/);
      const decoded = await fetch(`${uiEndpoint}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': env.TEMPORAL_NAMESPACE!, origin: env.TEMPORAL_UI_URL! },
        body: JSON.stringify({ payloads: [toJson(input)] }),
      });
      expect(decoded.status).toBe(200);
      const [payload] = ((await decoded.json()) as { payloads: { metadata: Record<string, string>; data?: string }[] }).payloads;
      expect(defaultPayloadConverter.fromPayload(fromJson(payload!))).toEqual({ marker });

      // The base URL without the token refuses the same request.
      const refused = await fetch(`${env.TEMPORAL_CODEC_ENDPOINT}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': env.TEMPORAL_NAMESPACE! },
        body: JSON.stringify({ payloads: [toJson(input)] }),
      });
      expect(refused.status).toBe(401);
    } finally {
      await handle.terminate('codec probe done');
      await client.connection.close();
    }
  });
});

/** Failures carry secrets as payloads do (AWS messages name accounts and resources): they are encrypted too. */
describe('sandbox failure encryption', () => {
  it('a failed workflow’s history holds no plaintext failure message; the client and the UI’s codec endpoint decode it', async () => {
    const h = await startHarness();
    const workflowId = `tenant/failure-probe-${randomBytes(4).toString('hex')}/provision`;
    try {
      // An invalid tenant ID fails in workflow code, so the failure passes the workflow bundle's converter.
      const tenant = { ...h.tenant('acme'), id: 'Probe_Tenant!' };
      const handle = await h.client.workflow.start('provisionTenant', { workflowId, taskQueue: TASK_QUEUES.workflows, args: [{ tenant }] });
      const error = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WorkflowFailedError);
      const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause.message).toContain('tenant.id: expected 2-32 lowercase letters');
      expect(cause.stack).toContain('provision-tenant');

      const raw = await h.client.connection.workflowService.getWorkflowExecutionHistory({ namespace: h.env.TEMPORAL_NAMESPACE, execution: { workflowId } });
      const text = JSON.stringify(raw.history, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value));
      expect(text).not.toContain('expected 2-32 lowercase');
      expect(text).not.toContain('Probe_Tenant!');
      expect(text).not.toContain('provision-tenant');
      const failed = raw.history!.events!.find((e) => e.workflowExecutionFailedEventAttributes)!.workflowExecutionFailedEventAttributes!.failure!;
      expect(failed.message).toBe('Encoded failure');
      expect(Buffer.from(failed.encodedAttributes!.metadata!.encoding!).toString()).toBe('binary/encrypted');

      const settings = (await (await fetch(`${h.env.TEMPORAL_UI_URL}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
      const decoded = await fetch(`${settings.Codec!.Endpoint!}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': h.env.TEMPORAL_NAMESPACE!, origin: h.env.TEMPORAL_UI_URL! },
        body: JSON.stringify({ payloads: [toJson(failed.encodedAttributes as Payload)] }),
      });
      expect(decoded.status).toBe(200);
      const [attributes] = ((await decoded.json()) as { payloads: { metadata: Record<string, string>; data?: string }[] }).payloads;
      expect(defaultPayloadConverter.fromPayload<{ message: string }>(fromJson(attributes!)).message).toContain('tenant.id: expected 2-32 lowercase letters');
    } finally {
      await h.stop();
    }
  });
});
