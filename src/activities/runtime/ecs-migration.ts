import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, ListTasksCommand, RunTaskCommand, StopTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { ErrorType, permanentFailure, retryableFailure } from '../../shared/errors';
import { describeMigration, lastLines, migrationKey, MIGRATION_OUTPUT_LINES, type MigrationRun } from '../../shared/release/migration';
import type { AwsClients } from '../aws/clients';
import { heartbeat, pollWithHeartbeat } from '../poll';
import { CONTAINER as ECS_CONTAINER, ecsServiceHelpers, serviceName, type EcsRuntime } from './ecs';
import { imageRef } from './types';

export interface EcsMigrationInput {
  runtime: EcsRuntime;
  tenantId: string;
  releaseId: string;
  /** The tenant's image repository and the version the release deploys: the migration runs that image. */
  image: string;
  version: string;
  command: string[];
  /** From the task's creation: a retry does not start the clock again. */
  timeoutMs: number;
}

/**
 * A release's migration on ECS (docs/releases.md, "Migrations"): the tenant's task definition
 * with the new image, run once with `RunTask` and the app container's command overridden, in the
 * service's subnets and security groups (the database admits the tenant's workload group).
 */
export function createEcsMigrationActivities({ aws }: { aws: AwsClients }) {
  const revisions = ecsServiceHelpers(aws);
  const describeService = async (runtime: EcsRuntime, tenantId: string) => (await revisions.describeServices(runtime, [serviceName(tenantId)])).get(serviceName(tenantId));

  /** The run an earlier attempt started: its `startedBy` and then its tags, which name this release and tenant. */
  async function findRun(input: EcsMigrationInput, key: string): Promise<Task | undefined> {
    const ecs = aws.ecs(input.runtime.aws);
    const cluster = input.runtime.clusterName;
    const arns = new Set<string>();
    // ListTasks lists RUNNING tasks unless told otherwise; a run that ended is STOPPED (ECS keeps it for an hour at least).
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      let nextToken: string | undefined;
      do {
        const page = await ecs.send(new ListTasksCommand({ cluster, startedBy: key, desiredStatus, nextToken }));
        for (const arn of page.taskArns ?? []) arns.add(arn);
        nextToken = page.nextToken;
      } while (nextToken);
    }
    if (arns.size === 0) return undefined;
    const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [...arns].slice(0, 100), include: ['TAGS'] }));
    const tag = (task: Task, key: string) => task.tags?.find((t) => t.key === key)?.value;
    const mine = tasks.filter((t) => tag(t, 'ReleaseId') === input.releaseId && tag(t, 'TenantId') === input.tenantId);
    if (mine.length === 0) {
      const other = tasks[0]!;
      throw permanentFailure(
        ErrorType.InvalidInput,
        `ECS task ${other.taskArn} was started by ${key} (this migration's key) but is tagged ReleaseId ${tag(other, 'ReleaseId') ?? '(none)'}, TenantId ${tag(other, 'TenantId') ?? '(none)'}; expected ReleaseId ${input.releaseId}, TenantId ${input.tenantId}: stop it or choose another release ID`,
      );
    }
    // The first one started: a retry waits for it rather than for a later duplicate.
    return mine.sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0))[0];
  }

  async function start(input: EcsMigrationInput, key: string): Promise<Task> {
    const { runtime, tenantId } = input;
    const service = await describeService(runtime, tenantId);
    const running = service?.taskDefinition ? await revisions.taskDefinitionOf(runtime, service.taskDefinition) : undefined;
    if (!service?.taskDefinition || !running?.containerDefinitions?.some((c) => c.name === ECS_CONTAINER)) {
      throw permanentFailure(ErrorType.ResourceNotFound, `ECS service tenant-${tenantId} with container "${ECS_CONTAINER}" not found in cluster ${runtime.clusterName}: provision tenant ${tenantId} first`);
    }
    const wanted = imageRef({ image: input.image, version: input.version });
    // The revision the deploy then moves the service to (ecsSetVersion finds it as the family's latest).
    const revision = running.containerDefinitions.find((c) => c.name === ECS_CONTAINER)?.image === wanted ? service.taskDefinition : await revisions.revisionWithImage(runtime, tenantId, running, wanted);
    const network = service.networkConfiguration?.awsvpcConfiguration;
    const { tasks = [], failures = [] } = await aws.ecs(runtime.aws).send(
      new RunTaskCommand({
        cluster: runtime.clusterName,
        taskDefinition: revision,
        launchType: 'FARGATE',
        count: 1,
        // Where the service's tasks run: the cluster's subnets and groups, and the tenant's own group its database admits.
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: network?.subnets ?? runtime.subnetIds,
            securityGroups: network?.securityGroups ?? runtime.securityGroupIds,
            assignPublicIp: network?.assignPublicIp ?? 'DISABLED',
          },
        },
        overrides: { containerOverrides: [{ name: ECS_CONTAINER, command: input.command }] },
        startedBy: key,
        tags: [
          { key: 'TenantId', value: tenantId },
          { key: 'ReleaseId', value: input.releaseId },
          { key: 'Purpose', value: 'migration' },
        ],
        // A request repeated after a lost response starts no second task.
        clientToken: `${key}-${input.version}`.slice(0, 64),
      }),
    );
    const task = tasks[0];
    if (!task?.taskArn) {
      // Capacity or placement: another attempt may find room.
      throw retryableFailure(ErrorType.RolloutFailed, `ECS did not start the migration task of tenant ${tenantId} (${revision}): ${failures.map((f) => `${f.arn ?? ''} ${f.reason ?? ''} ${f.detail ?? ''}`.trim()).join('; ') || 'no task and no failure returned'}`);
    }
    return task;
  }

  /** The container's last lines in CloudWatch Logs (the awslogs driver's stream `<prefix>/<container>/<task ID>`); none when it has no log configuration. */
  async function outputOf(runtime: EcsRuntime, task: Task): Promise<string[]> {
    const definition = task.taskDefinitionArn ? await revisions.taskDefinitionOf(runtime, task.taskDefinitionArn) : undefined;
    const logs = definition?.containerDefinitions?.find((c) => c.name === ECS_CONTAINER)?.logConfiguration;
    const group = logs?.logDriver === 'awslogs' ? logs.options?.['awslogs-group'] : undefined;
    if (!group || !task.taskArn) return [];
    const prefix = logs?.options?.['awslogs-stream-prefix'];
    const taskId = task.taskArn.split('/').pop()!;
    const stream = prefix ? `${prefix}/${ECS_CONTAINER}/${taskId}` : taskId;
    const region = logs?.options?.['awslogs-region'] ?? runtime.aws.region;
    try {
      const { events = [] } = await aws.logs({ ...runtime.aws, region }).send(
        new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, limit: MIGRATION_OUTPUT_LINES * 2, startFromHead: false }),
      );
      return lastLines(events.map((e) => e.message ?? ''));
    } catch (error) {
      // A task that failed before its container started wrote no stream: its stop reason says why.
      if ((error as Error).name === 'ResourceNotFoundException') return [];
      throw error;
    }
  }

  return {
    /**
     * Runs the migration once per release and tenant and waits for it to stop, heartbeating:
     * safe to retry as a whole, also after the worker died with the task running (the retry finds
     * it by `startedBy` and its tags, and waits for it) or after it stopped (the retry reads its
     * result). A task still running at the timeout (counted from its creation) is stopped and
     * reported as failed. The exit code and the last lines of output are returned, not thrown:
     * the release decides what a failure means.
     */
    async ecsRunMigration(input: EcsMigrationInput): Promise<MigrationRun> {
      const { runtime } = input;
      const ecs = aws.ecs(runtime.aws);
      const key = migrationKey(input.releaseId, input.tenantId);
      heartbeat({ step: 'find' });
      const found = await findRun(input, key);
      const task = found ?? (await start(input, key));
      const arn = task.taskArn!;
      const deadline = (task.createdAt?.getTime() ?? Date.now()) + input.timeoutMs;
      const read = async () => {
        const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster: runtime.clusterName, tasks: [arn] }));
        return tasks[0];
      };
      const last = await pollWithHeartbeat({
        what: `migration task ${arn} of tenant ${input.tenantId}`,
        read,
        done: (t) => !t || t.lastStatus === 'STOPPED' || Date.now() >= deadline,
        intervalMs: 1_000,
        maxIntervalMs: 10_000,
        // The done check above ends the wait at the deadline; this only bounds a read that keeps failing.
        timeoutMs: Math.max(0, deadline - Date.now()) + 60_000,
        onTimeout: () => retryableFailure(ErrorType.Timeout, `migration task ${arn} of tenant ${input.tenantId}: no answer from ECS past its timeout`),
      });
      if (!last) throw retryableFailure(ErrorType.ResourceNotFound, `migration task ${arn} of tenant ${input.tenantId} is not known to ECS (yet)`);
      let reason: string | undefined;
      if (last.lastStatus !== 'STOPPED') {
        const after = `did not finish within ${Math.round(input.timeoutMs / 1000)} s`;
        await ecs.send(new StopTaskCommand({ cluster: runtime.clusterName, task: arn, reason: `tenant-fleet: migration ${after}` }));
        reason = `${after}; stopped`;
      }
      const container = last.containers?.find((c) => c.name === ECS_CONTAINER);
      const exitCode = last.lastStatus === 'STOPPED' && typeof container?.exitCode === 'number' ? container.exitCode : null;
      if (exitCode === null && reason === undefined) reason = [last.stoppedReason, container?.reason].filter(Boolean).join(': ') || 'stopped without an exit code';
      else if (exitCode !== 0 && last.stoppedReason && reason === undefined && last.stopCode !== 'EssentialContainerExited') reason = last.stoppedReason;
      const run: MigrationRun = { task: arn, exitCode, succeeded: exitCode === 0, ...(reason ? { reason } : {}), output: await outputOf(runtime, last), reused: found !== undefined };
      heartbeat({ step: 'done', run: describeMigration(run) });
      return run;
    },
  };
}

export type EcsMigrationActivities = ReturnType<typeof createEcsMigrationActivities>;
