import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporalSettingsFromEnv } from '../../src/client/connection';
import { tempDir } from '../support/temp-dir';

const keys = { TENANT_FLEET_CODEC_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}` };

describe('temporalSettingsFromEnv', () => {
  it('always carries the encrypting data converter', () => {
    const settings = temporalSettingsFromEnv(keys);
    expect(settings.dataConverter.payloadCodecs).toHaveLength(1);
    expect(settings.connection).toMatchObject({ address: '127.0.0.1:7233', tls: undefined });
  });

  it('refuses to build settings without payload keys', () => {
    expect(() => temporalSettingsFromEnv({})).toThrow(/TENANT_FLEET_CODEC_KEYS or TENANT_FLEET_CODEC_KEY_FILE/);
  });

  it('turns TLS on for an API key (Temporal Cloud)', () => {
    const settings = temporalSettingsFromEnv({ ...keys, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'secret' });
    expect(settings.connection.apiKey).toBe('secret');
    expect(settings.connection.tls).toBeDefined();
  });

  it('reads a client certificate pair for mutual TLS', () => {
    const dir = tempDir('mtls-');
    writeFileSync(join(dir, 'c.pem'), 'CERT');
    writeFileSync(join(dir, 'k.pem'), 'KEY');
    const settings = temporalSettingsFromEnv({ ...keys, TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'c.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'k.pem') });
    const tls = settings.connection.tls as { clientCertPair?: { crt: Buffer; key: Buffer } };
    expect(tls.clientCertPair?.crt.toString()).toBe('CERT');
    expect(tls.clientCertPair?.key.toString()).toBe('KEY');
  });

  it('refuses half a client certificate, naming both variables', () => {
    expect(() => temporalSettingsFromEnv({ ...keys, TEMPORAL_TLS_CLIENT_CERT_PATH: '/x/c.pem' })).toThrow(
      /TEMPORAL_TLS_CLIENT_KEY_PATH: expected TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH together/,
    );
  });
});
