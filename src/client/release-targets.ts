import type { AwsClients } from '../activities/aws/clients';
import type { ReleaseTarget } from '../activities/runtime/types';
import { createSsmActivities } from '../activities/ssm';
import type { ReleaseManifest } from '../shared/release/manifest';
import { releaseTargetFor } from '../shared/release/manifest';
import { recordedTargetFor, type ReleaseRecord } from '../shared/release/record';
import type { TenantSpec } from '../shared/tenant-spec';

/**
 * What `tenantctl release status <id> --tenant <t>` shows of a release with a target (docs/releases.md,
 * "Release manifests"): the target the tenant was given, and the target it replaced where one was
 * recorded. Neither needs a workflow change: the target is the child's own computation
 * (`releaseTargetFor`) over the release's version and manifest (its input) and the tenant's services
 * (the fleet config); the replaced one is the same lookup a rollback makes (`recordedTargetFor`) in the
 * tenant's SSM record, for the version the tenant ran before the release.
 */
export interface TenantReleaseTargets {
  /** Every service's image and the variables the manifest sets (null: removes); null on a release by version to a tenant without services (the primary's tag alone). */
  target: ReleaseTarget | null;
  /** The recorded target of the version before the release; null when none was recorded (that version ran without one) or it is not known yet. */
  replaced: ReleaseTarget | null;
  /** Why a part could not be shown (the fleet config, the tenant's record). */
  targetError?: string;
}

export interface TargetSources {
  /** The release's input: its version, and its manifest when it had one. */
  release: { version: string; manifest?: ReleaseManifest };
  /** The tenant as the fleet config describes it (a thrown error is shown, not fatal). */
  tenant: () => Promise<TenantSpec>;
  /** The version the tenant ran before the release; undefined until its child has read it. */
  previousVersion?: string;
  /** The tenant's SSM record (`workload/release`, `workload/release-previous`). */
  readRecord: (tenant: TenantSpec) => Promise<ReleaseRecord | undefined>;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function tenantReleaseTargets({ release, tenant: loadTenant, previousVersion, readRecord }: TargetSources): Promise<TenantReleaseTargets> {
  let tenant: TenantSpec;
  try {
    tenant = await loadTenant();
  } catch (error) {
    return { target: null, replaced: null, targetError: `target not shown: ${messageOf(error)}` };
  }
  let target: ReleaseTarget | undefined;
  try {
    target = releaseTargetFor(tenant, release.version, release.manifest);
  } catch (error) {
    // A manifest that does not fit the tenant (its child refused it the same way).
    return { target: null, replaced: null, targetError: `target not shown: ${messageOf(error)}` };
  }
  // Without a target the child neither reads nor writes a record: nothing to look up.
  if (!target || previousVersion === undefined || previousVersion === release.version) return { target: target ?? null, replaced: null };
  try {
    return { target, replaced: recordedTargetFor(await readRecord(tenant), previousVersion) ?? null };
  } catch (error) {
    return { target, replaced: null, targetError: `replaced target not read: ${messageOf(error)}` };
  }
}

/** The tenant's record as its release child reads it (activities/ssm.ts), with the caller's credentials through each account's fleet access role. */
export function releaseRecordReader(aws: AwsClients): (tenant: TenantSpec) => Promise<ReleaseRecord> {
  const ssm = createSsmActivities({ aws });
  return (tenant) => ssm.readReleaseRecord({ target: tenant.aws, tenantId: tenant.id });
}

/** A service's variables as the manifest changes them: `LOG_LEVEL=debug`, `OLD_FLAG removed`. */
export function describeEnvironmentChanges(environment: Record<string, string | null> | undefined): string {
  return Object.entries(environment ?? {})
    .map(([name, value]) => (value === null ? `${name} removed` : `${name}=${value}`))
    .join(', ');
}

/** Lines for people: the target given, one line per service, then the one it replaced. */
export function describeTenantTargets({ target, replaced, targetError }: TenantReleaseTargets, previousVersion: string | undefined): string[] {
  const lines: string[] = [];
  const services = (t: ReleaseTarget) => {
    const width = Math.max(...t.services.map((s) => s.name.length));
    return t.services.map((s) => {
      const changes = describeEnvironmentChanges(s.environment);
      return `  ${s.name.padEnd(width)}  ${s.image}${changes ? `  ${changes}` : ''}`;
    });
  };
  if (target) {
    lines.push(`target ${target.version}`, ...services(target));
    if (replaced) lines.push(`replaced ${replaced.version} (recorded)`, ...services(replaced));
    else if (previousVersion !== undefined && previousVersion !== target.version && !targetError) lines.push(`replaced ${previousVersion}: no target recorded for it`);
  }
  if (targetError) lines.push(targetError);
  return lines;
}
