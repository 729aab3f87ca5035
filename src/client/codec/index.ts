import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import { keyringFromEnv, type Keyring } from './keyring';

export { EncryptionCodec } from './encryption-codec';
export { CodecKeyConfigError, keyringFromEnv, parseKeyring, type Keyring } from './keyring';

/**
 * The one data converter every client and worker uses. (Failure messages stay readable in
 * history: encrypting them too needs a failure converter inside the workflow bundle, see
 * README "Security".)
 */
export function encryptingDataConverter(keyring: Keyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keyring)] };
}

export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  return encryptingDataConverter(keyringFromEnv(env));
}
