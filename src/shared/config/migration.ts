import { z } from 'zod';
import { durationSchema } from '../durations';

/** A release's migration step may take from this long... */
export const MIGRATION_TIMEOUT_MIN_MS = 10_000;
/** ...to this long: it holds the tenant's lock and its wave's place meanwhile. */
export const MIGRATION_TIMEOUT_MAX_MS = 6 * 3_600_000;

/**
 * The command a release runs with the NEW image before it moves traffic (docs/releases.md,
 * "Migrations"): per environment (`environments[].migration`), replaced for a tenant by its own
 * (`tenants[].migration`). A command as an argument list, never through a shell: ECS's command
 * override and a Kubernetes container's `command` take exactly that.
 */
export const migrationSchema = z.strictObject({
  command: z.array(z.string().min(1, 'expected a non-empty argument').max(1024)).min(1, 'expected the command and its arguments, such as ["./manage", "migrate"]').max(64),
  /** How long the task may run: it is stopped then and the tenant rolled back. */
  timeout: durationSchema.prefault('30m').refine((ms) => ms >= MIGRATION_TIMEOUT_MIN_MS && ms <= MIGRATION_TIMEOUT_MAX_MS, {
    message: `expected a timeout from ${MIGRATION_TIMEOUT_MIN_MS / 1000}s to ${MIGRATION_TIMEOUT_MAX_MS / 3_600_000}h, such as "30m"`,
  }),
});
export type MigrationConfig = z.output<typeof migrationSchema>;
