import { z } from 'zod';
import type { ReleaseTarget, ServiceTarget } from '../../activities/runtime/types';
import { DEFAULT_SERVICE_NAME, envVarNameSchema, primaryServiceOf, serviceNameSchema, type ResolvedService } from '../config/services';
import { imageTagSchema } from '../ids';
import type { TenantSpec } from '../tenant-spec';

/**
 * A release manifest (docs/services.md, "Release manifests"): what one version of the product
 * is, as a build pipeline publishes it to the repository or to S3. A release carries it whole in
 * its input, and a rollback returns to the previous one whole.
 */
export const imageReferenceSchema = z
  .string()
  .regex(/^[^:@\s]+(:[0-9]+)?(\/[^:@\s]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'expected an image reference with a tag, such as "ghcr.io/acme/worker:2.4.0" (digests are not supported)');

export const releaseManifestSchema = z.strictObject({
  /** What the fleet records and compares: `tenantctl release status` shows it, a rollback goes back to the previous one. */
  version: imageTagSchema,
  /** The image of each service, by name; every service of every tenant released needs one. */
  services: z.record(serviceNameSchema, imageReferenceSchema).refine((services) => Object.keys(services).length > 0, { message: 'expected at least one service' }),
  /** The tenant template's revision (the SHA-256 `tenantctl release start --template` computes), when the version needs it. */
  template: z
    .strictObject({
      revision: z.string().regex(/^[0-9a-f]{64}$/, 'expected the template\'s SHA-256 as 64 lowercase hex digits'),
      allowReplacement: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  /** Configuration changes per service: a variable set, or removed with null. Never a secret: those are references in the fleet config. */
  environment: z.record(serviceNameSchema, z.record(envVarNameSchema, z.string().max(4096).nullable())).optional(),
});
export type ReleaseManifest = z.output<typeof releaseManifestSchema>;

/** `repo:tag` (a manifest's image, checked by imageReferenceSchema) as repository and tag. */
export function splitImageReference(reference: string): { image: string; version: string } {
  const colon = reference.lastIndexOf(':');
  return { image: reference.slice(0, colon), version: reference.slice(colon + 1) };
}

/** The tenant's services as the release sees them; a tenant without `services` runs one, DEFAULT_SERVICE_NAME. */
export function servicesOf(tenant: TenantSpec): Pick<ResolvedService, 'name' | 'image'>[] {
  return tenant.services ?? [{ name: DEFAULT_SERVICE_NAME, image: tenant.image }];
}

/**
 * Why `manifest` cannot be released to `tenant`, one line per problem naming the field, or [] when
 * it can: each of the tenant's services needs an image, and configuration may change only services
 * it runs.
 */
export function manifestProblems(manifest: ReleaseManifest, tenant: TenantSpec): string[] {
  const names = servicesOf(tenant).map((s) => s.name);
  const problems = names
    .filter((name) => !Object.hasOwn(manifest.services, name))
    .map((name) => `manifest.services.${name}: tenant ${tenant.id} runs a service "${name}"; expected an image for it (got none)`);
  for (const name of Object.keys(manifest.environment ?? {})) {
    if (!names.includes(name)) problems.push(`manifest.environment.${name}: tenant ${tenant.id} runs no service "${name}"; expected one of: ${names.join(', ')}`);
  }
  return problems;
}

/**
 * What a release of `version` (with its manifest, if any) sets on the tenant, or undefined when it
 * is the primary's tag alone: a tenant without services released without a manifest, which every
 * runtime handles as before services existed.
 */
export function releaseTargetFor(tenant: TenantSpec, version: string, manifest?: ReleaseManifest): ReleaseTarget | undefined {
  if (!manifest && !tenant.services) return undefined;
  const services = tenant.services ? [primaryServiceOf(tenant.services), ...tenant.services.filter((s) => s !== primaryServiceOf(tenant.services!))] : servicesOf(tenant);
  return {
    version,
    services: services.map((service): ServiceTarget => {
      const image = manifest ? manifest.services[service.name] : `${service.image}:${version}`;
      if (image === undefined) throw new Error(manifestProblems(manifest!, tenant).join('; '));
      const environment = manifest?.environment?.[service.name];
      return { name: service.name, image, ...(environment ? { environment } : {}) };
    }),
  };
}

/**
 * The target a rollback returns to when the version it goes back to was recorded without one (a
 * release before services or manifests): each service's repository at that version, and each
 * variable the release being undone set back to the fleet config's value for the service, or removed.
 */
export function uniformTargetFor(tenant: TenantSpec, version: string, undoing?: ReleaseTarget): ReleaseTarget {
  const target = releaseTargetFor(tenant, version) ?? { version, services: servicesOf(tenant).map((s) => ({ name: s.name, image: `${s.image}:${version}` })) };
  return {
    version,
    services: target.services.map((service) => {
      const set = Object.keys(undoing?.services.find((s) => s.name === service.name)?.environment ?? {});
      const configured = tenant.services?.find((s) => s.name === service.name)?.environment ?? {};
      const back = Object.fromEntries(set.map((variable) => [variable, configured[variable] ?? null]));
      return { ...service, ...(set.length > 0 ? { environment: back } : {}) };
    }),
  };
}
