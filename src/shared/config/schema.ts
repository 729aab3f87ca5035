import { z } from 'zod';
import { certificatePolicySchema } from '../certificates/policy';
import { durationSchema } from '../durations';
import { unreachableDatabase, workloadNetworkOf } from './reachability';
import { serviceSchema } from './service';
import { freezeSchema, maintenanceWindowsSchema } from './maintenance';
import { migrationSchema } from './migration';
import { resolveServices, servicesProblems, servicesSchema } from './services';
import { NOTIFICATION_EVENTS } from '../notifications/events';
import {
  awsAccountIdSchema,
  awsRegionSchema,
  hostnameSchema,
  iamRoleArnSchema,
  tenantIdSchema,
} from '../ids';

const vpcIdSchema = z.string().regex(/^vpc-[0-9a-f]+$/, 'expected a VPC ID such as "vpc-0abc123"');

const nameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'expected a lowercase name: letters, digits and "-", starting with a letter');

/**
 * Values for the tenant chart (a map, as in a values file). The chart's values.schema.json judges
 * them when the chart is rendered; here they only have to be a map.
 */
export const chartValuesSchema = z.record(z.string(), z.unknown()).refine((values) => !Object.hasOwn(values, 'tenant'), {
  message: '"tenant" is set by the fleet from each tenant\'s workload; remove it from the values',
});

/**
 * Which chart renders Kubernetes tenants: a directory on the workers (relative paths are read
 * from the fleet config's folder), or an OCI reference pinned to one version. Default:
 * infra/helm/tenant. `values` apply to every tenant, below the environment's and the tenant's.
 */
export const tenantChartSchema = z
  .strictObject({
    path: z.string().min(1).optional(),
    oci: z
      .string()
      .regex(/^oci:\/\/[^\s@:]+(:\d+)?(\/[^\s@:]+)+$/, 'expected an OCI chart reference without a tag, such as "oci://registry.example.com/charts/tenant"')
      .optional(),
    version: z
      .string()
      .regex(/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/, 'expected one exact chart version such as "1.4.2" (no ranges: every worker must render the same chart)')
      .optional(),
    values: chartValuesSchema.default({}),
  })
  .superRefine((chart, ctx) => {
    if ((chart.path === undefined) === (chart.oci === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'give exactly one of "path" (a chart directory) or "oci" (with "version")' });
    }
    if (chart.oci !== undefined && chart.version === undefined) {
      ctx.addIssue({ code: 'custom', path: ['version'], message: 'an OCI chart needs a pinned version, such as "1.4.2"' });
    }
    if (chart.path !== undefined && chart.version !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['version'], message: 'a chart from a path has the version its Chart.yaml says; remove "version" or use "oci"' });
    }
  });

export const environmentSchema = z.strictObject({
  name: nameSchema,
  /** Production tenants get deletion protection and need explicit confirmation to deprovision. */
  production: z.boolean().default(false),
  /** Customers often forbid wildcard certificates in production; the certificate planner obeys this. */
  allowWildcardCertificates: z.boolean().default(false),
  /** Kubernetes tenants of this environment: values over tenantChart.values. */
  chartValues: chartValuesSchema.optional(),
  /** When releases may start deploying its tenants (a tenant's own list replaces it); none: any time. */
  maintenanceWindows: maintenanceWindowsSchema.optional(),
  /** The migration command of its tenants' releases (docs/releases.md, "Migrations"); a tenant's own replaces it. */
  migration: migrationSchema.optional(),
  /** The services its tenants run, with defaults (docs/services.md); a tenant's entry of the same name overrides them field by field. */
  services: servicesSchema.optional(),
});

export const accountSchema = z.strictObject({
  name: nameSchema,
  accountId: awsAccountIdSchema,
  /** The fleet access role in the tenant's account (infra/cloudformation/fleet-access-role.yaml). */
  roleArn: iamRoleArnSchema,
  /**
   * The role CloudFormation runs tenant stacks with (the same stack's StackExecutionRoleArn output):
   * the access role may only pass it, so the stacks never run with the access role's own permissions.
   */
  stackRoleArn: iamRoleArnSchema,
  /** Not a secret, but it guards against the confused-deputy problem; AWS requires it on AssumeRole. */
  externalId: z.string().min(2).max(1224).regex(/^[\w+=,.@:/-]+$/, 'expected 2-1224 characters of [A-Za-z0-9+=,.@:/_-]'),
  regions: z.array(awsRegionSchema).min(1),
  /** Where each region's tenant databases live (passed to the tenant stack). */
  network: z
    .record(
      awsRegionSchema,
      z.strictObject({
        vpcId: vpcIdSchema,
        subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'expected a subnet ID such as "subnet-0abc123"')).min(2),
        /**
         * VPCs of the same region peered with this one (active VPC peering connections with routes,
         * which the operator creates): a workload there may reach a database here, and the tenant
         * stack admits its security group across the peering (docs/decisions.md).
         */
        peeredVpcIds: z.array(vpcIdSchema).default([]),
      }),
    )
    .default({}),
  hostedZoneId: z.string().regex(/^[A-Z0-9]{1,32}$/, 'expected a Route53 hosted zone ID such as "Z0123456789ABC"').optional(),
});

export const kubernetesClusterSchema = z.strictObject({
  name: nameSchema,
  /** Path to a kubeconfig file; omit to use the in-cluster service account. */
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  /** Activities for this cluster run on their own task queue, so a worker inside the cluster can serve it. */
  taskQueue: z.string().min(1).optional(),
  /**
   * The cluster's OpenID Connect issuer (EKS: `aws eks describe-cluster --query cluster.identity.oidc.issuer`).
   * Tenant app roles trust it for IRSA, scoped to the tenant's service account (docs/decisions.md);
   * each tenant account registers it as an IAM OIDC provider once (docs/operators.md).
   */
  oidcIssuer: z
    .string()
    .regex(
      /^https:\/\/[A-Za-z0-9.-]+(?::\d+)?(?:\/[\w.~-]+)*$/,
      'expected the cluster\'s OIDC issuer URL, such as "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE" (aws eks describe-cluster --query cluster.identity.oidc.issuer)',
    ),
  /**
   * Authenticate with an EKS token made in-process (kube-client/eks-token.ts) instead of the
   * kubeconfig user's credentials: for workers without the AWS CLI that `aws eks get-token`
   * (an `exec` user) needs. Signed with the fleet access role of `account` (assumed with its
   * external ID), or with the worker's own credentials without it. Needs `kubeconfig` for the
   * API server's address and CA.
   */
  eksToken: z
    .strictObject({
      /** The EKS cluster's name, as `aws eks get-token --cluster-name` takes it. */
      clusterName: z.string().regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'expected an EKS cluster name: up to 100 letters, digits, "-" or "_", starting with a letter or digit'),
      region: awsRegionSchema,
      account: nameSchema.optional(),
    })
    .optional(),
  /**
   * The cluster runs pods with security groups of their own (EKS security groups for pods, the VPC
   * CNI's ENABLE_POD_ENI): each tenant's pods get its workload security group (made by its traffic
   * stack, so its load balancer must be in this account and region) through a SecurityGroupPolicy,
   * and its database admits that group. Without it the operator admits the nodes' group.
   */
  securityGroupsForPods: z
    .strictObject({
      /** The account and region of the cluster's VPC. */
      account: nameSchema,
      region: awsRegionSchema,
      /** Default: the account's network in that region. */
      vpcId: vpcIdSchema.optional(),
      /** Groups the pods keep besides their tenant's (a SecurityGroupPolicy replaces the nodes' groups): the load balancer's and DNS access, as the cluster's group gives them. */
      securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'expected a security group ID such as "sg-0abc123"')).default([]),
    })
    .optional(),
});

export const ecsClusterSchema = z.strictObject({
  name: nameSchema,
  account: nameSchema,
  region: awsRegionSchema,
  clusterName: z.string().min(1).max(255),
  subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'expected a subnet ID such as "subnet-0abc123"')).min(1),
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'expected a security group ID such as "sg-0abc123"')).default([]),
  /** The VPC of the subnets, where each tenant's workload security group is made. Default: the account's network in the region. */
  vpcId: vpcIdSchema.optional(),
});

export const loadBalancerSchema = z.strictObject({
  name: nameSchema,
  account: nameSchema,
  region: awsRegionSchema,
  /** The HTTPS listener that certificates are attached to. */
  listenerArn: z.string().regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener\/app\/[^/]+\/[^/]+\/[^/]+$/, 'expected an Application Load Balancer listener ARN such as "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/tenants/50dc6c495c0c9188/f2f7dc8efc522ab2"'),
  dnsName: hostnameSchema,
  /**
   * Blue/green releases' test route (docs/releases.md, "Blue/green"): a second listener of the same
   * load balancer, where each tenant's hostnames reach the colour a release is about to shift
   * traffic to before any user does. Tenants on a load balancer with one get the green half of
   * their traffic stack; without one a plan's blueGreen strategy is refused for them.
   */
  testListenerArn: z.string().regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener\/app\/[^/]+\/[^/]+\/[^/]+$/, 'expected an Application Load Balancer listener ARN such as "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/tenants/50dc6c495c0c9188/0c1d2e3f4a5b6c7d"').optional(),
  /**
   * Listener rules this load balancer may hold (AWS's quota: 100 per Application Load Balancer,
   * default rules excluded). Each tenant on it takes one rule: more tenants need another load balancer.
   */
  rulesQuota: z.number().int().min(1).max(100).default(100),
});

export const databaseSchema = z.strictObject({
  instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'expected an RDS instance class such as "db.r6g.large"'),
  engineVersion: z.string().regex(/^\d+(\.\d+)*$/, 'expected an Aurora PostgreSQL engine version such as "16.4"').default('16.4'),
  backupRetentionDays: z.number().int().min(1).max(35).default(7),
});

export const tenantSchema = z.strictObject({
  id: tenantIdSchema,
  environment: nameSchema,
  account: nameSchema,
  region: awsRegionSchema,
  runtime: z.enum(['kubernetes', 'ecs']),
  /** Which Kubernetes or ECS cluster (by name) runs the workload. */
  cluster: nameSchema,
  hostnames: z.array(hostnameSchema).min(1),
  database: databaseSchema,
  tier: z.enum(['internal', 'free', 'standard', 'premium', 'enterprise']).default('standard'),
  loadBalancer: nameSchema.optional(),
  /** An HTTPS URL the verify step polls after a deploy. */
  healthCheckUrl: z.url().optional(),
  /** CloudWatch alarms that must not be in ALARM during verification. */
  alarmNames: z.array(z.string().min(1).max(255)).default([]),
  replicas: z.number().int().min(1).max(100).default(2),
  service: serviceSchema.prefault({}),
  /** Replaces the environment's migration command for this tenant's releases. */
  migration: migrationSchema.optional(),
  /** Its services beside (and over) its environment's (docs/services.md); none declared anywhere: one service, "web", taking the traffic. */
  services: servicesSchema.optional(),
  /** The repository of every service that names no image of its own. */
  image: z.string().min(1).regex(/^[^:@\s]+$/, 'expected an image repository without a tag, such as "ghcr.io/acme/app"'),
  /** Kubernetes only: values over the environment's chartValues. */
  chartValues: chartValuesSchema.optional(),
  /** Replaces the environment's windows for this tenant; `[]`: any time. */
  maintenanceWindows: maintenanceWindowsSchema.optional(),
});

const percentSchema = z.number().gt(0).max(100);

const retentionSchema = (keep: number, maxAge: string) =>
  z.strictObject({
    /** The newest this many pre-release snapshots of a tenant are kept... */
    keep: z.number().int().min(1).max(100).default(keep),
    /** ...unless older than this. */
    maxAge: durationSchema.prefault(maxAge),
  });

/**
 * Pre-release snapshots are pruned per tenant before each release takes a new one, so that they
 * cannot fill the account's manual cluster snapshot quota (100 per region by default) and stop a
 * release; the config is refused when the tenants of one account and region could keep more.
 */
export const snapshotsSchema = z.strictObject({
  preRelease: retentionSchema(3, '14d')
    .extend({ production: retentionSchema(7, '60d').prefault({}) })
    .prefault({}),
  /** The account's manual DB cluster snapshot quota per region (Service Quotas can raise it). */
  quotaPerRegion: z.number().int().min(1).default(100),
  /** Room left in that quota for snapshots the fleet does not prune (final snapshots of deprovisioned tenants, people's own). */
  reservedPerRegion: z.number().int().min(0).default(20),
});

export const waveSchema = z
  .strictObject({
    name: nameSchema,
    /** Exactly one of: an absolute count, a percentage of the selected tenants, or "rest". */
    tenants: z.union([z.number().int().min(1), z.literal('rest')]).optional(),
    percent: percentSchema.optional(),
    maxInFlight: z.number().int().min(1).max(2000).default(10),
    failureThreshold: z
      .union([z.strictObject({ count: z.number().int().min(0) }), z.strictObject({ percent: z.number().min(0).max(100) })])
      .default({ count: 0 }),
    bake: durationSchema.default(0),
    approval: z
      .strictObject({
        required: z.boolean().default(true),
        timeout: durationSchema.prefault('24h'),
        onTimeout: z.enum(['abort', 'continue']).default('abort'),
        /** Subscribers of `approval-overdue` hear once when the gate has waited this long (shorter than `timeout`). */
        notifyAfter: durationSchema.optional(),
      })
      .refine((approval) => approval.notifyAfter === undefined || approval.notifyAfter < approval.timeout, {
        message: 'notifyAfter must be shorter than timeout (the gate ends at its timeout; a reminder after it would never be sent)',
        path: ['notifyAfter'],
      })
      .optional(),
  })
  .refine((wave) => (wave.tenants === undefined) !== (wave.percent === undefined), {
    message: 'give exactly one of "tenants" (a count or "rest") or "percent"',
  });

/** One traffic step of a blue/green release: the new colour's share, how long it bakes there, and whether a person approves it first. */
export const blueGreenStepSchema = z.strictObject({
  weight: z.number().int().min(1, 'expected a weight of at least 1 (percent of the traffic)').max(100, 'expected a weight of at most 100 (percent of the traffic)'),
  bake: durationSchema.default(0),
  /** The tenant waits at this step, before its weights move, until the release is approved (docs/releases.md, "Blue/green"). */
  approval: z.boolean().default(false),
});

/**
 * How a release puts the new version on a tenant (docs/releases.md): `rolling` replaces the tasks
 * or pods in place; `blueGreen` deploys it beside the live colour and shifts traffic in steps.
 */
export const releaseStrategySchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('rolling') }),
    z.strictObject({
      type: z.literal('blueGreen'),
      steps: z.array(blueGreenStepSchema).min(1),
      /** How long the formerly live colour stays warm (instant switch back) before it is scaled to 0. */
      blueRetention: durationSchema,
    }),
  ])
  .superRefine((strategy, ctx) => {
    if (strategy.type !== 'blueGreen') return;
    strategy.steps.forEach((step, i) => {
      const before = strategy.steps[i - 1];
      if (before && step.weight <= before.weight) {
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'weight'], message: `expected a weight above the step before's ${before.weight} (weights only grow) (got ${step.weight})` });
      }
    });
    const last = strategy.steps.at(-1)!;
    if (last.weight !== 100) {
      ctx.addIssue({ code: 'custom', path: ['steps', strategy.steps.length - 1, 'weight'], message: `expected the last step to put 100 % of the traffic on the new colour (got ${last.weight})` });
    }
    if (strategy.blueRetention < last.bake) {
      ctx.addIssue({
        code: 'custom',
        path: ['blueRetention'],
        message: `expected at least the last step's bake, ${formatMs(last.bake)}: blue must stay warm while the release can still switch back (got ${formatMs(strategy.blueRetention)})`,
      });
    }
  });
export type ReleaseStrategy = z.infer<typeof releaseStrategySchema>;

export const releasePlanSchema = z.strictObject({
  name: nameSchema,
  selector: z
    .strictObject({
      environments: z.array(nameSchema).optional(),
      tiers: z.array(tenantSchema.shape.tier.unwrap()).optional(),
      regions: z.array(awsRegionSchema).optional(),
      tenants: z.array(tenantIdSchema).optional(),
    })
    .default({}),
  /** Least risky tenants first: ordered by these keys, then by tenant ID for a stable order. */
  order: z.array(z.enum(['tier', 'environment', 'region', 'id'])).default(['tier', 'environment', 'id']),
  waves: z.array(waveSchema).min(1),
  /** At least the alarms' evaluation time (see `verification`): an alarm cannot fire sooner. */
  verifyWindow: durationSchema.prefault('5m'),
  /**
   * `alarms`: the verify step watches the alarms' states, so its window must last at least their
   * evaluation time (period × evaluation periods). `metrics`: it also reads each alarm's metric over
   * the window itself and judges it against the alarm's threshold, so a shorter window is allowed.
   */
  verification: z.enum(['alarms', 'metrics']).default('alarms'),
  /** Restore the database from the pre-release snapshot on rollback (irreversible migrations). */
  restoreDatabaseOnRollback: z.boolean().default(false),
  rollbackOnAbort: z.boolean().default(false),
  /**
   * Reverting after an abort leaves the data alone unless this is set: then the pre-release
   * snapshot is restored too, and refused when it is older than `maxSnapshotAge` (data written
   * since would be lost).
   */
  restoreDatabaseOnRevert: z.strictObject({ maxSnapshotAge: durationSchema }).optional(),
  /** `rolling` (the default) or `blueGreen` (docs/releases.md, "Blue/green"). */
  strategy: releaseStrategySchema.prefault({ type: 'rolling' }),
  /** The strategy for the tenants of an environment, instead of `strategy` (blue/green in production, rolling in dev, say). */
  strategyByEnvironment: z.record(nameSchema, releaseStrategySchema).optional(),
  /**
   * A consistent backup (docs/releases.md, "Maintenance mode"): each tenant's load balancer answers
   * with a maintenance page while its requests drain, its snapshot is taken and it deploys. `true`,
   * or `{ drain }` to wait that long for in-flight requests instead of the tenant's deregistration
   * delay. Only for tenants with a load balancer.
   */
  maintenanceMode: z.union([z.boolean(), z.strictObject({ drain: durationSchema.optional() })]).optional(),
  /**
   * Run each tenant's migration command (its own `migration`, else its environment's) with the new
   * image after the snapshot and before the deploy; a release refuses to start when a selected
   * tenant has none (docs/releases.md, "Migrations").
   */
  migrations: z.boolean().default(false),
});

/**
 * A webhook must be https: its body names releases and tenants, and a bearer token may ride along.
 * Plain http only to 127.0.0.1, which is where the sandbox's receiver listens (test/sandbox/webhook-receiver.ts).
 */
const webhookUrlSchema = z.url().refine(
  (raw) => {
    const url = new URL(raw);
    return url.protocol === 'https:' || (url.protocol === 'http:' && url.hostname === '127.0.0.1');
  },
  { message: 'expected an https URL (plain http is allowed only to 127.0.0.1, the sandbox)' },
);

export const notificationChannelSchema = z
  .strictObject({
    name: nameSchema,
    /** Slack-compatible JSON (`text` plus fields), with an Idempotency-Key header. */
    webhook: z
      .strictObject({
        url: webhookUrlSchema,
        /**
         * A Secrets Manager secret (its ARN) whose string is sent as a bearer token and signs the
         * body (HMAC-SHA256); read by the delivery activity, so it never enters a workflow's history.
         */
        secretArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/, 'expected a Secrets Manager secret ARN such as "arn:aws:secretsmanager:us-east-1:123456789012:secret:fleet/webhook-AbCdEf"')
          .optional(),
      })
      .optional(),
    snsTopicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}(\.fifo)?$/, 'expected an SNS topic ARN such as "arn:aws:sns:us-east-1:123456789012:fleet-events"')
      .optional(),
  })
  .refine((channel) => channel.webhook !== undefined || channel.snsTopicArn !== undefined, { message: 'give "webhook", "snsTopicArn" or both' });

export const notificationSubscriptionSchema = z.strictObject({
  events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1),
  /** Environment names of this config; a release or tenant notifies when one of its environments is listed. */
  environments: z.array(nameSchema).min(1),
  /** Channel names; default: every channel. */
  channels: z.array(nameSchema).min(1).optional(),
});

export const notificationsSchema = z.strictObject({
  channels: z.array(notificationChannelSchema).default([]),
  subscriptions: z.array(notificationSubscriptionSchema).default([]),
});

export const fleetConfigSchema = z
  .strictObject({
    version: z.literal(1),
    environments: z.array(environmentSchema).min(1),
    accounts: z.array(accountSchema).min(1),
    kubernetesClusters: z.array(kubernetesClusterSchema).default([]),
    tenantChart: tenantChartSchema.optional(),
    ecsClusters: z.array(ecsClusterSchema).default([]),
    loadBalancers: z.array(loadBalancerSchema).default([]),
    tenants: z.array(tenantSchema).default([]),
    releasePlans: z.array(releasePlanSchema).default([]),
    certificates: certificatePolicySchema.prefault({}),
    snapshots: snapshotsSchema.prefault({}),
    notifications: notificationsSchema.prefault({}),
    /** Periods in which no release starts deploying a tenant (docs/operators.md, "Maintenance windows and freezes"). */
    freezes: z.array(freezeSchema).default([]),
  })
  .superRefine((config, ctx) => {
    checkUnique(ctx, config.environments, 'environments', (e) => e.name);
    checkUnique(ctx, config.accounts, 'accounts', (a) => a.name);
    checkUnique(ctx, config.kubernetesClusters, 'kubernetesClusters', (c) => c.name);
    checkUnique(ctx, config.ecsClusters, 'ecsClusters', (c) => c.name);
    checkUnique(ctx, config.loadBalancers, 'loadBalancers', (l) => l.name);
    checkUnique(ctx, config.tenants, 'tenants', (t) => t.id);
    checkUnique(ctx, config.releasePlans, 'releasePlans', (p) => p.name);

    const environments = new Set(config.environments.map((e) => e.name));
    const accounts = new Map(config.accounts.map((a) => [a.name, a]));
    const kubeClusters = new Set(config.kubernetesClusters.map((c) => c.name));
    config.kubernetesClusters.forEach((cluster, i) => {
      if (cluster.eksToken === undefined) return;
      if (cluster.kubeconfig === undefined) {
        ctx.addIssue({ code: 'custom', path: ['kubernetesClusters', i, 'kubeconfig'], message: 'eksToken needs a kubeconfig for the API server\'s address and CA (its user\'s credentials are not used)' });
      }
      const account = cluster.eksToken.account;
      if (account !== undefined && !accounts.has(account)) {
        ctx.addIssue({ code: 'custom', path: ['kubernetesClusters', i, 'eksToken', 'account'], message: `unknown account "${account}"; expected one of: ${[...accounts.keys()].join(', ')}` });
      }
    });
    const ecsClusters = new Set(config.ecsClusters.map((c) => c.name));
    const loadBalancers = new Set(config.loadBalancers.map((l) => l.name));
    const tenantIds = new Set(config.tenants.map((t) => t.id));
    const hostnameOwners = new Map<string, string>();

    config.ecsClusters.forEach((cluster, i) => {
      if (!accounts.has(cluster.account)) {
        ctx.addIssue({ code: 'custom', path: ['ecsClusters', i, 'account'], message: `unknown account; expected one of: ${[...accounts.keys()].join(', ')}` });
      }
    });
    config.kubernetesClusters.forEach((cluster, i) => {
      const account = cluster.securityGroupsForPods?.account;
      if (account !== undefined && !accounts.has(account)) {
        ctx.addIssue({ code: 'custom', path: ['kubernetesClusters', i, 'securityGroupsForPods', 'account'], message: `unknown account; expected one of: ${[...accounts.keys()].join(', ')}` });
      }
    });
    config.tenants.forEach((tenant, i) => {
      const at = (field: string) => ['tenants', i, field];
      if (!environments.has(tenant.environment)) {
        ctx.addIssue({ code: 'custom', path: at('environment'), message: `unknown environment; expected one of: ${[...environments].join(', ')}` });
      }
      const account = accounts.get(tenant.account);
      if (!account) {
        ctx.addIssue({ code: 'custom', path: at('account'), message: `unknown account; expected one of: ${[...accounts.keys()].join(', ')}` });
      } else if (!account.regions.includes(tenant.region)) {
        ctx.addIssue({ code: 'custom', path: at('region'), message: `account "${account.name}" is not set up in this region; expected one of: ${account.regions.join(', ')}` });
      }
      const clusters = tenant.runtime === 'kubernetes' ? kubeClusters : ecsClusters;
      if (!clusters.has(tenant.cluster)) {
        ctx.addIssue({ code: 'custom', path: at('cluster'), message: `unknown ${tenant.runtime} cluster; expected one of: ${[...clusters].join(', ') || '(none configured)'}` });
      }
      if (tenant.chartValues !== undefined && tenant.runtime !== 'kubernetes') {
        ctx.addIssue({ code: 'custom', path: at('chartValues'), message: 'only Kubernetes tenants are rendered from the tenant chart; remove chartValues or set runtime: kubernetes' });
      }
      if (tenant.loadBalancer !== undefined && !loadBalancers.has(tenant.loadBalancer)) {
        ctx.addIssue({ code: 'custom', path: at('loadBalancer'), message: `unknown load balancer; expected one of: ${[...loadBalancers].join(', ') || '(none configured)'}` });
      }
      if (tenant.loadBalancer !== undefined && tenant.hostnames.length > MAX_RULE_HOSTNAMES) {
        ctx.addIssue({
          code: 'custom',
          path: at('hostnames'),
          message: `${tenant.hostnames.length} hostnames, but a listener rule matches at most ${MAX_RULE_HOSTNAMES} (ALB's condition values per rule); expected at most ${MAX_RULE_HOSTNAMES}`,
        });
      }
      const lb = config.loadBalancers.find((l) => l.name === tenant.loadBalancer);
      const ecsCluster = tenant.runtime === 'ecs' ? config.ecsClusters.find((c) => c.name === tenant.cluster) : undefined;
      if (lb && ecsCluster && (lb.account !== ecsCluster.account || lb.region !== ecsCluster.region)) {
        // An ECS service registers only with target groups of its own account and region.
        ctx.addIssue({
          code: 'custom',
          path: at('loadBalancer'),
          message: `load balancer "${lb.name}" is in account "${lb.account}" ${lb.region}, but ECS cluster "${ecsCluster.name}" is in account "${ecsCluster.account}" ${ecsCluster.region}; expected a load balancer in the cluster's account and region`,
        });
      }
      checkWorkloadNetwork(ctx, config, tenant, i, lb);
      const environment = config.environments.find((e) => e.name === tenant.environment);
      const services = resolveServices(
        environment?.services,
        tenant.services,
        { image: tenant.image, replicas: tenant.replicas, cpu: tenant.service.cpu, memory: tenant.service.memory },
        { tenantId: tenant.id, accountId: account?.accountId ?? '000000000000', region: tenant.region },
      );
      for (const [path, message] of services ? servicesProblems(services, tenant.loadBalancer !== undefined, tenant.service) : []) {
        ctx.addIssue({ code: 'custom', path: ['tenants', i, ...path], message });
      }
      tenant.hostnames.forEach((hostname, j) => {
        const owner = hostnameOwners.get(hostname);
        if (owner !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['tenants', i, 'hostnames', j], message: `hostname already belongs to tenant "${owner}"` });
        } else {
          hostnameOwners.set(hostname, tenant.id);
        }
      });
    });
    checkSnapshotQuota(ctx, config);
    checkNotifications(ctx, config.notifications, environments);
    config.freezes.forEach((freeze, i) =>
      freeze.environments?.forEach((name, j) => {
        if (!environments.has(name)) ctx.addIssue({ code: 'custom', path: ['freezes', i, 'environments', j], message: `unknown environment; expected one of: ${[...environments].join(', ')}` });
      }),
    );
    config.loadBalancers.forEach((lb, i) => {
      const tenants = config.tenants.filter((t) => t.loadBalancer === lb.name);
      if (tenants.length > lb.rulesQuota) {
        ctx.addIssue({
          code: 'custom',
          path: ['loadBalancers', i, 'rulesQuota'],
          message: `${tenants.length} tenants name load balancer "${lb.name}", one listener rule each, but it holds at most ${lb.rulesQuota}; spread the tenants over more load balancers (tenants[].loadBalancer)`,
        });
      }
      if (lb.testListenerArn !== undefined && loadBalancerOfListener(lb.testListenerArn) !== loadBalancerOfListener(lb.listenerArn)) {
        ctx.addIssue({
          code: 'custom',
          path: ['loadBalancers', i, 'testListenerArn'],
          message: `listener of ${loadBalancerOfListener(lb.testListenerArn)}, expected one of the same load balancer as listenerArn (${loadBalancerOfListener(lb.listenerArn)}): each tenant's test rule needs its target groups`,
        });
      } else if (lb.testListenerArn === lb.listenerArn) {
        ctx.addIssue({ code: 'custom', path: ['loadBalancers', i, 'testListenerArn'], message: 'is listenerArn itself; expected a second listener of the same load balancer' });
      }
      if (tenants.length > 0 && !accounts.get(lb.account)?.network[lb.region]) {
        ctx.addIssue({
          code: 'custom',
          path: ['loadBalancers', i, 'region'],
          message: `account "${lb.account}" has no network in ${lb.region}, and the tenants' target groups need the load balancer's VPC; expected accounts[name=${lb.account}].network.${lb.region}`,
        });
      }
    });
    config.releasePlans.forEach((plan, i) => {
      if (plan.verification === 'alarms' && plan.verifyWindow < TENANT_ERROR_ALARM.evaluationMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['releasePlans', i, 'verifyWindow'],
          message: `verify window ${formatMs(plan.verifyWindow)} is shorter than the evaluation time of the tenant stack's error alarm, ${formatMs(TENANT_ERROR_ALARM.evaluationMs)} (period ${TENANT_ERROR_ALARM.periodSeconds} s × ${TENANT_ERROR_ALARM.evaluationPeriods} evaluation periods, infra/cloudformation/tenant.yaml), so a bad deploy could pass before its alarm can fire; lengthen verifyWindow or set verification: metrics`,
        });
      }
      for (const environment of Object.keys(plan.strategyByEnvironment ?? {})) {
        if (!environments.has(environment)) {
          ctx.addIssue({ code: 'custom', path: ['releasePlans', i, 'strategyByEnvironment', environment], message: `unknown environment; expected one of: ${[...environments].join(', ')}` });
        }
      }
      for (const problem of blueGreenProblems(config, plan, planSelects(plan))) {
        ctx.addIssue({ code: 'custom', path: ['releasePlans', i, ...problem.path], message: problem.message });
      }
      plan.selector.tenants?.forEach((id, j) => {
        if (!tenantIds.has(id)) {
          ctx.addIssue({ code: 'custom', path: ['releasePlans', i, 'selector', 'tenants', j], message: 'unknown tenant' });
        }
      });
      plan.selector.environments?.forEach((name, j) => {
        if (!environments.has(name)) {
          ctx.addIssue({ code: 'custom', path: ['releasePlans', i, 'selector', 'environments', j], message: 'unknown environment' });
        }
      });
      const restIndex = plan.waves.findIndex((w) => w.tenants === 'rest');
      if (restIndex !== -1 && restIndex !== plan.waves.length - 1) {
        ctx.addIssue({ code: 'custom', path: ['releasePlans', i, 'waves', restIndex, 'tenants'], message: '"rest" is only allowed on the last wave' });
      }
    });
  });

/**
 * A tenant with a workload security group (docs/decisions.md, "Database reachability across
 * accounts"): its traffic stack makes the group in the workload's VPC, so the load balancer must be
 * in the workload's account and region (ECS already requires it), the VPC must be known, and the
 * database's VPC must be that VPC or peered with it.
 */
function checkWorkloadNetwork(ctx: z.RefinementCtx, config: FleetConfig, tenant: Tenant, i: number, lb: LoadBalancer | undefined): void {
  const workload = workloadNetworkOf(config, tenant);
  if (!workload) return;
  if (!workload.vpcId) {
    ctx.addIssue({
      code: 'custom',
      path: ['tenants', i, 'cluster'],
      message: `${tenant.runtime} cluster "${tenant.cluster}" has no VPC: ${workload.field} is not set; expected the VPC its workloads run in (its tenants' workload security groups are made there)`,
    });
    return;
  }
  if (tenant.runtime === 'kubernetes' && (!lb || lb.account !== workload.account || lb.region !== workload.region)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tenants', i, 'loadBalancer'],
      message: `Kubernetes cluster "${tenant.cluster}" gives pods security groups (securityGroupsForPods in account "${workload.account}" ${workload.region}), made by each tenant's traffic stack in its load balancer's account, but ${lb ? `load balancer "${lb.name}" is in account "${lb.account}" ${lb.region}` : 'the tenant has no load balancer'}; expected a load balancer in account "${workload.account}" ${workload.region}`,
    });
  }
  const problem = unreachableDatabase(config, tenant, workload);
  if (problem) {
    ctx.addIssue({ code: 'custom', path: ['tenants', i, 'cluster'], message: `the database of tenant "${tenant.id}" cannot admit its workload: ${problem}` });
  }
}

function checkSnapshotQuota(ctx: z.RefinementCtx, config: SnapshotQuotaInput): void {
  const production = new Set(config.environments.filter((e) => e.production).map((e) => e.name));
  const kept = new Map<string, { count: number; tenants: number }>();
  for (const tenant of config.tenants) {
    const policy = production.has(tenant.environment) ? config.snapshots.preRelease.production : config.snapshots.preRelease;
    const key = `account "${tenant.account}" in ${tenant.region}`;
    const sum = kept.get(key) ?? { count: 0, tenants: 0 };
    kept.set(key, { count: sum.count + policy.keep, tenants: sum.tenants + 1 });
  }
  const room = config.snapshots.quotaPerRegion - config.snapshots.reservedPerRegion;
  for (const [where, { count, tenants }] of kept) {
    if (count > room) {
      ctx.addIssue({
        code: 'custom',
        path: ['snapshots', 'preRelease', 'keep'],
        message: `${tenants} tenant${tenants === 1 ? '' : 's'} of ${where} keep${tenants === 1 ? 's' : ''} up to ${count} pre-release snapshots, more than snapshots.quotaPerRegion (${config.snapshots.quotaPerRegion}) minus snapshots.reservedPerRegion (${config.snapshots.reservedPerRegion}) allows (${room}); lower keep, or raise the quota in Service Quotas and set quotaPerRegion`,
      });
    }
  }
}

function checkNotifications(ctx: z.RefinementCtx, notifications: z.output<typeof notificationsSchema>, environments: Set<string>): void {
  checkUnique(ctx, notifications.channels, 'notifications.channels', (c) => c.name);
  const channels = new Set(notifications.channels.map((c) => c.name));
  notifications.subscriptions.forEach((subscription, i) => {
    subscription.environments.forEach((name, j) => {
      if (!environments.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['notifications', 'subscriptions', i, 'environments', j], message: `unknown environment; expected one of: ${[...environments].join(', ')}` });
      }
    });
    subscription.channels?.forEach((name, j) => {
      if (!channels.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['notifications', 'subscriptions', i, 'channels', j], message: `unknown channel; expected one of: ${[...channels].join(', ') || '(none configured: notifications.channels)'}` });
      }
    });
  });
}

/** The parts of the config the snapshot check reads. */
interface SnapshotQuotaInput {
  environments: { name: string; production: boolean }[];
  tenants: { environment: string; account: string; region: string }[];
  snapshots: z.output<typeof snapshotsSchema>;
}

/** ALB's limit of condition values in one rule: each hostname of a tenant is one. */
export const MAX_RULE_HOSTNAMES = 5;

/** The tenant stack's ErrorRateAlarm (infra/cloudformation/tenant.yaml; a unit test keeps the two equal). */
export const TENANT_ERROR_ALARM = { periodSeconds: 60, evaluationPeriods: 3, evaluationMs: 180_000 } as const;

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

function checkUnique<T>(ctx: z.RefinementCtx, items: T[], field: string, key: (item: T) => string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const value = key(item);
    if (seen.has(value)) ctx.addIssue({ code: 'custom', path: [field, i], message: `duplicate name "${value}"` });
    seen.add(value);
  });
}

export type FleetConfigInput = z.input<typeof fleetConfigSchema>;
export type FleetConfig = z.output<typeof fleetConfigSchema>;
export type Tenant = FleetConfig['tenants'][number];
export type Account = FleetConfig['accounts'][number];
export type Environment = FleetConfig['environments'][number];
export type ReleasePlan = FleetConfig['releasePlans'][number];
export type Wave = ReleasePlan['waves'][number];
export type EcsCluster = FleetConfig['ecsClusters'][number];
export type KubernetesCluster = FleetConfig['kubernetesClusters'][number];
export type LoadBalancer = FleetConfig['loadBalancers'][number];
export type TenantChartConfig = NonNullable<FleetConfig['tenantChart']>;
export type { TenantService } from './service';
export { serviceSchema };
export type NotificationChannel = FleetConfig['notifications']['channels'][number];

/** `app/<name>/<id>` of a listener ARN. */
const loadBalancerOfListener = (listenerArn: string) => /:listener\/(app\/[^/]+\/[^/]+)\//.exec(listenerArn)?.[1] ?? listenerArn;

/** The strategy a plan gives a tenant of `environment`. */
export const strategyFor = (plan: Pick<ReleasePlan, 'strategy' | 'strategyByEnvironment'>, environment: string): ReleaseStrategy =>
  plan.strategyByEnvironment?.[environment] ?? plan.strategy;

const planSelects = (plan: Pick<ReleasePlan, 'selector'>) => (t: Tenant) =>
  (!plan.selector.environments || plan.selector.environments.includes(t.environment)) &&
  (!plan.selector.tiers || plan.selector.tiers.includes(t.tier)) &&
  (!plan.selector.regions || plan.selector.regions.includes(t.region)) &&
  (!plan.selector.tenants || plan.selector.tenants.includes(t.id));

/**
 * Tenants a plan would release blue/green that cannot be: without a load balancer there are no
 * weights to shift, and without its test listener no test route. Checked when the config loads
 * and again for the tenants a release selects (src/shared/release/plan.ts).
 */
export function blueGreenProblems(
  config: Pick<FleetConfig, 'tenants' | 'loadBalancers'>,
  plan: Pick<ReleasePlan, 'strategy' | 'strategyByEnvironment'>,
  selects: (tenant: Tenant) => boolean,
): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const tenant of config.tenants) {
    if (!selects(tenant) || strategyFor(plan, tenant.environment).type !== 'blueGreen') continue;
    const where = plan.strategyByEnvironment?.[tenant.environment] ? ['strategyByEnvironment', tenant.environment] : ['strategy'];
    if (tenant.loadBalancer === undefined) {
      problems.push({ path: where, message: `blueGreen selects tenant ${tenant.id}, which has no load balancer (tenants[id=${tenant.id}].loadBalancer): blue/green shifts the traffic of a load balancer's rule; expected rolling for it` });
      continue;
    }
    const lb = config.loadBalancers.find((l) => l.name === tenant.loadBalancer);
    if (lb && !lb.testListenerArn) {
      problems.push({
        path: where,
        message: `blueGreen selects tenant ${tenant.id}, whose load balancer "${lb.name}" has no test listener (loadBalancers[name=${lb.name}].testListenerArn): the new colour is checked through it before it takes traffic; expected a testListenerArn or rolling`,
      });
    }
  }
  return problems;
}
