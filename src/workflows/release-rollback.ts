import {
  ApplicationFailure, CancellationScope, ChildWorkflowFailure, ParentClosePolicy, condition, executeChild, proxyLocalActivities, setCurrentDetails, setHandler,
} from '@temporalio/workflow';
import type { FleetActivities } from '../activities/fleet';
import type { ListenerRuleActivities } from '../activities/listener-rule';
import type { SsmActivities } from '../activities/ssm';
import type { TemporalActivities } from '../activities/temporal';
import { ErrorType, permanentFailure } from '../shared/errors';
import { workflowIds } from '../shared/ids';
import {
  releaseRollbackInputSchema, rollbackProgressQuery, rollbackTenantInputSchema, stopRollbackInputSchema, stopRollbackUpdate,
  type ReleaseRollbackInput, type RollbackSummary, type RollbackTenantInput, type RollbackTenantResult,
} from '../shared/messages/rollback';
import { countRollback, decideTenantRollback, rollbackStatusOf, thresholdExceeded } from '../shared/release/rollback';
import { ReleaseIdKey, TenantIdKey } from '../shared/search-attributes';
import { describeIssues, parseOrFail } from '../shared/validation';
import { activitiesFor, fleetCall } from './activity-options';
import { allOn, trafficSlotsOf, verifyColour } from './blue-green';
import { tenantRuntime } from './runtime';
import { messageOf } from './steps';
import { withTenantLock } from './with-tenant-lock';

const fleetLocal = proxyLocalActivities<FleetActivities>(fleetCall);
const rules = activitiesFor<ListenerRuleActivities>();
const ssm = activitiesFor<SsmActivities>();
const temporal = activitiesFor<TemporalActivities>();

/**
 * `tenantctl release rollback <releaseId>` (ID `release/<releaseId>/rollback`; docs/releases.md,
 * "Rolling back a blue/green release"): a running release is stopped first, then the release's
 * blue/green tenants switch back to the colour they ran before it, wave after wave as the release
 * ran them (its canary first), each in its own child holding the tenant's lock. A wave's failure
 * threshold halts the rollback before more tenants start, and `stopRollback` stops it; tenants not
 * switched are listed with their reason, never dropped.
 */
export async function releaseRollback(rawInput: ReleaseRollbackInput): Promise<RollbackSummary> {
  const input = parseOrFail(releaseRollbackInputSchema, rawInput, 'releaseRollback input');
  const { releaseId, version } = input;
  const results = new Map<string, RollbackTenantResult>(input.refused.map((r) => [r.tenantId, { tenantId: r.tenantId, status: 'refused' as const, reason: r.reason }]));
  const inFlight = new Set<string>();
  let wave: string | undefined;
  let halted: string | undefined;
  let stopped: string | undefined;
  let finished = false;
  let stoppedRelease: RollbackSummary['stoppedRelease'];
  const allTenants = input.waves.flatMap((w) => w.tenants);
  const notStarted = () => allTenants.filter((t) => !results.has(t) && !inFlight.has(t));
  const tenants = (): RollbackTenantResult[] => [...input.refused.map((r) => results.get(r.tenantId)!), ...allTenants.flatMap((t) => results.get(t) ?? [])];
  const details = (what: string) => setCurrentDetails(`**rollback of release ${releaseId}** (${version}): ${what}`);

  setHandler(rollbackProgressQuery, () => {
    const listed = tenants();
    return {
      releaseId,
      version,
      status: finished ? rollbackStatusOf(listed, { halted, stopped }) : 'running',
      ...(halted ? { reason: halted } : stopped ? { reason: stopped } : {}),
      counts: countRollback(listed),
      tenants: listed,
      inFlight: [...inFlight],
      ...(wave ? { wave } : {}),
      ...(stoppedRelease ? { stoppedRelease } : {}),
    };
  });
  setHandler(
    stopRollbackUpdate,
    ({ by, reason }) => {
      stopped = `stopped by ${by}: ${reason}`;
      return { notStarted: notStarted().length };
    },
    {
      validator: (request: unknown) => {
        const parsed = stopRollbackInputSchema.safeParse(request);
        if (!parsed.success) throw permanentFailure(ErrorType.InvalidInput, `stopRollback: ${describeIssues(parsed.error.issues, request).join('; ')}`);
        if (finished) throw permanentFailure(ErrorType.InvalidInput, `the rollback of release ${releaseId} has already finished`);
        if (stopped) throw permanentFailure(ErrorType.InvalidInput, `the rollback of release ${releaseId} is already stopped (${stopped})`);
      },
    },
  );

  details('stopping the release if it still runs');
  const release = await temporal.stopReleaseForRollback({ releaseId, by: input.requestedBy, reason: input.reason });
  if (release.wasRunning) stoppedRelease = { inFlight: release.inFlight };

  for (const [index, w] of input.waves.entries()) {
    if (halted !== undefined || stopped !== undefined) break;
    wave = w.name;
    details(`wave ${w.name} (${w.tenants.length} tenants)`);
    const queue = [...w.tenants];
    const rollBackOne = async (tenantId: string) => {
      inFlight.add(tenantId);
      try {
        const args: RollbackTenantInput = { releaseId, tenantId, version, requestedBy: input.requestedBy, reason: input.reason };
        const result = await executeChild(rollbackTenant, {
          workflowId: workflowIds.rollbackTenant(releaseId, tenantId),
          args: [args],
          // A switch is never left half-way: terminating the rollback lets the ones running finish.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `switch ${tenantId} back from ${version} (rollback of release ${releaseId}, wave ${w.name})`,
          typedSearchAttributes: [
            { key: TenantIdKey, value: tenantId },
            { key: ReleaseIdKey, value: releaseId },
          ],
        });
        results.set(tenantId, result);
      } catch (error) {
        const cause = error instanceof ChildWorkflowFailure && error.cause ? error.cause : error;
        const busy = cause instanceof ApplicationFailure && cause.type === ErrorType.TenantLocked;
        results.set(tenantId, { tenantId, status: 'failed', reason: `${busy ? 'busy: ' : ''}${messageOf(cause)}` });
      } finally {
        inFlight.delete(tenantId);
      }
      const failed = w.tenants.filter((t) => results.get(t)?.status === 'failed').length;
      if (halted === undefined && thresholdExceeded(w, failed)) {
        const allowed = 'count' in w.failureThreshold ? `${w.failureThreshold.count}` : `${w.failureThreshold.percent} %`;
        halted = `halted in wave ${w.name}: ${failed} of ${w.tenants.length} tenants failed to switch back (allowed: ${allowed})`;
      }
    };
    const lane = async () => {
      while (queue.length > 0 && halted === undefined && stopped === undefined) await rollBackOne(queue.shift()!);
    };
    await Promise.all(Array.from({ length: Math.min(w.maxInFlight, w.tenants.length) }, lane));
    if (index < input.waves.length - 1 && input.bakeMs > 0 && halted === undefined && stopped === undefined) {
      details(`wave ${w.name} done; next wave in ${Math.round(input.bakeMs / 1000)} s`);
      await condition(() => stopped !== undefined, input.bakeMs);
    }
  }

  const why = halted ?? stopped;
  for (const tenantId of notStarted()) results.set(tenantId, { tenantId, status: 'not-started', reason: why ?? 'not started' });
  finished = true;
  const listed = tenants();
  const status = rollbackStatusOf(listed, { halted, stopped });
  const counts = countRollback(listed);
  details(`${status}: ${counts['rolled-back']} switched back, ${listed.length - counts['rolled-back']} not`);
  return { releaseId, version, status, ...(why ? { reason: why } : {}), counts, tenants: listed, ...(stoppedRelease ? { stoppedRelease } : {}) };
}

/**
 * One tenant of a release's rollback (ID `release/<releaseId>/rollback/tenant/<id>`), holding the
 * tenant's lock: read the weights and both colours, decide (src/shared/release/rollback.ts), and
 * when the formerly live colour is still warm: 100 % on it, read back and verified on its own
 * target group, then its retirement settled (cancelled, so it never scales the colour now live),
 * the release's colour scaled to 0 and the version recorded. Run again, it finds the tenant back
 * and only finishes what is left.
 */
export async function rollbackTenant(rawInput: RollbackTenantInput): Promise<RollbackTenantResult> {
  const input = parseOrFail(rollbackTenantInputSchema, rawInput, 'rollbackTenant input');
  const { tenantId, releaseId, version } = input;
  const details = (what: string) => setCurrentDetails(`**rollback of ${version}** on ${tenantId}: ${what}`);
  details('waiting for the tenant lock');
  const tenantSpec = fleetLocal.loadTenantSpec({ tenantId });
  void tenantSpec.catch(() => undefined);
  const lock = { operation: `rollback of release ${releaseId} (${version})`, wait: true, timeout: '30 minutes', claimIfFree: true } as const;
  return withTenantLock(tenantId, lock, async (): Promise<RollbackTenantResult> => {
    const tenant = await tenantSpec;
    const slots = await trafficSlotsOf(tenant);
    if (typeof slots === 'string') return { tenantId, status: 'failed', reason: slots };
    const runtime = tenantRuntime(tenant);
    const rule = { target: slots.target, ruleArn: slots.ruleArn, targetGroups: slots.groups };
    const [weights, colours] = await Promise.all([rules.readTrafficWeights(rule), runtime.colours.read()]);
    const decision = decideTenantRollback({ releaseVersion: version, weights, colours });
    if (decision.action === 'report') {
      details(`${decision.status}: ${decision.reason}`);
      return { tenantId, status: decision.status, reason: decision.reason };
    }
    const { from, to, toVersion } = decision;
    // Never interrupted half-way: once the weights move, the clean-up follows.
    return CancellationScope.nonCancellable(async (): Promise<RollbackTenantResult> => {
      try {
        if (decision.action === 'switch') {
          details(`100 % on ${to} (${toVersion})`);
          const since = Date.now();
          await rules.setTrafficWeights({ ...rule, weights: allOn(to) });
          const now = await rules.readTrafficWeights(rule);
          if (!now.forwards || now[to] !== 100) return { tenantId, status: 'failed', reason: `set 100 % on ${to}, but the rule reads blue ${now.blue} % / green ${now.green} %${now.forwards ? '' : ' and does not forward'}` };
          details(`verifying ${to}'s own target group`);
          const verdict = await verifyColour(tenantId, tenant, slots, to, since);
          if (!verdict.healthy) {
            // Traffic stays where the operator asked for it; the release's colour stays warm for a switch forward.
            const retire = await temporal.cancelRetireColour({ workflowId: workflowIds.retireColour(tenantId, releaseId), reason: `${to} is live again (rollback)` });
            return { tenantId, status: 'failed', colour: to, backTo: toVersion, retire: retire.settled, reason: `on ${to} (${toVersion}), but its verification failed: ${verdict.reason ?? 'unhealthy'}; ${from} (${version}) kept warm` };
          }
        }
        details(`on ${to} (${toVersion}); settling ${from}`);
        const retire = await temporal.cancelRetireColour({ workflowId: workflowIds.retireColour(tenantId, releaseId), reason: `${to} is live again (rollback by ${input.requestedBy})` });
        await runtime.colours.retire(from);
        await ssm.putTenantParameters({ target: tenant.aws, tenantId, parameters: { 'workload/version': toVersion } });
        const result: RollbackTenantResult = {
          tenantId,
          status: 'rolled-back',
          colour: to,
          backTo: toVersion,
          retire: retire.settled,
          ...(decision.action === 'settle' ? { reason: `already off ${version}: ${to} (${toVersion}) takes all the traffic` } : {}),
        };
        details(`rolled back: ${toVersion} on ${to}, ${from} scaled to 0`);
        return result;
      } catch (error) {
        return { tenantId, status: 'failed', reason: `switching back to ${to} (${toVersion}) failed: ${messageOf(error)}` };
      }
    });
  });
}
