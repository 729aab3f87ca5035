import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { imageTagSchema, releaseIdSchema, tenantIdSchema } from '../ids';
import type { WatchSet, WatchSpec } from '../release/bake-watch';
import { releaseManifestSchema } from '../release/manifest';
import type { MigrationRun } from '../release/migration';
import type { StackChangeRecord } from '../release/stack-change';
import { PROGRESS_PAGE_SIZE_MAX } from '../release/report';

/**
 * Everything about a release that the workflow, the client (tenantctl) and the UI share.
 * The waves arrive already expanded (which tenants, in which order): the client resolves the
 * plan against the fleet config before anything starts, so bad input is refused up front and
 * the workflow's history records exactly what was decided.
 */
export const waveSpecSchema = z.strictObject({
  name: z.string().min(1).max(63),
  tenants: z.array(tenantIdSchema),
  maxInFlight: z.number().int().min(1).max(2000),
  failureThreshold: z.union([z.strictObject({ count: z.number().int().min(0) }), z.strictObject({ percent: z.number().min(0).max(100) })]),
  bakeMs: z.number().int().min(0),
  /** A human approves before the NEXT wave starts. */
  approval: z
    .strictObject({
      timeoutMs: z.number().int().min(1),
      onTimeout: z.enum(['abort', 'continue']),
      /** An `approval-overdue` notification once the gate has waited this long (docs/operators.md, "Notifications"). */
      notifyAfterMs: z.number().int().min(1).optional(),
    })
    .optional(),
});
export type WaveSpec = z.infer<typeof waveSpecSchema>;

export const restoreOnRevertSchema = z.strictObject({ maxSnapshotAgeMs: z.number().int().min(1) });

/**
 * A release that carries the tenant template (docs/releases.md, "Infrastructure changes"): the
 * revision (SHA-256 of its text) the workers must hold, and the stateful resources (logical IDs)
 * it may replace or remove.
 */
export const releaseTemplateSchema = z.strictObject({
  revision: z.string().regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the tenant template, 64 lowercase hex digits'),
  allowReplacement: z
    .array(z.string().regex(/^[A-Za-z0-9]{1,255}$/, "expected a logical ID of the tenant template's resources (letters and digits)"))
    .max(50)
    .optional(),
});
export type ReleaseTemplate = z.infer<typeof releaseTemplateSchema>;

/** A release in maintenance mode; `drainMs` absent: each tenant's target group deregistration delay. */
export const maintenanceModeSchema = z.strictObject({ drainMs: z.number().int().min(0).max(3_600_000).optional() });
export type MaintenanceMode = z.infer<typeof maintenanceModeSchema>;

export const releaseOptionsSchema = z.strictObject({
  /** How long alarms and the health endpoint must stay good after a deploy. */
  verifyWindowMs: z.number().int().min(0),
  /** The verify step also reads the alarms' metrics itself (the plan's `verification: metrics`), so the window may be shorter than their evaluation time. */
  verifyReadsMetrics: z.boolean().optional(),
  /** Restore the database from the pre-release snapshot on rollback (irreversible migrations). */
  restoreDatabaseOnRollback: z.boolean(),
  /**
   * Reverting a deployed tenant after an abort puts its previous version back and leaves its data
   * alone; with this, it also restores the pre-release snapshot, when that is no older than the limit.
   */
  restoreDatabaseOnRevert: restoreOnRevertSchema.optional(),
  /** On abort: roll back tenants in flight and those already deployed. */
  rollbackOnAbort: z.boolean(),
  /** A tenant busy with another operation is retried this often, this far apart, then skipped. */
  busyRetry: z.strictObject({ attempts: z.number().int().min(1).max(100), delayMs: z.number().int().min(0) }),
  /**
   * Maintenance mode (docs/releases.md, "Maintenance mode"): per tenant, its listener rule answers
   * with a maintenance page and its in-flight requests drain (`drainMs`, default the tenant's
   * deregistration delay) before the snapshot, so the snapshot is a consistent restore point;
   * traffic returns once the new version (or, on failure, the previous one) is ready.
   */
  maintenanceMode: maintenanceModeSchema.optional(),
  /** Each tenant's stack gets the workers' tenant template and parameters through a change set before its deploy. */
  template: releaseTemplateSchema.optional(),
  /** Continue-as-new (between tenants, with none in flight) once the history has this many events. */
  continueAsNewAfterEvents: z.number().int().min(20).max(40_000).default(10_000),
});
export type ReleaseOptions = z.infer<typeof releaseOptionsSchema>;

/** A freeze as a release carries it (the fleet config's, for the tenants it applies to). */
export const releaseFreezeSchema = z.strictObject({ from: z.iso.datetime({ offset: true }), until: z.iso.datetime({ offset: true }), reason: z.string().min(1).max(200) });

/**
 * When the tenants may start deploying, as the fleet config said at the start (tenantctl resolves
 * it with the plan): groups of tenants sharing the same windows and freezes. A tenant in no group
 * deploys any time. The windows are checked in full when the config loads; here only their size.
 */
export const releaseMaintenanceSchema = z
  .array(z.strictObject({ tenants: z.array(tenantIdSchema).min(1), windows: z.array(z.string().min(1).max(200)).max(50), freezes: z.array(releaseFreezeSchema).max(100) }))
  .min(1);

/** A blue/green strategy as a release carries it (the plan's, resolved per environment: docs/releases.md, "Blue/green"). */
export const blueGreenStrategySchema = z.strictObject({
  type: z.literal('blueGreen'),
  steps: z
    .array(z.strictObject({ weight: z.number().int().min(1).max(100), bakeMs: z.number().int().min(0), approval: z.boolean().optional() }))
    .min(1)
    .max(20),
  blueRetentionMs: z.number().int().min(0),
});
export type BlueGreenStrategy = z.infer<typeof blueGreenStrategySchema>;
/** A tenant's migration as a release carries it (docs/releases.md, "Migrations"): resolved from the fleet config at the start. */
export const releaseMigrationSchema = z.strictObject({
  command: z.array(z.string().min(1).max(1024)).min(1).max(64),
  timeoutMs: z.number().int().min(1),
});
/** Groups of tenants sharing one migration command and timeout; absent when the release runs no migrations. */
export const releaseMigrationsSchema = z.array(releaseMigrationSchema.extend({ tenants: z.array(tenantIdSchema).min(1) })).min(1);

export const releaseWaveInputSchema = z
  .strictObject({
    releaseId: releaseIdSchema,
    version: imageTagSchema,
    plan: z.string().min(1),
    /** Environments the release touches, for the Environment search attribute. */
    environments: z.array(z.string().min(1)).min(1),
    waves: z.array(waveSpecSchema).min(1),
    options: releaseOptionsSchema,
    requestedBy: z.string().min(1).max(200),
    /** Maintenance windows and freezes (docs/releases.md, "Maintenance windows and freezes"); absent when no tenant has any. */
    maintenance: releaseMaintenanceSchema.optional(),
    /** Tenants released blue/green, grouped by the strategy they share; every other tenant rolls. */
    blueGreen: z.array(z.strictObject({ tenants: z.array(tenantIdSchema).min(1), strategy: blueGreenStrategySchema })).min(1).optional(),
    /** The migration step of each tenant that has one (docs/releases.md, "Migrations"); absent when the plan runs none. */
    migrations: releaseMigrationsSchema.optional(),
    /** The release's manifest (docs/releases.md, "Release manifests"), carried whole to every child; absent: the version is each service's tag. */
    manifest: releaseManifestSchema.optional(),
  })
  .superRefine((input, ctx) => {
    const seen = new Map<string, number>();
    input.waves.forEach((wave, w) =>
      wave.tenants.forEach((tenant, t) => {
        const first = seen.get(tenant);
        if (first !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['waves', w, 'tenants', t], message: `tenant is already in wave ${first}; a tenant belongs to one wave` });
        } else {
          seen.set(tenant, w);
        }
      }),
    );
    if (seen.size === 0) ctx.addIssue({ code: 'custom', path: ['waves'], message: 'expected at least one tenant in some wave' });
    if (input.manifest && input.manifest.version !== input.version) {
      ctx.addIssue({ code: 'custom', path: ['manifest', 'version'], message: `expected the release's version ${input.version}` });
    }
  });
export type ReleaseWaveInput = z.input<typeof releaseWaveInputSchema>;

/** A tenant's place in a release. Terminal: succeeded, rolled-back, rollback-failed, skipped. */
export type TenantReleaseStatus = 'pending' | 'running' | 'busy' | 'succeeded' | 'rolled-back' | 'rollback-failed' | 'skipped';
export const TERMINAL_TENANT_STATUSES: readonly TenantReleaseStatus[] = ['succeeded', 'rolled-back', 'rollback-failed', 'skipped'];

export interface TenantReleaseRecord {
  wave: number;
  status: TenantReleaseStatus;
  reason?: string;
  previousVersion?: string;
  /** How many times the tenant was tried (busy tenants are retried). */
  attempts: number;
  /** Epoch ms before which a busy tenant is not tried again. */
  notBefore?: number;
  /** This release changed the tenant's workload (false for one already on the version). */
  deployed?: boolean;
  /** Counts against the wave's failure threshold: rolled back, rollback failed, or failed before deploying. */
  failed?: boolean;
  /** In flight and waiting for its maintenance window (or a freeze's end) before it deploys. */
  window?: TenantWindowWait;
}

/** What a tenant waits for before it deploys, as its child reports it to the release. */
export interface TenantWindowWait {
  /** ISO 8601: when it will start deploying. */
  until: string;
  /** The window that opens, or the freeze that ends. */
  waitingFor?: string;
}

export type WaveStatus = 'pending' | 'running' | 'baking' | 'awaiting-approval' | 'done' | 'halted' | 'skipped';

export interface WaveRecord {
  name: string;
  status: WaveStatus;
  startedAt?: string;
  finishedAt?: string;
  approval?: ApprovalRecord;
  /** A release in maintenance mode: the wave's outage so far, from its finished tenants' results. */
  maintenance?: WaveMaintenance;
}

/**
 * A wave's time on the maintenance page (docs/releases.md, "Maintenance mode"): each finished
 * tenant's, from its result's `pageFrom` to `trafficBack` (the tenant workflow's clock). A tenant
 * whose traffic did not come back has no time: it is counted in `notBack`.
 */
export interface WaveMaintenance {
  /** Tenants whose page came down, whose times the figures add up. */
  tenants: number;
  totalMs: number;
  maxMs: number;
  /** The tenant that was on the page longest. */
  longest?: string;
  /** Tenants still on the page when their workflow ended (a restore that failed: `rollback-failed`). */
  notBack?: number;
}

export interface ApprovalRecord {
  by: string;
  comment?: string;
  at: string;
}

export type ReleaseStatus = 'running' | 'paused' | 'succeeded' | 'completed-with-failures' | 'halted' | 'aborted';

/**
 * The release's state as the first format carried it across continue-as-new: every tenant's record
 * keyed by ID (about 150 bytes a tenant). Runs still read it; new runs carry `CompactReleaseState`.
 */
export interface ReleaseState {
  waveIndex: number;
  phase: string;
  paused?: { by: string; reason?: string; at: string };
  abort?: { by: string; reason: string; at: string; rollback: boolean };
  haltReason?: string;
  waves: WaveRecord[];
  tenants: Record<string, TenantReleaseRecord>;
  /** How many runs this release took (continue-as-new). */
  run: number;
  /** What the active bake watches: the current wave's tenants that succeeded, until its bake is over. */
  bakeWatch?: WatchSet;
}

/**
 * The release's state as it continues as new (src/shared/release/compact.ts): the tenants as
 * run-length pairs over the plan's tenant list (the waves in order, as the input has them), each
 * pointing into a table of the distinct records. Thousands of tenants that succeeded alike share
 * one record; a failure keeps its own, in full.
 */
export interface CompactReleaseState extends Omit<ReleaseState, 'tenants'> {
  format: 2;
  /** The distinct tenant records; `wave` comes from the plan. */
  records: Omit<TenantReleaseRecord, 'wave'>[];
  /** `[record, count, record, count, …]` over the plan's tenants in order. */
  runs: number[];
}

/** One tenant as the progress query and the summary list it. */
export interface TenantReport extends Omit<TenantReleaseRecord, 'wave'> {
  tenantId: string;
  wave: string;
}

/**
 * What the `progress` query is asked: a page of the release's tenants (in plan order), or one
 * tenant. Counts, failures and the current wave come with every answer.
 */
export const progressRequestSchema = z
  .strictObject({
    page: z.number().int().min(1).optional(),
    pageSize: z.number().int().min(1).max(PROGRESS_PAGE_SIZE_MAX).optional(),
    tenant: tenantIdSchema.optional(),
  })
  .refine((r) => r.tenant === undefined || (r.page === undefined && r.pageSize === undefined), { message: 'ask for a tenant or a page, not both' });
export type ProgressRequest = z.input<typeof progressRequestSchema>;

/**
 * The `progress` query's answer, bounded whatever the fleet's size (docs/releases.md, "Payload
 * sizes"): counts, failures and the current wave in full; every other tenant page by page.
 */
export interface ReleaseProgress {
  releaseId: string;
  version: string;
  plan: string;
  status: ReleaseStatus;
  phase: string;
  counts: Record<TenantReleaseStatus, number>;
  waves: (WaveRecord & { size: number; counts: Record<TenantReleaseStatus, number> })[];
  /** The wave running now (none before the first and after the last): its tenants' IDs by status. */
  currentWave?: { name: string; tenants: Partial<Record<TenantReleaseStatus, string[]>> };
  inFlight: string[];
  /** Tenants that failed or wait busy, in full, in plan order; `failuresNotListed` more beyond the list's limit. */
  failures: TenantReport[];
  failuresNotListed: number;
  /** The page asked for (default the first), or the one tenant asked for. */
  tenants: Record<string, TenantReleaseRecord>;
  page: { page: number; pageSize: number; pages: number; total: number } | { tenant: string };
  paused?: ReleaseState['paused'];
  abort?: ReleaseState['abort'];
  haltReason?: string;
  /** Tenants in flight that wait for their maintenance window or a freeze's end (absent from releases before it). */
  waitingForWindow?: (TenantWindowWait & { tenantId: string })[];
}

export interface ReleaseSummary {
  releaseId: string;
  version: string;
  status: Exclude<ReleaseStatus, 'running' | 'paused'>;
  reason?: string;
  counts: Record<TenantReleaseStatus, number>;
  /**
   * Every tenant that ran and did not succeed, in full (failed, rolled back, skipped while busy),
   * up to a limit (`notListed` more). Succeeded tenants are counted, not listed: `tenantctl release
   * status <id> --page N` pages through them. Results of runs before the compact format listed
   * every tenant here.
   */
  tenants: { tenantId: string; wave: string; status: TenantReleaseStatus; reason?: string; previousVersion?: string }[];
  notListed?: number;
  /** Tenants skipped without ever starting (after a halt or an abort), counted with the reason they share. */
  notStarted?: { count: number; reason: string };
  /** A release in maintenance mode: the outage of each wave that put a tenant on the maintenance page, in wave order. */
  maintenanceByWave?: (WaveMaintenance & { wave: string })[];
}

// --- messages ------------------------------------------------------------------------------

const actorSchema = z.string().trim().min(1, 'expected who is acting (a name or CI job)').max(200);

export const approveInputSchema = z.strictObject({
  by: actorSchema,
  comment: z.string().max(1000).optional(),
  /** Which wave's gate; default: the next gate that has no approval yet. */
  wave: z.string().min(1).optional(),
});
export type ApproveInput = z.input<typeof approveInputSchema>;
export interface ApproveResult {
  wave: string;
  /** True when the wave was not waiting yet: the approval is kept for when it does. */
  early: boolean;
}

export const abortInputSchema = z.strictObject({
  by: actorSchema,
  reason: z.string().trim().min(1, 'expected a reason for the abort').max(1000),
  /** Roll back tenants in flight and those already deployed; default: the plan's rollbackOnAbort. */
  rollback: z.boolean().optional(),
});
export type AbortInput = z.input<typeof abortInputSchema>;
export interface AbortResult {
  /** Tenants that will not start because of the abort, the first 100 of them (src/shared/release/report.ts). */
  stoppedStarting: string[];
  /** All of them (runs before the compact format sent no count: the list was complete). */
  stoppedStartingCount?: number;
}


export const pauseInputSchema = z.strictObject({ by: actorSchema, reason: z.string().max(1000).optional() });
export type PauseInput = z.input<typeof pauseInputSchema>;

export const skipWindowInputSchema = z.strictObject({
  by: actorSchema,
  tenant: tenantIdSchema,
  reason: z.string().trim().min(1, 'expected why the tenant may deploy outside its window (recorded with its result)').max(1000),
});
export type SkipWindowInput = z.input<typeof skipWindowInputSchema>;
export interface SkipWindowResult {
  tenant: string;
  /** When it would have started deploying. */
  wasWaitingUntil: string;
}

/** Updates, so that a wrong-state request is refused with a reason instead of being lost. */
export const approveUpdate = defineUpdate<ApproveResult, [ApproveInput]>('approve');
export const abortUpdate = defineUpdate<AbortResult, [AbortInput]>('abort');
export const pauseUpdate = defineUpdate<void, [PauseInput]>('pause');
export const resumeUpdate = defineUpdate<void, [PauseInput]>('resume');
/** A tenant waiting for its maintenance window deploys now; the reason goes into its result. */
export const skipWindowUpdate = defineUpdate<SkipWindowResult, [SkipWindowInput]>('skipWindow');
/** From a tenant's child to its release: it waits for its window (or a freeze's end) until then. */
export const tenantWindowSignal = defineSignal<[TenantWindowWait & { tenantId: string }]>('tenantWindow');
export const releaseProgressQuery = defineQuery<ReleaseProgress, [ProgressRequest?]>('progress');

// --- the per-tenant child ------------------------------------------------------------------

export const releaseTenantInputSchema = z.strictObject({
  releaseId: releaseIdSchema,
  tenantId: tenantIdSchema,
  version: imageTagSchema,
  /** `rollback`: a tenant that regressed during its wave's bake goes back, as after a failed verification (docs/releases.md, "Active bake"). */
  mode: z.enum(['deploy', 'revert', 'rollback']),
  /** For `revert` and `rollback`: the version the tenant had before this release. */
  revertTo: imageTagSchema.optional(),
  /** For `rollback`: what regressed. */
  reason: z.string().min(1).max(2000).optional(),
  verifyWindowMs: z.number().int().min(0),
  verifyReadsMetrics: z.boolean().optional(),
  restoreDatabaseOnRollback: z.boolean(),
  /** For `revert`: restore the data too (see ReleaseOptions); without it a revert leaves the data alone. */
  restoreDatabaseOnRevert: restoreOnRevertSchema.optional(),
  /** The release's plan, a label of the tenant's delivery metrics (absent in releases started before it). */
  plan: z.string().min(1).optional(),
  /** For `deploy`: it starts only inside one of these windows and outside these freezes (absent: any time). */
  maintenance: z.strictObject({ windows: z.array(z.string().min(1).max(200)).max(50), freezes: z.array(releaseFreezeSchema).max(100) }).optional(),
  /**
   * `merged`: the release's merged steps (release-tenant.ts, MERGED_STEPS_PATCH), which the release
   * chooses behind its patch and names here, so the child records no patch marker of its own.
   */
  steps: z.literal('merged').optional(),
  /** For `deploy`: release blue/green (release-tenant.ts hands over to blue-green.ts); absent: rolling. */
  strategy: blueGreenStrategySchema.optional(),
  /** For `deploy`: the release's maintenance mode (ReleaseOptions), absent without it. */
  maintenanceMode: maintenanceModeSchema.optional(),
  /** For `deploy`: run this migration with the new image after the snapshot, before the deploy (release-migration.ts). */
  migration: releaseMigrationSchema.optional(),
  /**
   * For `deploy`: change the tenant stack to the release's template after the snapshot; for `revert`
   * and `rollback`: put back the stack that deploy changed (release-template.ts).
   */
  template: releaseTemplateSchema.optional(),
  /** The release's manifest, in every mode: a deploy sets its target, a revert or rollback undoes it (docs/releases.md, "Release manifests"). */
  manifest: releaseManifestSchema.optional(),
}).refine((input) => !input.manifest || input.manifest.version === input.version, { path: ['manifest', 'version'], message: "expected the release's version" });
export type ReleaseTenantInput = z.input<typeof releaseTenantInputSchema>;

export type ReleaseTenantStep =
  | 'window'
  | 'lock'
  | 'inspect'
  // Maintenance mode (src/workflows/maintenance-mode.ts): the maintenance page and its drain, then traffic back.
  | 'maintenance'
  | 'snapshot'
  | 'infrastructure'
  | 'migrate'
  | 'deploy'
  | 'traffic'
  | 'verify'
  | 'record'
  | 'rollback'
  | 'restore-database'
  | 'done'
  // Blue/green (src/workflows/blue-green.ts): the test route, each traffic step's shift, its approval and its bake.
  | 'test-route'
  | 'shift'
  | 'approval'
  | 'bake';

/** A blue/green tenant's colours as its progress query shows them (docs/releases.md, "Blue/green"). */
export interface ColourProgress {
  /** The colour live before the release ("blue" in the issue's words) and the one being released. */
  from: 'blue' | 'green';
  to: 'blue' | 'green';
  /** The listener rule's weights as last set (percent). */
  weights: { blue: number; green: number };
  /** The step being shifted or baked (1-based) of how many. */
  step?: { index: number; of: number };
  /** Once at 100 %: the formerly live colour is retained until then (ISO 8601) by this workflow, then scaled to 0. */
  retained?: { colour: 'blue' | 'green'; until: string; workflowId: string };
}

export interface ReleaseTenantResult {
  tenantId: string;
  status: Extract<TenantReleaseStatus, 'succeeded' | 'rolled-back' | 'rollback-failed' | 'skipped'>;
  reason?: string;
  previousVersion?: string;
  snapshot?: string;
  /** True when this run changed the workload (false for a tenant already on the version). */
  deployed: boolean;
  /** With a successful deploy: what its wave's bake watches (src/shared/release/bake-watch.ts). */
  watch?: WatchSpec;
  /** Maintenance mode: when the rule began answering with the maintenance page and when traffic returned (ISO 8601, the workflow's clock). */
  maintenance?: { pageFrom: string; trafficBack?: string; note?: string };
  /** It waited for its maintenance window (or a freeze's end) until then, or was told to skip the wait. */
  window?: { until: string; waitingFor?: string; skipped?: { by: string; reason: string } };
  /** Its migration's run: the exit code and the last lines of output (docs/releases.md, "Migrations"). */
  migration?: MigrationRun;
  /** Its stack's change set: each resource change (docs/releases.md, "Infrastructure changes"). */
  infrastructure?: StackChangeRecord;
}

export interface ReleaseTenantProgress {
  tenantId: string;
  step: ReleaseTenantStep;
  detail?: string;
  /** Blue/green tenants only. */
  colours?: ColourProgress;
}

/** A blue/green tenant waiting at a step that asks for approval moves on (tenantctl release approve forwards it). */
export const approveStepUpdate = defineUpdate<void, [{ by: string; comment?: string }]>('approveStep');

/** The retained colour's retirement (src/workflows/retire-colour.ts, ID `tenant/<id>/retire/<releaseId>`). */
export const retireColourInputSchema = z.strictObject({
  tenantId: tenantIdSchema,
  releaseId: releaseIdSchema,
  colour: z.enum(['blue', 'green']),
  /** The version it runs; a colour running anything else by then (a later release deployed into it) is left alone. */
  version: imageTagSchema,
  retainMs: z.number().int().min(0),
});
export type RetireColourInput = z.input<typeof retireColourInputSchema>;
export interface RetireColourProgress {
  tenantId: string;
  colour: 'blue' | 'green';
  version: string;
  state: 'retained' | 'retiring' | 'retired' | 'kept';
  /** ISO 8601. */
  until: string;
  reason?: string;
}
export const retireColourProgressQuery = defineQuery<RetireColourProgress>('retireProgress');

/** Sent by the release to a tenant in flight when the release is aborted with rollback. */
export const stopTenantSignal = defineSignal<[{ reason: string }]>('stopTenant');
export const releaseTenantProgressQuery = defineQuery<ReleaseTenantProgress>('tenantProgress');
/** Sent by the release (the `skipWindow` update) to a tenant waiting for its window: deploy now. */
export const skipWindowSignal = defineSignal<[{ by: string; reason: string }]>('skipWindow');
