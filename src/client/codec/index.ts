import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import { keyringFromEnv, type Keyring } from './keyring';

export { EncryptionCodec } from './encryption-codec';
export { CodecKeyConfigError, keyringFromEnv, parseKeyring, type Keyring } from './keyring';

/** The failure converter's module, for `failureConverterPath` and the workflow bundle (see failure-converter.ts). */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The one data converter every client and worker uses: payloads and failure messages encrypted. */
export function encryptingDataConverter(keyring: Keyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keyring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  return encryptingDataConverter(keyringFromEnv(env));
}
