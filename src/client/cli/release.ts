import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { FleetConfig } from '../../shared/config/schema';
import { imageTagSchema, releaseIdSchema, tenantIdSchema } from '../../shared/ids';
import { releaseProgressQuery, type ProgressRequest, type ReleaseProgress, type ReleaseSummary, type ReleaseWaveInput } from '../../shared/messages/release';
import { PROGRESS_PAGE_SIZE, PROGRESS_PAGE_SIZE_MAX } from '../../shared/release/report';
import type { ReleaseRequest } from '../../shared/release/plan';
import { PhaseKey } from '../../shared/search-attributes';
import { InputValidationError } from '../../shared/validation';
import {
  abortRelease,
  approveBlueGreenSteps,
  approveRelease,
  inFlightColours,
  listReleases,
  pauseRelease,
  planRelease,
  releaseHandle,
  releaseOutcome,
  releaseProgress,
  resumeRelease,
  skipReleaseWindow,
  startRelease,
  type ReleaseHandle,
} from '../releases';
import { maintenanceOutages, releaseInputOf, type MaintenanceOutage } from '../release-maintenance';
import { releaseRecordReader, tenantReleaseTargets, type TargetSources, type TenantReleaseTargets } from '../release-targets';
import { AwsClients } from '../../activities/aws/clients';
import { resolveTenantSpec } from '../../shared/config/resolve';
import { defineCommand, type Command } from './command';
import type { CliContext } from './context';
import { CliInputError, EXIT, exitCodeForSummary } from './exit-codes';
import { followRelease, type FollowView } from './follow';
import { formatTime, printJson, renderTable, type Colour } from './output';
import { progressBlock, summaryLines, tenantLines, tenantRows } from './release-view';
import { loadReleaseManifest } from '../release-manifest';
import { releaseTemplateOption } from '../release-template';
import { commaList, configName, count, flag, required } from './schemas';
import { rollbackHandle, startRollback, stopRollback, type RollbackHandle } from '../rollback';
import type { RollbackSummary, RollbackTenantStatus } from '../../shared/messages/rollback';
import { parseDuration } from '../../shared/durations';

const idArg = { name: 'id', description: 'the release ID (what `release start` printed, or the --release-id CI passed)' };
const idSchema = required('the release ID', releaseIdSchema);

const start = defineCommand({
  group: 'release',
  name: 'start',
  summary: 'start a release of a version across the fleet in waves (or attach to the one with this --release-id)',
  options: {
    version: { type: 'string', value: '<tag>', description: 'image tag to release (required, unless --manifest gives it)' },
    manifest: {
      type: 'string',
      value: '<path | s3://bucket/key>',
      description: "a release manifest (each service's image, the template revision, configuration changes); its version is the release's",
    },
    plan: { type: 'string', value: '<name>', description: 'release plan from the fleet config (default: the only plan, or the one named "default")' },
    env: { type: 'string', value: '<env,...>', description: 'only tenants in these environments' },
    tenants: { type: 'string', value: '<id,...>', description: 'only these tenants' },
    'release-id': { type: 'string', value: '<id>', description: 'idempotency key: a second start with the same ID attaches instead of starting again (CI: the pipeline run ID)' },
    wait: { type: 'boolean', description: 'follow the release to its end; exit 0 only if every tenant succeeded' },
    'maintenance-mode': {
      type: 'boolean',
      description: 'a consistent backup: each tenant answers with a maintenance page while its requests drain, its snapshot is taken and it deploys (tenants with a load balancer only)',
    },
    migrations: { type: 'boolean', description: "run each tenant's migration command with the new image before its deploy (default: the plan's `migrations`)" },
    template: {
      type: 'boolean',
      description: "also change each tenant's stack to this installation's tenant template and parameters, through a change set shown before it executes",
    },
    'allow-replacement': {
      type: 'string',
      value: '<logical id,...>',
      description: 'with --template: stateful resources (logical IDs, e.g. DatabaseCluster) its change sets may replace or remove; any other such change is refused',
    },
    'dry-run': { type: 'boolean', description: 'show the waves the plan would run, start nothing' },
  },
  examples: [
    'tenantctl release start --version 2.4.0 --wait',
    'tenantctl release start --version 2.4.0 --plan standard --env staging --dry-run',
    'tenantctl release start --version "$TAG" --release-id "ci-$GITHUB_RUN_ID" --wait --json   # CI: a retried job attaches',
    'tenantctl release start --version 2.4.1-hotfix --tenants acme,globex --release-id hotfix-acme',
    'tenantctl release start --version 2.5.0 --env production --maintenance-mode --wait   # a consistent backup per tenant',
    'tenantctl release start --version 2.5.0 --template --wait   # the tenant template too, canary first',
    'tenantctl release start --manifest s3://acme-artifacts/releases/2.6.0.yaml --wait   # each service\'s image from the manifest',
  ],
  notes: [
    'The release ID is the idempotency key: starting again with the same ID and the same request attaches',
    'to the existing release (running or finished) and, with --wait, reports its result; the same ID with',
    'another version, plan, --env, --tenants or plan options is refused (exit 2), naming each difference.',
    'Without --release-id a new ID is generated.',
  ],
  schema: z.object({
    version: imageTagSchema.optional(),
    manifest: z.string().min(1).optional(),
    plan: configName.optional(),
    env: commaList(configName).optional(),
    tenants: commaList(tenantIdSchema).optional(),
    'release-id': releaseIdSchema.optional(),
    wait: flag,
    'maintenance-mode': flag,
    migrations: flag,
    template: flag,
    'allow-replacement': commaList(z.string().regex(/^[A-Za-z0-9]{1,255}$/, 'expected a logical ID (letters and digits)')).optional(),
    'dry-run': flag,
  })
    .refine((a) => a['allow-replacement'] === undefined || a.template, { path: ['allow-replacement'], message: 'goes with --template' })
    .refine((a) => a.version !== undefined || a.manifest !== undefined, { path: ['version'], message: 'required: the image tag to release, e.g. --version 2.4.0 (or --manifest)' })
    .refine((a) => !(a.manifest && (a.template || a['allow-replacement'])), { path: ['template'], message: "goes without --manifest: the manifest's template field asks for it" }),
  async run(args, ctx) {
    const config = await ctx.config();
    const manifest = args.manifest === undefined ? undefined : await loadReleaseManifest(args.manifest, ctx.env);
    if (manifest && args.version !== undefined && args.version !== manifest.version) {
      throw new CliInputError([`--version: expected the manifest's version ${manifest.version} (got ${JSON.stringify(args.version)})`]);
    }
    const version = manifest?.version ?? args.version!;
    // The manifest's template revision is checked against the workers' template as --template's is (release-template.ts).
    const template = manifest?.template
      ? { ...asCliInput(() => releaseTemplateOption(manifest.template!.allowReplacement)), revision: manifest.template.revision }
      : args.template
        ? asCliInput(() => releaseTemplateOption(args['allow-replacement']))
        : undefined;
    const plan = choosePlan(config, args.plan);
    // A plan that asks for maintenance mode keeps its own drain time; the flag asks for it where the plan does not.
    const planAsks = !!config.releasePlans.find((p) => p.name === plan)?.maintenanceMode;
    const request: ReleaseRequest = {
      releaseId: args['release-id'] ?? generatedReleaseId(version),
      version,
      plan,
      environments: args.env,
      tenants: args.tenants,
      requestedBy: ctx.actor,
      ...(args['maintenance-mode'] || template
        ? {
            options: {
              ...(args['maintenance-mode'] && !planAsks ? { maintenanceMode: {} } : {}),
              ...(template ? { template } : {}),
            },
          }
        : {}),
      ...(args.migrations ? { migrations: true } : {}),
      ...(manifest ? { manifest } : {}),
    };
    // Refused here, before connecting: unknown tenants, environments or plan; an empty selection.
    const planned = asCliInput(() => planRelease(config, request));
    if (args['dry-run']) {
      if (ctx.json) printJson(ctx.out, { dryRun: true, release: planned });
      else for (const line of planLines(ctx, planned)) ctx.out.line(line);
      return EXIT.ok;
    }

    const client = await ctx.client();
    const { handle, input, started } = await startRelease(client, config, request);
    const url = ctx.ui.workflow(handle.workflowId);
    const identity = { releaseId: input.releaseId, workflowId: handle.workflowId, url, started, attached: !started };
    if (started) {
      ctx.note.line(`started release ${ctx.note.paint('bold', input.releaseId)}: ${describePlan(input)}`);
      if (!args['release-id']) ctx.note.line(ctx.note.paint('grey', 'tip: pass --release-id (e.g. the CI run ID) so a retried job attaches instead of starting a second release'));
    } else {
      ctx.note.line(`release ${ctx.note.paint('bold', input.releaseId)} already exists: attached to it, nothing new started`);
    }
    if (url) ctx.note.line(ctx.note.paint('grey', url));

    if (!args.wait) {
      if (ctx.json) printJson(ctx.out, { ...identity, version: input.version, plan: input.plan, waves: input.waves.map((w) => ({ name: w.name, tenants: w.tenants })) });
      else ctx.out.line(`follow it: tenantctl release status ${input.releaseId} --watch`);
      return EXIT.ok;
    }
    return follow(ctx, client, handle, identity);
  },
});

const status = defineCommand({
  group: 'release',
  name: 'status',
  summary: "a release's waves, tenants in flight and failures; one tenant (--tenant) or a page of them (--page); --watch follows it live to the end",
  positionals: [idArg],
  options: {
    watch: { type: 'boolean', short: 'w', description: 'follow until the release ends; then exit like `release start --wait`' },
    tenant: { type: 'string', value: '<id>', description: "one tenant's place in the release: wave, status, attempts, version before, reason (and its time on the maintenance page, in maintenance mode); with services or a manifest, each service's image and changed variables, and the target it replaced" },
    page: { type: 'string', value: '<n>', description: `every tenant in plan order, page by page (${PROGRESS_PAGE_SIZE} a page)` },
    'page-size': { type: 'string', value: '<n>', description: `tenants on a --page (1 to ${PROGRESS_PAGE_SIZE_MAX})` },
  },
  examples: [
    'tenantctl release status 2026-03-01-web',
    'tenantctl release status ci-812 --watch',
    'tenantctl release status ci-812 --tenant acme',
    'tenantctl release status ci-812 --page 3 --json | jq -r \'.tenants[] | "\\(.tenantId) \\(.status)"\'',
  ],
  notes: [
    'On a terminal --watch redraws a live view; piped or in CI it prints one line per change.',
    'The view and the result carry counts, failures and the current wave; --tenant and --page show the',
    'rest (of a finished release too, while a worker answers queries).',
  ],
  schema: z
    .object({ id: idSchema, watch: flag, tenant: tenantIdSchema.optional(), page: count(1, 1_000_000).optional(), 'page-size': count(1, PROGRESS_PAGE_SIZE_MAX).optional() })
    .refine((a) => !(a.tenant !== undefined && a.page !== undefined), { path: ['page'], message: 'give --tenant or --page, not both' })
    .refine((a) => a['page-size'] === undefined || a.page !== undefined, { path: ['page-size'], message: 'goes with --page' })
    .refine((a) => !(a.watch && (a.tenant !== undefined || a.page !== undefined)), { path: ['watch'], message: 'follows the whole release; leave out --tenant and --page' }),
  async run(args, ctx) {
    const client = await ctx.client();
    const handle = releaseHandle(client, args.id);
    const described = await describeOrRefuse(handle, args.id);
    const url = ctx.ui.workflow(handle.workflowId);
    const identity = { releaseId: args.id, workflowId: handle.workflowId, url };
    if (args.watch) return follow(ctx, client, handle, identity);
    const state = described.status.name === 'RUNNING' ? 'running' : 'closed';
    if (args.tenant !== undefined || args.page !== undefined) {
      const ask = args.tenant !== undefined ? { tenant: args.tenant } : { page: args.page, pageSize: args['page-size'] };
      const progress = await queryOrExplain(client, handle, ask, described.taskQueue);
      const input = await releaseInputOf(client, args.id);
      const outages = await maintenanceOutages(client, args.id, progress.tenants, input);
      const targets = args.tenant !== undefined && input?.version ? await targetsOf(ctx, { version: input.version, manifest: input.manifest }, args.tenant, progress) : undefined;
      return printTenants(ctx, { ...identity, state }, progress, args, outages, targets);
    }

    if (state === 'closed') {
      const summary = await releaseOutcome(handle);
      if (ctx.json) printJson(ctx.out, { ...identity, state, summary });
      else for (const line of summaryLines(ctx.out, summary, url)) ctx.out.line(line);
      return EXIT.ok;
    }
    let progress;
    try {
      progress = await client.withDeadline(Date.now() + 10_000, () => handle.query(releaseProgressQuery));
    } catch (error) {
      // Queries need a worker; without one, say what visibility knows rather than fail.
      const phase = described.typedSearchAttributes.get(PhaseKey);
      const problem = `progress query not answered (${(error as Error).message}); is a worker polling task queue ${described.taskQueue}?`;
      if (ctx.json) printJson(ctx.out, { ...identity, state: 'running', phase, progress: null, progressError: problem });
      else ctx.out.line(`release ${args.id}: running, phase ${phase ?? 'unknown'}\n${ctx.out.paint('yellow', problem)}${url ? `\n${url}` : ''}`);
      return EXIT.ok;
    }
    // Blue/green tenants in flight: their colours and weights, from their own progress queries.
    const colours = await inFlightColours(client, args.id, progress.inFlight);
    if (ctx.json) printJson(ctx.out, { ...identity, state: 'running', progress, ...(colours.length ? { colours } : {}) });
    else for (const line of [...progressBlock(ctx.out, progress, url), ...colourLines(colours)]) ctx.out.line(line);
    return EXIT.ok;
  },
});

/** The query --tenant and --page need: without a worker to answer it there is nothing to show, so it fails, saying why. */
async function queryOrExplain(client: Client, handle: ReleaseHandle, ask: ProgressRequest, taskQueue: string): Promise<ReleaseProgress> {
  try {
    return await client.withDeadline(Date.now() + 10_000, () => handle.query(releaseProgressQuery, ask));
  } catch (error) {
    throw new Error(`progress query not answered (${(error as Error).message}); is a worker polling task queue ${taskQueue}?`, { cause: error });
  }
}

/**
 * One tenant's release target and the one it replaced (release-targets.ts): from the release's input
 * and this fleet config, and the tenant's SSM record read as `tenant list` reads its version.
 * Undefined for a tenant the release does not have (refused by printTenants).
 */
async function targetsOf(ctx: CliContext, release: TargetSources['release'], tenantId: string, progress: ReleaseProgress): Promise<TenantReleaseTargets | undefined> {
  const record = progress.tenants[tenantId];
  if (!record) return undefined;
  const aws = new AwsClients({ endpoint: ctx.env.AWS_ENDPOINT_URL || undefined, maxAttempts: 2 });
  try {
    return await tenantReleaseTargets({
      release,
      tenant: async () => resolveTenantSpec(await ctx.config(), tenantId),
      previousVersion: record.previousVersion,
      readRecord: releaseRecordReader(aws),
    });
  } finally {
    aws.destroy();
  }
}

/**
 * `outages`: a release in maintenance mode (release-maintenance.ts): each tenant's time on the maintenance page, a column of its own.
 * `targets`: --tenant's release target and the one it replaced, below the table (in --json, fields of its row).
 */
function printTenants(
  ctx: CliContext,
  identity: Record<string, unknown>,
  progress: ReleaseProgress,
  args: { id: string; tenant?: string; page?: number },
  outages?: Record<string, MaintenanceOutage | undefined>,
  targets?: TenantReleaseTargets,
): number {
  const rows = tenantRows(progress, outages, targets);
  if (args.tenant !== undefined && rows.length === 0) {
    throw new CliInputError([`--tenant: release ${args.id} has no tenant with this ID; \`tenantctl release status ${args.id} --page 1\` lists them (got ${JSON.stringify(args.tenant)})`]);
  }
  const page = 'pages' in progress.page ? progress.page : undefined;
  if (page && rows.length === 0) {
    throw new CliInputError([`--page: release ${args.id} has ${page.total} tenants in ${page.pages} page${page.pages === 1 ? '' : 's'} of ${page.pageSize} (got ${JSON.stringify(String(args.page))})`]);
  }
  if (ctx.json) {
    printJson(ctx.out, { ...identity, status: progress.status, phase: progress.phase, counts: progress.counts, ...(page ? { page } : {}), tenants: rows });
    return EXIT.ok;
  }
  if (page) ctx.out.line(`release ${args.id}: tenants ${(page.page - 1) * page.pageSize + 1}-${(page.page - 1) * page.pageSize + rows.length} of ${page.total} (page ${page.page} of ${page.pages}), ${progress.status}`);
  for (const line of tenantLines(ctx.out, rows, outages !== undefined)) ctx.out.line(line);
  return EXIT.ok;
}

/** One line per blue/green tenant in flight: `acme  bake  blue → green  blue 50 % / green 50 %  step 2 of 3`. */
function colourLines(colours: Awaited<ReturnType<typeof inFlightColours>>): string[] {
  return colours.map(({ tenantId, step, detail, colours: c }) => {
    const at = c.step ? `  step ${c.step.index} of ${c.step.of}` : '';
    return `  ${tenantId}  ${step}  ${c.from} → ${c.to}  blue ${c.weights.blue} % / green ${c.weights.green} %${at}${detail ? `  (${detail})` : ''}`;
  });
}

const approve = defineCommand({
  group: 'release',
  name: 'approve',
  summary: "approve the next wave's gate (early approvals are kept until the gate opens)",
  positionals: [idArg],
  options: {
    comment: { type: 'string', value: '<text>', description: 'recorded with the approval' },
    wave: { type: 'string', value: '<name>', description: 'which wave\'s gate (default: the next one without an approval)' },
    step: { type: 'boolean', description: 'approve the blue/green traffic step its tenants in flight wait at, instead of a wave\'s gate' },
  },
  examples: ['tenantctl release approve 2026-03-01-web --comment "canary looks good"', 'tenantctl release approve ci-812 --wave early --by alice'],
  schema: z
    .object({ id: idSchema, comment: z.string().max(1000).optional(), wave: configName.optional(), step: flag })
    .refine((a) => !(a.step && a.wave !== undefined), { path: ['step'], message: 'approves the tenants waiting at a blue/green step; leave out --wave' }),
  async run(args, ctx) {
    const client = await ctx.client();
    if (args.step) {
      const progress = await releaseProgress(client, args.id);
      const approved = await approveBlueGreenSteps(client, args.id, progress.inFlight, { by: ctx.actor, ...(args.comment ? { comment: args.comment } : {}) });
      if (approved.length === 0) throw new CliInputError([`--step: no tenant of release ${args.id} waits at a blue/green step's approval (\`tenantctl release status ${args.id}\` shows each one's step)`]);
      if (ctx.json) printJson(ctx.out, { releaseId: args.id, approvedSteps: approved, by: ctx.actor });
      else ctx.out.line(`approved the traffic step of ${approved.join(', ')} in release ${args.id}`);
      return EXIT.ok;
    }
    const result = await withReleaseRefusals(client, args.id, () => approveRelease(client, args.id, { by: ctx.actor, comment: args.comment, wave: args.wave }));
    if (ctx.json) printJson(ctx.out, { releaseId: args.id, ...result, by: ctx.actor, url: ctx.ui.workflow(releaseHandle(client, args.id).workflowId) });
    else ctx.out.line(`approved wave ${result.wave} of release ${args.id}${result.early ? ' (early: the gate is not open yet; the approval is kept for it)' : ''}`);
    return EXIT.ok;
  },
});

const abort = defineCommand({
  group: 'release',
  name: 'abort',
  summary: 'stop a release: no tenant starts any more; with --rollback, deployed tenants are reverted',
  positionals: [idArg],
  options: {
    reason: { type: 'string', value: '<text>', description: 'why (required, recorded in history)' },
    rollback: { type: 'boolean', description: 'also revert tenants in flight and those already deployed' },
    'no-rollback': { type: 'boolean', description: 'leave deployed tenants on the new version (default: the plan\'s rollbackOnAbort)' },
  },
  examples: ['tenantctl release abort 2026-03-01-web --reason "error rate up in canary"', 'tenantctl release abort ci-812 --reason "bad migration" --rollback'],
  schema: z
    .object({ id: idSchema, reason: required('why the release is aborted, e.g. --reason "errors in canary"', z.string().trim().min(1, 'expected a reason').max(1000)), rollback: flag, 'no-rollback': flag })
    .refine((a) => !(a.rollback && a['no-rollback']), { path: ['rollback'], message: 'give --rollback or --no-rollback, not both' }),
  async run(args, ctx) {
    const client = await ctx.client();
    const rollback = args.rollback ? true : args['no-rollback'] ? false : undefined;
    const result = await withReleaseRefusals(client, args.id, () => abortRelease(client, args.id, { by: ctx.actor, reason: args.reason, rollback }));
    if (ctx.json) printJson(ctx.out, { releaseId: args.id, aborted: true, ...result, by: ctx.actor });
    const stopped = result.stoppedStartingCount ?? result.stoppedStarting.length;
    const more = stopped > result.stoppedStarting.length ? `, and ${stopped - result.stoppedStarting.length} more` : '';
    if (!ctx.json) ctx.out.line(`aborted release ${args.id}; ${stopped} tenants will not start${stopped ? ` (${result.stoppedStarting.join(', ')}${more})` : ''}`);
    return EXIT.ok;
  },
});

const pauseOrResume = (name: 'pause' | 'resume') =>
  defineCommand({
    group: 'release',
    name,
    summary: name === 'pause' ? 'stop starting new tenants (those in flight finish)' : 'start tenants again after a pause',
    positionals: [idArg],
    options: { reason: { type: 'string', value: '<text>', description: 'recorded in history' } },
    examples: [`tenantctl release ${name} 2026-03-01-web${name === 'pause' ? ' --reason "investigating latency"' : ''}`],
    schema: z.object({ id: idSchema, reason: z.string().max(1000).optional() }),
    async run(args, ctx) {
      const client = await ctx.client();
      const act = name === 'pause' ? pauseRelease : resumeRelease;
      await withReleaseRefusals(client, args.id, () => act(client, args.id, { by: ctx.actor, reason: args.reason }));
      if (ctx.json) printJson(ctx.out, { releaseId: args.id, [name === 'pause' ? 'paused' : 'resumed']: true, by: ctx.actor });
      else ctx.out.line(`${name === 'pause' ? 'paused' : 'resumed'} release ${args.id}`);
      return EXIT.ok;
    },
  });

const skipWindow = defineCommand({
  group: 'release',
  name: 'skip-window',
  summary: 'let a tenant waiting for its maintenance window (or a freeze to end) deploy now; the reason is recorded',
  positionals: [idArg],
  options: {
    tenant: { type: 'string', value: '<id>', description: 'the waiting tenant (required; `release status` lists those waiting)' },
    reason: { type: 'string', value: '<text>', description: "why it may deploy outside its window (required; recorded in history and in the tenant's result)" },
  },
  examples: ['tenantctl release skip-window 2026-03-01-web --tenant acme --reason "customer approved an early deploy (ticket OPS-912)"'],
  notes: ['Only a tenant that waits now can skip: one not started yet is refused (exit 2); skip it once `release status` shows it waiting.'],
  schema: z.object({
    id: idSchema,
    tenant: required('the waiting tenant, e.g. --tenant acme', tenantIdSchema),
    reason: required('why the tenant may deploy outside its window, e.g. --reason "hotfix approved by the customer"', z.string().trim().min(1, 'expected a reason').max(1000)),
  }),
  async run(args, ctx) {
    const client = await ctx.client();
    const result = await withReleaseRefusals(client, args.id, () => skipReleaseWindow(client, args.id, { by: ctx.actor, tenant: args.tenant, reason: args.reason }));
    if (ctx.json) printJson(ctx.out, { releaseId: args.id, skipped: true, ...result, by: ctx.actor, reason: args.reason });
    else ctx.out.line(`tenant ${result.tenant} of release ${args.id} deploys now (it waited for its window until ${result.wasWaitingUntil})`);
    return EXIT.ok;
  },
});

const list = defineCommand({
  group: 'release',
  name: 'list',
  summary: 'recent releases, newest first (from Temporal visibility)',
  options: {
    limit: { type: 'string', value: '<n>', description: 'at most this many (default 20)' },
    running: { type: 'boolean', description: 'only releases still in progress' },
  },
  examples: ['tenantctl release list', 'tenantctl release list --running --json'],
  schema: z.object({ limit: count(1, 1000).optional(), running: flag }),
  async run(args, ctx) {
    const client = await ctx.client();
    const releases = await listReleases(client, { limit: args.limit ?? 20, running: args.running });
    const withUrls = releases.map((r) => ({ ...r, url: ctx.ui.workflow(r.workflowId) }));
    if (ctx.json) {
      printJson(ctx.out, { releases: withUrls });
      return EXIT.ok;
    }
    if (releases.length === 0) {
      ctx.out.line('no releases found');
      return EXIT.ok;
    }
    const statusColour = (s: string): Colour => (s === 'RUNNING' ? 'cyan' : s === 'COMPLETED' ? 'green' : 'red');
    for (const line of renderTable(
      ctx.out,
      ['RELEASE', 'VERSION', 'PLAN', 'STATUS', 'PHASE', 'STARTED', 'BY'],
      releases.map((r) => [r.releaseId, r.version ?? '', r.plan ?? '', { text: r.status.toLowerCase(), colour: statusColour(r.status) }, r.phase ?? '', formatTime(r.startTime), r.requestedBy ?? '']),
    ))
      ctx.out.line(line);
    if (ctx.ui.enabled) ctx.out.line(ctx.out.paint('grey', `\nin the UI: ${ctx.ui.search(`WorkflowType = 'releaseWave'`)}`));
    return EXIT.ok;
  },
});

const rollback = defineCommand({
  group: 'release',
  name: 'rollback',
  summary: 'switch every blue/green tenant of a release back to the colour it ran before, while that colour is retained, in waves',
  positionals: [idArg],
  options: {
    reason: { type: 'string', value: '<text>', description: 'why (required to start or --stop; recorded in history)' },
    wait: { type: 'boolean', description: 'follow the rollback to its end; exit 0 only if no tenant is left on the release\'s version' },
    bake: { type: 'string', value: '<duration>', description: 'wait this long after each wave before the next (e.g. 2m; default: none)' },
    stop: { type: 'boolean', description: 'stop a running rollback: no tenant starts switching any more (those switching finish)' },
  },
  examples: [
    'tenantctl release rollback 2026-03-01-web --reason "checkout errors after the release" --wait',
    'tenantctl release rollback ci-812 --reason "latency" --bake 2m   # 2 minutes between waves',
    'tenantctl release rollback ci-812 --wait --json   # attach to the running rollback and wait for it',
    'tenantctl release rollback ci-812 --stop --reason "the canary did not recover on the old version"',
  ],
  notes: [
    'Per tenant, under its lock: 100 % of the traffic back on the colour that ran the previous version',
    '(exact weights, read back and verified on that colour\'s own target group), its retirement',
    '(tenant/<id>/retire/<releaseId>) cancelled so it never scales that colour down, the release\'s',
    'colour scaled to 0, the previous version recorded. Waves are the release\'s own, canary first, with',
    'their failure thresholds: a wave over its threshold halts the rollback. A release still running is',
    'aborted first (no tenant starts any more) and its tenants in flight switch back at once.',
    'Reported, not switched: a tenant whose old colour is already retired (scaled to 0 after its',
    'blueRetention: go back with `release start --version <previous>`), one released rolling, one a later',
    'release moved on. Exit 0 (with --wait) only if every tenant ended off the release\'s version; 1 if',
    'some did not (each listed with its reason); 3 if the rollback was stopped; 2 if refused before',
    'anything started (unknown release, no blue/green tenant). A rollback already running is joined.',
  ],
  schema: z
    .object({
      id: idSchema,
      reason: z.string().trim().min(1, 'expected a reason').max(1000).optional(),
      wait: flag,
      bake: z
        .string()
        .optional()
        .transform((text, c) => {
          if (text === undefined) return undefined;
          const ms = parseDuration(text);
          if (ms === undefined || ms > 86_400_000) {
            c.addIssue({ code: 'custom', message: `expected a duration such as "30s", "2m" or "1h", at most 24h (got ${JSON.stringify(text)})` });
            return z.NEVER;
          }
          return ms;
        }),
      stop: flag,
    })
    .refine((a) => a.reason !== undefined || a.wait, { path: ['reason'], message: 'required: why the release is rolled back, e.g. --reason "errors after the release" (or --wait alone to follow a running rollback)' })
    .refine((a) => !a.stop || a.reason !== undefined, { path: ['reason'], message: 'required with --stop: why the rollback stops' })
    .refine((a) => !(a.stop && (a.wait || a.bake !== undefined)), { path: ['stop'], message: 'stops a running rollback; leave out --wait and --bake' }),
  async run(args, ctx) {
    const client = await ctx.client();
    const handle = rollbackHandle(client, args.id);
    const url = ctx.ui.workflow(handle.workflowId);
    if (args.stop) {
      const stopped = await withRollbackRefusals(args.id, () => stopRollback(client, args.id, { by: ctx.actor, reason: args.reason! }));
      if (ctx.json) printJson(ctx.out, { releaseId: args.id, stopped: true, ...stopped, by: ctx.actor });
      else ctx.out.line(`stopped the rollback of release ${args.id}; ${stopped.notStarted} tenants will not switch back`);
      return EXIT.ok;
    }
    let started = false;
    if (args.reason !== undefined) {
      const begun = await asCliRollback(() => startRollback(client, { releaseId: args.id, requestedBy: ctx.actor, reason: args.reason!, ...(args.bake !== undefined ? { bakeMs: args.bake } : {}) }));
      started = begun.started;
      const tenants = begun.input.waves.reduce((n, w) => n + w.tenants.length, 0);
      if (started) ctx.note.line(`started the rollback of release ${ctx.note.paint('bold', args.id)} (${begun.input.version}): ${tenants} blue/green tenants in ${begun.input.waves.length} waves (${begun.input.waves.map((w) => `${w.name}: ${w.tenants.length}`).join(', ')})${begun.input.refused.length ? `; ${begun.input.refused.length} rolled tenants refused` : ''}`);
      else ctx.note.line(`a rollback of release ${ctx.note.paint('bold', args.id)} is already running: attached to it, nothing new started`);
    } else {
      await describeRollbackOrRefuse(handle, args.id);
    }
    if (url) ctx.note.line(ctx.note.paint('grey', url));
    if (!args.wait) {
      if (ctx.json) printJson(ctx.out, { releaseId: args.id, workflowId: handle.workflowId, url, started, attached: !started });
      else ctx.out.line(`follow it: tenantctl release rollback ${args.id} --wait`);
      return EXIT.ok;
    }
    const summary = await handle.result();
    if (ctx.json) printJson(ctx.out, { workflowId: handle.workflowId, url, ...summary, exitCode: rollbackExitCode(summary) });
    else for (const line of rollbackLines(ctx, summary)) ctx.out.line(line);
    return rollbackExitCode(summary);
  },
});

export const releaseCommands: Command<never>[] = [start, status, approve, abort, pauseOrResume('pause'), pauseOrResume('resume'), skipWindow, rollback, list] as unknown as Command<never>[];

/** 0 only when no tenant is left on the release's version; a stop is an abort's 3. */
function rollbackExitCode(summary: RollbackSummary): number {
  return summary.status === 'succeeded' ? EXIT.ok : summary.status === 'stopped' ? EXIT.aborted : EXIT.failed;
}

const ROLLBACK_COLOUR: Record<RollbackTenantStatus, Colour> = { 'rolled-back': 'green', skipped: 'grey', retired: 'yellow', refused: 'yellow', failed: 'red', 'not-started': 'yellow' };

function rollbackLines(ctx: CliContext, summary: RollbackSummary): string[] {
  const c = summary.counts;
  return [
    `rollback of release ${summary.releaseId} (${summary.version}): ${summary.status}${summary.reason ? ` (${summary.reason})` : ''}`,
    `  ${c['rolled-back']} switched back, ${c.skipped} not on ${summary.version}, ${c.retired} retired, ${c.refused} refused, ${c.failed} failed, ${c['not-started']} not started`,
    ...(summary.stoppedRelease ? [`  the release was still running: aborted first${summary.stoppedRelease.inFlight.length ? `, its tenants in flight stopped (${summary.stoppedRelease.inFlight.join(', ')})` : ''}`] : []),
    '',
    ...renderTable(
      ctx.out,
      ['TENANT', 'STATUS', 'NOW ON', 'RETIREMENT', 'REASON'],
      summary.tenants.map((t) => [t.tenantId, { text: t.status, colour: ROLLBACK_COLOUR[t.status] }, t.colour ? `${t.colour} (${t.backTo ?? '?'})` : '', t.retire ?? '', t.reason ?? '']),
    ),
  ];
}

async function describeRollbackOrRefuse(handle: RollbackHandle, releaseId: string) {
  try {
    return await handle.describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CliInputError([`<id>: release ${releaseId} has no rollback to follow; start one with --reason (got ${JSON.stringify(releaseId)})`]);
    throw error;
  }
}

/** A stop of a rollback that does not exist is refused input, said plainly. */
async function withRollbackRefusals<T>(releaseId: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CliInputError([`<id>: release ${releaseId} has no running rollback to stop (got ${JSON.stringify(releaseId)})`]);
    throw error;
  }
}

/** The rollback request's problems name its fields; say `releaseId` as the positional people typed. */
async function asCliRollback<T>(start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (!(error instanceof InputValidationError)) throw error;
    throw new CliInputError(error.problems.map((p) => p.replace(/^releaseId:/, '<id>:')));
  }
}

// --- helpers ----------------------------------------------------------------------------------

/** Follows to the end and reports like CI wants it: the summary, and the exit code from its status. */
async function follow(ctx: CliContext, client: Client, handle: ReleaseHandle, identity: Record<string, unknown> & { url?: string }): Promise<number> {
  const display = ctx.json ? ctx.err : ctx.out;
  const view: FollowView = display.isTTY ? 'live' : 'lines';
  const result = await followRelease(client, handle, { view, out: display, url: identity.url, onInterrupt: ctx.io.onInterrupt });
  if (result.interrupted) {
    ctx.note.line(`stopped following; the release continues${identity.url ? `: ${identity.url}` : ''}`);
    if (ctx.json) printJson(ctx.out, { ...identity, interrupted: true, progress: result.progress });
    return EXIT.interrupted;
  }
  const summary: ReleaseSummary = result.summary;
  if (ctx.json) printJson(ctx.out, { ...identity, ...summary, exitCode: exitCodeForSummary(summary) });
  else for (const line of summaryLines(ctx.out, summary, identity.url)) ctx.out.line(line);
  return exitCodeForSummary(summary);
}

async function describeOrRefuse(handle: ReleaseHandle, releaseId: string) {
  try {
    return await handle.describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw unknownRelease(releaseId);
    throw error;
  }
}

const unknownRelease = (releaseId: string) =>
  new CliInputError([`<id>: no release with this ID in this namespace; \`tenantctl release list\` shows recent ones (got ${JSON.stringify(releaseId)})`]);

/** An update to a release that does not exist, or has already finished, is refused input, said plainly. */
async function withReleaseRefusals<T>(client: Client, releaseId: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    const described = await releaseHandle(client, releaseId)
      .describe()
      .catch(() => undefined);
    if (!described) throw unknownRelease(releaseId);
    throw new CliInputError([`<id>: release ${releaseId} has already finished (${described.status.name.toLowerCase()}); there is nothing to change (got ${JSON.stringify(releaseId)})`]);
  }
}

/** The plan's problems name request fields (`plan`, `tenants`, `environments`); say them as the options people typed. */
const REQUEST_FIELD_OPTIONS: Record<string, string> = { plan: '--plan', tenants: '--tenants', environments: '--env', releaseId: '--release-id', version: '--version' };

function asCliInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof InputValidationError)) throw error;
    throw new CliInputError(
      error.problems.map((p) => {
        const field = /^([A-Za-z]+)[[.:]/.exec(p)?.[1];
        return field && REQUEST_FIELD_OPTIONS[field] ? REQUEST_FIELD_OPTIONS[field] + p.slice(field.length) : p;
      }),
    );
  }
}

function choosePlan(config: FleetConfig, plan: string | undefined): string {
  if (plan !== undefined) return plan; // an unknown name is refused by planRelease, listing the known ones
  const names = config.releasePlans.map((p) => p.name);
  if (names.length === 1) return names[0]!;
  if (names.includes('default')) return 'default';
  throw new CliInputError([`--plan: required when the fleet config has ${names.length === 0 ? 'no release plans' : `several plans: ${names.join(', ')}`} (got nothing)`]);
}

/** `rel-20260301-140509-2.4.0`: sortable, and says what it released. */
export function generatedReleaseId(version: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `rel-${stamp}-${version}`.slice(0, 64).replace(/[._-]+$/, '');
}

function describePlan(input: ReleaseWaveInput): string {
  const tenants = input.waves.reduce((n, w) => n + w.tenants.length, 0);
  const maintenance = input.options.maintenanceMode ? ', in maintenance mode (a maintenance page per tenant while it is backed up and deployed)' : '';
  return `${input.version} with plan ${input.plan}, ${tenants} tenants in ${input.waves.length} waves (${input.waves.map((w) => `${w.name}: ${w.tenants.length}`).join(', ')})${maintenance}`;
}

function planLines(ctx: CliContext, input: ReleaseWaveInput): string[] {
  return [
    `release ${input.releaseId}: ${describePlan(input)} (dry run: nothing started)`,
    '',
    ...renderTable(
      ctx.out,
      ['WAVE', 'TENANTS', 'MAX IN FLIGHT', 'FAILURES ALLOWED', 'BAKE', 'APPROVAL'],
      input.waves.map((w) => [
        w.name,
        w.tenants.join(', '),
        String(w.maxInFlight),
        'count' in w.failureThreshold ? String(w.failureThreshold.count) : `${w.failureThreshold.percent}%`,
        `${w.bakeMs / 1000}s`,
        w.approval ? `required (then ${w.approval.onTimeout} after ${w.approval.timeoutMs / 1000}s)` : '',
      ]),
    ),
    ...(input.options.template
      ? [`tenant template ${input.options.template.revision.slice(0, 12)} (a change set per tenant, shown before it executes); may replace: ${input.options.template.allowReplacement?.join(', ') ?? 'no stateful resource'}`]
      : []),
    // What each tenant runs before its deploy (docs/releases.md, "Migrations").
    ...(input.migrations ?? []).map((m) => `migration (timeout ${m.timeoutMs / 1000}s) ${JSON.stringify(m.command)}: ${m.tenants.join(', ')}`),
  ];
}
