import type { Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';

/**
 * What an idempotent start compares when its workflow ID is taken: the request that started the
 * existing workflow against the new one, field by field, so a refusal names each difference with
 * both values. Shared by releases (release-request.ts) and provisioning (tenants.ts).
 */

/** One field where the existing workflow's request and a new request differ, with both values (plain JSON). */
export interface RequestDifference {
  field: string;
  existing: unknown;
  requested: unknown;
}

/**
 * The input `workflowId` was started with: its first run's, since that is what the client asked
 * for (later runs are continue-as-new). Payloads are encrypted, so they are decoded with the
 * client's own data converter.
 */
export async function existingWorkflowInput(client: Client, workflowId: string): Promise<unknown> {
  const description = await client.workflow.getHandle(workflowId).describe();
  const firstRunId = description.raw.workflowExecutionInfo?.firstRunId || description.runId;
  // Only the first event is needed; a long first run's whole history is not fetched for it.
  const history = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId: firstRunId },
    maximumPageSize: 1,
  });
  const started = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new Error(`cannot read the input of ${workflowId} (run ${firstRunId}): its history has no start event`);
  return decodeFromPayloadsAtIndex(client.options.loadedDataConverter, 0, started.input?.payloads, {
    type: 'workflow',
    namespace: client.options.namespace,
    workflowId,
  });
}

/**
 * Appends every difference between `existing` and `requested` under `path`. Recurses into objects
 * and equal-length arrays of objects so that the deepest differing field is named; returns how
 * many it found. Key order is not a difference (a payload round trip may change it).
 */
export function collectDifferences(path: string, existing: unknown, requested: unknown, out: RequestDifference[]): number {
  if (canonical(existing) === canonical(requested)) return 0;
  if (isRecord(existing) && isRecord(requested)) {
    const keys = [...new Set([...Object.keys(existing), ...Object.keys(requested)])].sort();
    return keys.reduce((n, key) => n + collectDifferences(`${path}.${key}`, existing[key], requested[key], out), 0);
  }
  if (Array.isArray(existing) && Array.isArray(requested) && existing.length === requested.length && existing.some(isRecord)) {
    return existing.reduce((n: number, item, i) => n + collectDifferences(`${path}[${i}]`, item, requested[i], out), 0);
  }
  out.push({ field: path, existing, requested });
  return 1;
}

/** One line per difference, `field: differs from <what>, which has X (got Y)`, the form every refusal of the project uses. */
export function differenceLines(what: string, differences: RequestDifference[]): string[] {
  return differences.map((d) => `${d.field}: differs from ${what}, which has ${formatValue(d.existing)} (got ${formatValue(d.requested)})`);
}

/** The differing fields, each once, for a refusal's first line. */
export const differingFields = (differences: RequestDifference[]): string => [...new Set(differences.map((d) => d.field))].join(', ');

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON with sorted keys, so key order is not a difference. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v)) ?? 'undefined';
}

/** What the payload converter stores: `undefined` fields dropped. */
export const plainJson = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

export function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
