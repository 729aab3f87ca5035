import { ACMClient } from '@aws-sdk/client-acm';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AwsTarget } from '../../shared/tenant-spec';
import { recordCall, resourceOf } from './errors';
import { AwsRateLimiter } from './rate-limit';

export interface AwsClientsOptions {
  /** Set for the sandbox (moto) or a VPC endpoint; unset means AWS's public endpoints. */
  endpoint?: string;
  /** Credentials of the worker itself; default: the SDK's default provider chain. */
  baseCredentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  sessionName?: string;
  /** Refresh assumed-role credentials this long before they expire. */
  refreshMarginMs?: number;
  maxAttempts?: number;
  /** Requests per second per service, account and region (default: aws/rate-limit.ts); `{}` sends unthrottled. */
  rates?: Readonly<Record<string, number>>;
}

/**
 * A request that gets no answer (a dropped connection, a hung endpoint) is abandoned and retried
 * by the SDK well inside the quick activities' start-to-close (activity-options.ts), instead of
 * hanging until Temporal times the whole activity out.
 */
const HTTP_TIMEOUTS = { connectionTimeout: 5_000, requestTimeout: 10_000 };

/** IAM's service prefix for each client, so an error can name the call as a policy would (`rds:CreateDBClusterSnapshot`). */
const IAM_PREFIX: Record<string, string> = {
  CloudFormationClient: 'cloudformation',
  RDSClient: 'rds',
  ECSClient: 'ecs',
  SSMClient: 'ssm',
  Route53Client: 'route53',
  ACMClient: 'acm',
  ElasticLoadBalancingV2Client: 'elasticloadbalancing',
  CloudWatchClient: 'cloudwatch',
  CloudWatchLogsClient: 'logs',
};

type ClientConstructor<C> = new (config: {
  region: string;
  endpoint?: string;
  credentials: AwsCredentialIdentityProvider;
  maxAttempts?: number;
  requestHandler: typeof HTTP_TIMEOUTS;
  forcePathStyle?: boolean;
}) => C;

/**
 * One SDK client per (service, account role, region), reused across activity calls, with
 * credentials from AssumeRole on the account's fleet access role (external ID required),
 * cached until shortly before they expire. Credentials live only in this process.
 */
export class AwsClients {
  private readonly clients = new Map<string, unknown>();
  private readonly credentialProviders = new Map<string, AwsCredentialIdentityProvider>();
  private readonly stsByRegion = new Map<string, STSClient>();
  private readonly limiter: AwsRateLimiter;

  constructor(private readonly options: AwsClientsOptions = {}) {
    this.limiter = new AwsRateLimiter(options.rates);
  }

  cloudFormation = (target: AwsTarget) => this.client(CloudFormationClient, target);
  rds = (target: AwsTarget) => this.client(RDSClient, target);
  ecs = (target: AwsTarget) => this.client(ECSClient, target);
  ssm = (target: AwsTarget) => this.client(SSMClient, target);
  route53 = (target: AwsTarget) => this.client(Route53Client, target);
  acm = (target: AwsTarget) => this.client(ACMClient, target);
  elbv2 = (target: AwsTarget) => this.client(ElasticLoadBalancingV2Client, target);
  cloudWatch = (target: AwsTarget) => this.client(CloudWatchClient, target);
  /** A migration's output (runtime/ecs-migration.ts). */
  logs = (target: AwsTarget) => this.client(CloudWatchLogsClient, target);
  /** A tenant's retained bucket before its stack is created again (cloudformation-import.ts); path-style against an endpoint such as the sandbox's. */
  s3 = (target: AwsTarget) => this.client(S3Client, target, this.options.endpoint ? { forcePathStyle: true } : {});

  /** Credentials for the target's role, for callers that build their own clients. */
  credentialsFor(target: AwsTarget): AwsCredentialIdentityProvider {
    const key = `${target.roleArn}|${target.externalId}`;
    let provider = this.credentialProviders.get(key);
    if (!provider) {
      provider = this.assumeRoleProvider(target);
      this.credentialProviders.set(key, provider);
    }
    return provider;
  }

  destroy(): void {
    for (const client of this.clients.values()) (client as { destroy(): void }).destroy();
    for (const sts of this.stsByRegion.values()) sts.destroy();
    this.clients.clear();
  }

  protected client<C>(ctor: ClientConstructor<C>, target: AwsTarget, extra: { forcePathStyle?: boolean } = {}): C {
    const key = `${ctor.name}|${target.roleArn}|${target.region}`;
    let client = this.clients.get(key) as C | undefined;
    if (!client) {
      client = new ctor({
        region: target.region,
        endpoint: this.options.endpoint,
        credentials: this.credentialsFor(target),
        maxAttempts: this.options.maxAttempts ?? 5,
        requestHandler: HTTP_TIMEOUTS,
        ...extra,
      });
      instrument(client as SendingClient, ctor, target, this.limiter);
      this.clients.set(key, client);
    }
    return client;
  }

  private assumeRoleProvider(target: AwsTarget): AwsCredentialIdentityProvider {
    const margin = this.options.refreshMarginMs ?? 5 * 60_000;
    let cached: AwsCredentialIdentity | undefined;
    let inFlight: Promise<AwsCredentialIdentity> | undefined;
    return async () => {
      if (cached?.expiration && cached.expiration.getTime() - margin > Date.now()) return cached;
      // Concurrent activities share one AssumeRole call instead of stampeding STS.
      inFlight ??= this.assumeRole(target).finally(() => {
        inFlight = undefined;
      });
      cached = await inFlight;
      return cached;
    };
  }

  private async assumeRole(target: AwsTarget): Promise<AwsCredentialIdentity> {
    const response = await this.sts(target.region).send(
      new AssumeRoleCommand({
        RoleArn: target.roleArn,
        ExternalId: target.externalId,
        RoleSessionName: this.options.sessionName ?? 'tenant-fleet',
        DurationSeconds: 3600,
      }),
    );
    const credentials = response.Credentials;
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) {
      throw new Error(`AssumeRole on ${target.roleArn} returned no credentials`);
    }
    return {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
      expiration: credentials.Expiration,
    };
  }

  private sts(region: string): STSClient {
    let sts = this.stsByRegion.get(region);
    if (!sts) {
      sts = new STSClient({ region, endpoint: this.options.endpoint, credentials: this.options.baseCredentials, requestHandler: HTTP_TIMEOUTS });
      this.stsByRegion.set(region, sts);
    }
    return sts;
  }
}

interface SendingClient {
  send(command: { input?: unknown; constructor: { name: string } }, ...rest: unknown[]): Promise<unknown> | void;
}

/**
 * Each request waits for its slot in the account's rate budget (aws/rate-limit.ts), and every
 * error it ends with (after the SDK's own retries) remembers the call it answered: service,
 * action, account, region and resource, for aws/errors.ts to name. The prototype's `send` is
 * looked up on each call, so tests that stub it (aws-sdk-client-mock) go through here too.
 */
function instrument(client: SendingClient, ctor: { name: string; prototype: unknown }, target: AwsTarget, limiter: AwsRateLimiter): void {
  const service = IAM_PREFIX[ctor.name] ?? ctor.name.replace(/Client$/, '').toLowerCase();
  const protoSend = (command: Parameters<SendingClient['send']>[0], rest: unknown[]) => (ctor.prototype as SendingClient).send.call(client, command, ...rest);
  client.send = function send(command, ...rest) {
    // The callback form is not used by the activities; it goes straight through.
    if (typeof rest.at(-1) === 'function') return protoSend(command, rest);
    const sent = limiter.take(service, target.accountId, target.region).then(() => protoSend(command, rest) as Promise<unknown>);
    return sent.catch((error: unknown) => {
      throw recordCall(error, {
        service,
        action: command.constructor.name.replace(/Command$/, ''),
        accountId: target.accountId,
        region: target.region,
        resource: resourceOf(command.input),
      });
    });
  };
}
