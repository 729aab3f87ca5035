import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256Hex } from '../../src/codec-server/callers';
import { oidcConfigSchema } from '../../src/codec-server/oidc';
import { createCodecServer } from '../../src/codec-server/server';

/**
 * The codec server accepting the Temporal UI's OIDC access tokens: real RS256 signatures checked
 * against a JWKS served on 127.0.0.1 by this test, as an identity provider would publish it.
 */
const ISSUER = 'https://login.example.test/realms/ops';
const AUDIENCE = 'temporal-ui';
const staticToken = 'static-token-for-the-cli-0123456789';
// An identity codec: what matters here is who gets an answer, not the encryption (tested elsewhere).
const codec = { encode: (p: Payload[]) => Promise.resolve(p), decode: (p: Payload[]) => Promise.resolve(p) };

let idpKey: KeyLike;
let otherKey: KeyLike;
let jwks: Server;
let codecServer: Server;
let url: string;
let jwksRequests = 0;

const listen = (server: Server) =>
  new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

beforeAll(async () => {
  ({ privateKey: idpKey } = await generateKeyPair('RS256'));
  const idpPublic = await publicJwk(idpKey);
  ({ privateKey: otherKey } = await generateKeyPair('RS256'));
  jwks = createServer((_req, res) => {
    jwksRequests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [{ ...idpPublic, kid: 'idp-1', alg: 'RS256', use: 'sig' }] }));
  });
  const jwksUrl = `${await listen(jwks)}/realms/ops/protocol/openid-connect/certs`;
  const oidc = oidcConfigSchema.parse({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: jwksUrl,
    nameClaim: 'email',
    namespaces: [
      { claim: 'groups', value: 'fleet-oncall', namespaces: ['tenant-fleet-prod', 'tenant-fleet-staging'] },
      { claim: 'realm_access.roles', value: 'auditor', namespaces: ['*'] },
    ],
  });
  codecServer = createCodecServer({
    codec,
    callers: [{ name: 'ci', tokenSha256: sha256Hex(staticToken), namespaces: ['tenant-fleet-staging'] }],
    oidc,
    allowedOrigins: [],
    log: () => undefined,
  });
  url = await listen(codecServer);
});

afterAll(async () => {
  await new Promise((r) => codecServer.close(r));
  await new Promise((r) => jwks.close(r));
});

/** The public half as a JWK, as the identity provider publishes it. */
async function publicJwk(privateKey: KeyLike): Promise<JWK> {
  const { n, e, kty } = await exportJWK(privateKey);
  return { n, e, kty };
}

interface TokenOptions {
  key?: KeyLike;
  kid?: string;
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
  claims?: Record<string, unknown>;
}
const token = ({ key = idpKey, kid = 'idp-1', issuer = ISSUER, audience = AUDIENCE, expiresIn = '5m', claims = { email: 'ana@example.test', groups: ['fleet-oncall'] } }: TokenOptions = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(issuer).setAudience(audience).setSubject('user-1').setIssuedAt().setExpirationTime(expiresIn).sign(key);

const decode = (bearer: string, namespace: string) =>
  fetch(`${url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, 'x-namespace': namespace },
    body: JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"secret"').toString('base64') }] }),
  });

describe('codec server with OIDC access tokens', () => {
  it('decodes for a valid token whose claims map to the namespace', async () => {
    const response = await decode(await token(), 'tenant-fleet-prod');
    expect(response.status).toBe(200);
    const { payloads } = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    const payload: Payload = { metadata: { encoding: Buffer.from(payloads[0]!.metadata.encoding!, 'base64') }, data: Buffer.from(payloads[0]!.data, 'base64') };
    expect(defaultPayloadConverter.fromPayload(payload)).toBe('secret');
  });

  it('maps nested claims (Keycloak realm roles) and "*"', async () => {
    const auditor = await token({ claims: { email: 'eve@example.test', realm_access: { roles: ['auditor'] } } });
    expect((await decode(auditor, 'any-namespace')).status).toBe(200);
  });

  it('refuses a valid token for a namespace its claims do not grant (403)', async () => {
    const response = await decode(await token(), 'other-team');
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('caller \\"oidc:ana@example.test\\" may not use the codec for namespace \\"other-team\\"');
    const noGroups = await token({ claims: { email: 'bob@example.test', groups: ['developers'] } });
    expect((await decode(noGroups, 'tenant-fleet-prod')).status).toBe(403);
  });

  it.each([
    ['signed by another key under the same key ID', { key: 'other' }, "signature does not verify with the issuer's keys"],
    ['signed by a key the issuer does not publish', { key: 'other', kid: 'unknown' }, "not in the issuer's key set"],
    ['from another issuer', { issuer: 'https://evil.example.test' }, 'iss claim'],
    ['for another audience', { audience: 'someone-else' }, 'aud claim'],
    ['expired', { expiresIn: Math.floor(Date.now() / 1000) - 120 }, 'expired'],
  ])('refuses a token %s (401) and says why', async (_what, options, reason) => {
    const { key, ...rest } = options as TokenOptions & { key?: string };
    const response = await decode(await token({ ...rest, key: key === 'other' ? otherKey : idpKey }), 'tenant-fleet-prod');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await response.text()).toContain(reason);
  });

  it('refuses an unsigned token (alg none) and a forged HS256 one', async () => {
    const claims = { iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300, groups: ['fleet-oncall'] };
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expect((await decode(unsigned, 'tenant-fleet-prod')).status).toBe(401);
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'idp-1' }).sign(new TextEncoder().encode('guessable-secret-guessable-secret'));
    expect((await decode(hs256, 'tenant-fleet-prod')).status).toBe(401);
  });

  it('still accepts static tokens, and fetches the key set once for many tokens', async () => {
    expect((await decode(staticToken, 'tenant-fleet-staging')).status).toBe(200);
    expect((await decode(staticToken, 'tenant-fleet-prod')).status).toBe(403);
    expect(jwksRequests).toBe(1);
  });

  it('answers 503, not 401, when the issuer\'s key set cannot be read: the token may be fine', async () => {
    // A port that was just free: nothing answers there.
    const gone = createServer();
    const goneUrl = await listen(gone);
    await new Promise((r) => gone.close(r));
    const server = createCodecServer({
      codec,
      callers: [],
      oidc: oidcConfigSchema.parse({ issuer: ISSUER, audience: AUDIENCE, jwksUri: `${goneUrl}/certs`, namespaces: [{ claim: 'groups', value: 'fleet-oncall', namespaces: ['*'] }] }),
      allowedOrigins: [],
      log: () => undefined,
    });
    const base = await listen(server);
    try {
      const response = await fetch(`${base}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}`, 'x-namespace': 'tenant-fleet-prod' },
        body: JSON.stringify({ payloads: [] }),
      });
      expect(response.status).toBe(503);
      expect(await response.text()).toContain("the issuer's key set");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
