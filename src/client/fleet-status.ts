import type { WorkflowExecutionStatusName } from '@temporalio/client';
import type { FleetConfig } from '../shared/config/schema';
import type { CertificatesStatus } from '../shared/messages/certificates';
import type { ReleaseListing } from './releases';
import type { TenantWorkflow } from './tenants';

/* The fleet at a glance, for `tenantctl fleet status`: put together from facts the caller reads. */

/** What was read about one tenant: its recorded version (SSM) and its latest operation (visibility). */
export interface TenantFacts {
  id: string;
  /** Undefined: no workload yet; null with versionError: could not be read. */
  version?: string | null;
  versionError?: string;
  latest?: TenantWorkflow;
}

export interface VersionGroup {
  environment: string;
  tier: string;
  /** The recorded version, `none` (no workload yet) or `unknown` (not readable). */
  version: string;
  tenants: string[];
}

export interface FailedTenant {
  tenantId: string;
  environment: string;
  operation: string;
  status: WorkflowExecutionStatusName;
  workflowId: string;
  runId: string;
  phase?: string;
  closeTime?: string;
}

export interface PendingApproval {
  releaseId: string;
  workflowId: string;
  /** The wave waiting to be let through, e.g. `wave-2` (from the Phase search attribute). */
  wave: string;
  version?: string;
  plan?: string;
  since: string;
  approveCommand: string;
}

export interface CertificateDue {
  group: string;
  arn: string;
  names: string[];
  /** `expiring`: notAfter within the window; `stuck`: validation has waited (DNS records named by `certs status`). */
  reason: 'expiring' | 'stuck';
  notAfter?: string;
  since?: string;
}

export interface FleetStatus {
  versions: VersionGroup[];
  failedTenants: FailedTenant[];
  pendingApprovals: PendingApproval[];
  certificatesDue: CertificateDue[];
  /** Groups whose certificates workflow does not run: their certificates are not watched at all. */
  unwatchedCertificateGroups: string[];
}

/** Workflow statuses that mean the operation did not finish well (a rolled-back release completes). */
const FAILED_STATUSES: readonly WorkflowExecutionStatusName[] = ['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED'];

const AWAITING_APPROVAL = /^(.+)\/awaiting-approval$/;

export function operationName(w: Pick<TenantWorkflow, 'type' | 'releaseId'>): string {
  if (w.type === 'releaseTenant') return `release ${w.releaseId ?? ''}`.trim();
  return w.type.replace(/Tenant$/, '');
}

export function summariseFleet(input: {
  config: FleetConfig;
  tenants: TenantFacts[];
  runningReleases: ReleaseListing[];
  certificates: { group: string; status: CertificatesStatus | undefined }[];
  now: Date;
  certificateWindowDays: number;
}): FleetStatus {
  const { config, tenants, now } = input;
  const facts = new Map(tenants.map((t) => [t.id, t]));

  const groups = new Map<string, VersionGroup>();
  for (const t of config.tenants) {
    const f = facts.get(t.id);
    const version = f?.versionError !== undefined ? 'unknown' : (f?.version ?? 'none');
    const key = JSON.stringify([t.environment, t.tier, version]);
    const group = groups.get(key) ?? { environment: t.environment, tier: t.tier, version, tenants: [] };
    group.tenants.push(t.id);
    groups.set(key, group);
  }
  // Environments in config order (usually dev → prod), then tier and version.
  const envOrder = config.environments.map((e) => e.name);
  const versions = [...groups.values()].sort(
    (a, b) => envOrder.indexOf(a.environment) - envOrder.indexOf(b.environment) || a.tier.localeCompare(b.tier) || a.version.localeCompare(b.version),
  );

  const failedTenants: FailedTenant[] = config.tenants.flatMap((t) => {
    const latest = facts.get(t.id)?.latest;
    if (!latest || !FAILED_STATUSES.includes(latest.status)) return [];
    return [
      {
        tenantId: t.id,
        environment: t.environment,
        operation: operationName(latest),
        status: latest.status,
        workflowId: latest.workflowId,
        runId: latest.runId,
        phase: latest.phase,
        closeTime: latest.closeTime,
      },
    ];
  });

  const pendingApprovals: PendingApproval[] = input.runningReleases.flatMap((r) => {
    const wave = r.status === 'RUNNING' ? AWAITING_APPROVAL.exec(r.phase ?? '')?.[1] : undefined;
    if (!wave) return [];
    return [{ releaseId: r.releaseId, workflowId: r.workflowId, wave, version: r.version, plan: r.plan, since: r.startTime, approveCommand: `tenantctl release approve ${r.releaseId}` }];
  });

  const horizon = now.getTime() + input.certificateWindowDays * 86_400_000;
  const certificatesDue: CertificateDue[] = [];
  const unwatchedCertificateGroups: string[] = [];
  for (const { group, status } of input.certificates) {
    if (!status) {
      unwatchedCertificateGroups.push(group);
      continue;
    }
    for (const s of status.stuck) certificatesDue.push({ group, arn: s.arn, names: s.names, reason: 'stuck', since: s.since });
    const stuck = new Set(status.stuck.map((s) => s.arn));
    for (const c of status.certificates) {
      if (stuck.has(c.arn) || !c.notAfter || Date.parse(c.notAfter) > horizon) continue;
      certificatesDue.push({ group, arn: c.arn, names: c.names, reason: 'expiring', notAfter: c.notAfter });
    }
  }
  certificatesDue.sort((a, b) => (a.notAfter ?? a.since ?? '').localeCompare(b.notAfter ?? b.since ?? ''));

  return { versions, failedTenants, pendingApprovals, certificatesDue, unwatchedCertificateGroups };
}
