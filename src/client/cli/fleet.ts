import { z } from 'zod';
import { AwsClients } from '../../activities/aws/clients';
import { resolveTenantSpec } from '../../shared/config/resolve';
import { certificatesStatus } from '../certificates';
import { summariseFleet, type TenantFacts } from '../fleet-status';
import { listReleases } from '../releases';
import { latestTenantWorkflow, recordedTenantVersion } from '../tenants';
import { defineCommand, type Command } from './command';
import { mapLimit } from './concurrency';
import { CliInputError, EXIT } from './exit-codes';
import { formatTime, printJson, renderTable } from './output';
import { commaList, configName, count } from './schemas';

const DEFAULT_CERTIFICATE_WINDOW_DAYS = 14;

const status = defineCommand({
  group: 'fleet',
  name: 'status',
  summary: 'versions per environment and tier, failed tenants, pending approvals, certificates due',
  options: {
    env: { type: 'string', value: '<env,...>', description: 'only tenants in these environments' },
    'cert-days': { type: 'string', value: '<n>', description: `certificates expiring within this many days count as due (default ${DEFAULT_CERTIFICATE_WINDOW_DAYS})` },
  },
  examples: ['tenantctl fleet status', 'tenantctl fleet status --env prod', "tenantctl fleet status --json | jq '.pendingApprovals[].approveCommand'"],
  notes: [
    'Versions are the SSM parameters /tenant-fleet/<id>/workload/version (as `tenant list`); failed operations,',
    "pending approvals (running releases whose phase is wave-N/awaiting-approval) come from Temporal visibility;",
    "certificates from each certs/<group> workflow's status query. Read-only: nothing is started or changed.",
  ],
  schema: z.object({ env: commaList(configName).optional(), 'cert-days': count(0, 365).optional() }),
  async run(args, ctx) {
    const config = await ctx.config();
    const unknownEnv = (args.env ?? []).filter((e) => !config.environments.some((x) => x.name === e));
    if (unknownEnv.length) throw new CliInputError(unknownEnv.map((e) => `--env: unknown environment; expected one of: ${config.environments.map((x) => x.name).join(', ')} (got ${JSON.stringify(e)})`));
    const scoped = { ...config, tenants: config.tenants.filter((t) => !args.env || args.env.includes(t.environment)) };
    const client = await ctx.client();
    const aws = new AwsClients({ endpoint: ctx.env.AWS_ENDPOINT_URL || undefined, maxAttempts: 2 });
    try {
      const [tenants, runningReleases, certificates] = await Promise.all([
        mapLimit(scoped.tenants, 6, async (t): Promise<TenantFacts> => {
          const [version, latest] = await Promise.all([
            recordedTenantVersion(aws, resolveTenantSpec(config, t.id)).then(
              (v) => ({ version: v }),
              (error: unknown) => ({ version: null, versionError: (error as Error)?.message ?? String(error) }),
            ),
            latestTenantWorkflow(client, t.id),
          ]);
          return { id: t.id, ...version, latest };
        }),
        listReleases(client, { limit: 100, running: true }),
        mapLimit(
          config.loadBalancers.map((l) => l.name),
          4,
          async (group) => ({ group, status: await certificatesStatus(client, group) }),
        ),
      ]);
      const fleet = summariseFleet({ config: scoped, tenants, runningReleases, certificates, now: new Date(), certificateWindowDays: args['cert-days'] ?? DEFAULT_CERTIFICATE_WINDOW_DAYS });
      const versionErrors = tenants.filter((t) => t.versionError).map((t) => ({ tenantId: t.id, message: t.versionError! }));
      const failedTenants = fleet.failedTenants.map((f) => ({ ...f, url: ctx.ui.workflow(f.workflowId, f.runId) }));
      const pendingApprovals = fleet.pendingApprovals.map((p) => ({ ...p, url: ctx.ui.workflow(p.workflowId) }));
      if (ctx.json) {
        printJson(ctx.out, { ...fleet, failedTenants, pendingApprovals, versionErrors });
        return EXIT.ok;
      }
      const out = ctx.out;
      const section = (title: string, count: number) => out.line(`\n${out.paint('bold', title)}${count === 0 ? out.paint('grey', ': none') : ''}`);
      out.line(out.paint('bold', 'Versions'));
      for (const line of renderTable(
        out,
        ['ENV', 'TIER', 'VERSION', 'TENANTS'],
        fleet.versions.map((v) => [v.environment, v.tier, v.version === 'unknown' ? { text: '?', colour: 'yellow' } : v.version === 'none' ? { text: '-', colour: 'grey' } : v.version, v.tenants.join(', ')]),
      ))
        out.line(`  ${line}`);
      section('Failed last operation', failedTenants.length);
      if (failedTenants.length)
        for (const line of renderTable(
          out,
          ['TENANT', 'ENV', 'OPERATION', 'STATUS', 'PHASE', 'ENDED', 'LINK'],
          failedTenants.map((f) => [f.tenantId, f.environment, f.operation, { text: f.status.toLowerCase(), colour: 'red' }, f.phase ?? '', formatTime(f.closeTime), f.url ?? '']),
        ))
          out.line(`  ${line}`);
      section('Pending approvals', pendingApprovals.length);
      if (pendingApprovals.length)
        for (const line of renderTable(
          out,
          ['RELEASE', 'VERSION', 'WAVE', 'STARTED', 'APPROVE WITH'],
          pendingApprovals.map((p) => [p.releaseId, p.version ?? '', { text: p.wave, colour: 'yellow' }, formatTime(p.since), p.approveCommand]),
        ))
          out.line(`  ${line}`);
      section(`Certificates due (expiring within ${args['cert-days'] ?? DEFAULT_CERTIFICATE_WINDOW_DAYS} days, or stuck in validation)`, fleet.certificatesDue.length);
      if (fleet.certificatesDue.length)
        for (const line of renderTable(
          out,
          ['GROUP', 'CERTIFICATE', 'REASON', 'WHEN', 'NAMES'],
          fleet.certificatesDue.map((c) => [c.group, c.arn.split('/').pop() ?? c.arn, { text: c.reason, colour: c.reason === 'stuck' ? 'red' : 'yellow' }, formatTime(c.notAfter ?? c.since), c.names.join(', ')]),
        ))
          out.line(`  ${line}`);
      for (const group of fleet.unwatchedCertificateGroups) out.line(out.paint('yellow', `  certs ${group}: no certificates workflow running (tenantctl certs sync --group ${group} starts it)`));
      for (const e of versionErrors) ctx.err.line(ctx.err.paint('yellow', `${e.tenantId}: version unknown: ${e.message}`));
      return EXIT.ok;
    } finally {
      aws.destroy();
    }
  },
});

export const fleetCommands: Command<never>[] = [status] as unknown as Command<never>[];
