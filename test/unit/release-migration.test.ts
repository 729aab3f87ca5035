/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetLogEventsCommand, CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, RegisterTaskDefinitionCommand, RunTaskCommand, StopTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { parse, stringify } from 'yaml';
import { AwsClients } from '../../src/activities/aws/clients';
import { createEcsMigrationActivities, type EcsMigrationInput } from '../../src/activities/runtime/ecs-migration';
import { migrationJob } from '../../src/activities/runtime/kubernetes-migration';
import { planRelease } from '../../src/client/releases';
import { parseFleetConfig } from '../../src/shared/config/load';
import { describeMigration, lastLines, migrationKey } from '../../src/shared/release/migration';
import { quietActivityEnvironment } from '../support/mock-activity';
import { refusal } from '../support/refusal';

const EXAMPLE = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
type Raw = { environments: Record<string, unknown>[]; tenants: Record<string, unknown>[]; releasePlans: Record<string, unknown>[] };
const raw = (): Raw => parse(EXAMPLE) as Raw;
const request = { releaseId: 'r-1', version: '2.0.0', plan: 'standard', requestedBy: 'unit' };

describe('migration config', () => {
  it('takes a command per environment, replaced per tenant, with a default timeout of 30 minutes', () => {
    const config = raw();
    config.tenants[0]!.migration = { command: ['bin/migrate', 'up'] };
    const parsed = parseFleetConfig(stringify(config));
    expect(parsed.environments.find((e) => e.name === 'staging')?.migration).toEqual({ command: ['./manage', 'migrate', '--no-input'], timeout: 30 * 60_000 });
    expect(parsed.tenants[0]!.migration).toEqual({ command: ['bin/migrate', 'up'], timeout: 30 * 60_000 });
  });

  it.each([
    ['a timeout that does not parse', { command: ['m'], timeout: 'soon' }, /^tenants\[0\]\.migration\.timeout: expected a duration .* \(got "soon"\)$/],
    ['a timeout out of range', { command: ['m'], timeout: '7h' }, /^tenants\[0\]\.migration\.timeout: expected a timeout from 10s to 6h.* \(got "7h"\)$/],
    ['no command', { command: [] }, /^tenants\[0\]\.migration\.command: expected the command and its arguments.* \(got \[\]\)$/],
    ['an empty argument', { command: ['m', ''] }, /^tenants\[0\]\.migration\.command\[1\]: expected a non-empty argument \(got ""\)$/],
  ])('refuses %s, naming field and value', (_, migration, message) => {
    const config = raw();
    config.tenants[0]!.migration = migration;
    expect(refusal(() => parseFleetConfig(stringify(config)))).toEqual([expect.stringMatching(message)]);
  });
});

describe('a release plan that runs migrations', () => {
  const withPlan = (migrations: boolean, edit: (config: Raw) => void = () => undefined) => {
    const config = raw();
    config.releasePlans[0]!.migrations = migrations;
    edit(config);
    return parseFleetConfig(stringify(config));
  };

  it("carries each selected tenant's command (its own, else its environment's), grouped by what they share", () => {
    const config = withPlan(true, (c) => (c.tenants[1]!.migration = { command: ['rake', 'db:migrate'], timeout: '5m' }));
    expect(planRelease(config, request).migrations).toEqual([
      { tenants: ['globex'], command: ['rake', 'db:migrate'], timeoutMs: 300_000 },
      { tenants: ['acme'], command: ['./manage', 'migrate', '--no-input'], timeoutMs: 3_600_000 },
    ]);
  });

  it('carries none when neither the plan nor the request asks; the request (--migrations) can', () => {
    const config = withPlan(false);
    expect(planRelease(config, request).migrations).toBeUndefined();
    expect(planRelease(config, { ...request, migrations: true }).migrations?.flatMap((g) => g.tenants)).toEqual(['globex', 'acme']);
  });

  it('is refused before anything starts when a selected tenant has no command, naming the field', () => {
    const config = withPlan(true, (c) => delete c.environments.find((e) => e.name === 'staging')!.migration);
    expect(refusal(() => planRelease(config, request))).toEqual([
      'tenants[1].migration: release plan "standard" runs migrations, but tenant "globex" has no migration command; expected tenants[1].migration or environments[name=staging].migration with a command (got undefined)',
    ]);
    // Not selected, not asked: the same config releases prod alone.
    expect(planRelease(config, { ...request, environments: ['prod'] }).migrations).toEqual([{ tenants: ['acme'], command: ['./manage', 'migrate', '--no-input'], timeoutMs: 3_600_000 }]);
  });
});

describe('a release plan that runs migrations and releases some tenants blue/green', () => {
  it('is refused, naming them: the blue/green deploy has no migration step yet', () => {
    const config = raw() as Raw & { loadBalancers: Record<string, unknown>[] };
    config.loadBalancers[0]!.testListenerArn = String(config.loadBalancers[0]!.listenerArn).replace(/[^/]+$/, '0c1d2e3f4a5b6c7d');
    config.releasePlans[0]!.migrations = true;
    config.releasePlans[0]!.strategyByEnvironment = { staging: { type: 'blueGreen', steps: [{ weight: 100, bake: '1m' }], blueRetention: '1h' } };
    const parsed = parseFleetConfig(stringify(config));
    expect(refusal(() => planRelease(parsed, request))).toEqual([
      'migrations: release plan "standard" releases "globex" blue/green, which runs no migration step yet; expected a rolling strategy for tenants with migrations, or a release without them (got true)',
    ]);
    expect(planRelease(parsed, { ...request, environments: ['prod'] }).migrations).toHaveLength(1);
  });
});

describe('what a migration leaves in the history', () => {
  it('keeps the last 20 non-empty lines, each cut to 300 characters', () => {
    const lines = lastLines([...Array.from({ length: 30 }, (_, i) => `line ${i}`), '', 'x'.repeat(400)].join('\n'));
    expect(lines).toHaveLength(20);
    expect(lines[0]).toBe('line 11');
    expect(lines.at(-1)).toHaveLength(300);
  });

  it('summarises a run by its exit code, its reason and its last line', () => {
    expect(describeMigration({ task: 't', exitCode: 1, succeeded: false, output: ['a', 'error: boom'], reused: false })).toBe('exit code 1; last output: error: boom');
    expect(describeMigration({ task: 't', exitCode: null, succeeded: false, reason: 'did not finish within 60 s; stopped', output: [], reused: true })).toBe(
      'no exit code; did not finish within 60 s; stopped; no output',
    );
  });

  it('has one key per release and tenant, valid as an ECS startedBy and a Kubernetes name', () => {
    expect(migrationKey('r-1', 'acme')).toBe(migrationKey('r-1', 'acme'));
    expect(migrationKey('r-1', 'acme')).not.toBe(migrationKey('r-2', 'acme'));
    expect(migrationKey('v1.2_x', 'a'.repeat(32))).toMatch(/^[a-z0-9-]{1,36}$/);
  });
});

describe('the Kubernetes migration Job', () => {
  it("is the tenant Deployment's pod with the new image and the command: no probes, ports or readiness gates, one try, a deadline", () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: 'tenant-acme' },
      spec: {
        template: {
          metadata: { labels: { 'app.kubernetes.io/name': 'tenant-app' }, annotations: { 'tenant-fleet.io/config-checksum': 'abc' } },
          spec: {
            serviceAccountName: 'app',
            readinessGates: [{ conditionType: 'target-health.elbv2.k8s.aws/app' }],
            containers: [{ name: 'app', image: 'app:1.0.0', envFrom: [{ configMapRef: { name: 'app-config' } }], readinessProbe: {}, ports: [{ containerPort: 8080 }] }],
          },
        },
      },
    };
    const job = migrationJob(deployment, { tenantId: 'acme', releaseId: 'r-1', image: 'app', version: '2.0.0', command: ['migrate'], timeoutMs: 90_500 }) as unknown as {
      metadata: { name: string };
      spec: { backoffLimit: number; activeDeadlineSeconds: number; template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } };
    };
    expect(job.metadata.name).toBe(migrationKey('r-1', 'acme'));
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 91 });
    // Not the app's labels: the Service must not send it traffic.
    expect(job.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('tenant-migration');
    expect(job.spec.template.metadata.annotations).toEqual({ 'tenant-fleet.io/config-checksum': 'abc' });
    expect(job.spec.template.spec).toMatchObject({ serviceAccountName: 'app', restartPolicy: 'Never' });
    expect(job.spec.template.spec.readinessGates).toBeUndefined();
    expect(job.spec.template.spec.containers).toEqual([
      { name: 'app', image: 'app:2.0.0', command: ['migrate'], envFrom: [{ configMapRef: { name: 'app-config' } }], terminationMessagePolicy: 'FallbackToLogsOnError' },
    ]);
  });
});

describe('ecsRunMigration runs once per release and tenant', () => {
  const ecs = mockClient(ECSClient);
  const logs = mockClient(CloudWatchLogsClient);
  let clients: AwsClients;
  const aws = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const input: EcsMigrationInput = {
    runtime: { kind: 'ecs', cluster: 'ecs-eu-west-1', aws, clusterName: 'tenants', subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
    tenantId: 'acme',
    releaseId: 'r-1',
    image: 'app',
    version: '2.0.0',
    command: ['migrate'],
    timeoutMs: 60_000,
  };
  const arn = 'arn:aws:ecs:eu-west-1:123456789012:task/tenants/0123abcd';
  const tags = [
    { key: 'TenantId', value: 'acme' },
    { key: 'ReleaseId', value: 'r-1' },
  ];
  const stopped = (exitCode: number): Task => ({ taskArn: arn, taskDefinitionArn: 'td:2', lastStatus: 'STOPPED', stopCode: 'EssentialContainerExited', createdAt: new Date(), tags, containers: [{ name: 'app', exitCode }] });
  const run = () => quietActivityEnvironment().run(createEcsMigrationActivities({ aws: clients }).ecsRunMigration, input);

  beforeEach(() => {
    ecs.reset();
    logs.reset();
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'tenant-acme', status: 'ACTIVE', taskDefinition: 'td:1', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: ['sg-1', 'sg-tenant'] } } }] });
    const container = (image: string) => ({ name: 'app', image, logConfiguration: { logDriver: 'awslogs' as const, options: { 'awslogs-group': '/tenant-fleet/acme/app', 'awslogs-stream-prefix': 'app' } } });
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: 'td:1' }).resolves({ taskDefinition: { taskDefinitionArn: 'td:1', containerDefinitions: [container('app:1.0.0')] } });
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: 'tenant-acme' }).resolves({ taskDefinition: { taskDefinitionArn: 'td:1', containerDefinitions: [container('app:1.0.0')] } });
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: 'td:2' }).resolves({ taskDefinition: { taskDefinitionArn: 'td:2', containerDefinitions: [container('app:2.0.0')] } });
    ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: 'td:2' } });
    logs.on(GetLogEventsCommand).resolves({ events: [{ message: 'applying 0002_orders' }, { message: 'done: 2 migrations applied' }] });
  });
  afterEach(() => clients.destroy());

  it('starts the new revision with the command in the service network, then returns its exit code and last log lines', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: arn, createdAt: new Date() }] });
    ecs.on(DescribeTasksCommand).resolves({ tasks: [stopped(0)] });
    await expect(run()).resolves.toEqual({ task: arn, exitCode: 0, succeeded: true, output: ['applying 0002_orders', 'done: 2 migrations applied'], reused: false });
    const started = ecs.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(started).toMatchObject({
      taskDefinition: 'td:2',
      startedBy: migrationKey('r-1', 'acme'),
      overrides: { containerOverrides: [{ name: 'app', command: ['migrate'] }] },
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: ['sg-1', 'sg-tenant'] } },
    });
    expect(logs.commandCalls(GetLogEventsCommand)[0]!.args[0].input).toMatchObject({ logGroupName: '/tenant-fleet/acme/app', logStreamName: 'app/app/0123abcd', startFromHead: false });
  });

  it('after a partial success (the worker died with the task running), finds the first run and waits for it instead of starting another', async () => {
    ecs.on(ListTasksCommand, { desiredStatus: 'RUNNING' }).resolves({ taskArns: [arn] });
    ecs.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ taskArns: [] });
    ecs.on(DescribeTasksCommand).resolvesOnce({ tasks: [{ ...stopped(1), lastStatus: 'RUNNING' }] }).resolvesOnce({ tasks: [{ ...stopped(1), lastStatus: 'RUNNING' }] }).resolves({ tasks: [stopped(1)] });
    const first = await run();
    // And once more after it stopped: the same answer, still without a second task.
    ecs.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ taskArns: [arn] });
    const second = await run();
    expect(first).toEqual({ task: arn, exitCode: 1, succeeded: false, output: ['applying 0002_orders', 'done: 2 migrations applied'], reused: true });
    expect(second).toEqual(first);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it('refuses a task with its key but tagged for another release, naming both', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [arn] });
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ ...stopped(0), tags: [{ key: 'TenantId', value: 'acme' }, { key: 'ReleaseId', value: 'r-0' }] }] });
    const error = await run().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as Error).message).toMatch(/tagged ReleaseId r-0, TenantId acme; expected ReleaseId r-1, TenantId acme/);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it('stops a task still running at its timeout (counted from its creation) and reports it failed', async () => {
    ecs.on(ListTasksCommand, { desiredStatus: 'RUNNING' }).resolves({ taskArns: [arn] });
    ecs.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ taskArns: [] });
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ ...stopped(0), lastStatus: 'RUNNING', createdAt: new Date(Date.now() - 120_000), containers: [{ name: 'app' }] }] });
    ecs.on(StopTaskCommand).resolves({});
    await expect(run()).resolves.toMatchObject({ exitCode: null, succeeded: false, reason: 'did not finish within 60 s; stopped', reused: true });
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(1);
  });
});
