import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError, encodeErrorToFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EncryptionCodec, encryptingDataConverter, keyringFromEnv, parseKeyring } from '../../src/client/codec';
import { ENCRYPTED_ENCODING, METADATA_KEY_ID } from '../../src/client/codec/encryption-codec';
import { tempDir } from '../support/temp-dir';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const K1 = `k1:${key(1)}`;
const K2 = `k2:${key(2)}`;
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

const secretInput = { tenantId: 'acme', databasePasswordParameter: '/tenants/acme/db-password', note: 'hunter2' };
const plain = (): Payload => defaultPayloadConverter.toPayload(secretInput);

describe('EncryptionCodec', () => {
  it('encrypts with the current key, names it in metadata, and decrypts back to the same payload', async () => {
    const codec = new EncryptionCodec(parseKeyring([K1, K2], 'test'));
    const [encrypted] = await codec.encode([plain()]);
    expect(text(encrypted!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encrypted!.metadata![METADATA_KEY_ID])).toBe('k1');
    // Neither the value nor the inner encoding name is visible in what the server stores.
    expect(text(encrypted!.data)).not.toContain('hunter2');
    expect(text(encrypted!.data)).not.toContain('json/plain');
    const [decrypted] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(decrypted!)).toEqual(secretInput);
    expect(text(decrypted!.metadata!.encoding)).toBe('json/plain');
  });

  it('uses a fresh IV per payload, so equal inputs do not produce equal ciphertexts', async () => {
    const codec = new EncryptionCodec(parseKeyring([K1], 'test'));
    const [a, b] = await codec.encode([plain(), plain()]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('after a rotation, new payloads use the new key and payloads written with the old key still decrypt', async () => {
    const before = new EncryptionCodec(parseKeyring([K1], 'test'));
    const [old] = await before.encode([plain()]);
    const after = new EncryptionCodec(parseKeyring([K2, K1], 'test'));
    const [fresh] = await after.encode([plain()]);
    expect(text(fresh!.metadata![METADATA_KEY_ID])).toBe('k2');
    const decoded = await after.decode([old!, fresh!]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([secretInput, secretInput]);
  });

  it('refuses a payload whose key was dropped from the keyring, naming the key ID', async () => {
    const [old] = await new EncryptionCodec(parseKeyring([K1], 'test')).encode([plain()]);
    await expect(new EncryptionCodec(parseKeyring([K2], 'test')).decode([old!])).rejects.toThrow(/key ID "k1", which is not in the keyring \(have "k2"\)/);
  });

  it('detects tampering with the ciphertext, the tag or the key ID', async () => {
    const codec = new EncryptionCodec(parseKeyring([K1, `k1b:${key(1)}`], 'test'));
    const [encrypted] = await codec.encode([plain()]);
    const flipped = (index: number): Payload => {
      const data = Buffer.from(encrypted!.data!);
      data[index] = data[index]! ^ 0x01;
      return { ...encrypted, data };
    };
    await expect(codec.decode([flipped(20)])).rejects.toThrow(/failed authentication/);
    await expect(codec.decode([flipped(encrypted!.data!.length - 1)])).rejects.toThrow(/failed authentication/);
    // Same key bytes under another ID: the key ID is authenticated data, so relabelling fails too.
    const relabelled = { ...encrypted, metadata: { ...encrypted!.metadata, [METADATA_KEY_ID]: Buffer.from('k1b') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/failed authentication/);
    await expect(codec.decode([{ ...encrypted, data: Buffer.alloc(10) }])).rejects.toThrow(/at least 28/);
  });

  it('passes through payloads that were never encrypted (histories from before the codec)', async () => {
    const codec = new EncryptionCodec(parseKeyring([K1], 'test'));
    const [decoded] = await codec.decode([plain()]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(secretInput);
  });
});

describe('keyringFromEnv', () => {
  it('reads TENANT_FLEET_CODEC_KEYS with the first key current', () => {
    const ring = keyringFromEnv({ TENANT_FLEET_CODEC_KEYS: `${K2},${K1}` });
    expect(ring.currentKeyId).toBe('k2');
    expect(ring.keyIds).toEqual(['k2', 'k1']);
  });

  it('reads a key file with one entry per line and comments', () => {
    const dir = tempDir('codec-');
    const file = join(dir, 'keys');
    writeFileSync(file, `# current first\n${K1}\n\n# retired 2025-01\n${K2}\n`);
    expect(keyringFromEnv({ TENANT_FLEET_CODEC_KEY_FILE: file }).keyIds).toEqual(['k1', 'k2']);
  });

  it('refuses to start without keys, naming both variables', () => {
    expect(() => keyringFromEnv({})).toThrow(/TENANT_FLEET_CODEC_KEYS or TENANT_FLEET_CODEC_KEY_FILE: expected one of them to be set \(got neither\)/);
  });

  it('refuses both at once', () => {
    expect(() => keyringFromEnv({ TENANT_FLEET_CODEC_KEYS: K1, TENANT_FLEET_CODEC_KEY_FILE: '/x' })).toThrow(/not both/);
  });

  it('names the variable, the entry and the problem without ever printing key material', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    let message = '';
    try {
      keyringFromEnv({ TENANT_FLEET_CODEC_KEYS: `good:${key(3)},short:${short},bad id:${key(4)},nocolon${key(5)},good:${key(6)}` });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('TENANT_FLEET_CODEC_KEYS is invalid');
    expect(message).toContain('entry 2 (key ID "short") key: expected base64 of exactly 32 bytes (an AES-256 key) (got 16 bytes, value not shown)');
    expect(message).toContain('entry 3 key ID: expected 1-64 letters');
    expect(message).toContain('entry 4: expected "keyId:base64key"');
    expect(message).toContain('entry 5: key ID "good" appears twice');
    for (const secret of [key(3), short, key(4), key(5), key(6)]) expect(message).not.toContain(secret);
  });

  it('names the key file when it cannot be read', () => {
    expect(() => keyringFromEnv({ TENANT_FLEET_CODEC_KEY_FILE: '/nonexistent/keys' })).toThrow(/TENANT_FLEET_CODEC_KEY_FILE: cannot read "\/nonexistent\/keys" \(ENOENT\)/);
  });
});

describe('the data converter encrypts failure messages and stack traces too', () => {
  // What a client or the worker's main thread (activity failures) does with an error; workflow code gets the same converter through the bundle (see the codec-server integration test).
  const converter = loadDataConverter(encryptingDataConverter(parseKeyring([K1], 'test')));

  it('keeps neither the message nor the stack trace readable, and decodes both back', async () => {
    const error = ApplicationFailure.nonRetryable('AccessDenied for arn:aws:iam::111111111111:role/tenant-acme-app', 'AwsAccessDenied');
    const failure = await encodeErrorToFailure(converter, error);
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace).toBe('');
    const stored = JSON.stringify(failure, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value));
    expect(stored).not.toContain('111111111111');
    expect(stored).not.toContain('codec.test');
    expect(text(failure.encodedAttributes!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);

    const decoded = await decodeOptionalFailureToOptionalError(converter, failure);
    expect(decoded).toBeInstanceOf(ApplicationFailure);
    expect(decoded!.message).toBe('AccessDenied for arn:aws:iam::111111111111:role/tenant-acme-app');
    expect((decoded as ApplicationFailure).type).toBe('AwsAccessDenied');
    expect(decoded!.stack).toContain('codec.test');
  });
});
