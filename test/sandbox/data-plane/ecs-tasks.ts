import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ListClustersCommand, ListServicesCommand, type Deployment, type Service } from '@aws-sdk/client-ecs';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { versionOf } from '../../../src/activities/runtime/types';
import type { SandboxAdminClients } from '../admin-clients';
import { adminClients, adminTarget } from './elb-config';
import { startMigrationProcess, type MigrationProcess } from './migration-task';
import { startTenantApp, type RunningTenantApp } from './tenant-app';

/**
 * The ECS service scheduler of the sandbox (docs/sandbox.md "ECS tasks"): every task is a real
 * tenant app process, given its container's command and variables; a service with `loadBalancers`
 * registers it in its target group as `127.0.0.1:<port>`. Before a task starts its container
 * `secrets` are resolved as the ECS agent does (they exist, the execution role may read them);
 * one that cannot be is stopped with ECS's StoppedReason. A deployment starts new tasks up to
 * `maximumPercent`, stops an old task only while enough tasks stay healthy (`minimumHealthyPercent`;
 * behind a load balancer healthy in its target group, and the task is stopped only once the load
 * balancer has drained it; without one a task whose process stays up), and counts a task that
 * exits, fails to start or turns unhealthy as failed (the circuit breaker's threshold fails the
 * deployment). The health behind a load balancer is the emulator's (moto's DescribeTargetHealth
 * answers what it pushes); the outcome is reported to moto's ECS
 * (test/sandbox/moto/patches/ecs_deployments.py).
 *
 * moto serves one request at a time for every test, worker and controller of a sandbox, so the
 * controller asks it only when something changed: two unsigned counters (ECS writes, ELBv2 writes
 * and target health pushes) say when to describe services again, and every group's target health
 * comes in one unsigned read of what the emulator pushed.
 */
export interface EcsTaskControllerOptions {
  /** moto itself, never a fault proxy. */
  awsEndpoint: string;
  adminCredentials: { accessKeyId: string; secretAccessKey: string };
  accounts: readonly string[];
  region: string;
  /** `<sandbox>/data-plane`: ecs-tasks.log and the apps' logs go here. */
  stateDir: string;
  /** TENANT_FLEET_SANDBOX_TIME_SCALE, for the deregistration delay (as the emulator scales it). */
  timeScale: number;
  pollMs?: number;
}

export interface EcsTaskController {
  /** Reconciles every service now (tests call it instead of waiting for the next poll). */
  refresh(): Promise<void>;
  /** Live tasks by service (`<account>/<cluster>/<service>`): deployment, version, port, state. */
  tasks(): Record<string, { deploymentId: string; version: string; port?: number; state: TaskState }[]>;
  stop(): Promise<void>;
}

type TaskState = 'starting' | 'running' | 'draining';

interface Task {
  deploymentId: string;
  version: string;
  state: TaskState;
  app?: RunningTenantApp;
  exited: boolean;
  /** When its process reported its port (a service without a load balancer counts it healthy once it stayed up STABLE_MS). */
  startedAt?: number;
}

/** What a task's container runs, from its task definition (read once per revision). */
interface Definition {
  version: string;
  command?: string[];
  environment: Record<string, string>;
  hasSecrets: boolean;
}

interface ServiceState {
  account: string;
  cluster: string;
  name: string;
  /** The service's target group; none for a service without a load balancer (a tenant's service other than its primary). */
  groupArn?: string;
  tasks: Task[];
  failed: Map<string, number>;
  reported: Map<string, string>;
  /** The ECS description last reconciled (deployments, counts, task definition): a change is acted on at once. */
  signature?: string;
  /** Nothing in flight: every task of the completed deployment healthy, none starting or draining. */
  settled: boolean;
  healthReadAt: number;
}

/** A task started by RunTask, as moto lists it for the controller (test/sandbox/moto/patches/ecs_run_task.py). */
interface OneOffTask {
  account: string;
  region: string;
  cluster: string;
  taskArn: string;
  family: string;
  desiredStatus: string;
  container: { name: string; image: string; command: string[]; logConfiguration?: { logDriver?: string; options?: Record<string, string> } };
}

interface Described {
  account: string;
  cluster: string;
  service: Service;
}

const TARGET_IP = '127.0.0.1';
/** The same floor the emulator puts under a scaled deregistration delay. */
const DRAIN_FLOOR_MS = 5_000;
/** How much longer than the deregistration delay a draining target may take before its task is stopped anyway (a stuck emulator must not hold a task for ever). */
const DRAIN_SLACK_MS = 30_000;
/** Even when no counter moved, everything is described again this often. */
const FULL_READ_MS = 30_000;
/** A settled service's target health is read this often (a task may turn unhealthy); an unsettled one's whenever it may have changed. */
const SETTLED_HEALTH_MS = 5_000;
/**
 * Without a load balancer ECS counts a RUNNING task healthy (its container health check, when it has
 * one, cannot run here: the app is not the image). A process must stay up this long first, so that a
 * `-broken` app, which exits right after binding its port, is seen to exit rather than counted healthy.
 */
const STABLE_MS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startEcsTaskController(options: EcsTaskControllerOptions): Promise<EcsTaskController> {
  mkdirSync(options.stateDir, { recursive: true });
  const logFile = join(options.stateDir, 'ecs-tasks.log');
  const log = (line: string) => appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  const clients: SandboxAdminClients = adminClients(options.awsEndpoint, options.adminCredentials);
  const elbOf = (account: string) => clients.elbv2(adminTarget(account, options.region));
  const services = new Map<string, ServiceState>();
  const pending = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>) => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise)).catch(() => undefined);
    return promise;
  };
  let stopped = false;
  /** Something changed that no counter in moto shows (a task exited, failed to start, finished draining). */
  let dirty = true;

  const call = async <T>(path: string, body?: unknown): Promise<T> => {
    const response = await fetch(new URL(path, options.awsEndpoint), body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const counters = async () => {
    const [ecs, elb] = await Promise.all([
      call<{ generation: number }>('/_sandbox/ecs/generation'),
      call<{ generation: number; pushes: number }>('/_sandbox/elbv2/generation'),
    ]);
    return { ecs: ecs.generation, elb: elb.generation, pushes: elb.pushes };
  };
  // From here on moto leaves the rollouts of services with load balancers to this controller.
  await call('/_sandbox/ecs/controller', {});

  const describeAll = async (): Promise<Map<string, Described>> => {
    const found = new Map<string, Described>();
    for (const account of options.accounts) {
      const ecs = clients.ecs(adminTarget(account, options.region));
      const { clusterArns = [] } = await ecs.send(new ListClustersCommand({}));
      for (const clusterArn of clusterArns) {
        const cluster = clusterArn.split('/').pop()!;
        const arns: string[] = [];
        let nextToken: string | undefined;
        do {
          const page = await ecs.send(new ListServicesCommand({ cluster: clusterArn, nextToken }));
          arns.push(...(page.serviceArns ?? []));
          nextToken = page.nextToken;
        } while (nextToken);
        for (let i = 0; i < arns.length; i += 10) {
          const { services: described = [] } = await ecs.send(new DescribeServicesCommand({ cluster: clusterArn, services: arns.slice(i, i + 10) }));
          for (const service of described) {
            if (service.status !== 'ACTIVE') continue;
            found.set(`${account}/${cluster}/${service.serviceName}`, { account, cluster, service });
          }
        }
      }
    }
    return found;
  };

  /** A target group's health path and deregistration delay: read once (the traffic stack sets them when it creates the group). */
  const groups = new Map<string, { healthPath: string; delayMs: number }>();
  const groupOf = async (account: string, arn: string) => {
    let group = groups.get(arn);
    if (!group) {
      const elb = elbOf(account);
      const [{ TargetGroups = [] }, { Attributes = [] }] = await Promise.all([
        elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] })),
        elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn })),
      ]);
      const delaySeconds = Number(Attributes.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value ?? 300);
      group = { healthPath: TargetGroups[0]?.HealthCheckPath ?? '/', delayMs: Math.max(delaySeconds * 1000 * options.timeScale, DRAIN_FLOOR_MS) };
      groups.set(arn, group);
    }
    return group;
  };
  /**
   * Every target group's health as the emulator last pushed it into moto, in one unsigned read
   * (what DescribeTargetHealth answers for registered targets; one it has not checked yet is absent: `initial`).
   */
  const pushedHealth = async () => {
    const { targetGroups } = await call<{ targetGroups: Record<string, Record<string, { State?: string }>> }>('/_sandbox/elbv2/target-health');
    return (arn: string) => new Map(Object.entries(targetGroups[arn] ?? {}).map(([key, health]) => [key, health.State ?? 'unavailable']));
  };

  const definitions = new Map<string, Definition>();
  const definitionOf = async (account: string, arn: string) => {
    let definition = definitions.get(arn);
    if (definition === undefined) {
      const { taskDefinition } = await clients.ecs(adminTarget(account, options.region)).send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
      const container = taskDefinition?.containerDefinitions?.[0];
      definition = {
        version: versionOf(container?.image ?? 'unknown:unknown'),
        ...(container?.command?.length ? { command: container.command } : {}),
        environment: Object.fromEntries((container?.environment ?? []).flatMap((e) => (e.name ? [[e.name, e.value ?? '']] : []))),
        hasSecrets: (taskDefinition?.containerDefinitions ?? []).some((c) => (c.secrets ?? []).length > 0),
      };
      definitions.set(arn, definition);
    }
    return definition;
  };

  /**
   * The ECS agent resolves the task's secrets before its containers start, with the execution role:
   * moto answers whether they exist and the role may read them (test/sandbox/moto/patches/ecs_secrets.py,
   * the sandbox's IAM evaluator). Null when they resolve, else the task's StoppedReason. No value is read.
   */
  const secretsRefusal = async (account: string, taskDefinition: string) =>
    (await call<{ stoppedReason: string | null }>('/_sandbox/ecs/secrets', { account, region: options.region, taskDefinition })).stoppedReason;

  /**
   * Waits until the load balancer no longer reports the target `draining`: moto keeps a
   * deregistered target draining until the emulator has seen the deregistration and finished
   * draining it (no request left in flight, or the deregistration delay), so the process is
   * stopped only once no new request can reach it. Target health moves only with a push from
   * the emulator, so it is read again only when the push counter moved.
   */
  const drained = async (account: string, groupArn: string, port: number, delayMs: number) => {
    const elb = elbOf(account);
    const deadline = Date.now() + delayMs + DRAIN_SLACK_MS;
    let seen = -1;
    while (!stopped) {
      const { pushes } = await counters();
      if (pushes !== seen) {
        seen = pushes;
        const { TargetHealthDescriptions = [] } = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: groupArn, Targets: [{ Id: TARGET_IP, Port: port }] }));
        if (TargetHealthDescriptions[0]?.TargetHealth?.State !== 'draining') return;
      }
      if (Date.now() > deadline) {
        log(`${groupArn} ${TARGET_IP}:${port}: still draining ${delayMs + DRAIN_SLACK_MS} ms after its deregistration; stopping the task anyway`);
        return;
      }
      await sleep(250);
    }
  };

  /** Deregisters the task, waits until the load balancer has drained it, then stops its process (SIGTERM: it finishes in-flight requests). */
  const drain = async (state: ServiceState, task: Task, why: string) => {
    task.state = 'draining';
    log(`${state.name}: stopping task ${task.version} on ${task.app?.port ?? '-'} (${why})`);
    try {
      if (task.app && state.groupArn && !task.exited) {
        await elbOf(state.account).send(new DeregisterTargetsCommand({ TargetGroupArn: state.groupArn, Targets: [{ Id: TARGET_IP, Port: task.app.port }] }));
        await drained(state.account, state.groupArn, task.app.port, (await groupOf(state.account, state.groupArn)).delayMs);
      }
    } catch (error) {
      // The target group is gone (the tenant's traffic stack deleted): nothing routes to the task any more.
      log(`${state.name}: deregistering task ${task.version} on ${task.app?.port ?? '-'}: ${(error as Error).message}`);
    } finally {
      await task.app?.stop('SIGTERM', 5_000).catch(() => undefined);
      state.tasks.splice(state.tasks.indexOf(task), 1);
      dirty = true;
    }
  };

  const startTask = async (state: ServiceState, task: Task, start: { tenantId: string; healthPath: string; taskDefinition: string; definition: Definition }) => {
    const { groupArn } = state;
    try {
      const refused = start.definition.hasSecrets ? await secretsRefusal(state.account, start.taskDefinition) : null;
      if (refused) {
        // ECS stops the task before its containers start; the deployment counts it as failed.
        log(`${state.name}: task of ${task.version} stopped before it started: ${refused}`);
        await call('/_sandbox/ecs/stopped-tasks', { account: state.account, region: options.region, cluster: state.cluster, service: state.name, deploymentId: task.deploymentId, taskDefinition: start.taskDefinition, stoppedReason: refused });
        task.exited = true;
        task.state = task.state === 'starting' ? 'running' : task.state;
        dirty = true;
        return;
      }
      const app = await startTenantApp({
        tenantId: start.tenantId,
        service: state.name,
        version: task.version,
        hostnames: [],
        healthPath: start.healthPath,
        ...(start.definition.command ? { command: start.definition.command } : {}),
        environment: start.definition.environment,
        logFile: join(options.stateDir, 'apps', `${state.name}.log`),
      });
      task.app = app;
      task.startedAt = Date.now();
      if (!groupArn) {
        task.state = task.state === 'starting' ? 'running' : task.state;
        // Healthy once it stayed up: look again then.
        setTimeout(() => (dirty = true), STABLE_MS + 50).unref();
        void app.exited.then(() => {
          task.exited = true;
          dirty = true;
        });
        return;
      }
      const target = { TargetGroupArn: groupArn, Targets: [{ Id: TARGET_IP, Port: app.port }] };
      const elb = elbOf(state.account);
      await elb.send(new RegisterTargetsCommand(target));
      task.state = task.state === 'starting' ? 'running' : task.state;
      // ECS deregisters a stopped task at once: the health check never gets to call a crashed one unhealthy.
      // (Attached after the registration, so a task that crashed meanwhile is deregistered after it, not before.)
      void app.exited.then(async () => {
        task.exited = true;
        dirty = true;
        if (task.state !== 'draining') await elb.send(new DeregisterTargetsCommand(target)).catch(() => undefined);
      });
    } catch (error) {
      log(`${state.name}: task of ${task.version} failed to start: ${(error as Error).message}`);
      task.exited = true;
      task.state = task.state === 'starting' ? 'running' : task.state;
      dirty = true;
    }
  };

  const reconcile = async (key: string, { account, cluster, service }: Described, health: Map<string, string>) => {
    let state = services.get(key);
    if (!state) services.set(key, (state = { account, cluster, name: service.serviceName!, tasks: [], failed: new Map(), reported: new Map(), settled: false, healthReadAt: 0 }));
    const groupArn = service.loadBalancers?.[0]?.targetGroupArn;
    state.groupArn = groupArn;
    const group = groupArn ? await groupOf(account, groupArn) : undefined;
    const deployments = service.deployments ?? [];
    const primary = deployments.find((d) => d.status === 'PRIMARY');
    const known = new Set(deployments.map((d) => d.id));
    // `tenant-<id>` and a tenant's other services `tenant-<id>--<name>` (docs/services.md "ECS").
    const tenantId = service.serviceName!.replace(/^tenant-/, '').split('--')[0]!;
    const healthOf = (task: Task) => {
      if (!task.app) return undefined;
      if (groupArn) return health.get(`${TARGET_IP}:${task.app.port}`);
      return !task.exited && task.startedAt !== undefined && Date.now() - task.startedAt >= STABLE_MS ? 'healthy' : undefined;
    };

    // Tasks that died or that the health check marks unhealthy are stopped and replaced; the deployment counts them as failed.
    for (const task of [...state.tasks]) {
      if (task.state !== 'running') continue;
      const dead = task.exited || healthOf(task) === 'unhealthy' || !known.has(task.deploymentId);
      if (!dead) continue;
      if (known.has(task.deploymentId) && (task.exited || healthOf(task) === 'unhealthy')) state.failed.set(task.deploymentId, (state.failed.get(task.deploymentId) ?? 0) + 1);
      void track(drain(state, task, task.exited ? 'exited' : known.has(task.deploymentId) ? 'unhealthy' : 'deployment gone'));
    }
    if (!primary?.id) {
      state.settled = state.tasks.length === 0;
      return;
    }

    const desired = primary.desiredCount ?? 0;
    const config = service.deploymentConfiguration ?? {};
    const maxTotal = Math.max(desired, Math.floor((desired * (config.maximumPercent ?? 200)) / 100));
    const minHealthy = Math.ceil((desired * (config.minimumHealthyPercent ?? 100)) / 100);
    const live = (mine: boolean) => state.tasks.filter((t) => t.state !== 'draining' && (t.deploymentId === primary.id) === mine);
    const failed = state.failed.get(primary.id) ?? 0;
    // ECS's circuit breaker: half the desired count, at least 3 and at most 200 failed tasks.
    const threshold = Math.min(200, Math.max(3, Math.ceil(desired / 2)));
    let outcome: Deployment['rolloutState'] = primary.rolloutState;

    if (primary.rolloutState === 'FAILED' || (primary.rolloutState === 'IN_PROGRESS' && failed >= threshold)) {
      // The failed deployment's tasks go; the previous deployment's keep serving.
      for (const task of live(true)) void track(drain(state, task, 'deployment failed'));
      outcome = 'FAILED';
    } else {
      const definition = await definitionOf(account, primary.taskDefinition!);
      const { version } = definition;
      let fresh = live(true);
      const old = live(false);
      for (let n = fresh.length + old.length; fresh.length < desired && n < maxTotal; n++) {
        const task: Task = { deploymentId: primary.id, version, state: 'starting', exited: false };
        state.tasks.push(task);
        fresh = [...fresh, task];
        void track(startTask(state, task, { tenantId, healthPath: group?.healthPath ?? '/', taskDefinition: primary.taskDefinition!, definition }));
      }
      for (const extra of fresh.slice(desired)) void track(drain(state, extra, 'scaled in'));
      const healthy = fresh.slice(0, desired).filter((t) => healthOf(t) === 'healthy').length;
      // An old task stops only while the healthy ones left are enough (minimumHealthyPercent).
      let oldLeft = old.length;
      for (const task of old) {
        if (healthy + oldLeft - 1 < minHealthy && healthy < desired) break;
        oldLeft--;
        void track(drain(state, task, 'replaced'));
      }
      const oldLeftOver = state.tasks.some((t) => t.deploymentId !== primary.id);
      if (primary.rolloutState === 'IN_PROGRESS' && healthy >= desired && !oldLeftOver) outcome = 'COMPLETED';
    }

    const running = live(true).filter((t) => t.state === 'running' && !t.exited).length;
    state.settled = outcome !== 'IN_PROGRESS' && state.tasks.length === desired && state.tasks.every((t) => t.state === 'running' && !t.exited && healthOf(t) === 'healthy');
    const report = {
      id: primary.id,
      runningCount: outcome === 'FAILED' ? 0 : running,
      pendingCount: outcome === 'FAILED' ? 0 : Math.max(0, desired - running),
      failedTasks: failed,
      rolloutState: outcome,
    };
    const fingerprint = JSON.stringify(report);
    if (state.reported.get(primary.id) === fingerprint) return;
    state.reported.set(primary.id, fingerprint);
    if (outcome !== primary.rolloutState) log(`${state.name}: deployment ${primary.id} (${primary.taskDefinition?.split('/').pop()}) ${outcome}`);
    await call('/_sandbox/ecs/deployments', { account, region: options.region, cluster, service: state.name, deployments: [report] });
  };

  /**
   * One-off tasks (RunTask: a release's migration): each runs its command as a real process
   * (migration-task.ts), its output goes to the task's awslogs stream as the awslogs driver
   * writes it, and its exit code to moto once it has ended (or was stopped by StopTask: 137).
   */
  const oneOffs = new Map<string, { process?: MigrationProcess; done: boolean }>();
  const report = (task: OneOffTask, body: Record<string, unknown>) =>
    call('/_sandbox/ecs/tasks', { account: task.account, region: task.region, cluster: task.cluster, taskArn: task.taskArn, ...body });
  const writeLogs = async (task: OneOffTask, lines: { at: number; line: string }[]) => {
    const options = task.container.logConfiguration?.logDriver === 'awslogs' ? task.container.logConfiguration.options ?? {} : undefined;
    const group = options?.['awslogs-group'];
    if (!group || lines.length === 0) return;
    const prefix = options['awslogs-stream-prefix'];
    const taskId = task.taskArn.split('/').pop()!;
    const stream = prefix ? `${prefix}/${task.container.name}/${taskId}` : taskId;
    const logs = clients.cloudWatchLogs(adminTarget(task.account, options['awslogs-region'] ?? task.region));
    await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream })).catch((error: Error) => {
      if (error.name !== 'ResourceAlreadyExistsException') throw error;
    });
    await logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: lines.map(({ at, line }) => ({ timestamp: at, message: line })) }));
  };
  const runOneOff = async (task: OneOffTask, entry: { process?: MigrationProcess; done: boolean }) => {
    const id = task.taskArn.split('/').pop();
    if (task.desiredStatus === 'STOPPED') {
      await report(task, { lastStatus: 'STOPPED', reason: 'stopped before it started' });
      entry.done = true;
      return;
    }
    const version = versionOf(task.container.image);
    await report(task, { lastStatus: 'RUNNING' });
    log(`${task.cluster}: task ${id} of ${task.family} (${version}): ${task.container.command.join(' ')}`);
    entry.process = startMigrationProcess({ tenantId: task.family.replace(/^tenant-/, ''), version, command: task.container.command });
    const { exitCode, lines } = await entry.process.exited;
    try {
      await writeLogs(task, lines);
    } catch (error) {
      log(`${task.cluster}: task ${id}: writing its ${lines.length} lines to CloudWatch Logs: ${(error as Error).message}`);
    }
    log(`${task.cluster}: task ${id} of ${task.family} exited with ${exitCode}`);
    await report(task, { lastStatus: 'STOPPED', exitCode });
    entry.done = true;
  };
  const reconcileOneOffs = async () => {
    const { tasks } = await call<{ tasks: OneOffTask[] }>('/_sandbox/ecs/tasks');
    for (const task of tasks) {
      const known = oneOffs.get(task.taskArn);
      if (known) {
        // StopTask: the container runtime kills it (exit code 137).
        if (task.desiredStatus === 'STOPPED' && !known.done) known.process?.kill();
        continue;
      }
      const entry: { process?: MigrationProcess; done: boolean } = { done: false };
      oneOffs.set(task.taskArn, entry);
      void track(
        runOneOff(task, entry).catch((error: unknown) => {
          log(`${task.cluster}: task ${task.taskArn}: ${(error as Error).message}; tried again at the next poll`);
          entry.process?.kill();
          oneOffs.delete(task.taskArn);
        }),
      );
    }
  };

  let described = new Map<string, Described>();
  const seen = { ecs: -1, elb: -1, pushes: -1, at: 0, oneOffs: -1 };
  const reconcileAll = async () => {
    // Read before the state they stand for: a change made while it is read moves them again.
    const now = await counters();
    // RunTask bumps the ECS counter; while one runs, a StopTask (which does not) must reach it too.
    if (now.ecs !== seen.oneOffs || [...oneOffs.values()].some((entry) => !entry.done)) {
      await reconcileOneOffs().then(
        () => (seen.oneOffs = now.ecs),
        (error: unknown) => log(`one-off tasks: ${(error as Error).message}`),
      );
    }
    const ecsChanged = now.ecs !== seen.ecs || Date.now() - seen.at > FULL_READ_MS;
    const healthMoved = now.elb !== seen.elb || now.pushes !== seen.pushes || dirty;
    const settledDue = [...services.values()].some((state) => state.settled && Date.now() - state.healthReadAt > SETTLED_HEALTH_MS);
    if (!ecsChanged && !healthMoved && !settledDue) return;
    dirty = false;
    try {
      if (ecsChanged) described = await describeAll();
      const healthOf = await pushedHealth();
      for (const [key, service] of described) {
        const state = services.get(key);
        const { deployments, desiredCount, taskDefinition } = service.service;
        const signature = JSON.stringify({ deployments: deployments?.map((d) => [d.id, d.status, d.rolloutState, d.desiredCount]), desiredCount, taskDefinition });
        // Only what may have changed is acted on: moto serves every test and worker of the sandbox one request at a time.
        const due = !state || state.signature !== signature || (state.settled ? Date.now() - state.healthReadAt > SETTLED_HEALTH_MS : healthMoved);
        if (!due) continue;
        if (state) state.healthReadAt = Date.now();
        const groupArn = service.service.loadBalancers?.[0]?.targetGroupArn;
        const health = groupArn ? healthOf(groupArn) : new Map<string, string>();
        const done = await reconcile(key, service, health).then(
          () => true,
          (error: unknown) => log(`${key}: ${(error as Error).message}`),
        );
        const reconciled = services.get(key);
        if (reconciled) {
          reconciled.signature = done ? signature : undefined;
          reconciled.healthReadAt = Date.now();
        }
        // A service that could not be reconciled is tried again at the next poll, counters moved or not.
        if (!done) dirty = true;
      }
      // A deleted service's tasks are drained and stopped like any other task ECS stops.
      for (const [key, state] of services) {
        if (described.has(key)) continue;
        for (const task of state.tasks) if (task.state !== 'draining') void track(drain(state, task, 'service deleted'));
        if (state.tasks.length === 0) services.delete(key);
      }
      Object.assign(seen, { ecs: now.ecs, elb: now.elb, pushes: now.pushes }, ecsChanged ? { at: Date.now() } : {});
    } catch (error) {
      dirty = true;
      throw error;
    }
  };

  let running: Promise<void> | undefined;
  const refresh = () => {
    running ??= reconcileAll()
      .catch((error: unknown) => log(`reconcile: ${(error as Error).message}`))
      .finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void (stopped ? undefined : refresh()), options.pollMs ?? 500);

  return {
    refresh,
    tasks: () =>
      Object.fromEntries(
        [...services].map(([key, state]) => [key, state.tasks.map((t) => ({ deploymentId: t.deploymentId, version: t.version, port: t.app?.port, state: t.state }))]),
      ),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      for (const entry of oneOffs.values()) entry.process?.kill();
      await Promise.allSettled([...pending]);
      await Promise.allSettled([...services.values()].flatMap((s) => s.tasks.flatMap((t) => (t.app ? [t.app.stop('SIGKILL', 1_000)] : []))));
    },
  };
}
