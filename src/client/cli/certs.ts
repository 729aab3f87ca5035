import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { FleetConfig } from '../../shared/config/schema';
import { workflowIds } from '../../shared/ids';
import type { CertificatesStatus } from '../../shared/messages/certificates';
import { certificatesStatus, planCertificatesDryRun, syncCertificates } from '../certificates';
import { defineCommand, type Command } from './command';
import type { CliContext } from './context';
import { CliInputError, EXIT } from './exit-codes';
import { formatTime, printJson, renderTable, type Colour } from './output';
import { configName, count, flag } from './schemas';

const groupOption = { type: 'string' as const, value: '<lb>', description: 'one certificate group (a load balancer name from the fleet config); default: all' };
const groupSchema = z.object({ group: configName.optional() });

/** The groups a command covers; an unknown name is refused with the known ones. */
function groupsOf(config: FleetConfig, group: string | undefined): string[] {
  const known = config.loadBalancers.map((l) => l.name);
  if (group === undefined) return known;
  if (!known.includes(group)) throw new CliInputError([`--group: unknown certificate group; expected a load balancer from the fleet config: ${known.join(', ') || '(none)'} (got ${JSON.stringify(group)})`]);
  return [group];
}

const HEALTH_COLOUR: Record<string, Colour> = { ok: 'green', converging: 'cyan', failing: 'red' };
const shortArn = (arn: string) => arn.split('/').pop() ?? arn;
const names = (list: string[]) => (list.length <= 3 ? list.join(', ') : `${list.slice(0, 3).join(', ')} +${list.length - 3}`);

const plan = defineCommand({
  group: 'certs',
  name: 'plan',
  summary: 'dry run: the certificates each group should carry for the fleet config, and what would change',
  options: { group: groupOption },
  examples: ['tenantctl certs plan', 'tenantctl certs plan --group sandbox-alb --json | jq .groups[0].plan.explanation'],
  notes: [
    "Uses the workflow's own planner over the fleet config's hostnames and the certificates the running",
    'certs/<group> workflow last saw in ACM; renewals that fall due are decided when it reconciles. Nothing changes.',
  ],
  schema: groupSchema,
  async run(args, ctx) {
    const config = await ctx.config();
    const groups = groupsOf(config, args.group);
    const client = await ctx.client();
    const results = [];
    for (const group of groups) results.push(await planCertificatesDryRun(client, config, group));
    if (ctx.json) {
      printJson(ctx.out, { groups: results });
      return EXIT.ok;
    }
    for (const { group, basis, plan: p } of results) {
      ctx.out.line(ctx.out.paint('bold', `certs ${group}`) + `: ${p.certificates.length} certificates (at least ${p.lowerBound} needed)${basis === 'no-workflow-yet' ? ' — no certs workflow runs yet; `certs sync` starts it' : ''}`);
      const rows = [
        ...p.certificates.map((c) => [{ text: c.action, colour: (c.action === 'issue' ? 'yellow' : 'green') as Colour }, names(c.names), c.arn ? shortArn(c.arn) : '', c.reason]),
        ...p.retire.map((r) => [{ text: 'retire', colour: 'red' as Colour }, names(r.names), shortArn(r.arn), r.reason]),
      ];
      if (rows.length) for (const line of renderTable(ctx.out, ['ACTION', 'NAMES', 'CERTIFICATE', 'WHY'], rows)) ctx.out.line(`  ${line}`);
      for (const u of p.uncovered) ctx.out.line(ctx.out.paint('red', `  uncovered: ${u.hostname} (${u.tenantId}): ${u.reason}`));
      for (const line of p.explanation) ctx.out.line(ctx.out.paint('grey', `  ${line}`));
      ctx.out.line();
    }
    return EXIT.ok;
  },
});

const sync = defineCommand({
  group: 'certs',
  name: 'sync',
  summary: "start each group's certificates workflow from the fleet config, or tell the running one about every tenant",
  options: {
    group: groupOption,
    wait: { type: 'boolean', description: 'wait for the reconcile this triggers; exit 0 only if every group is healthy' },
    timeout: { type: 'string', value: '<seconds>', description: 'how long --wait waits (default 900)' },
  },
  examples: ['tenantctl certs sync', 'tenantctl certs sync --group sandbox-alb --wait --json'],
  notes: ['Idempotent: the workflow compares its plan with ACM and the listener and changes only what differs.'],
  schema: z.object({ group: configName.optional(), wait: flag, timeout: count(1, 86_400).optional() }),
  async run(args, ctx) {
    const config = await ctx.config();
    const groups = groupsOf(config, args.group);
    const client = await ctx.client();
    const since = new Date().toISOString();
    const synced = [];
    for (const group of groups) {
      const result = await syncCertificates(client, config, group);
      const url = ctx.ui.workflow(result.workflowId);
      ctx.note.line(`${result.started ? 'started' : 'signalled'} ${result.workflowId} with ${result.tenants.length} tenants${url ? ` ${ctx.note.paint('grey', url)}` : ''}`);
      synced.push({ ...result, url });
    }
    if (!args.wait) {
      if (ctx.json) printJson(ctx.out, { groups: synced });
      return EXIT.ok;
    }
    const deadline = Date.now() + (args.timeout ?? 900) * 1000;
    const statuses: (CertificatesStatus | undefined)[] = [];
    for (const { group } of synced) {
      let status: CertificatesStatus | undefined;
      // Done once a reconcile has finished after our signals (the workflow stamps lastReconcile).
      while (Date.now() < deadline) {
        status = await certificatesStatus(client, group).catch(() => undefined);
        if (status?.lastReconcile && status.lastReconcile >= since && status.phase !== 'certs/reconciling') break;
        await sleep(2_000);
      }
      statuses.push(status);
    }
    const healthy = statuses.every((s) => s?.health === 'ok' && s.lastReconcile !== undefined && s.lastReconcile >= since);
    if (ctx.json) printJson(ctx.out, { groups: synced.map((s, i) => ({ ...s, status: statuses[i] })), healthy });
    else for (const [i, s] of statuses.entries()) printStatus(ctx, synced[i]!.group, s);
    return healthy ? EXIT.ok : EXIT.failed;
  },
});

const status = defineCommand({
  group: 'certs',
  name: 'status',
  summary: "each group's health, certificates (expiry, attached), stuck validations and problems",
  options: { group: groupOption },
  examples: ['tenantctl certs status', 'tenantctl certs status --group sandbox-alb --json | jq .groups[0].status.health'],
  notes: ['Exit 1 when a group is failing or has no running certificates workflow, so it works as a health check.'],
  schema: groupSchema,
  async run(args, ctx) {
    const config = await ctx.config();
    const groups = groupsOf(config, args.group);
    const client = await ctx.client();
    const results = [];
    for (const group of groups) results.push({ group, url: ctx.ui.workflow(workflowIds.certificates(group)), status: await certificatesStatus(client, group) });
    if (ctx.json) printJson(ctx.out, { groups: results });
    else for (const r of results) printStatus(ctx, r.group, r.status);
    return results.every((r) => r.status && r.status.health !== 'failing') ? EXIT.ok : EXIT.failed;
  },
});

function printStatus(ctx: CliContext, group: string, s: CertificatesStatus | undefined): void {
  const out = ctx.out;
  if (!s) {
    out.line(`${out.paint('bold', `certs ${group}`)}: ${out.paint('red', 'no certificates workflow running')} (tenantctl certs sync --group ${group} starts it)`);
    return;
  }
  out.line(
    `${out.paint('bold', `certs ${group}`)}: ${out.paint(HEALTH_COLOUR[s.health], s.health)}  ${out.paint('grey', s.phase)}  last reconcile ${formatTime(s.lastReconcile) || '-'}, next check ${formatTime(s.nextCheck) || '-'}`,
  );
  if (s.certificates.length) {
    for (const line of renderTable(
      out,
      ['CERTIFICATE', 'NAMES', 'STATUS', 'EXPIRES', 'RENEWAL', 'ATTACHED'],
      s.certificates.map((c) => [shortArn(c.arn), names(c.names), { text: c.status, colour: (c.status === 'ISSUED' ? 'green' : 'yellow') as Colour }, formatTime(c.notAfter), c.renewalStatus ?? c.renewalEligibility ?? '', c.attached ? 'yes' : 'no']),
    ))
      out.line(`  ${line}`);
  }
  for (const stuck of s.stuck) {
    out.line(out.paint('red', `  stuck since ${formatTime(stuck.since)}: ${shortArn(stuck.arn)} (${names(stuck.names)}); ACM waits for:`));
    for (const r of stuck.pendingRecords) out.line(`    ${r.name} CNAME ${r.value}`);
  }
  for (const u of s.uncovered) out.line(out.paint('red', `  uncovered: ${u.hostname} (${u.tenantId}): ${u.reason}`));
  for (const p of s.problems) out.line(out.paint('yellow', `  problem: ${p}`));
  for (const r of s.rejectedSignals) out.line(out.paint('yellow', `  rejected signal: ${r}`));
  if (s.adopted.length) out.line(out.paint('grey', `  adopted (no tenant claims them): ${s.adopted.join(', ')}`));
}

export const certsCommands: Command<never>[] = [plan, sync, status] as unknown as Command<never>[];
