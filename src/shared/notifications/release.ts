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
