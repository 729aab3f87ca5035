import { loadClientConnectConfig } from '@temporalio/envconfig';
import { existsSync } from 'node:fs';
import { temporalSettingsFromEnv, type TemporalSettings } from '../connection';
import { CliInputError } from './exit-codes';

type Env = Record<string, string | undefined>;

/**
 * The CLI's Temporal settings: the environment variables the workers use (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*), over Temporal's standard client
 * config file (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml, profile
 * TEMPORAL_PROFILE), the one `temporal` itself reads, over the defaults 127.0.0.1:7233 /
 * `default`. Environment beats file, as in Temporal's own clients.
 */
export function cliTemporalSettings(env: Env): TemporalSettings {
  const base = temporalSettingsFromEnv(env);
  // Temporal's loader skips a missing file silently; a file named explicitly that is not there is a mistake to report.
  if (env.TEMPORAL_CONFIG_FILE && !existsSync(env.TEMPORAL_CONFIG_FILE)) {
    throw new CliInputError([`TEMPORAL_CONFIG_FILE: no such file (got ${JSON.stringify(env.TEMPORAL_CONFIG_FILE)})`]);
  }
  let profile: ReturnType<typeof loadClientConnectConfig>;
  try {
    profile = loadClientConnectConfig({ overrideEnvVars: definedOnly(env) });
  } catch (error) {
    const source = env.TEMPORAL_CONFIG_FILE ?? 'the Temporal client config file';
    throw new CliInputError([`TEMPORAL_CONFIG_FILE: cannot use ${source}${env.TEMPORAL_PROFILE ? ` (profile ${env.TEMPORAL_PROFILE})` : ''}: ${(error as Error).message} (got ${JSON.stringify(source)})`]);
  }
  const fromProfile = profile.connectionOptions;
  return {
    ...base,
    namespace: env.TEMPORAL_NAMESPACE ? base.namespace : (profile.namespace ?? base.namespace),
    connection: {
      ...base.connection,
      address: env.TEMPORAL_ADDRESS ? base.connection.address : (fromProfile.address ?? base.connection.address),
      apiKey: base.connection.apiKey ?? fromProfile.apiKey,
      // TLS from the environment (read and validated by temporalSettingsFromEnv) wins over the file's.
      tls: base.connection.tls ?? fromProfile.tls,
      metadata: fromProfile.metadata,
      // A wrong address should fail a CI step in seconds, not hang it.
      connectTimeout: '10s',
    },
  };
}

function definedOnly(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
