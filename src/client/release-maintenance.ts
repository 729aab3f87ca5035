import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { workflowIds } from '../shared/ids';
import type { ReleaseTenantResult, ReleaseWaveInput, TenantReleaseRecord } from '../shared/messages/release';
import { existingWorkflowInput } from './request-differences';
import { mapLimit } from './cli/concurrency';

/**
 * The maintenance outage of each tenant of a release in maintenance mode (docs/releases.md,
 * "Maintenance mode"), as the product knows it: from the moment its listener rule answered with
 * the maintenance page to the moment traffic returned, both on the tenant workflow's clock (its
 * result's `maintenance`). The prober's outage, which users saw, adds the answers in flight around them.
 */
export interface MaintenanceOutage {
  pageFrom: string;
  trafficBack?: string;
  /** Absent while traffic has not returned (a rollback that failed leaves none). */
  ms?: number;
}

export function maintenanceOutageOf(result: Pick<ReleaseTenantResult, 'maintenance'> | undefined): MaintenanceOutage | undefined {
  const m = result?.maintenance;
  if (!m) return undefined;
  const ms = m.trafficBack ? Date.parse(m.trafficBack) - Date.parse(m.pageFrom) : NaN;
  return { pageFrom: m.pageFrom, ...(m.trafficBack ? { trafficBack: m.trafficBack } : {}), ...(Number.isFinite(ms) ? { ms } : {}) };
}

/** `maintenance page 12.3 s`, or `maintenance page since <time>, traffic not back` when it never returned. */
export function describeMaintenanceOutage(outage: MaintenanceOutage | undefined): string {
  if (!outage) return '';
  if (outage.ms === undefined) return `maintenance page since ${outage.pageFrom}, traffic not back`;
  return `maintenance page ${(outage.ms / 1000).toFixed(1)} s`;
}

/** Statuses whose tenant workflow has ended with a result (a skipped tenant may have none). */
const FINISHED: readonly TenantReleaseRecord['status'][] = ['succeeded', 'rolled-back', 'rollback-failed'];

/** The release's input as it started (one read of its start event): its options, version and manifest. */
export async function releaseInputOf(client: Client, releaseId: string): Promise<Partial<ReleaseWaveInput> | undefined> {
  return (await existingWorkflowInput(client, workflowIds.release(releaseId))) as Partial<ReleaseWaveInput> | undefined;
}

/**
 * Each listed tenant's outage, for a release started in maintenance mode; undefined for any
 * other release (its input, `releaseInputOf`, says which).
 */
export async function maintenanceOutages(
  client: Client,
  releaseId: string,
  tenants: Record<string, Pick<TenantReleaseRecord, 'status'>>,
  /** The release's input when the caller has read it already; read here otherwise. */
  given?: Partial<ReleaseWaveInput>,
): Promise<Record<string, MaintenanceOutage | undefined> | undefined> {
  const input = given ?? (await releaseInputOf(client, releaseId));
  if (!input?.options?.maintenanceMode) return undefined;
  return outagesOf(tenants, async (tenantId) => {
    const handle = client.workflow.getHandle(workflowIds.releaseTenant(releaseId, tenantId));
    return (handle.result() as Promise<ReleaseTenantResult>).catch((error: unknown) => {
      // Its history is gone (retention), it never ran, or it was terminated: no result to show.
      if (error instanceof WorkflowNotFoundError || error instanceof WorkflowFailedError) return undefined;
      throw error;
    });
  });
}

/** Only tenants whose workflow has finished are read (a running one's result would wait for it), a few at a time. */
export async function outagesOf(
  tenants: Record<string, Pick<TenantReleaseRecord, 'status'>>,
  resultOf: (tenantId: string) => Promise<Pick<ReleaseTenantResult, 'maintenance'> | undefined>,
): Promise<Record<string, MaintenanceOutage | undefined>> {
  const finished = Object.entries(tenants).filter(([, t]) => FINISHED.includes(t.status)).map(([id]) => id);
  return Object.fromEntries(await mapLimit(finished, 8, async (tenantId) => [tenantId, maintenanceOutageOf(await resultOf(tenantId))] as const));
}
