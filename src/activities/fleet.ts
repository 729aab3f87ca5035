import { stat } from 'node:fs/promises';
import { loadFleetConfig } from '../shared/config/load';
import { resolveTenantSpec, UnknownTenantError } from '../shared/config/resolve';
import type { FleetConfig } from '../shared/config/schema';
import { ErrorType, permanentFailure } from '../shared/errors';
import type { TenantSpec } from '../shared/tenant-spec';

/**
 * The worker's view of the fleet config. A release names thousands of tenants by ID only
 * (their full specs would exceed Temporal's payload limits); each tenant's workflow resolves
 * its spec here, and the result is recorded in that workflow's history.
 */
export function createFleetActivities({ configPath }: { configPath?: string }) {
  let cached: { mtimeMs: number; config: Promise<FleetConfig> } | undefined;

  const config = async (): Promise<FleetConfig> => {
    if (!configPath) {
      throw permanentFailure(ErrorType.InvalidInput, 'this worker has no fleet config: set TENANT_FLEET_CONFIG to the fleet YAML file');
    }
    const { mtimeMs } = await stat(configPath);
    // Re-read when the file changes, so a worker picks up an edited fleet without a restart.
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, config: loadFleetConfig(configPath) };
    try {
      return await cached.config;
    } catch (error) {
      cached = undefined;
      throw permanentFailure(ErrorType.InvalidInput, `fleet config ${configPath} is invalid: ${(error as Error).message}`, { cause: error });
    }
  };

  return {
    async loadTenantSpec({ tenantId }: { tenantId: string }): Promise<TenantSpec> {
      try {
        return resolveTenantSpec(await config(), tenantId);
      } catch (error) {
        if (error instanceof UnknownTenantError) throw permanentFailure(ErrorType.UnknownTenant, error.message, { cause: error });
        throw error;
      }
    },
  };
}

export type FleetActivities = ReturnType<typeof createFleetActivities>;
