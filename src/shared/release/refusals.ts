import type { MachineState, ReleasePlanInput } from './machine-types';

/**
 * Why a request does not fit the release's state, or undefined when it does. The workflow's
 * update validators ask these, so a wrong-state request is refused before it enters history.
 */

export interface ReleaseRequest {
  type: 'approve' | 'abort' | 'pause' | 'resume';
  /** For `approve`: the wave whose gate; default the next open one. */
  wave?: string;
}

export function refusalOf(input: ReleasePlanInput, state: MachineState, request: ReleaseRequest): string | undefined {
  if (request.type === 'approve') {
    const gate = approvalGate(input, state, request.wave);
    return typeof gate === 'string' ? gate : undefined;
  }
  const ended = endedReason(input, state);
  if (ended) return `cannot ${request.type} release ${input.releaseId}: ${ended}`;
  if (request.type === 'pause' && state.paused) return `release ${input.releaseId} is already paused (by ${state.paused.by} at ${state.paused.at})`;
  if (request.type === 'resume' && !state.paused) return `release ${input.releaseId} is not paused`;
  return undefined;
}

/** The wave whose gate an approval is for (by index), or why there is none. */
export function approvalGate(input: ReleasePlanInput, state: MachineState, waveName?: string): number | string {
  const ended = endedReason(input, state);
  if (ended) return `nothing to approve: ${ended}`;
  const last = input.waves.length - 1;
  const open = (w: number) => w >= state.waveIndex && w < last && input.waves[w]!.approval !== undefined && state.waves[w]!.approval === undefined;
  if (waveName !== undefined) {
    const w = input.waves.findIndex((wave) => wave.name === waveName);
    if (w === -1) return `release ${input.releaseId} has no wave "${waveName}"; its waves are ${input.waves.map((x) => x.name).join(', ')}`;
    if (!open(w)) {
      const given = state.waves[w]!.approval;
      return `wave "${waveName}" has no open approval gate (${given ? `approved by ${given.by}` : input.waves[w]!.approval ? 'already passed' : 'the plan needs no approval after it'})`;
    }
    return w;
  }
  const w = input.waves.findIndex((_, i) => open(i));
  return w === -1 ? `no wave of release ${input.releaseId} waits for approval: every remaining gate is approved or the plan has none (phase ${state.phase})` : w;
}

/** Why the release takes no more steering, if it does not. */
export function endedReason(input: ReleasePlanInput, state: MachineState): string | undefined {
  if (state.abort) return `it was aborted by ${state.abort.by} (${state.abort.reason})`;
  if (state.haltReason) return `it halted: ${state.haltReason}`;
  if (state.waveIndex >= input.waves.length) return 'every wave has finished';
  return undefined;
}

/** Why a tenant cannot be told to skip its window wait, if it cannot. */
export function skipWindowRefusal(input: ReleasePlanInput, state: MachineState, tenantId: string): string | undefined {
  const ended = endedReason(input, state);
  if (ended) return `cannot skip a window of release ${input.releaseId}: ${ended}`;
  const record = state.tenants[tenantId];
  if (!record) return `release ${input.releaseId} has no tenant "${tenantId}"`;
  if (!record.window) {
    const why = record.status === 'pending' ? 'it has not started yet; it can be skipped once it waits' : `its status is ${record.status}`;
    return `tenant ${tenantId} is not waiting for a maintenance window in release ${input.releaseId}: ${why}`;
  }
  return undefined;
}

export function stopping(state: MachineState): boolean {
  return state.abort !== undefined || state.haltReason !== undefined;
}
