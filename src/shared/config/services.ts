import { z } from 'zod';

/*
 * A tenant's named services (fleet config `environments[].services` and `tenants[].services`;
 * docs/services.md). Imports only zod: workflow code reads the resolved form from the tenant spec.
 */

/**
 * Service names end up in ECS service and task definition family names (`tenant-<id>-<name>`), in
 * Kubernetes object names and labels, and as keys of a release manifest. No hyphen, so a name can
 * never meet blue/green's `-green` objects; `app` and `green` are the names those objects take.
 */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9]{0,19}$/;
export const RESERVED_SERVICE_NAMES = ['app', 'green'] as const;
export const serviceNameSchema = z
  .string()
  .regex(SERVICE_NAME_PATTERN, 'expected a service name: 1-20 lowercase letters and digits, starting with a letter (it names ECS services and Kubernetes objects)')
  .refine((name) => !(RESERVED_SERVICE_NAMES as readonly string[]).includes(name), {
    message: `"app" and "green" name the objects of the service that takes traffic and of its blue/green slot; choose another name`,
  });

/** What a tenant with no `services` runs: one service of this name, taking the traffic. */
export const DEFAULT_SERVICE_NAME = 'web';

export const envVarNameSchema = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'expected an environment variable name: uppercase letters, digits and "_", not starting with a digit');

/**
 * A secret the service's container gets as an environment variable, by reference only: the
 * config and every workflow history hold where the value is, never the value. Both live under the
 * tenant's own prefix, so the roles that read them are scoped per tenant (docs/services.md).
 */
export const secretReferenceSchema = z.union(
  [
  z.strictObject({
    /** An SSM parameter (SecureString) under the tenant's prefix: `stripe/key` is `/tenant-fleet/<id>/stripe/key`. */
    ssm: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'expected a parameter path below the tenant\'s prefix, such as "stripe/key" (no leading "/")'),
  }),
  z.strictObject({
    /** A Secrets Manager secret named `tenant-fleet/<id>/<name>`. */
    secretsManager: z.string().regex(/^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/, 'expected a secret name below "tenant-fleet/<tenant>/", such as "stripe"'),
  }),
  ],
  { error: 'expected a reference, never a value: { ssm: "<parameter path below the tenant\'s prefix>" } or { secretsManager: "<secret name below tenant-fleet/<tenant>/>" }' },
);
export type SecretReference = z.output<typeof secretReferenceSchema>;

/** A container-level health check (ECS `healthCheck`, a Kubernetes exec liveness probe), for services without a load balancer to judge them. */
export const containerHealthCheckSchema = z
  .strictObject({
    command: z.array(z.string().min(1)).min(1),
    intervalSeconds: z.number().int().min(5).max(300).default(30),
    timeoutSeconds: z.number().int().min(2).max(60).default(5),
    retries: z.number().int().min(1).max(10).default(3),
    startPeriodSeconds: z.number().int().min(0).max(300).default(0),
  })
  .refine((h) => h.timeoutSeconds < h.intervalSeconds, { message: 'expected timeoutSeconds shorter than intervalSeconds', path: ['timeoutSeconds'] });

const CPU_UNITS = [256, 512, 1024, 2048, 4096] as const;

/**
 * One service's settings, every field optional: an environment's entry gives defaults, a tenant's
 * entry of the same name overrides them field by field (`environment` and `secrets` key by key).
 */
export const serviceSettingsSchema = z.strictObject({
  /** Repository without tag; default: the tenant's `image`. */
  image: z.string().min(1).regex(/^[^:@\s]+$/, 'expected an image repository without a tag, such as "ghcr.io/acme/worker"').optional(),
  /** Replaces the image's entrypoint arguments (ECS `command`, Kubernetes `args`). */
  command: z.array(z.string().min(1)).min(1).optional(),
  environment: z.record(envVarNameSchema, z.string().max(4096)).optional(),
  secrets: z.record(envVarNameSchema, secretReferenceSchema).optional(),
  /** ECS task size (Fargate's combinations); Kubernetes requests. Default: the tenant's `service` for the traffic service, else 256 / 512. */
  cpu: z.union(CPU_UNITS.map((c) => z.literal(c)) as unknown as [z.ZodLiteral<256>, z.ZodLiteral<512>, ...z.ZodLiteral<number>[]]).optional(),
  memory: z.number().int().min(512).max(30720).optional(),
  /** Default: the tenant's `replicas` for the traffic service, else 1. */
  replicas: z.number().int().min(1).max(100).optional(),
  healthCheck: containerHealthCheckSchema.optional(),
  /** Whether the load balancer sends it the tenant's requests; exactly one service does on a tenant with a load balancer. */
  traffic: z.boolean().optional(),
});
export type ServiceSettings = z.output<typeof serviceSettingsSchema>;

/** Keys checked one by one, so a bad name is reported with its own path and why (a record key schema's message is lost). */
export const servicesSchema = z.record(z.string(), serviceSettingsSchema).check(
  z.superRefine((services, ctx) => {
    for (const name of Object.keys(services)) {
      const checked = serviceNameSchema.safeParse(name);
      if (!checked.success) ctx.addIssue({ code: 'custom', path: [name], message: checked.error.issues[0]!.message, input: name });
    }
  }, { when: () => true }),
);

/**
 * A tenant's service as the tenant spec records it: everything resolved, secrets as ARNs.
 * Absent from specs of tenants whose config declares no services (and from older histories):
 * those run one service, `DEFAULT_SERVICE_NAME`, from the tenant's `image`, `replicas` and `service`.
 */
export const resolvedServiceSchema = z.strictObject({
  name: z.string().min(1),
  image: z.string().min(1),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()),
  /** Environment variable → ARN of an SSM parameter or a Secrets Manager secret. */
  secrets: z.record(z.string(), z.string()),
  cpu: z.number().int(),
  memory: z.number().int(),
  replicas: z.number().int().min(1),
  healthCheck: z
    .strictObject({
      command: z.array(z.string()),
      intervalSeconds: z.number().int(),
      timeoutSeconds: z.number().int(),
      retries: z.number().int(),
      startPeriodSeconds: z.number().int(),
    })
    .optional(),
  traffic: z.boolean(),
});
export type ResolvedService = z.output<typeof resolvedServiceSchema>;

/** Fargate's task sizes: CPU units → memory (MiB) from, to, step. */
export const FARGATE_MEMORY: Record<number, [number, number, number]> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
};

/** Why Fargate would refuse this size, or undefined. */
export function fargateSizeProblem(cpu: number, memory: number): string | undefined {
  const [from, to, step] = FARGATE_MEMORY[cpu] ?? [0, -1, 1];
  if (memory < from || memory > to || (memory - from) % step !== 0) return `Fargate does not run ${cpu} CPU units with ${memory} MiB; expected ${from} to ${to} MiB in steps of ${step}`;
  return undefined;
}

export interface ServiceDefaults {
  /** The tenant's `image`, `replicas`, `service.cpu` and `service.memory`. */
  image: string;
  replicas: number;
  cpu: number;
  memory: number;
}

export interface SecretScope {
  tenantId: string;
  accountId: string;
  region: string;
}

export function secretArn(reference: SecretReference, scope: SecretScope): string {
  if ('ssm' in reference) return `arn:aws:ssm:${scope.region}:${scope.accountId}:parameter/tenant-fleet/${scope.tenantId}/${reference.ssm}`;
  return `arn:aws:secretsmanager:${scope.region}:${scope.accountId}:secret:tenant-fleet/${scope.tenantId}/${reference.secretsManager}`;
}

/**
 * The tenant's services: the environment's entries under the tenant's, field by field. Undefined
 * when neither declares any (the tenant runs its one default service). Sorted by name, the traffic
 * service first, so the spec is the same whatever order the config wrote them in.
 */
export function resolveServices(
  fromEnvironment: Record<string, ServiceSettings> | undefined,
  fromTenant: Record<string, ServiceSettings> | undefined,
  defaults: ServiceDefaults,
  scope: SecretScope,
): ResolvedService[] | undefined {
  const names = [...new Set([...Object.keys(fromEnvironment ?? {}), ...Object.keys(fromTenant ?? {})])];
  if (names.length === 0) return undefined;
  const services = names.map((name): ResolvedService => {
    const base = fromEnvironment?.[name] ?? {};
    const own = fromTenant?.[name] ?? {};
    const merged = { ...base, ...own };
    const traffic = merged.traffic ?? false;
    const secrets = { ...base.secrets, ...own.secrets };
    return {
      name,
      image: merged.image ?? defaults.image,
      ...(merged.command ? { command: merged.command } : {}),
      environment: sortedRecord({ ...base.environment, ...own.environment }),
      secrets: sortedRecord(Object.fromEntries(Object.entries(secrets).map(([variable, reference]) => [variable, secretArn(reference, scope)]))),
      cpu: merged.cpu ?? (traffic ? defaults.cpu : 256),
      memory: merged.memory ?? (traffic ? defaults.memory : 512),
      replicas: merged.replicas ?? (traffic ? defaults.replicas : 1),
      ...(merged.healthCheck ? { healthCheck: merged.healthCheck } : {}),
      traffic,
    };
  });
  return services.sort((a, b) => Number(b.traffic) - Number(a.traffic) || a.name.localeCompare(b.name));
}

/**
 * Problems with a tenant's resolved services, as [path within `tenants[i]`, message]: the fleet
 * schema reports them with the tenant's path. `hasLoadBalancer`: exactly one service must take traffic.
 */
export function servicesProblems(services: ResolvedService[], hasLoadBalancer: boolean, defaults?: Pick<ServiceDefaults, 'cpu' | 'memory'>): [PropertyKey[], string][] {
  const problems: [PropertyKey[], string][] = [];
  const traffic = services.filter((s) => s.traffic).map((s) => s.name);
  if (hasLoadBalancer && traffic.length !== 1) {
    problems.push([['services'], `expected exactly one service with "traffic: true" on a tenant with a load balancer; ${traffic.length === 0 ? 'none has it' : `${traffic.join(', ')} have it`}`]);
  }
  if (!hasLoadBalancer && traffic.length > 1) problems.push([['services'], `expected at most one service with "traffic: true"; ${traffic.join(', ')} have it`]);
  for (const service of services) {
    // A size inherited from the tenant's `service` is reported there.
    const inherited = defaults !== undefined && service.traffic && service.cpu === defaults.cpu && service.memory === defaults.memory;
    const size = inherited ? undefined : fargateSizeProblem(service.cpu, service.memory);
    if (size) problems.push([['services', service.name, 'memory'], size]);
    const both = Object.keys(service.secrets).filter((variable) => Object.hasOwn(service.environment, variable));
    if (both.length > 0) problems.push([['services', service.name, 'secrets'], `${both.join(', ')} also set in "environment"; a variable comes from one or the other`]);
  }
  return problems;
}

/**
 * The service whose objects are the workload's main ones (ECS service `tenant-<id>`, Deployment
 * `app`, the objects every tenant had before services existed, and blue/green's colours): the one
 * that takes traffic, else the first by name. `resolveServices` sorts it first.
 */
export const primaryServiceOf = (services: ResolvedService[]): ResolvedService => services.find((s) => s.traffic) ?? services[0]!;

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
