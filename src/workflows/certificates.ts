import { ApplicationFailure } from '@temporalio/common';
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  metricMeter,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AcmActivities, CertificateInfo, ValidationRecord } from '../activities/acm';
import type { Elbv2Activities } from '../activities/elbv2';
import type { Route53Activities } from '../activities/route53';
import { adoptedHostname, ADOPTED_WILDCARD_ENVIRONMENT, USABLE_CERTIFICATE_STATUSES as USABLE } from '../shared/certificates/adoption';
import { isWildcard, nameCovers, wildcardParent } from '../shared/certificates/hostnames';
import { idempotencyToken, planCertificates, type CertificatePlan, type DesiredHostname, type ExistingCertificate } from '../shared/certificates/planner';
import { certificateMetrics } from '../shared/delivery-metrics';
import { ErrorType } from '../shared/errors';
import {
  certificatePlanQuery,
  certificatesInputSchema,
  certificatesStatusQuery,
  reconcileRequestSchema,
  reconcileSignal,
  type CertificatesInput,
  type CertificatesState,
  type CertificatesStatus,
  type StuckCertificate,
} from '../shared/messages/certificates';
import { PhaseKey } from '../shared/search-attributes';
import { describeIssues, parseOrFail } from '../shared/validation';
import { activitiesFor } from './activity-options';
import { CertificateNotifier } from './notify-certificates';
import { messageOf } from './steps';

const acm = activitiesFor<AcmActivities>();
const elb = activitiesFor<Elbv2Activities>();
const dns = activitiesFor<Route53Activities>();

/** Reconciles per run before continuing as new, whatever the history size says. */
const MAX_RECONCILES_PER_RUN = 50;
/** After an unexpected failure, try again this soon (or at the next check, if sooner). */
const RETRY_AFTER_FAILURE_MS = 5 * 60_000;

/**
 * One long-lived workflow per certificate group (`certs/<group>`, the load balancer's name):
 * plans certificates for the hostnames it knows (per tenant, from the start input and
 * `reconcile` signals), makes ACM and the listener match the plan (create before destroy),
 * then sleeps on a durable timer until the next renewal check or signal, and continues as new
 * with its state. A certificate stuck in validation is reported (status query, Phase
 * `certs/validation-stuck`, health `failing`) and not waited on again.
 */
export async function certificates(rawInput: CertificatesInput): Promise<never> {
  const state: CertificatesState = parseOrFail(certificatesInputSchema, rawInput, 'certificates input');
  const { group, policy } = state;
  const target = state.loadBalancer.aws;
  const listenerArn = state.loadBalancer.listenerArn;
  const released = new Set<string>();
  // Runs started before it neither notify nor wake for expiry thresholds (their histories hold no such commands).
  const notifier = patched('certificate-notifications') ? new CertificateNotifier(state) : undefined;
  const metrics = certificateMetrics(metricMeter);
  let dirty = true;
  let lastPlan: CertificatePlan | undefined;
  const status: CertificatesStatus = {
    group,
    health: 'converging',
    phase: 'certs/starting',
    certificates: [],
    stuck: [],
    uncovered: [],
    adopted: state.adopted,
    problems: [],
    rejectedSignals: [],
  };

  setHandler(reconcileSignal, (raw) => {
    // A signal cannot be refused: an invalid one is recorded for the status query and ignored.
    const parsed = reconcileRequestSchema.safeParse(raw);
    if (!parsed.success) {
      status.rejectedSignals = [...status.rejectedSignals.slice(-9), `reconcile: ${describeIssues(parsed.error.issues, raw).join('; ')}`];
      return;
    }
    const request = parsed.data;
    if (request.hostnames.length === 0) delete state.tenants[request.tenantId];
    else state.tenants[request.tenantId] = { hostnames: request.hostnames, environment: request.environment, dns: request.dns ?? state.tenants[request.tenantId]?.dns };
    // A name a tenant claims (or gave up) is no longer the adopted leftover of an unknown owner.
    state.adopted = state.adopted.filter((n) => !request.hostnames.includes(n) && !request.formerHostnames.includes(n));
    if (request.formerHostnames.length > 0) {
      request.formerHostnames.forEach((n) => released.add(n));
    }
    dirty = true;
  });
  setHandler(certificatesStatusQuery, () => status);
  setHandler(certificatePlanQuery, () => lastPlan);

  const setPhase = (phase: string) => {
    status.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
    setCurrentDetails(`**certificates ${group}**: ${phase} (${status.health})`);
  };

  const desiredHostnames = (): DesiredHostname[] => [
    ...Object.entries(state.tenants).flatMap(([tenantId, t]) => t.hostnames.map((hostname) => ({ hostname, tenantId, environment: t.environment }))),
    ...state.adopted.map((hostname) => adoptedHostname(hostname)),
  ];

  /** Names on this group's certificates that no known tenant claims: kept until released. */
  const adopt = (found: CertificateInfo[]) => {
    const desired = desiredHostnames().map((h) => h.hostname);
    const unknown = found
      .filter((c) => USABLE.has(c.status))
      .flatMap((c) => c.names)
      .filter((n) => !released.has(n) && !desired.some((h) => nameCovers(n, h) || n === h));
    state.adopted = [...new Set([...state.adopted, ...unknown])].sort();
    status.adopted = state.adopted;
    state.adoptionDone = true;
    released.clear();
  };

  const renewalReason = (cert: CertificateInfo, now: number): string | undefined => {
    if (cert.status !== 'ISSUED') return undefined;
    if (cert.renewalStatus === 'FAILED') return 'ACM managed renewal failed';
    if (cert.notAfter === undefined) return undefined;
    const dueAt = Date.parse(cert.notAfter) - policy.renewBefore;
    if (dueAt > now) return undefined;
    const why = cert.type === 'IMPORTED' || cert.renewalEligibility === 'INELIGIBLE' ? 'ACM cannot renew it' : `ACM has not renewed it (renewal ${cert.renewalStatus ?? 'not started'})`;
    return `renewal due: expires ${cert.notAfter} and ${why}`;
  };

  async function reconcile(): Promise<number> {
    setPhase('certs/reconciling');
    const problems: string[] = [];
    const [found, listener] = await Promise.all([acm.listGroupCertificates({ target, group }), elb.listListenerCertificates({ target, listenerArn })]);
    if (!state.adoptionDone) adopt(found);
    const now = Date.now();
    const hostnames = desiredHostnames();
    const info = new Map(found.map((c) => [c.arn, c]));
    const existing: ExistingCertificate[] = found
      .filter((c) => USABLE.has(c.status))
      .map((c) => ({ arn: c.arn, names: c.names, replaceReason: renewalReason(c, now) }));
    const plan = planCertificates({
      group,
      hostnames,
      existing,
      maxNamesPerCertificate: policy.maxNamesPerCertificate,
      maxCertificatesPerListener: policy.maxCertificatesPerListener,
      wildcardEnvironments: [...state.wildcardEnvironments, ADOPTED_WILDCARD_ENVIRONMENT],
    });
    lastPlan = plan;

    // 1. Request what the plan adds (the token makes a retried request return the first certificate).
    const arnOf = new Map<string, string>();
    for (const cert of plan.certificates) if (cert.arn) arnOf.set(cert.key, cert.arn);
    const toIssue = plan.certificates.filter((c) => c.action === 'issue');
    if (toIssue.length > 0) setPhase('certs/requesting');
    await Promise.all(
      toIssue.map(async (cert) => {
        const { arn } = await acm.requestCertificate({ target, group, key: cert.key, names: cert.names, idempotencyToken: idempotencyToken(group, cert) });
        arnOf.set(cert.key, arn);
      }),
    );
    const planned = plan.certificates.map((c) => ({ cert: c, arn: arnOf.get(c.key)! }));

    // 2. Validation records into each hostname's zone, for every planned certificate (managed renewal needs them too).
    setPhase('certs/validating');
    const ownerOf = new Map(hostnames.map((h) => [h.hostname, h.tenantId]));
    const zoneOf = (domain: string) => {
      const hostname = isWildcard(domain) ? [...ownerOf.keys()].find((h) => wildcardParent(h) === domain.slice(2)) ?? domain : domain;
      return state.tenants[ownerOf.get(hostname) ?? '']?.dns;
    };
    const records = (
      await Promise.all(
        planned.map(async ({ arn }) => {
          const known = info.get(arn);
          return known && known.validation.length === known.names.length ? known.validation : acm.getValidationRecords({ target, arn });
        }),
      )
    ).flat();
    const byZone = new Map<string, { aws: NonNullable<ReturnType<typeof zoneOf>>['aws']; hostedZoneId: string; records: Map<string, ValidationRecord> }>();
    for (const record of records) {
      const zone = zoneOf(record.domain);
      if (!zone) continue; // adopted names: validated before, their records are not ours to write
      const key = `${zone.aws.roleArn}|${zone.hostedZoneId}`;
      const entry = byZone.get(key) ?? { aws: zone.aws, hostedZoneId: zone.hostedZoneId, records: new Map() };
      entry.records.set(record.name, record);
      byZone.set(key, entry);
    }
    await Promise.all(
      [...byZone.values()].map((zone) =>
        dns.upsertZoneRecords({
          target: zone.aws,
          hostedZoneId: zone.hostedZoneId,
          records: [...zone.records.values()].map((r) => ({ name: r.name, type: 'CNAME' as const, value: r.value })),
        }),
      ),
    );

    // 3. Wait for issuance, bounded by the validation timeout counted from each request.
    const issued = new Set(planned.filter(({ arn }) => info.get(arn)?.status === 'ISSUED').map(({ arn }) => arn));
    const stuck: StuckCertificate[] = [];
    await Promise.all(
      planned
        .filter(({ arn }) => !issued.has(arn))
        .map(async ({ cert, arn }) => {
          try {
            await acm.waitForCertificateIssued({ target, arn, validationTimeoutMs: policy.validationTimeout });
            issued.add(arn);
          } catch (error) {
            const failure = error instanceof ActivityFailure && error.cause instanceof ApplicationFailure ? error.cause : undefined;
            if (failure?.type !== ErrorType.CertificateValidationStuck) throw error;
            const details = (failure.details?.[0] ?? {}) as { pendingRecords?: StuckCertificate['pendingRecords'] };
            state.stuckSince[arn] ??= new Date(now).toISOString();
            stuck.push({ arn, names: cert.names, since: state.stuckSince[arn], pendingRecords: details.pendingRecords ?? [] });
            problems.push(failure.message);
          }
        }),
    );
    for (const arn of Object.keys(state.stuckSince)) if (!stuck.some((s) => s.arn === arn)) delete state.stuckSince[arn];

    // 4. Attach every issued planned certificate (create before destroy).
    const ready = planned.filter(({ arn }) => issued.has(arn)).map(({ arn }) => arn);
    if (ready.length > 0) await elb.attachListenerCertificates({ target, listenerArn, arns: ready });
    const attachedPlanned = new Set(ready);

    // 5. Retire only what attached planned certificates fully replace: no hostname is ever uncovered.
    const servingNames = planned.filter(({ arn }) => attachedPlanned.has(arn)).flatMap(({ cert }) => cert.names);
    const coveredNow = (h: string) => servingNames.some((n) => nameCovers(n, h));
    const candidates = [...new Set([...plan.retire.map((r) => r.arn), ...found.filter((c) => !USABLE.has(c.status)).map((c) => c.arn)])];
    const safe: string[] = [];
    for (const arn of candidates) {
      const names = info.get(arn)?.names ?? [];
      const waitingFor = hostnames.filter((h) => names.some((n) => nameCovers(n, h.hostname)) && !coveredNow(h.hostname));
      if (arn === listener.defaultArn) problems.push(`certificate ${arn} is the listener's default certificate: not retired automatically`);
      else if (waitingFor.length > 0) problems.push(`certificate ${arn} stays until its replacement serves ${waitingFor.map((h) => h.hostname).join(', ')}`);
      else safe.push(arn);
    }
    // The replacement propagates to the load balancer before the old certificate goes. The grace
    // period is state the loop wakes up for, not a sleep here, so new hostnames keep being covered meanwhile.
    const attachedSafe = safe.filter((arn) => listener.attached.includes(arn));
    state.retiring = state.retiring.filter((r) => attachedSafe.includes(r.arn));
    for (const arn of attachedSafe) if (!state.retiring.some((r) => r.arn === arn)) state.retiring.push({ arn, after: now + policy.gracePeriod });
    const detach = state.retiring.filter((r) => r.after <= now).map((r) => r.arn);
    if (detach.length > 0) await elb.detachListenerCertificates({ target, listenerArn, arns: detach });
    state.retiring = state.retiring.filter((r) => !detach.includes(r.arn));
    const deletable = safe.filter((arn) => !listener.attached.includes(arn) || detach.includes(arn));
    if (deletable.length > 0) setPhase('certs/deleting');
    for (const arn of deletable) {
      try {
        await acm.deleteCertificate({ target, arn });
      } catch (error) {
        if (isCancellation(error)) throw error;
        problems.push(`deleting ${arn}: ${messageOf(error)}`);
      }
    }

    // 6. Report what is now true.
    const [after, listenerAfter] = await Promise.all([acm.listGroupCertificates({ target, group }), elb.listListenerCertificates({ target, listenerArn })]);
    status.certificates = after.map((c) => ({
      arn: c.arn,
      names: c.names,
      status: c.status,
      type: c.type,
      notAfter: c.notAfter,
      renewalEligibility: c.renewalEligibility,
      renewalStatus: c.renewalStatus,
      attached: listenerAfter.attached.includes(c.arn) || listenerAfter.defaultArn === c.arn,
    }));
    status.stuck = stuck;
    status.uncovered = plan.uncovered;
    status.adopted = state.adopted;
    status.problems = problems;
    status.lastReconcile = new Date(Date.now()).toISOString();
    // For the certificate alerts (infra/prometheus/); the workflow meter stays silent on replay.
    const expiries = after.filter((c) => c.status === 'ISSUED' && c.notAfter !== undefined).map((c) => Date.parse(c.notAfter!) / 1000);
    metrics.observe(group, expiries.length > 0 ? Math.min(...expiries) : undefined, stuck.length);
    const converged = planned.every(({ arn }) => listenerAfter.attached.includes(arn)) && safe.length === candidates.length && state.retiring.length === 0;
    status.health = stuck.length > 0 || plan.uncovered.length > 0 || problems.length > 0 ? 'failing' : converged ? 'ok' : 'converging';
    setPhase(stuck.length > 0 ? 'certs/validation-stuck' : status.health === 'failing' ? 'certs/failing' : state.retiring.length > 0 ? 'certs/grace-period' : 'certs/idle');

    // Next check: the earliest renewal due date still ahead, or the regular interval.
    const dueTimes = after
      .filter((c) => c.status === 'ISSUED' && c.notAfter !== undefined)
      .map((c) => Date.parse(c.notAfter!) - policy.renewBefore)
      .filter((t) => t > Date.now());
    // A reconcile that ended with problems (a certificate still in use, say) looks again soon, not a check interval later.
    const retry = problems.length > 0 ? [Date.now() + Math.min(RETRY_AFTER_FAILURE_MS, policy.checkInterval)] : [];
    const warnAt = notifier?.checked(status.certificates, stuck, desiredHostnames()) ?? [];
    return Math.min(Date.now() + policy.checkInterval, ...dueTimes, ...state.retiring.map((r) => r.after), ...retry, ...warnAt);
  }

  let nextCheckAt = 0;
  let reconciles = 0;
  for (;;) {
    if (dirty || Date.now() >= nextCheckAt) {
      dirty = false;
      try {
        nextCheckAt = await reconcile();
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Keep running (this workflow is the group's only caretaker), but say so loudly.
        status.health = 'failing';
        status.problems = [`reconcile failed: ${messageOf(error)}`];
        setPhase('certs/failing');
        nextCheckAt = Date.now() + Math.min(RETRY_AFTER_FAILURE_MS, policy.checkInterval);
      }
      status.nextCheck = new Date(nextCheckAt).toISOString();
      reconciles++;
    }
    if (workflowInfo().continueAsNewSuggested || reconciles >= MAX_RECONCILES_PER_RUN) {
      await condition(allHandlersFinished);
      await notifier?.settled();
      await continueAsNew<typeof certificates>({ ...state, adopted: state.adopted });
    }
    if (await condition(() => dirty, Math.max(1, nextCheckAt - Date.now()))) {
      // Provisioning several tenants sends several signals: handle them in one reconcile.
      await sleep(policy.debounce);
    }
  }
}
