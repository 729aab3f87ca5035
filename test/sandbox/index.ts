import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, SANDBOX_ACCOUNTS, SANDBOX_REGION, seedAwsBaseline } from './aws-baseline';
import { seedServiceSecrets } from './service-secrets';
import { startSandboxCodec, type SandboxCodec } from './codec-server';
import { startKubeCluster, type KubeCluster } from './kube/cluster';
import { startEksAuthenticator } from './kube/eks-authenticator';
import { startKubeDataPlane } from './kube/data-plane';
import { startTenantApp } from './data-plane/tenant-app';

/** The name the sandbox's EKS token authenticator expects in a token's signed x-k8s-aws-id header. */
export const SANDBOX_EKS_CLUSTER_NAME = 'tenant-fleet-sandbox';
import { writeSandboxFleetConfig } from './fleet-config';
import { sandboxAwsEnv } from './aws-identities';
import { checkAwsEmulatorSettings, startAwsEmulator, type AwsEmulator, type AwsEmulatorSettings } from './moto';
import { startFaultProxies, type FaultProxies } from './fault-proxy';
import { startEcsTaskController, type EcsTaskController } from './data-plane/ecs-tasks';
import { startLoadBalancerEmulator, type LoadBalancerEmulator } from './data-plane/load-balancer';
import { abortable, throwIfInterrupted } from './interrupt';
import { freeLoopbackPorts, retryOnPortClash } from './ports';
import { startTemporalServer, type TemporalServer } from './temporal';
import { startTemporalCluster } from './temporal-cluster';
import { repoRoot, toolsDir } from './tools';

/** `dev`: the Temporal CLI's dev server (SQLite, one shard); `cluster`: the production-shaped one (test/sandbox/temporal-cluster.ts). */
export const TEMPORAL_FLAVORS = ['dev', 'cluster'] as const;
export type TemporalFlavor = (typeof TEMPORAL_FLAVORS)[number];

export interface SandboxOptions {
  /** Where state, logs and the env file go; `.sandbox/` for people, a throwaway folder for tests. */
  stateDir?: string;
  /** Start from empty state instead of resuming the previous run's history. */
  fresh?: boolean;
  /** Which Temporal to run; `dev` by default. */
  temporal?: TemporalFlavor;
  /** Also start the Kubernetes cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok). */
  kubernetes?: boolean;
  /**
   * Put the fault proxy (test/sandbox/fault-proxy) in front of the AWS emulator and the
   * Kubernetes API: AWS_ENDPOINT_URL, KUBECONFIG and the fleet config's kubeconfig point at it,
   * TENANT_FLEET_FAULT_CONTROL_URL at its control API; the DIRECT_* variables still reach the
   * real servers, for checks that must not be faulted. Off by default.
   */
  faults?: boolean | { seed?: number };
  /**
   * Run every task of an ECS service with a load balancer as a tenant app process in its target
   * group (test/sandbox/data-plane/ecs-tasks.ts); without it moto's timer decides ECS rollouts and
   * no process serves an ECS tenant's hostnames. Off by default for now (docs/sandbox.md "ECS tasks").
   */
  ecsTasks?: boolean;
  /**
   * The fleet config names the load balancer's test listener, so tenants get blue/green's green
   * slot and test route (docs/releases.md, "Blue/green"). Off by default: every other test keeps
   * one target group per tenant.
   */
  blueGreen?: boolean;
  /** AWS emulator settings (time scale, quotas: test/sandbox/moto/README.md) over its defaults and TENANT_FLEET_SANDBOX_*. */
  awsSettings?: AwsEmulatorSettings;
  log?: (line: string) => void;
  /**
   * Ctrl-C (test/sandbox/interrupt.ts): aborting it at any point of the start stops every server
   * started or still starting, then startSandbox rejects with an InterruptedError.
   */
  signal?: AbortSignal;
}

export interface Sandbox {
  stateDir: string;
  envFile: string;
  temporal: TemporalServer;
  /** Payload keys and the codec server the sandbox UI decodes through. */
  codec: SandboxCodec;
  aws: AwsEmulator;
  /** The load balancer emulator (test/sandbox/data-plane/): moto's load balancers served on 127.0.0.1. */
  loadBalancer: LoadBalancerEmulator;
  /** The ECS service scheduler for services with load balancers: a tenant app process per task (test/sandbox/data-plane/ecs-tasks.ts). */
  ecsTasks?: EcsTaskController;
  kube?: KubeCluster;
  /** Set when started with `faults`. */
  faults?: FaultProxies;
  /** Environment variables that point the SDKs, `temporal` and `tenantctl` at this sandbox. */
  env: Record<string, string>;
  fleetConfigPath: string;
  stop(): Promise<void>;
}

export const DEFAULT_STATE_DIR = join(repoRoot, '.sandbox');

/** What a sandbox writes into its state folder; `fresh` removes exactly these. */
const SANDBOX_STATE_ENTRIES = ['temporal', 'temporal-cluster', 'aws', 'data-plane', 'kube', 'codec', 'faults', 'fleet.yaml', 'env', 'env.json', 'workflow-bundle.js', 'logs'];

/**
 * Starts the real servers (Temporal dev server with UI, moto) on free 127.0.0.1 ports and
 * writes `<stateDir>/env`. If any fails to start, the ones already running are stopped.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const log = options.log ?? (() => undefined);
  const signal = options.signal;
  throwIfInterrupted(signal);
  checkAwsEmulatorSettings(options.awsSettings);
  const flavor = options.temporal ?? 'dev';
  if (!TEMPORAL_FLAVORS.includes(flavor)) throw new Error(`sandbox option temporal: got ${JSON.stringify(flavor)}, expected one of ${TEMPORAL_FLAVORS.join(', ')}`);
  if (options.fresh) {
    // Only this sandbox's own state: `.sandbox/` also holds test runs' sandboxes (`.sandbox/test*`), possibly running.
    for (const entry of SANDBOX_STATE_ENTRIES) rmSync(join(stateDir, entry), { recursive: true, force: true });
  }
  mkdirSync(stateDir, { recursive: true });

  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    const results = await Promise.allSettled(started.reverse().map((s) => s.stop()));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) throw new AggregateError(failures.map((f) => f.reason as unknown), 'sandbox: some servers did not stop cleanly');
  };

  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  // Adds to `started` as each server comes up, so a failure anywhere stops exactly what runs.
  const track = <T extends { stop(): Promise<void> }>(server: T): T => (started.push(server), server);
  try {
    const temporalName = flavor === 'cluster' ? 'Temporal cluster (PostgreSQL, Temporal server, UI server)' : 'Temporal dev server';
    const withKube = options.kubernetes ?? true;
    log(`starting ${temporalName}, moto${withKube ? ' and the Kubernetes cluster (kwok, binary runtime)' : ''} side by side`);
    // Nothing here waits on what it does not need: Temporal needs nothing; the cluster's EKS token
    // authenticator and the AWS seeding need only moto, so the cluster and the seeding start together
    // once moto answers. Each branch is settled (not Promise.all): when one fails, or the signal aborts,
    // the servers of the others must be in `started` before stopAll.
    const temporalStart = retryOnPortClash(temporalName, async () => {
      // The codec server must know the UI's origin and the UI its codec endpoint, so ports come first.
      const [grpc, ui, http, metrics] = (await freeLoopbackPorts(4)) as [number, number, number, number];
      const codecServer = await startSandboxCodec({ stateDir: join(stateDir, 'codec'), uiOrigins: [`http://127.0.0.1:${ui}`, `http://localhost:${ui}`] });
      try {
        const server =
          flavor === 'cluster'
            ? await startTemporalCluster({ stateDir: join(stateDir, 'temporal-cluster'), uiPort: ui, codecEndpoint: codecServer.uiEndpoint, signal })
            : await startTemporalServer({ stateDir: join(stateDir, 'temporal'), ports: { grpc, ui, http, metrics }, codecEndpoint: codecServer.uiEndpoint, signal });
        return [codecServer, server] as const;
      } catch (error) {
        await codecServer.stop();
        throw error;
      }
    }, log).then((pair) => {
      started.push(...pair);
      log(`Temporal ${pair[1].address} (UI ${pair[1].uiUrl}) ready after ${since()}`);
      return pair;
    });
    const awsStart = retryOnPortClash('AWS emulator', () => startAwsEmulator({ stateDir: join(stateDir, 'aws'), settings: options.awsSettings, signal }), log).then((a) => {
      track(a);
      log(`AWS emulator ${a.endpoint} ready after ${since()}`);
      return a;
    });
    const kubeStart = !withKube
      ? Promise.resolve(undefined)
      : awsStart.then(async (aws) => {
          // EKS-style tokens signed for this cluster's name are checked against the sandbox's STS.
          const eksAuthenticator = track(await startEksAuthenticator({ stsEndpoint: aws.endpoint, clusterName: SANDBOX_EKS_CLUSTER_NAME }));
          const cluster = track(
            await retryOnPortClash(
              'Kubernetes cluster',
              () => startKubeCluster({ repoRoot, workDir: join(stateDir, 'kube'), name: 'tenant-fleet', log, signal, tokenWebhookUrl: eksAuthenticator.url }),
              log,
            ),
          );
          log(`Kubernetes API ${cluster.apiServerUrl} ready after ${since()}`);
          return cluster;
        });
    const seeding = awsStart.then(async (aws) => {
      log('seeding AWS accounts (fleet access role, network, DNS zone, ECS cluster, load balancer)');
      throwIfInterrupted(signal);
      // Not waited for once aborted: the seeding's calls fail as moto stops.
      const seeded = await abortable(seedAwsBaseline(aws.endpoint), signal);
      log(`AWS accounts seeded after ${since()}`);
      return seeded;
    });
    const branches = await Promise.allSettled([temporalStart, awsStart, kubeStart, seeding]);
    for (const b of branches) if (b.status === 'rejected') throw b.reason;
    const [[codec, temporal], aws, kube, baseline] = branches.map((b) => (b as PromiseFulfilledResult<unknown>).value) as [
      readonly [SandboxCodec, TemporalServer],
      AwsEmulator,
      KubeCluster | undefined,
      Awaited<ReturnType<typeof seedAwsBaseline>>,
    ];

    throwIfInterrupted(signal);
    let faults: FaultProxies | undefined;
    if (options.faults) {
      faults = track(
        await startFaultProxies({
          awsEndpoint: aws.endpoint,
          kubeconfigPath: kube?.kubeconfigPath,
          workDir: join(stateDir, 'faults'),
          seed: typeof options.faults === 'object' ? options.faults.seed : undefined,
        }),
      );
      log(`fault proxy: AWS ${faults.aws.url}${faults.kube ? `, Kubernetes ${faults.kube.url}` : ''}, control ${faults.controlUrl} (seed ${faults.state.seed})`);
    }
    const kubeconfigPath = faults?.kubeconfigPath ?? kube?.kubeconfigPath;
    const fleetConfigPath = writeSandboxFleetConfig(baseline, join(stateDir, 'fleet.yaml'), kubeconfigPath, { blueGreen: options.blueGreen ?? false });

    // moto itself (never a fault proxy): the load balancer emulator and the ECS task controller are part of AWS here.
    const dataPlaneAws = {
      awsEndpoint: aws.endpoint,
      adminCredentials: baseline.identities.admin,
      accounts: SANDBOX_ACCOUNTS.map((a) => a.accountId),
      region: SANDBOX_REGION,
      stateDir: join(stateDir, 'data-plane'),
      timeScale: sandboxTimeScale(options.awsSettings),
    };
    const [dataPlaneStart, loadBalancerStart] = await Promise.allSettled([
      kube
        ? // Tenant pods' processes and readiness, and their targets (kube/README.md, "Data plane"): on the
          // real servers, never through the fault proxy.
          startKubeDataPlane({
            kubectl: join(toolsDir, 'bin', 'kubectl'),
            kubeconfig: kube.kubeconfigPath,
            workDir: join(stateDir, 'kube', 'data-plane'),
            awsEndpoint: aws.endpoint,
            adminCredentials: (accountId) => adminCredentials(aws.endpoint, accountId, baseline.identities.admin),
            startApp: startTenantApp,
          }).then((d) => {
            track(d);
            log(`Kubernetes data plane: tenant pods run tenant apps, TargetGroupBindings register them (log ${d.logPath})`);
            return d;
          })
        : Promise.resolve(undefined),
      startLoadBalancerEmulator(dataPlaneAws).then(track),
    ]);
    if (dataPlaneStart.status === 'rejected') throw dataPlaneStart.reason;
    if (loadBalancerStart.status === 'rejected') throw loadBalancerStart.reason;
    const loadBalancer = loadBalancerStart.value;
    if (options.ecsTasks) {
      // The controller resolves a task's secrets as ECS does: those the fleet's services declare exist, as an operator puts them there.
      const seeded = await seedServiceSecrets(aws.endpoint, baseline.identities.admin, fleetConfigPath);
      if (seeded.length > 0) log(`ECS service secrets seeded: ${seeded.length} (placeholder values)`);
    }
    const ecsTasks = options.ecsTasks
      ? track(
          await startEcsTaskController(dataPlaneAws),
        )
      : undefined;
    log(`sandbox ready after ${since()}`);

    const env: Record<string, string> = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TEMPORAL_UI_URL: temporal.uiUrl,
      AWS_ENDPOINT_URL: faults?.aws.url ?? aws.endpoint,
      ...sandboxAwsEnv(baseline.identities),
      TENANT_FLEET_CONFIG: fleetConfigPath,
      TENANT_FLEET_CODEC_KEY_FILE: codec.keyFile,
      // `temporal workflow show` etc. decode through the codec server with these.
      TEMPORAL_CODEC_ENDPOINT: codec.url,
      TEMPORAL_CODEC_AUTH: `Bearer ${codec.token}`,
      ...(kubeconfigPath ? { KUBECONFIG: kubeconfigPath } : {}),
      // For tests of the client's authentication: a token the API server accepts (for a local exec
      // credential plugin), and the cluster name EKS-style tokens must be signed for.
      ...(kube ? { TENANT_FLEET_SANDBOX_KUBE_PLUGIN_TOKEN_FILE: kube.pluginTokenFile, TENANT_FLEET_SANDBOX_EKS_CLUSTER_NAME: SANDBOX_EKS_CLUSTER_NAME } : {}),
      ...(faults
        ? {
            TENANT_FLEET_FAULT_CONTROL_URL: faults.controlUrl,
            TENANT_FLEET_DIRECT_AWS_ENDPOINT_URL: aws.endpoint,
            ...(kube ? { TENANT_FLEET_DIRECT_KUBECONFIG: kube.kubeconfigPath } : {}),
          }
        : {}),
      PATH: `${join(toolsDir, 'bin')}:${process.env.PATH ?? ''}`,
    };
    const envFile = join(stateDir, 'env');
    writeEnvFile(envFile, env);
    return { stateDir, envFile, temporal, codec, aws, loadBalancer, ecsTasks, kube, faults, env, fleetConfigPath, stop: stopAll };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}

/** The time scale the launcher runs at (test/sandbox/moto/README.md#settings), for the sandbox's own timings. */
export function sandboxTimeScale(settings: AwsEmulatorSettings | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const value = settings?.timeScale ?? env.TENANT_FLEET_SANDBOX_TIME_SCALE ?? 0.002;
  // checkAwsEmulatorSettings has refused anything that is not a number >= 0.
  return Number(value);
}

function writeEnvFile(path: string, env: Record<string, string>): void {
  const lines = Object.entries(env).map(([key, value]) => `export ${key}=${shellQuote(value)}`);
  writeFileSync(path, `# Written by the tenant-fleet sandbox: \`. ${path}\` points tenantctl, temporal and kubectl at it.\n${lines.join('\n')}\n`);
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
