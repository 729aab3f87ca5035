import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AwsClients } from '../../activities/aws/clients';
import type { StackChange, StackPreview } from '../../activities/cloudformation';
import type { WorkloadChange } from '../../activities/runtime/types';
import { TemplateStore } from '../../activities/templates';
import { tenantIdSchema } from '../../shared/ids';
import { kubernetesLister, kubernetesPreviewer } from '../kubernetes-inspect';
import { tenantDiff, type TenantDiff } from '../tenant-diff';
import { tenantResources, type TenantResources } from '../tenant-resources';
import { defineCommand, type Command } from './command';
import type { CliContext } from './context';
import { EXIT } from './exit-codes';
import { printJson, renderTable, type CellInput, type Colour, type Output } from './output';
import { required } from './schemas';
import { resolveTenants } from './tenant';

const tenantArg = required('a tenant ID from the fleet config', tenantIdSchema);

const TEMPLATE_FILES = ['tenant.yaml', 'tenant-traffic.yaml'];
const templatesDir = z
  .string()
  .min(1, 'expected a directory')
  .refine((dir) => TEMPLATE_FILES.every((f) => existsSync(join(dir, f))), `expected a directory holding the CloudFormation templates ${TEMPLATE_FILES.join(' and ')}`)
  .transform((dir) => resolve(dir));

/** The CLI's AWS clients: the caller's credentials assume each account's fleet access role, as the workers' do. */
export const cliAwsClients = (ctx: CliContext) => new AwsClients({ endpoint: ctx.env.AWS_ENDPOINT_URL || undefined, maxAttempts: 2, sessionName: `tenantctl-${ctx.actor}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64) });

const diff = defineCommand({
  group: 'tenant',
  name: 'diff',
  summary: 'what provisioning a tenant again would change (CloudFormation change sets, workload), without changing anything',
  positionals: [{ name: 'tenant', description: 'the tenant ID' }],
  options: {
    templates: { type: 'string', value: '<dir>', description: "CloudFormation templates to compare with (default: this checkout's infra/cloudformation)" },
  },
  examples: ['tenantctl tenant diff acme', 'tenantctl tenant diff acme --json | jq \'.stacks[].changes[] | select(.action == "replace")\'', 'tenantctl tenant diff acme --templates ./infra/cloudformation'],
  notes: [
    "Each of the tenant's existing stacks gets a change set made exactly as provisioning makes it (same",
    'template, parameters, tags and execution role), which is read and deleted again: nothing is executed;',
    'a stack that does not exist yet is listed from its template. "replace" means CloudFormation creates a',
    'new resource (a new, empty database). The workload is compared with what provisioning would apply:',
    "the ECS task definition and service, or, through the Kubernetes cluster's own worker, the tenant",
    'chart rendered as provisioning renders it and server-side applied with dryRun=All (nothing persisted):',
    'each object created, modified (with its fields) or unchanged, and those its prune would delete.',
  ],
  schema: z.object({ tenant: tenantArg, templates: templatesDir.optional() }),
  async run(args, ctx) {
    const config = await ctx.config();
    const [tenant] = resolveTenants(config, [args.tenant]);
    const aws = cliAwsClients(ctx);
    try {
      // A Kubernetes tenant's cluster is reached through its own worker, over Temporal.
      const kubernetes = tenant!.runtime.kind === 'kubernetes' ? kubernetesPreviewer(await ctx.client()) : undefined;
      const result = await tenantDiff({ aws, templates: new TemplateStore(args.templates), tenant: tenant!, ...(kubernetes ? { kubernetes } : {}) });
      if (ctx.json) printJson(ctx.out, result);
      else printDiff(ctx.out, result);
      return EXIT.ok;
    } finally {
      aws.destroy();
    }
  },
});

const resources = defineCommand({
  group: 'tenant',
  name: 'resources',
  summary: "a tenant's stack resources, runtime objects and certificates, with AWS console links",
  positionals: [{ name: 'tenant', description: 'the tenant ID' }],
  options: {},
  examples: ['tenantctl tenant resources acme', "tenantctl tenant resources acme --json | jq -r '.stacks[].resources[] | select(.type == \"AWS::RDS::DBCluster\") | .link'"],
  notes: [
    "Read as the workers' identity: tenantctl assumes each account's fleet access role (the tenant's, its",
    "cluster's and its load balancer's), so nobody switches accounts to look. Console links open in the account",
    'the browser is signed in to; each section names its account. A Kubernetes tenant\'s objects (its',
    "Deployment, Service, TargetGroupBinding, pods and their readiness) are read by its cluster's worker. Read-only.",
  ],
  schema: z.object({ tenant: tenantArg }),
  async run(args, ctx) {
    const config = await ctx.config();
    const [tenant] = resolveTenants(config, [args.tenant]);
    const aws = cliAwsClients(ctx);
    try {
      const kubernetes = tenant!.runtime.kind === 'kubernetes' ? kubernetesLister(await ctx.client()) : undefined;
      const result = await tenantResources({ aws, tenant: tenant!, ...(kubernetes ? { kubernetes } : {}) });
      if (ctx.json) printJson(ctx.out, result);
      else printResources(ctx.out, result);
      return EXIT.ok;
    } finally {
      aws.destroy();
    }
  },
});

export const tenantInspectCommands: Command<never>[] = [diff, resources] as unknown as Command<never>[];

function printResources(out: Output, r: TenantResources): void {
  const link = (url: string | undefined) => (url ? out.paint('grey', url) : '');
  for (const stack of r.stacks) {
    const where = out.paint('grey', `(account ${stack.accountId}, ${stack.region})`);
    if (!stack.status) {
      out.line(`${out.paint('bold', `Stack ${stack.stackName}`)} ${where}: ${out.paint('yellow', 'does not exist')}`);
      continue;
    }
    out.line(`${out.paint('bold', `Stack ${stack.stackName}`)} ${where}: ${stack.status} ${link(stack.link)}`);
    const rows: CellInput[][] = stack.resources.map((x) => [x.logicalId, x.type, x.physicalId ?? '', { text: x.status, colour: statusColour(x.status) }, link(x.link)]);
    for (const line of renderTable(out, ['RESOURCE', 'TYPE', 'PHYSICAL ID', 'STATUS', 'CONSOLE'], rows)) out.line(`  ${line}`);
  }
  const rt = r.runtime;
  const where = rt.kind === 'ecs' ? `ECS cluster ${rt.cluster}, account ${rt.accountId}, ${rt.region}` : `Kubernetes cluster ${rt.cluster}${rt.namespace ? `, namespace ${rt.namespace}` : ''}`;
  out.line(`${out.paint('bold', 'Runtime')} ${out.paint('grey', `(${where})`)}${rt.skipped ? `: ${out.paint('yellow', rt.skipped)}` : rt.objects.length === 0 ? `: ${out.paint('yellow', 'no workload')}` : ''}`);
  if (rt.objects.length > 0) {
    for (const line of renderTable(out, ['KIND', 'NAME', 'STATUS', 'DETAIL', 'CONSOLE'], rt.objects.map((o) => [o.kind, o.name, o.status, o.detail ?? '', link(o.link)]))) out.line(`  ${line}`);
  }
  const certs = r.certificates;
  if (!certs) {
    out.line(`${out.paint('bold', 'Certificates')}: ${out.paint('grey', 'none (no load balancer)')}`);
    return;
  }
  out.line(`${out.paint('bold', 'Certificates')} ${out.paint('grey', `(group ${certs.group}, account ${certs.accountId}, ${certs.region})`)}${certs.items.length === 0 ? `: ${out.paint('yellow', 'none covers its hostnames')}` : ''}`);
  if (certs.items.length > 0) {
    const rows: CellInput[][] = certs.items.map((c) => [
      c.arn.split('/').pop() ?? c.arn,
      { text: c.status.toLowerCase(), colour: c.status === 'ISSUED' ? 'green' : 'yellow' },
      c.attached ? 'yes' : { text: 'no', colour: 'yellow' },
      c.notAfter ? c.notAfter.slice(0, 10) : '',
      c.covers.join(', '),
      link(c.link),
    ]);
    for (const line of renderTable(out, ['CERTIFICATE', 'STATUS', 'ON LISTENER', 'EXPIRES', 'COVERS', 'CONSOLE'], rows)) out.line(`  ${line}`);
  }
  if (certs.uncovered.length > 0) out.line(out.paint('yellow', `  not served by an issued certificate on the listener: ${certs.uncovered.join(', ')}`));
}

function statusColour(status: string): Colour | undefined {
  if (/FAILED|ROLLBACK/.test(status)) return 'red';
  if (/IN_PROGRESS/.test(status)) return 'cyan';
  return undefined;
}

// --- human output -----------------------------------------------------------------------------

const ACTION_COLOUR: Record<string, Colour> = { add: 'green', create: 'green', modify: 'yellow', replace: 'red', remove: 'red', delete: 'red', dynamic: 'yellow', import: 'cyan' };

function printDiff(out: Output, diff: TenantDiff): void {
  for (const stack of diff.stacks) printStack(out, stack);
  printWorkload(out, diff);
  out.line();
  out.line(out.paint('grey', `${diff.changes ? 'Provisioning again would make the changes above.' : 'No changes: provisioning again would change nothing.'} ${howFound(diff)}`));
}

/** What was done to find the differences, as it really happened: nothing was changed by any of it. */
function howFound(diff: TenantDiff): string {
  const made = diff.stacks.filter((s) => s.state === 'unchanged' || s.state === 'changes').length;
  const fromTemplate = diff.stacks.filter((s) => s.state === 'absent' || s.state === 'recreate').length;
  const steps = [
    made > 0 ? `${made === 1 ? 'the change set' : `the ${made} change sets`} made to compute this ${made === 1 ? 'was' : 'were'} deleted without being executed` : undefined,
    fromTemplate > 0 ? `${fromTemplate === 1 ? 'a stack' : `${fromTemplate} stacks`} not yet created ${fromTemplate === 1 ? 'was' : 'were'} listed from ${fromTemplate === 1 ? 'its template' : 'their templates'}` : undefined,
    diff.workload?.kind === 'kubernetes' && diff.workload.state !== 'absent' ? 'the Kubernetes objects were compared by a server-side dry run, which persists nothing' : undefined,
    diff.workload?.kind === 'ecs' ? 'the ECS service and task definition were only read' : undefined,
  ].filter((step): step is string => step !== undefined);
  return `Nothing was changed${steps.length > 0 ? `: ${steps.join('; ')}` : ''}.`;
}

function printStack(out: Output, stack: StackPreview): void {
  const where = out.paint('grey', `(account ${stack.accountId}, ${stack.region})`);
  const heading = (text: string) => out.line(`${out.paint('bold', `Stack ${stack.stackName}`)} ${where}: ${text}`);
  switch (stack.state) {
    case 'unchanged':
      heading(out.paint('green', 'no changes'));
      return;
    case 'blocked':
      heading(out.paint('yellow', stack.reason ?? `cannot be updated now (${stack.stackStatus})`));
      return;
    case 'absent':
      heading(`does not exist; provisioning creates it with ${stack.changes.length} resources`);
      break;
    case 'recreate':
      heading(out.paint('red', `is ${stack.stackStatus}; provisioning deletes it and creates it again with ${stack.changes.length} resources`));
      break;
    case 'changes': {
      const replaced = stack.changes.filter((c) => c.action === 'replace').length;
      heading(`${stack.changes.length} change${stack.changes.length === 1 ? '' : 's'}${replaced ? `, ${out.paint('red', `${replaced} replacement${replaced === 1 ? '' : 's'}`)}` : ''}`);
      break;
    }
  }
  const rows: CellInput[][] = stack.changes.map((c) => [
    { text: actionText(c), colour: ACTION_COLOUR[c.action] },
    c.logicalId,
    c.resourceType,
    c.physicalId ?? '',
    changedText(c),
  ]);
  for (const line of renderTable(out, ['ACTION', 'RESOURCE', 'TYPE', 'PHYSICAL ID', 'WHAT CHANGES'], rows)) out.line(`  ${line}`);
}

/** A modification CloudFormation decides only while updating (Replacement Conditional) may still replace. */
const actionText = (c: StackChange) => (c.action === 'modify' && c.replacement === 'Conditional' ? 'modify?' : c.action);

function changedText(c: StackChange): string {
  if (c.condition) return `if ${c.condition}`;
  return c.details
    .map((d) => {
      const what = d.name ?? d.attribute.toLowerCase();
      const why =
        d.changeSource === 'ParameterReference' ? `parameter ${d.causingEntity}` : d.changeSource === 'ResourceReference' || d.changeSource === 'ResourceAttribute' ? `via ${d.causingEntity}` : undefined;
      const flag = d.requiresRecreation === 'Always' ? 'replaces' : d.requiresRecreation === 'Conditionally' ? 'may replace' : undefined;
      const notes = [why, flag].filter(Boolean).join(', ');
      return notes ? `${what} (${notes})` : what;
    })
    .filter((text, i, all) => all.indexOf(text) === i)
    .join('; ');
}

function printWorkload(out: Output, diff: TenantDiff): void {
  const w = diff.workload;
  if (!w) {
    out.line(`${out.paint('bold', 'Workload')}: ${out.paint('grey', `not compared: ${diff.workloadSkipped ?? 'unknown'}`)}`);
    return;
  }
  const where = w.kind === 'ecs' ? `ECS service ${w.service} in cluster ${w.cluster}` : `Kubernetes namespace ${w.namespace} in cluster ${w.cluster}`;
  const heading = `${out.paint('bold', 'Workload')} ${out.paint('grey', `(${where}, version ${diff.version})`)}`;
  if (w.state === 'unchanged') {
    out.line(`${heading}: ${out.paint('green', 'no changes')}`);
    return;
  }
  if (w.objects) {
    const changed = w.objects.filter((o) => o.action !== 'unchanged').length;
    out.line(`${heading}: ${w.state === 'absent' ? 'does not exist; provisioning creates it' : `${changed} of ${w.objects.length} object${w.objects.length === 1 ? '' : 's'} would change (server-side dry run)`}`);
    const objectRows: CellInput[][] = w.objects.map((o) => [{ text: o.action, colour: ACTION_COLOUR[o.action] }, o.object, (o.fields ?? []).join(', ')]);
    for (const line of renderTable(out, ['ACTION', 'OBJECT', 'CHANGED FIELDS'], objectRows)) out.line(`  ${line}`);
    const modified = w.changes.filter((c) => c.field !== '(object)');
    if (modified.length === 0) return;
    const fieldRows: CellInput[][] = modified.map((c) => [{ text: c.action, colour: ACTION_COLOUR[c.action] }, c.object, c.field, short(c.before), short(c.after)]);
    for (const line of renderTable(out, ['ACTION', 'OBJECT', 'FIELD', 'BEFORE', 'AFTER'], fieldRows)) out.line(`  ${line}`);
    return;
  }
  out.line(`${heading}: ${w.state === 'absent' ? 'does not exist; provisioning creates it' : `${w.changes.length} change${w.changes.length === 1 ? '' : 's'}`}`);
  const rows: CellInput[][] = w.changes.map((c: WorkloadChange) => [{ text: c.action, colour: ACTION_COLOUR[c.action] }, c.object, c.field, short(c.before), short(c.after)]);
  for (const line of renderTable(out, ['ACTION', 'OBJECT', 'FIELD', 'BEFORE', 'AFTER'], rows)) out.line(`  ${line}`);
}

function short(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
