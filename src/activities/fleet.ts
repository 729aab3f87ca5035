import { stat } from 'node:fs/promises';
import { loadFleetConfig } from '../shared/config/load';
import { resolveTenantSpec, UnknownTenantError } from '../shared/config/resolve';
import type { FleetConfig } from '../shared/config/schema';
import { ErrorType, permanentFailure } from '../shared/errors';
import { nextDeployOpening as nextOpening, type DeployOpening, type Freeze } from '../shared/maintenance/windows';
import type { TenantSpec } from '../shared/tenant-spec';

/** Reads the worker's fleet config (re-read when the file changes); a permanent failure when absent or invalid. */
export type FleetConfigSource = () => Promise<FleetConfig>;

/**
 * The worker's fleet config, shared by every activity of a worker that needs it. The file is
 * re-read when it changes, so a worker picks up an edited fleet without a restart; an invalid
 * file fails with every field at fault, its value and what was expected.
 */
export function fleetConfigSource(configPath: string | undefined): FleetConfigSource {
  let cached: { mtimeMs: number; config: Promise<FleetConfig> } | undefined;
  return async () => {
    if (!configPath) {
      throw permanentFailure(ErrorType.InvalidInput, 'this worker has no fleet config: set TENANT_FLEET_CONFIG to the fleet YAML file');
    }
    const { mtimeMs } = await stat(configPath);
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, config: loadFleetConfig(configPath) };
    try {
      return await cached.config;
    } catch (error) {
      cached = undefined;
      throw permanentFailure(ErrorType.InvalidInput, `fleet config ${configPath} is invalid: ${(error as Error).message}`, { cause: error });
    }
  };
}

/**
 * The worker's view of the fleet config. A release names thousands of tenants by ID only
 * (their full specs would exceed Temporal's payload limits); each tenant's workflow resolves
 * its spec here, and the result is recorded in that workflow's history.
 */
export function createFleetActivities({ configPath, config = fleetConfigSource(configPath) }: { configPath?: string; config?: FleetConfigSource }) {
  return {
    async loadTenantSpec({ tenantId }: { tenantId: string }): Promise<TenantSpec> {
      try {
        return resolveTenantSpec(await config(), tenantId);
      } catch (error) {
        if (error instanceof UnknownTenantError) throw permanentFailure(ErrorType.UnknownTenant, error.message, { cause: error });
        throw error;
      }
    },
    nextDeployOpening,
  };
}

export type FleetActivities = ReturnType<typeof createFleetActivities>;

/**
 * When a tenant's deploy may start, from `at` (the workflow's clock) on: its windows and freezes
 * come from the release's input, and the answer is recorded, so a replay on a Node with other time
 * zone data still follows it (docs/decisions.md, "Maintenance windows").
 */
function nextDeployOpening({ windows, freezes, at }: { windows: string[]; freezes: Freeze[]; at: number }): Promise<DeployOpening> {
  try {
    return Promise.resolve(nextOpening(windows, freezes, at));
  } catch (error) {
    // A window the config check would have refused (a run started by hand): no retry can fix it.
    if (error instanceof RangeError) throw permanentFailure(ErrorType.InvalidInput, error.message, { cause: error });
    throw error;
  }
}
