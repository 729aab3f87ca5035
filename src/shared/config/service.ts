import { z } from 'zod';

/*
 * The fleet config's `tenants[].service`, in a module of its own that imports only zod: workflow
 * code parses an empty one for the defaults (src/workflows/tenant-footprint.ts), and the workflow
 * bundle must not pull in the rest of the fleet config schema.
 */

/** The task sizes Fargate accepts: CPU units → memory (MiB) from, to, step. */
const FARGATE_MEMORY: Record<number, [number, number, number]> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
};
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** How the load balancer reaches a tenant's workload, and how big an ECS task is. */
export const serviceSchema = z
  .strictObject({
    /** The port the app listens on (the container port; the target group's targets register with it). */
    port: z.number().int().min(1).max(65535).default(8080),
    /** The target group's health check (ALB's ranges). */
    healthCheck: z
      .strictObject({
        path: z.string().regex(/^\/[\x21-\x7e]{0,1023}$/, 'expected a path starting with "/", such as "/healthz"').default('/healthz'),
        intervalSeconds: z.number().int().min(5).max(300).default(10),
        timeoutSeconds: z.number().int().min(2).max(120).default(5),
        healthyThreshold: z.number().int().min(2).max(10).default(3),
        unhealthyThreshold: z.number().int().min(2).max(10).default(2),
      })
      .prefault({})
      .refine((h) => h.timeoutSeconds < h.intervalSeconds, { message: 'expected timeoutSeconds shorter than intervalSeconds (ALB requires it)', path: ['timeoutSeconds'] }),
    /** How long a deregistered target keeps serving its in-flight requests (ALB: 0-3600 s). */
    deregistrationDelaySeconds: z.number().int().min(0).max(3600).default(30),
    /** ECS: the task's CPU units and memory (MiB), one of Fargate's combinations. */
    cpu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]).default(256),
    memory: z.number().int().default(512),
    /** ECS: how long the tenant's awslogs log group keeps its events. */
    logRetentionDays: z
      .number()
      .int()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), { message: `expected one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}` })
      .default(30),
  })
  .superRefine((service, ctx) => {
    const [from, to, step] = FARGATE_MEMORY[service.cpu]!;
    if (service.memory < from || service.memory > to || (service.memory - from) % step !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['memory'],
        message: `Fargate does not run ${service.cpu} CPU units with ${service.memory} MiB; expected ${from} to ${to} MiB in steps of ${step}`,
      });
    }
  });

export type TenantService = z.output<typeof serviceSchema>;
