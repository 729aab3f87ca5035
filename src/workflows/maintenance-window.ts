import { ActivityFailure, ApplicationFailure, condition, getExternalWorkflowHandle, patched, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { FleetActivities } from '../activities/fleet';
import { skipWindowSignal, tenantWindowSignal, type ReleaseTenantInput, type ReleaseTenantResult } from '../shared/messages/release';
import { ErrorType, permanentFailure } from '../shared/errors';
import { fleetCall } from './activity-options';

/**
 * A release's tenant waits for its maintenance window (and the end of any freeze) before it
 * deploys. Only runs whose input carries windows or freezes (releases started since) ask it, so
 * the patch records a marker only in those.
 */
export const MAINTENANCE_WINDOWS_PATCH = 'release-maintenance-windows';

/** Recorded in history as a local activity's result: the zone arithmetic runs once, not again on replay. */
const fleetLocal = proxyLocalActivities<FleetActivities>(fleetCall);

export type WindowOutcome =
  /** It may deploy: at once, after its wait, or told to skip the rest of it. */
  | { go: true; window?: NonNullable<ReleaseTenantResult['window']> }
  /** Stopped while it waited (the release was aborted): it must not deploy. */
  | { go: false; reason: string };

/**
 * Installs the skip handler; call first thing in the workflow, so a skip that arrives early is
 * not missed. `wait` then waits on a durable timer until the tenant's deploy may start, telling
 * the release (its parent) and the UI what it waits for.
 */
export function deployWindow(input: Pick<ReleaseTenantInput, 'tenantId' | 'mode' | 'maintenance'>) {
  let skipped: { by: string; reason: string } | undefined;
  setHandler(skipWindowSignal, (skip) => void (skipped ??= skip));
  return {
    /** `stopped` says why the release wants the tenant left alone, once it does. */
    async wait(show: (detail: string) => void, stopped: () => string | undefined): Promise<WindowOutcome> {
      const { maintenance } = input;
      if (input.mode !== 'deploy' || !maintenance || !patched(MAINTENANCE_WINDOWS_PATCH)) return { go: true };
      const opening = await fleetLocal.nextDeployOpening({ windows: maintenance.windows, freezes: maintenance.freezes, at: Date.now() }).catch((error: unknown) => {
        // A window tenantctl would have refused (a run started by hand): the input's fault, said as such.
        const cause = error instanceof ActivityFailure ? error.cause : error;
        if (cause instanceof ApplicationFailure && cause.type === ErrorType.InvalidInput) {
          throw permanentFailure(ErrorType.InvalidInput, `releaseTenant input is invalid: maintenance.windows: ${cause.message}`, { cause: error });
        }
        throw error;
      });
      if (opening.at <= Date.now()) return { go: true };
      const until = new Date(opening.at).toISOString();
      const waitingFor = opening.waitingFor;
      show(`waiting for window until ${until}${waitingFor ? `: ${waitingFor}` : ''}`);
      const parent = workflowInfo().parent;
      // The release shows it in its progress and lets people skip it; a run started by hand has nobody to tell.
      if (parent) {
        // A release that has ended (terminated) cannot hear it; the wait goes on regardless.
        await getExternalWorkflowHandle(parent.workflowId)
          .signal(tenantWindowSignal, { tenantId: input.tenantId, until, ...(waitingFor ? { waitingFor } : {}) })
          .catch(() => undefined);
      }
      const early = await condition(() => skipped !== undefined || stopped() !== undefined, opening.at - Date.now(), { summary: `waiting for window until ${until}` });
      const stop = stopped();
      if (stop !== undefined) return { go: false, reason: stop };
      const window = { until, ...(waitingFor ? { waitingFor } : {}) };
      return { go: true, window: early && skipped ? { ...window, skipped } : window };
    },
  };
}

/** The note a tenant's result carries after it was told to skip its wait. */
export function skipNote(window: NonNullable<ReleaseTenantResult['window']>): string | undefined {
  return window.skipped ? `window wait skipped by ${window.skipped.by}: ${window.skipped.reason}` : undefined;
}
