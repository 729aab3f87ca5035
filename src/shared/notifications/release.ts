import type { ReleasePlanInput } from '../release/machine-types';
import { notificationKey, type Notification } from './events';

const FINAL = new Set(['succeeded', 'completed-with-failures', 'halted', 'aborted']);

/**
 * The notification a release's phase change calls for, if any. Read from the phases the release
 * machine sets (src/shared/release/machine.ts), so the machine itself stays as it is; the key's
 * sequence is the wave's number, so the same gate or halt always sends the same key.
 */
export function releaseNotification(
  input: Pick<ReleasePlanInput, 'releaseId' | 'version' | 'environments' | 'waves'>,
  phase: string,
  workflowId: string,
  runId: string,
  reason?: string,
): Notification | undefined {
  const base = { environments: input.environments, workflowId, runId };
  const what = `release ${input.releaseId} of ${input.version}`;
  const gate = /^wave-(\d+)\/awaiting-approval$/.exec(phase);
  if (gate) {
    // The phase names the wave that would start; the gate (and `approve --wave`) belongs to the wave before it.
    const next = Number(gate[1]);
    const wave = input.waves[next - 2]?.name ?? String(next - 1);
    return {
      ...base,
      event: 'approval-awaited',
      key: notificationKey(workflowId, 'approval-awaited', next - 1),
      text: `${what} waits for approval after wave "${wave}" to start wave "${input.waves[next - 1]?.name ?? next}"`,
      command: `tenantctl release approve ${input.releaseId} --wave ${wave}`,
      fields: { wave },
    };
  }
  const halted = /^wave-(\d+)\/halted$/.exec(phase);
  if (halted) {
    const wave = input.waves[Number(halted[1]) - 1]?.name ?? halted[1]!;
    return {
      ...base,
      event: 'wave-halted',
      key: notificationKey(workflowId, 'wave-halted', halted[1]!),
      text: `${what} halted in wave "${wave}"${reason ? `: ${reason}` : ''}`,
      fields: { wave },
    };
  }
  if (FINAL.has(phase)) {
    return {
      ...base,
      event: 'release-ended',
      key: notificationKey(workflowId, 'release-ended', 'end'),
      text: `${what} ended: ${phase}${reason ? ` (${reason})` : ''}`,
      fields: { outcome: phase },
    };
  }
  return undefined;
}

/**
 * The reminder for an approval gate still open after `waitedMs` (the plan's `approval.notifyAfter`).
 * `gate` is the phase's wave number, as in the approval-awaited key, so each gate reminds once.
 */
export function approvalOverdueNotification(
  input: Pick<ReleasePlanInput, 'releaseId' | 'version' | 'environments' | 'waves'>,
  gate: number,
  waitedMs: number,
  workflowId: string,
  runId: string,
): Notification {
  const wave = input.waves[gate - 2]?.name ?? String(gate - 1);
  const minutes = Math.round(waitedMs / 60_000);
  const waited = waitedMs < 120_000 ? `${Math.round(waitedMs / 1000)} s` : minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
  return {
    environments: input.environments,
    workflowId,
    runId,
    event: 'approval-overdue',
    key: notificationKey(workflowId, 'approval-overdue', gate - 1),
    text: `release ${input.releaseId} of ${input.version} has waited ${waited} for approval after wave "${wave}"`,
    command: `tenantctl release approve ${input.releaseId} --wave ${wave}`,
    fields: { wave, waitedMs: String(waitedMs) },
  };
}

/** The wave number of an approval gate's phase (`wave-<n>/awaiting-approval`), if it is one. */
export function gateOf(phase: string): number | undefined {
  const gate = /^wave-(\d+)\/awaiting-approval$/.exec(phase);
  return gate ? Number(gate[1]) : undefined;
}
