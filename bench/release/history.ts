import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface ReleaseHistory {
  /** Runs of the release workflow (continue-as-new) and their events. */
  releaseRuns: number;
  releaseEvents: number;
  childEvents: number;
  lockEvents: number;
  /** All of the above divided by the number of tenants. */
  eventsPerTenant: number;
  children: { tenantId: string; start: number; close?: number }[];
  /** One tenant's child and lock history by event type: where the events (and round trips) go. */
  sample: { child: Record<string, number>; lock: Record<string, number> };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** gRPC UNAVAILABLE and RESOURCE_EXHAUSTED: the cluster's persistence QPS limit (the compose file's dynamic config) answers so under a burst. */
const THROTTLED = new Set([8, 14]);

async function list(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const found: WorkflowExecutionInfo[] = [];
      for await (const execution of client.workflow.list({ query, pageSize: 1000 })) found.push(execution);
      return found;
    } catch (error) {
      const code = ((error as { cause?: { code?: number } }).cause ?? (error as { code?: number })).code;
      if (attempt >= 10 || code === undefined || !THROTTLED.has(code)) throw error;
      await sleep(attempt * 1_000);
    }
  }
}

/** Waits (bounded) until visibility shows no running workflow for the query. */
export async function waitUntilClosed(client: Client, query: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await client.workflow.count(`${query} AND ExecutionStatus = 'Running'`)).count === 0) return true;
    await sleep(1_000);
  }
  return false;
}

async function eventTypes(client: Client, workflowId: string): Promise<Record<string, number>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const counts: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const name = temporal.api.enums.v1.EventType[event.eventType ?? 0]?.replace(/^EVENT_TYPE_/, '') ?? String(event.eventType);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/**
 * Every event the release wrote: its runs, its per-tenant children and the tenants' lock
 * workflows (which may still be finishing when the release ends, so wait for them first).
 */
export async function releaseHistory(client: Client, releaseId: string, tenantPrefix: string, tenants: number, { locks: withLocks = true } = {}): Promise<ReleaseHistory> {
  const locksQuery = `WorkflowType = 'tenantLock' AND WorkflowId STARTS_WITH 'tenant/${tenantPrefix}-'`;
  if (withLocks) await waitUntilClosed(client, locksQuery, 90_000);
  // One after the other: three listings at once of thousands of workflows hit the cluster's persistence QPS limit.
  const runs = await list(client, `WorkflowId = 'release/${releaseId}'`);
  const children = await list(client, `ReleaseId = '${releaseId}' AND WorkflowType = 'releaseTenant'`);
  const locks = withLocks ? await list(client, locksQuery) : [];
  const sum = (executions: WorkflowExecutionInfo[]) => executions.reduce((n, e) => n + e.historyLength, 0);
  const releaseEvents = sum(runs);
  const childEvents = sum(children);
  const lockEvents = sum(locks);
  const first = children[0];
  const sample = first && withLocks
    ? { child: await eventTypes(client, first.workflowId), lock: await eventTypes(client, `tenant/${first.workflowId.split('/').pop()!}/lock`) }
    : { child: {}, lock: {} };
  return {
    releaseRuns: runs.length,
    releaseEvents,
    childEvents,
    lockEvents,
    eventsPerTenant: (releaseEvents + childEvents + lockEvents) / tenants,
    children: children.map((c) => ({ tenantId: c.workflowId.split('/').pop()!, start: c.startTime.getTime(), close: c.closeTime?.getTime() })),
    sample,
  };
}
