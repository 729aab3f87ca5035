import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { abortRelease, approveRelease, releaseProgress } from '../../src/client/releases';
import type { ReleaseProgress } from '../../src/shared/messages/release';
import type { BenchContext } from '../context';
import { SIMULATED_STEPS_PER_TENANT } from '../sim/activities';
import type { WorkerTuning } from '../sim/worker-config';
import { releaseHistory } from './history';
import { releaseInput } from './plan';
import { expectSucceeded, startBenchRelease } from './start';

export interface ControlLatency {
  tenants: number;
  /** approve → first tenant of the next wave started (server clock). */
  approvalMs: number;
  approveUpdateMs: number;
  /** abort → the last tenant the release started (0 when none started after the abort). */
  abortMs: number;
  /**
   * The release's own decision, from its history: the last child start it requested after the
   * abort update was accepted (0: none). abortMs minus this is the server starting children
   * requested before the abort.
   */
  abortDecisionMs: number;
  abortUpdateMs: number;
  /** Tenants in flight when the abort arrived; they finish, nothing new starts. */
  inFlightAtAbort: number;
}

export async function waitForProgress(client: Client, releaseId: string, check: (p: ReleaseProgress) => boolean, timeoutMs = 300_000): Promise<ReleaseProgress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const progress = await releaseProgress(client, releaseId).catch(() => undefined);
    if (progress && check(progress)) return progress;
    if (Date.now() > deadline) throw new Error(`release ${releaseId}: condition not met within ${timeoutMs} ms (phase ${progress?.phase ?? '?'})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A release with an approval gate after the canary, approved when it waits, aborted in the middle of the 50 % wave. */
export async function measureControlLatency(ctx: BenchContext, options: { tenants: number; stepMs: number; maxInFlight: number; tuning: WorkerTuning }): Promise<ControlLatency> {
  const tag = Date.now().toString(36);
  const prefix = `c${tag}`;
  const input = releaseInput(`bench-control-${tag}`, prefix, {
    tenants: options.tenants,
    maxInFlight: options.maxInFlight,
    stepMs: options.stepMs,
    stepsPerTenant: SIMULATED_STEPS_PER_TENANT,
    bakeMs: 0,
    approvalAfterCanary: true,
  });
  const worker = await ctx.startWorker('control', { stepMs: options.stepMs, tuning: options.tuning });
  try {
    const handle = await startBenchRelease(ctx.client, input);
    await waitForProgress(ctx.client, input.releaseId, (p) => p.phase === 'wave-2/awaiting-approval');
    const approvedAt = Date.now();
    await approveRelease(ctx.client, input.releaseId, { by: 'bench', comment: 'approval latency' });
    const approveUpdateMs = Date.now() - approvedAt;

    const half = input.waves[2]!;
    const before = await waitForProgress(ctx.client, input.releaseId, (p) => (p.waves[2]?.counts.succeeded ?? 0) >= Math.min(half.tenants.length / 4, 2 * options.maxInFlight));
    const abortedAt = Date.now();
    await abortRelease(ctx.client, input.releaseId, { by: 'bench', reason: 'abort latency', rollback: false });
    const abortUpdateMs = Date.now() - abortedAt;
    await expectSucceeded(handle, ['aborted']);

    const { children } = await releaseHistory(ctx.client, input.releaseId, prefix, options.tenants, { locks: false });
    const early = new Set(input.waves[1]!.tenants);
    const firstAfterApproval = Math.min(...children.filter((c) => early.has(c.tenantId)).map((c) => c.start));
    const lastStart = Math.max(...children.map((c) => c.start));
    return {
      tenants: options.tenants,
      approvalMs: firstAfterApproval - approvedAt,
      approveUpdateMs,
      abortMs: Math.max(0, lastStart - abortedAt),
      abortDecisionMs: await startsRequestedAfterAbort(ctx.client, input.releaseId),
      abortUpdateMs,
      inFlightAtAbort: before.inFlight.length,
    };
  } finally {
    await worker.stop();
  }
}

const { EventType } = temporal.api.enums.v1;
const eventMs = (event: temporal.api.history.v1.IHistoryEvent) => Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);

/** Across every run of the release: the last child start requested after the abort was accepted, in ms after it (0 when none). */
async function startsRequestedAfterAbort(client: Client, releaseId: string): Promise<number> {
  let acceptedAt: number | undefined;
  let lastRequested = 0;
  for await (const execution of client.workflow.list({ query: `WorkflowId = 'release/${releaseId}'` })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    for (const event of history.events ?? []) {
      if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED && event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'abort') acceptedAt = eventMs(event);
      if (event.eventType === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) lastRequested = Math.max(lastRequested, eventMs(event));
    }
  }
  if (acceptedAt === undefined) throw new Error(`release ${releaseId}: no accepted abort update in its history`);
  return Math.max(0, lastRequested - acceptedAt);
}
