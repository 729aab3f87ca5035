import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from './keyring';

/** Metadata of an encrypted payload; the key ID lets a rotated keyring pick the right key. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
export const METADATA_CIPHER = 'encryption-cipher';
const CIPHER = 'aes-256-gcm';
const CIPHER_LABEL = 'AES-256-GCM';

const IV_BYTES = 12; // GCM's standard nonce size; random per payload
const TAG_BYTES = 16;

/**
 * Encrypts each whole payload (its metadata too, since the encoding name can reveal what is
 * inside) with AES-256-GCM. Layout of `data`: IV | ciphertext | tag. The key ID and cipher
 * are bound to the ciphertext as additional authenticated data, so swapping the metadata to
 * another key or another payload's metadata fails authentication instead of misdecoding.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: Keyring) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    // Errors must reject the promise, not throw synchronously out of encode().
    return Promise.resolve().then(() => payloads.map((payload) => this.encrypt(payload)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    // Payloads written before the codec existed stay readable; they are not encrypted to begin with.
    return Promise.resolve().then(() => payloads.map((payload) => (isEncrypted(payload) ? this.decrypt(payload) : payload)));
  }

  private encrypt(payload: Payload): Payload {
    const keyId = this.keyring.currentKeyId;
    const key = this.keyring.key(keyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(keyId));
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
        [METADATA_KEY_ID]: Buffer.from(keyId),
        [METADATA_CIPHER]: Buffer.from(CIPHER_LABEL),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    const keyIdBytes = payload.metadata?.[METADATA_KEY_ID];
    if (!keyIdBytes) throw new ValueError(`encrypted payload has no "${METADATA_KEY_ID}" metadata (expected the ID of the key that encrypted it)`);
    const keyId = Buffer.from(keyIdBytes).toString('utf8');
    const cipherLabel = payload.metadata?.[METADATA_CIPHER];
    if (cipherLabel && Buffer.from(cipherLabel).toString('utf8') !== CIPHER_LABEL) {
      throw new ValueError(`encrypted payload uses cipher ${JSON.stringify(Buffer.from(cipherLabel).toString('utf8'))} (expected ${CIPHER_LABEL})`);
    }
    const key = this.keyring.key(keyId);
    if (!key) {
      throw new ValueError(
        `payload was encrypted with key ID ${JSON.stringify(keyId)}, which is not in the keyring (have ${this.keyring.keyIds.map((id) => JSON.stringify(id)).join(', ')}); ` +
          'keep retired keys after the current one so old histories stay readable',
      );
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError(`encrypted payload is ${data.length} bytes (expected at least ${IV_BYTES + TAG_BYTES}: IV and tag)`);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const decipher = createDecipheriv(CIPHER, key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(keyId));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
    } catch (error) {
      throw new ValueError(`encrypted payload (key ID ${JSON.stringify(keyId)}) failed authentication: it was altered, or the key with this ID is not the one that encrypted it`, error);
    }
    const decoded = temporal.api.common.v1.Payload.decode(plaintext);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

function isEncrypted(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  return encoding !== undefined && encoding !== null && Buffer.from(encoding).toString('utf8') === ENCRYPTED_ENCODING;
}

function aad(keyId: string): Buffer {
  return Buffer.from(`${CIPHER_LABEL}\0${keyId}`);
}
