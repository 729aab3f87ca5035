import { z } from 'zod';
import { AwsClients } from '../../activities/aws/clients';
import { resolveTenantSpec } from '../../shared/config/resolve';
import type { FleetConfig } from '../../shared/config/schema';
import { imageTagSchema, tenantIdSchema, workflowIds } from '../../shared/ids';
import type { TenantSpec } from '../../shared/tenant-spec';
import {
  deprovisionTenant,
  latestTenantWorkflow,
  provisionTenant,
  recordedTenantVersion,
  tenantHistory,
  tenantWorkflowsQuery,
} from '../tenants';
import { operationName } from '../fleet-status';
import { defineCommand, type Command } from './command';
import { mapLimit } from './concurrency';
import { applicationFailureOf, CliInputError, EXIT, exitCodeForError } from './exit-codes';
import { formatTime, printJson, renderTable, type Colour } from './output';
import { commaList, configName, count, flag, required } from './schemas';

const tenantArg = required('a tenant ID from the fleet config', tenantIdSchema);

/** Resolves IDs against the fleet config; every unknown one is named, and nothing starts. */
export function resolveTenants(config: FleetConfig, ids: string[]): TenantSpec[] {
  const known = config.tenants.map((t) => t.id);
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length > 0) {
    throw new CliInputError(unknown.map((id) => `<tenant>: unknown tenant; the fleet config has: ${known.join(', ') || '(no tenants)'} (got ${JSON.stringify(id)})`));
  }
  return ids.map((id) => resolveTenantSpec(config, id));
}

const provision = defineCommand({
  group: 'tenant',
  name: 'provision',
  summary: "create or update tenants' AWS footprint and workload to match the fleet config",
  positionals: [{ name: 'tenant', description: 'tenant IDs from the fleet config', variadic: true }],
  options: {
    all: { type: 'boolean', description: 'every tenant in the fleet config' },
    version: { type: 'string', value: '<tag>', description: 'image tag for a tenant that has no workload yet (default 1.0.0); existing tenants keep theirs' },
    parallel: { type: 'string', value: '<n>', description: 'tenants provisioned at once (default 4)' },
    'keep-partial-on-failure': { type: 'boolean', description: 'leave a failed fresh provisioning in place for debugging' },
  },
  examples: ['tenantctl tenant provision acme', 'tenantctl tenant provision acme globex --version 2.3.0', 'tenantctl tenant provision --all --parallel 8 --json'],
  notes: ['Provisioning is idempotent: run it again after changing the fleet config, and only what differs changes.'],
  schema: z
    .object({
      tenant: z.array(tenantIdSchema),
      all: flag,
      version: imageTagSchema.optional(),
      parallel: count(1, 50).optional(),
      'keep-partial-on-failure': flag,
    })
    .refine((a) => a.all !== a.tenant.length > 0, { path: ['tenant'], message: 'give tenant IDs or --all (exactly one of them)' }),
  async run(args, ctx) {
    const config = await ctx.config();
    const specs = args.all ? config.tenants.map((t) => resolveTenantSpec(config, t.id)) : resolveTenants(config, args.tenant);
    const client = await ctx.client();
    const results = await mapLimit(specs, args.parallel ?? 4, async (tenant) => {
      const url = ctx.ui.workflow(workflowIds.provision(tenant.id));
      ctx.note.line(`provisioning ${tenant.id}…${url ? ` ${ctx.note.paint('grey', url)}` : ''}`);
      try {
        const result = await provisionTenant(client, { tenant, initialVersion: args.version, keepPartialOnFailure: args['keep-partial-on-failure'], requestedBy: ctx.actor });
        ctx.note.line(`${ctx.note.paint('green', '✓')} ${tenant.id}: ${result.fresh ? 'created' : result.stackOperation === 'none' ? 'unchanged' : 'updated'}, version ${result.version}`);
        return { tenantId: tenant.id, ok: true as const, url, result };
      } catch (error) {
        ctx.note.line(`${ctx.note.paint('red', '✗')} ${tenant.id}: ${messageOf(error)}`);
        return { tenantId: tenant.id, ok: false as const, url, error: errorJson(error), exitCode: exitCodeForError(error) };
      }
    });
    if (ctx.json) printJson(ctx.out, { results });
    return worstExitCode(results.map((r) => (r.ok ? EXIT.ok : r.exitCode)));
  },
});

const deprovision = defineCommand({
  group: 'tenant',
  name: 'deprovision',
  summary: "remove a tenant's workload, DNS and stack, after a final database snapshot",
  positionals: [{ name: 'tenant', description: 'the tenant ID' }],
  options: {
    'confirm-production': { type: 'string', value: '<tenant>', description: 'required for a production tenant: its ID again' },
  },
  examples: ['tenantctl tenant deprovision hooli', 'tenantctl tenant deprovision initech --confirm-production initech'],
  schema: z.object({ tenant: tenantArg, 'confirm-production': z.string().optional() }),
  async run(args, ctx) {
    const config = await ctx.config();
    const [tenant] = resolveTenants(config, [args.tenant]);
    // Refused here rather than by the workflow, so that nothing starts at all.
    if (tenant!.production && args['confirm-production'] !== tenant!.id) {
      throw new CliInputError([
        `--confirm-production: tenant ${tenant!.id} is in production environment ${tenant!.environment}; pass --confirm-production ${tenant!.id} to deprovision it (got ${args['confirm-production'] === undefined ? 'nothing' : JSON.stringify(args['confirm-production'])})`,
      ]);
    }
    const client = await ctx.client();
    const url = ctx.ui.workflow(workflowIds.deprovision(tenant!.id));
    ctx.note.line(`deprovisioning ${tenant!.id}…${url ? ` ${ctx.note.paint('grey', url)}` : ''}`);
    const result = await deprovisionTenant(client, { tenant: tenant!, confirmProduction: args['confirm-production'], requestedBy: ctx.actor });
    if (ctx.json) printJson(ctx.out, { tenantId: tenant!.id, url, result });
    else ctx.out.line(`deprovisioned ${tenant!.id}${result.finalSnapshot ? `; final snapshot ${result.finalSnapshot}` : ''}${result.stackDeleted ? '' : ' (no stack to delete)'}`);
    return EXIT.ok;
  },
});

const list = defineCommand({
  group: 'tenant',
  name: 'list',
  summary: 'tenants in the fleet config with their current version, runtime and latest operation',
  options: { env: { type: 'string', value: '<env,...>', description: 'only tenants in these environments' } },
  examples: ['tenantctl tenant list', 'tenantctl tenant list --env prod --json | jq -r \'.tenants[] | "\\(.id) \\(.version)"\''],
  notes: [
    'VERSION is the SSM parameter /tenant-fleet/<id>/workload/version, which provisioning and releases',
    'write after a verified deploy or a rollback (so it needs AWS credentials that may assume the',
    "accounts' fleet access roles). OPERATION and PHASE come from Temporal visibility.",
  ],
  schema: z.object({ env: commaList(configName).optional() }),
  async run(args, ctx) {
    const config = await ctx.config();
    const unknownEnv = (args.env ?? []).filter((e) => !config.environments.some((x) => x.name === e));
    if (unknownEnv.length) throw new CliInputError(unknownEnv.map((e) => `--env: unknown environment; expected one of: ${config.environments.map((x) => x.name).join(', ')} (got ${JSON.stringify(e)})`));
    const tenants = config.tenants.filter((t) => !args.env || args.env.includes(t.environment));
    const client = await ctx.client();
    const aws = new AwsClients({ endpoint: ctx.env.AWS_ENDPOINT_URL || undefined, maxAttempts: 2 });
    try {
      const rows = await mapLimit(tenants, 6, async (t) => {
        const [version, latest] = await Promise.all([
          recordedTenantVersion(aws, resolveTenantSpec(config, t.id)).then(
            (v) => ({ version: v ?? null }),
            (error: unknown) => ({ version: null, versionError: messageOf(error) }),
          ),
          latestTenantWorkflow(client, t.id),
        ]);
        return {
          id: t.id,
          environment: t.environment,
          tier: t.tier,
          runtime: t.runtime,
          cluster: t.cluster,
          ...version,
          latest: latest ? { ...latest, url: ctx.ui.workflow(latest.workflowId) } : null,
        };
      });
      if (ctx.json) {
        printJson(ctx.out, { tenants: rows });
        return EXIT.ok;
      }
      for (const line of renderTable(
        ctx.out,
        ['TENANT', 'ENV', 'TIER', 'RUNTIME', 'VERSION', 'OPERATION', 'STATUS', 'PHASE'],
        rows.map((r) => [
          r.id,
          r.environment,
          r.tier,
          `${r.runtime}/${r.cluster}`,
          'versionError' in r ? { text: '?', colour: 'yellow' } : (r.version ?? { text: '-', colour: 'grey' }),
          r.latest ? operationName(r.latest) : '',
          r.latest ? { text: r.latest.status.toLowerCase(), colour: statusColour(r.latest.status) } : '',
          r.latest?.phase ?? '',
        ]),
      ))
        ctx.out.line(line);
      for (const r of rows) if ('versionError' in r) ctx.err.line(ctx.err.paint('yellow', `${r.id}: version unknown: ${r.versionError}`));
      return EXIT.ok;
    } finally {
      aws.destroy();
    }
  },
});

const history = defineCommand({
  group: 'tenant',
  name: 'history',
  summary: 'every workflow that touched a tenant, newest first, with links to the UI',
  positionals: [{ name: 'tenant', description: 'the tenant ID (also works for tenants since removed from the config)' }],
  options: { limit: { type: 'string', value: '<n>', description: 'at most this many (default 50)' } },
  examples: ['tenantctl tenant history acme', 'tenantctl tenant history acme --limit 5 --json'],
  schema: z.object({ tenant: tenantArg, limit: count(1, 1000).optional() }),
  async run(args, ctx) {
    const client = await ctx.client();
    const workflows = (await tenantHistory(client, args.tenant, { limit: args.limit ?? 50 })).map((w) => ({ ...w, url: ctx.ui.workflow(w.workflowId, w.runId) }));
    if (ctx.json) {
      printJson(ctx.out, { tenantId: args.tenant, workflows });
      return EXIT.ok;
    }
    if (workflows.length === 0) ctx.out.line(`no workflows found for tenant ${args.tenant}`);
    else
      for (const line of renderTable(
        ctx.out,
        ['STARTED', 'OPERATION', 'STATUS', 'PHASE', 'WORKFLOW', 'LINK'],
        workflows.map((w) => [formatTime(w.startTime), operationName(w), { text: w.status.toLowerCase(), colour: statusColour(w.status) }, w.phase ?? '', w.workflowId, w.url ?? '']),
      ))
        ctx.out.line(line);
    const search = ctx.ui.search(tenantWorkflowsQuery(args.tenant));
    if (search && !ctx.json) ctx.out.line(ctx.out.paint('grey', `\nin the UI: ${search}`));
    return EXIT.ok;
  },
});

export const tenantCommands: Command<never>[] = [provision, deprovision, list, history] as unknown as Command<never>[];

// --- helpers ----------------------------------------------------------------------------------

function statusColour(status: string): Colour {
  return status === 'RUNNING' ? 'cyan' : status === 'COMPLETED' ? 'green' : 'red';
}

export function messageOf(error: unknown): string {
  const failure = applicationFailureOf(error);
  if (failure) return `${failure.message}${failure.type ? ` [${failure.type}]` : ''}`;
  return (error as Error)?.message ?? String(error);
}

function errorJson(error: unknown): { type?: string; message: string } {
  const failure = applicationFailureOf(error);
  return { type: failure?.type ?? (error as Error)?.name, message: failure?.message ?? (error as Error)?.message ?? String(error) };
}

/** Several results, one exit code: any failure beats a refusal, which beats success. */
function worstExitCode(codes: number[]): number {
  if (codes.some((c) => c !== EXIT.ok && c !== EXIT.refused)) return codes.find((c) => c !== EXIT.ok && c !== EXIT.refused)!;
  return codes.includes(EXIT.refused) ? EXIT.refused : EXIT.ok;
}
