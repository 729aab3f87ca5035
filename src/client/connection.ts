import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseOrThrow } from '../shared/validation';
import { dataConverterFromEnv } from './codec';

/**
 * Connection settings from the environment, using the names of Temporal's own clients
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*), so one
 * `.sandbox/env` or CI secret set serves `temporal`, `tenantctl` and the workers.
 */
const temporalEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port').default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
}).refine((env) => Boolean(env.TEMPORAL_TLS_CLIENT_CERT_PATH) === Boolean(env.TEMPORAL_TLS_CLIENT_KEY_PATH), {
  // Half a client certificate would silently fall back to server-only TLS and fail at the frontend.
  path: ['TEMPORAL_TLS_CLIENT_KEY_PATH'],
  message: 'expected TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH together (mutual TLS needs both)',
});

export interface TemporalSettings {
  namespace: string;
  /** Accepted by both the client's Connection and the worker's NativeConnection. */
  connection: ConnectionOptions & { apiKey?: string };
  /** Encrypts every payload (src/client/codec); clients and workers must share it. */
  dataConverter: DataConverter;
}

export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const settings = parseOrThrow(temporalEnvSchema, env, 'Temporal connection settings (environment)');
  const mtls = settings.TEMPORAL_TLS_CLIENT_CERT_PATH && settings.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const tlsWanted = settings.TEMPORAL_TLS === 'true' || Boolean(mtls) || Boolean(settings.TEMPORAL_API_KEY);
  return {
    namespace: settings.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFromEnv(env),
    connection: {
      address: settings.TEMPORAL_ADDRESS,
      apiKey: settings.TEMPORAL_API_KEY,
      tls: tlsWanted
        ? {
            serverNameOverride: settings.TEMPORAL_TLS_SERVER_NAME,
            serverRootCACertificate: settings.TEMPORAL_TLS_SERVER_CA_CERT_PATH ? readFileSync(settings.TEMPORAL_TLS_SERVER_CA_CERT_PATH) : undefined,
            clientCertPair: mtls
              ? { crt: readFileSync(settings.TEMPORAL_TLS_CLIENT_CERT_PATH!), key: readFileSync(settings.TEMPORAL_TLS_CLIENT_KEY_PATH!) }
              : undefined,
          }
        : undefined,
    },
  };
}

export async function connectClient(settings: TemporalSettings = temporalSettingsFromEnv()): Promise<Client> {
  const connection = await Connection.connect(settings.connection);
  return new Client({ connection, namespace: settings.namespace, dataConverter: settings.dataConverter });
}
