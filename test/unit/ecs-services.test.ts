/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
/* eslint-disable @typescript-eslint/no-unsafe-assignment -- jest's asymmetric matchers (expect.stringMatching) are typed any. */
import {
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListServicesCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type ContainerDefinition,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/activities/aws/clients';
import { createEcsActivities, type EcsRuntime } from '../../src/activities/runtime/ecs';
import { createEcsReleaseActivities } from '../../src/activities/runtime/ecs-release';
import type { ReleaseTarget, WorkloadSpec } from '../../src/activities/runtime/types';
import { quietActivityEnvironment } from '../support/mock-activity';

/*
 * A tenant's services on ECS (docs/services.md, "ECS"), against an in-memory ECS that keeps task
 * definition families and services: every activity is run twice, and again after a partial
 * success, and must then write nothing more.
 */

const aws = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
const runtime: EcsRuntime = { kind: 'ecs', cluster: 'ecs-eu-west-1', aws, clusterName: 'tenants', subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] };
const ssm = (path: string) => `arn:aws:ssm:eu-west-1:123456789012:parameter/tenant-fleet/acme/${path}`;
const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenant-fleet/acme/${name}`;

const plain: WorkloadSpec = {
  tenantId: 'acme',
  image: 'ghcr.io/acme/app',
  version: '1.0.0',
  replicas: 2,
  config: { TENANT_ID: 'acme', DATABASE_HOST: 'db' },
  appRoleArn: 'arn:aws:iam::123456789012:role/tenant-acme-app',
  executionRoleArn: 'arn:aws:iam::123456789012:role/tenant-acme-exec',
  logGroupName: '/tenant-fleet/acme/app',
  targetGroupArn: 'arn:tg',
  securityGroupIds: ['sg-acme'],
  cpu: 256,
  memory: 512,
};

const withServices: WorkloadSpec = {
  ...plain,
  serviceName: 'web',
  command: ['serve', '--port', '8080'],
  secrets: { STRIPE_KEY: ssm('stripe/key') },
  releaseVersion: '1.0.0',
  services: [
    {
      name: 'worker',
      image: 'ghcr.io/acme/worker',
      version: '1.0.0',
      command: ['work', '--queue', 'jobs'],
      config: { ...plain.config, QUEUE: 'jobs' },
      secrets: { API_TOKEN: secret('api') },
      replicas: 2,
      cpu: 512,
      memory: 1024,
      healthCheck: { command: ['CMD-SHELL', 'test -f /tmp/alive'], intervalSeconds: 30, timeoutSeconds: 5, retries: 3, startPeriodSeconds: 0 },
    },
    { name: 'api', image: 'ghcr.io/acme/api', version: '1.0.0', config: { ...plain.config, MODE: 'api' }, secrets: {}, replicas: 1, cpu: 256, memory: 512 },
  ],
};

/** An ECS cluster in memory: families of task definition revisions, and services by name. */
function fakeEcs() {
  const ecs = mockClient(ECSClient);
  const families = new Map<string, TaskDefinition[]>();
  const services = new Map<string, Service>();
  const arnOf = (family: string, revision: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:${revision}`;
  const find = (ref: string) => {
    const [family, revision] = (ref.split('/').pop() ?? '').split(':');
    const list = families.get(family!) ?? [];
    return revision ? list.find((d) => d.revision === Number(revision)) : list[list.length - 1];
  };
  /** Fails the next matching write once (a partial success: what came before it stays done). */
  const failures: { command: string; match: (input: { serviceName?: string; service?: string }) => boolean }[] = [];
  const failOnce = (command: string, match: (input: { serviceName?: string; service?: string }) => boolean) => failures.push({ command, match });
  const maybeFail = (command: string, input: { serviceName?: string; service?: string }) => {
    const i = failures.findIndex((f) => f.command === command && f.match(input));
    if (i >= 0) {
      failures.splice(i, 1);
      throw Object.assign(new Error(`injected ${command} failure`), { name: 'ServerException' });
    }
  };
  const deployed = (name: string, taskDefinition: string, desiredCount: number): Service['deployments'] => [
    { id: `ecs-svc/${name}`, status: 'PRIMARY', taskDefinition, desiredCount, runningCount: desiredCount, rolloutState: 'COMPLETED' },
  ];
  // No stopped tasks unless a test says so (a failed rollout reads them for its reason).
  ecs.on(ListTasksCommand).resolves({ taskArns: [] });
  ecs.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({ services: input.services.flatMap((n) => (services.has(n) ? [structuredClone(services.get(n)!)] : [])) }));
  ecs.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => {
    const found = find(input.taskDefinition);
    if (!found) throw Object.assign(new Error('Unable to describe task definition.'), { name: 'ClientException' });
    return { taskDefinition: structuredClone(found) };
  });
  ecs.on(RegisterTaskDefinitionCommand).callsFake((input: RegisterTaskDefinitionCommandInput) => {
    maybeFail('RegisterTaskDefinition', {});
    const list = families.get(input.family!) ?? [];
    const { tags: _tags, ...definition } = input;
    const registered: TaskDefinition = { ...structuredClone(definition), taskDefinitionArn: arnOf(input.family!, list.length + 1), revision: list.length + 1 };
    families.set(input.family!, [...list, registered]);
    return { taskDefinition: registered };
  });
  ecs.on(CreateServiceCommand).callsFake((input: Service & { taskDefinition: string }) => {
    maybeFail('CreateService', input);
    const name = input.serviceName!;
    services.set(name, { ...structuredClone(input), status: 'ACTIVE', deployments: deployed(name, input.taskDefinition, input.desiredCount ?? 0) });
    return { service: services.get(name) };
  });
  ecs.on(UpdateServiceCommand).callsFake((input: { service: string; taskDefinition?: string; desiredCount?: number }) => {
    maybeFail('UpdateService', input);
    const service = services.get(input.service)!;
    if (input.taskDefinition) service.taskDefinition = find(input.taskDefinition)!.taskDefinitionArn;
    if (input.desiredCount !== undefined) service.desiredCount = input.desiredCount;
    service.deployments = deployed(input.service, service.taskDefinition!, service.desiredCount ?? 0);
    return { service };
  });
  ecs.on(DeleteServiceCommand).callsFake((input: { service: string }) => {
    const service = services.get(input.service);
    if (!service || service.status === 'INACTIVE') throw Object.assign(new Error('Service not found.'), { name: 'ServiceNotFoundException' });
    service.status = 'INACTIVE';
    return { service };
  });
  ecs.on(ListServicesCommand).callsFake(() => ({
    serviceArns: [...services.values()].filter((s) => s.status !== 'INACTIVE').map((s) => `arn:aws:ecs:eu-west-1:123456789012:service/tenants/${s.serviceName}`),
  }));
  const writes = () =>
    ecs.calls().flatMap((call) => {
      const name = call.args[0].constructor.name.replace(/Command$/, '');
      return ['RegisterTaskDefinition', 'CreateService', 'UpdateService', 'DeleteService'].includes(name) ? [name] : [];
    });
  const container = (service: string, name: string): ContainerDefinition => {
    const arn = services.get(service)!.taskDefinition!;
    return find(arn)!.containerDefinitions!.find((c) => c.name === name)!;
  };
  return { ecs, families, services, failOnce, writes, container, find };
}

/** Runs an activity in a context of its own (heartbeats), typed as the activity is. */
const run = <I, O>(activity: (input: I) => Promise<O>, input: I): Promise<O> => quietActivityEnvironment().run(activity, input);
const errorOf = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

describe('ECS workload of a tenant with services', () => {
  let fake: ReturnType<typeof fakeEcs>;
  let activities: ReturnType<typeof createEcsActivities>;
  beforeEach(() => {
    fake = fakeEcs();
    activities = createEcsActivities({ aws: new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } }) });
  });
  afterEach(() => fake.ecs.restore());

  it('leaves a tenant without services as it was: one family, one service, no listing, nothing new in its container', async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: plain });
    const calls = fake.ecs.calls().map((c) => c.args[0].constructor.name);
    expect(calls).toEqual(['DescribeServicesCommand', 'RegisterTaskDefinitionCommand', 'CreateServiceCommand']);
    const registered = fake.ecs.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input;
    expect(registered.containerDefinitions).toEqual([
      {
        name: 'app',
        image: 'ghcr.io/acme/app:1.0.0',
        essential: true,
        portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
        environment: [
          { name: 'DATABASE_HOST', value: 'db' },
          { name: 'TENANT_ID', value: 'acme' },
        ],
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/tenant-fleet/acme/app', 'awslogs-region': 'eu-west-1', 'awslogs-stream-prefix': 'app' } },
      },
    ]);
    fake.ecs.resetHistory();
    await run(activities.ecsApplyWorkload, { runtime, workload: plain });
    expect(fake.writes()).toEqual([]);
    expect(fake.ecs.commandCalls(ListServicesCommand)).toHaveLength(0);
    // A release without a target: as before, only the primary's image.
    await run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '1.1.0' });
    expect(fake.container('tenant-acme', 'app')).toEqual({ ...registered.containerDefinitions![0], image: 'ghcr.io/acme/app:1.1.0' });
    expect(await run(activities.ecsCurrentWorkload, { runtime, tenantId: 'acme' })).toEqual({ image: 'ghcr.io/acme/app:1.1.0', version: '1.1.0', revision: expect.stringMatching(/tenant-acme:2$/) });
  });

  it("applies each service as its own ECS service and family, with its command, variables, secrets, health check and size; a second apply writes nothing", async () => {
    const first = await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    expect(first.changed).toBe(true);
    expect([...fake.families.keys()].sort()).toEqual(['tenant-acme', 'tenant-acme--api', 'tenant-acme--worker']);
    const web = fake.container('tenant-acme', 'app');
    expect(web.command).toEqual(['serve', '--port', '8080']);
    expect(web.secrets).toEqual([{ name: 'STRIPE_KEY', valueFrom: ssm('stripe/key') }]);
    expect(web.environment).toContainEqual({ name: 'TENANT_FLEET_VERSION', value: '1.0.0' });
    const worker = fake.services.get('tenant-acme--worker')!;
    expect(worker).toMatchObject({ desiredCount: 2, launchType: 'FARGATE', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: ['sg-1', 'sg-acme'] } } });
    expect(worker.loadBalancers).toBeUndefined();
    const workerDefinition = fake.find(worker.taskDefinition!)!;
    expect(workerDefinition).toMatchObject({ family: 'tenant-acme--worker', cpu: '512', memory: '1024', taskRoleArn: plain.appRoleArn, executionRoleArn: plain.executionRoleArn });
    expect(workerDefinition.containerDefinitions).toEqual([
      {
        name: 'worker',
        image: 'ghcr.io/acme/worker:1.0.0',
        essential: true,
        environment: [
          { name: 'DATABASE_HOST', value: 'db' },
          { name: 'QUEUE', value: 'jobs' },
          { name: 'TENANT_FLEET_VERSION', value: '1.0.0' },
          { name: 'TENANT_ID', value: 'acme' },
        ],
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/tenant-fleet/acme/app', 'awslogs-region': 'eu-west-1', 'awslogs-stream-prefix': 'worker' } },
        command: ['work', '--queue', 'jobs'],
        secrets: [{ name: 'API_TOKEN', valueFrom: secret('api') }],
        healthCheck: { command: ['CMD-SHELL', 'test -f /tmp/alive'], interval: 30, timeout: 5, retries: 3, startPeriod: 0 },
      },
    ]);
    expect(fake.services.get('tenant-acme--api')).toMatchObject({ desiredCount: 1 });
    fake.ecs.resetHistory();
    expect(await run(activities.ecsApplyWorkload, { runtime, workload: withServices })).toEqual({ changed: false, revision: first.revision });
    expect(fake.writes()).toEqual([]);
    expect((await run(activities.ecsPreviewWorkload, { runtime, workload: withServices })).state).toBe('unchanged');
  });

  it('finishes an apply that failed half-way without registering or creating anything twice', async () => {
    fake.failOnce('CreateService', (input) => input.serviceName === 'tenant-acme--worker');
    expect(await errorOf(run(activities.ecsApplyWorkload, { runtime, workload: withServices }))).toBeInstanceOf(Error);
    expect(fake.services.has('tenant-acme--worker')).toBe(false);
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    // The revision the first attempt registered for the service it could not create is the one the retry creates it with.
    expect(fake.families.get('tenant-acme--worker')).toHaveLength(1);
    expect(fake.families.get('tenant-acme')).toHaveLength(1);
    expect(fake.ecs.commandCalls(CreateServiceCommand).map((c) => c.args[0].input.serviceName)).toEqual(['tenant-acme', 'tenant-acme--worker', 'tenant-acme--worker', 'tenant-acme--api']);
    fake.ecs.resetHistory();
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    expect(fake.writes()).toEqual([]);
  });

  it('prunes a service the tenant no longer declares (scaled to 0, then deleted), and only once', async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    const withoutApi = { ...withServices, services: withServices.services!.filter((s) => s.name !== 'api') };
    const preview = await run(activities.ecsPreviewWorkload, { runtime, workload: withoutApi });
    expect(preview.changes).toEqual([{ object: 'service tenant-acme--api', field: '(service)', action: 'remove' }]);
    fake.ecs.resetHistory();
    await run(activities.ecsApplyWorkload, { runtime, workload: withoutApi });
    expect(fake.ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input)).toEqual([{ cluster: 'tenants', service: 'tenant-acme--api', desiredCount: 0 }]);
    expect(fake.ecs.commandCalls(DeleteServiceCommand).map((c) => c.args[0].input)).toEqual([{ cluster: 'tenants', service: 'tenant-acme--api', force: true }]);
    fake.ecs.resetHistory();
    await run(activities.ecsApplyWorkload, { runtime, workload: withoutApi });
    expect(fake.writes()).toEqual([]);
  });

  const target: ReleaseTarget = {
    version: '2.0.0',
    services: [
      { name: 'web', image: 'ghcr.io/acme/app:2.0.0' },
      { name: 'worker', image: 'ghcr.io/acme/worker:2.0.0-rc1', environment: { QUEUE: 'jobs-v2', DATABASE_HOST: null } },
      { name: 'api', image: 'ghcr.io/acme/api:2.0.0' },
    ],
  };

  it("sets each service's image and variables and the version on every container, and nothing else; a second run writes nothing", async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    const before = fake.find(fake.services.get('tenant-acme--worker')!.taskDefinition!)!;
    const set = await run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '2.0.0', target });
    expect(set.changed).toBe(true);
    const worker = fake.find(fake.services.get('tenant-acme--worker')!.taskDefinition!)!;
    expect(worker.containerDefinitions).toEqual([
      {
        ...before.containerDefinitions![0],
        image: 'ghcr.io/acme/worker:2.0.0-rc1',
        environment: [
          { name: 'QUEUE', value: 'jobs-v2' },
          { name: 'TENANT_FLEET_VERSION', value: '2.0.0' },
          { name: 'TENANT_ID', value: 'acme' },
        ],
      },
    ]);
    expect({ ...worker, containerDefinitions: [], taskDefinitionArn: '', revision: 0 }).toEqual({ ...before, containerDefinitions: [], taskDefinitionArn: '', revision: 0 });
    expect(fake.container('tenant-acme', 'app')).toMatchObject({ image: 'ghcr.io/acme/app:2.0.0', environment: expect.arrayContaining([{ name: 'TENANT_FLEET_VERSION', value: '2.0.0' }]) });
    expect(fake.container('tenant-acme--api', 'api').image).toBe('ghcr.io/acme/api:2.0.0');
    fake.ecs.resetHistory();
    expect(await run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '2.0.0', target })).toEqual({ changed: false, revision: set.revision });
    expect(fake.writes()).toEqual([]);
    expect(await run(activities.ecsCurrentWorkload, { runtime, tenantId: 'acme', services: ['worker', 'api'] })).toEqual({
      image: 'ghcr.io/acme/app:2.0.0',
      version: '2.0.0',
      revision: set.revision,
      services: { worker: 'ghcr.io/acme/worker:2.0.0-rc1', api: 'ghcr.io/acme/api:2.0.0' },
    });
  });

  it('finishes a set-version that failed half-way reusing what it registered', async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    fake.failOnce('UpdateService', (input) => input.service === 'tenant-acme--worker');
    expect(await errorOf(run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '2.0.0', target }))).toBeInstanceOf(Error);
    fake.ecs.resetHistory();
    await run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '2.0.0', target });
    // The worker's revision registered by the first attempt is reused; only the services not moved yet are updated.
    expect(fake.ecs.commandCalls(RegisterTaskDefinitionCommand).map((c) => c.args[0].input.family)).toEqual(['tenant-acme--api']);
    expect(fake.ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.service)).toEqual(['tenant-acme--worker', 'tenant-acme--api']);
    expect(fake.families.get('tenant-acme--worker')).toHaveLength(2);
  });

  it('refuses a target naming a service that does not exist yet, naming tenant and service, before changing anything', async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: { ...withServices, services: withServices.services!.slice(0, 1) } });
    fake.ecs.resetHistory();
    const error = await errorOf(run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '2.0.0', target }));
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ nonRetryable: true, type: 'ResourceNotFound', message: expect.stringMatching(/tenant acme has no ECS service tenant-acme--api \(service "api"\).*provision it first/) });
    expect(fake.writes()).toEqual([]);
  });

  it('without a target removes a version variable the primary still carries, and keeps the rest', async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: { ...plain, releaseVersion: '1.0.0' } });
    expect(fake.container('tenant-acme', 'app').environment).toContainEqual({ name: 'TENANT_FLEET_VERSION', value: '1.0.0' });
    await run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '1.0.0' });
    expect(fake.container('tenant-acme', 'app').environment).toEqual([
      { name: 'DATABASE_HOST', value: 'db' },
      { name: 'TENANT_ID', value: 'acme' },
    ]);
    fake.ecs.resetHistory();
    await run(activities.ecsSetVersion, { runtime, tenantId: 'acme', image: plain.image, version: '1.0.0' });
    expect(fake.writes()).toEqual([]);
  });

  it("waits for every service's rollout and names the service that failed", async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    expect(await run(activities.ecsWaitForRollout, { runtime, tenantId: 'acme', services: ['worker', 'api'] })).toMatchObject({ ready: true });
    fake.services.get('tenant-acme--api')!.deployments![0]!.rolloutState = 'FAILED';
    fake.services.get('tenant-acme--api')!.deployments![0]!.rolloutStateReason = 'ECS deployment circuit breaker: tasks failed to start.';
    expect(await run(activities.ecsWaitForRollout, { runtime, tenantId: 'acme', services: ['worker', 'api'] })).toMatchObject({
      ready: false,
      failureReason: 'ECS service tenant-acme--api (service "api"): ECS deployment circuit breaker: tasks failed to start.',
    });
    expect(fake.ecs.commandCalls(ListTasksCommand).map((c) => c.args[0].input)).toContainEqual({ cluster: runtime.clusterName, serviceName: 'tenant-acme--api', desiredStatus: 'STOPPED' });

    // Why its tasks stopped is on them, not in the rollout's reason: the newest of the failed deployment's (an older deployment's are not its).
    const secret = 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: invalid parameters: /tenant-fleet/acme/partner';
    const task = (id: string, startedBy: string, stoppedReason: string, at: number) => ({ taskArn: `arn:aws:ecs:eu-west-1:123456789012:task/tenants/${id}`, startedBy, stoppedReason, stoppedAt: new Date(at) });
    fake.ecs.on(ListTasksCommand).resolves({ taskArns: ['a', 'b', 'c'] });
    fake.ecs.on(DescribeTasksCommand).resolves({
      tasks: [task('old', 'ecs-svc/before', 'Essential container in task exited', 3_000), task('t1', 'ecs-svc/tenant-acme--api', secret, 1_000), task('t2', 'ecs-svc/tenant-acme--api', secret, 2_000)],
    });
    expect(await run(activities.ecsWaitForRollout, { runtime, tenantId: 'acme', services: ['worker', 'api'] })).toMatchObject({
      ready: false,
      failureReason: `ECS service tenant-acme--api (service "api"): ECS deployment circuit breaker: tasks failed to start. Task t2 stopped: ${secret}`,
    });
  });

  it('deletes every service of the tenant, declared or not, and counts a second delete as done', async () => {
    await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
    fake.services.set('tenant-acme--old', { serviceName: 'tenant-acme--old', status: 'ACTIVE', desiredCount: 1 });
    fake.services.set('tenant-acme-worker', { serviceName: 'tenant-acme-worker', status: 'ACTIVE', desiredCount: 1 });
    expect(await run(activities.ecsDeleteWorkload, { runtime, tenantId: 'acme' })).toEqual({ deleted: true });
    expect(fake.ecs.commandCalls(DeleteServiceCommand).map((c) => c.args[0].input.service).sort()).toEqual(['tenant-acme', 'tenant-acme--api', 'tenant-acme--old', 'tenant-acme--worker']);
    // Tenant `acme-worker`'s primary is not acme's.
    expect(fake.services.get('tenant-acme-worker')!.status).toBe('ACTIVE');
    expect(await run(activities.ecsDeleteWorkload, { runtime, tenantId: 'acme' })).toEqual({ deleted: false });
  });

  it("deploys a release's target in the merged step, records the version once every service is ready, and reads every service when inspecting", async () => {
    const ssm = mockClient(SSMClient);
    const cfn = mockClient(CloudFormationClient);
    try {
      ssm.on(GetParametersCommand).resolves({ Parameters: [] });
      ssm.on(PutParameterCommand).resolves({});
      cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'tenant-acme', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: [] }] });
      const clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
      const release = createEcsReleaseActivities({ aws: clients, templates: {} as never });
      await run(activities.ecsApplyWorkload, { runtime, workload: withServices });
      const deploy = { runtime, tenantId: 'acme', image: plain.image, version: '2.0.0', target: aws, release: target };
      expect(await run(release.ecsDeployAndRecord, deploy)).toMatchObject({ ready: true, changed: true });
      expect(fake.container('tenant-acme--worker', 'worker').image).toBe('ghcr.io/acme/worker:2.0.0-rc1');
      expect(ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input)).toContainEqual({ Name: '/tenant-fleet/acme/workload/version', Value: '2.0.0', Type: 'String', Overwrite: true });
      fake.ecs.resetHistory();
      expect(await run(release.ecsDeployAndRecord, deploy)).toMatchObject({ ready: true, changed: false });
      expect(fake.writes()).toEqual([]);
      const inspected = await run(release.ecsInspectForRelease, { runtime, tenantId: 'acme', target: aws, stackName: 'tenant-acme', services: ['worker', 'api'] });
      expect(inspected.current).toMatchObject({ version: '2.0.0', services: { worker: 'ghcr.io/acme/worker:2.0.0-rc1', api: 'ghcr.io/acme/api:2.0.0' } });
    } finally {
      ssm.restore();
      cfn.restore();
    }
  });
});
