import { KubeConfig, type User } from '@kubernetes/client-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { KubeAccess } from './kubeconfig';

/** The official client's authenticator interface (not exported by name). */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

/** What `aws eks get-token` puts in front of the base64url of the presigned URL. */
export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** The header that binds a token to one cluster; signed, so the token is refused by any other. */
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/**
 * EKS accepts a token for 15 minutes after it was signed (aws-iam-authenticator checks X-Amz-Date);
 * `aws eks get-token` says it expires after 14. A token is reused for 10, so one in flight never expires.
 */
const REUSE_MS = 10 * 60_000;

export interface EksTokenOptions {
  /** The EKS cluster's name (not its ARN), as `aws eks get-token --cluster-name` takes it. */
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** STS endpoint; default `https://sts.<region>.amazonaws.com` (the sandbox points it at moto). */
  endpoint?: string;
  now?: () => Date;
}

/**
 * An EKS bearer token made in-process, as `aws eks get-token` makes it: a GetCallerIdentity
 * request to STS with the `x-k8s-aws-id` header set to the cluster's name, presigned (SigV4,
 * 60 s, the header signed) with the caller's credentials, base64url without padding, prefixed
 * `k8s-aws-v1.`. The API server's authenticator sends the URL to STS and maps the identity
 * STS answers with to a Kubernetes user (an EKS access entry or the aws-auth ConfigMap).
 */
export async function eksToken(options: EksTokenOptions): Promise<string> {
  const endpoint = new URL(options.endpoint ?? `https://sts.${options.region}.amazonaws.com`);
  const signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'sts', sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      port: endpoint.port === '' ? undefined : Number(endpoint.port),
      path: endpoint.pathname,
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: endpoint.host, [CLUSTER_ID_HEADER]: options.clusterName },
    },
    { expiresIn: 60, signingDate: options.now?.() },
  );
  const query = Object.entries(presigned.query ?? {})
    .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string').map((v) => `${rfc3986(key)}=${rfc3986(v)}`))
    .join('&');
  const url = `${endpoint.protocol}//${endpoint.host}${endpoint.pathname}?${query}`;
  return EKS_TOKEN_PREFIX + Buffer.from(url).toString('base64url');
}

/**
 * Gives the official client's KubeConfig an EKS token for one kubeconfig user, made in-process
 * (eksToken) instead of by running `aws eks get-token`: for workers without the AWS CLI. Tokens
 * are reused for 10 minutes; concurrent requests share one signing.
 */
export class EksTokenAuthenticator implements Authenticator {
  private cached?: { token: string; madeAt: number };
  private inFlight?: Promise<string>;

  constructor(
    /** The kubeconfig user this authenticator stands for. */
    private readonly userName: string,
    private readonly options: EksTokenOptions,
  ) {}

  isAuthProvider(user: User): boolean {
    return user.name === this.userName;
  }

  async applyAuthentication(_user: User, opts: { headers?: Record<string, unknown> }): Promise<void> {
    opts.headers ??= {};
    opts.headers.Authorization = `Bearer ${await this.token()}`;
  }

  private async token(): Promise<string> {
    const now = Date.now();
    if (this.cached && now - this.cached.madeAt < REUSE_MS) return this.cached.token;
    this.inFlight ??= eksToken(this.options)
      .then((token) => {
        this.cached = { token, madeAt: now };
        return token;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}

/** encodeURIComponent leaves `!'()*` alone; SigV4 (RFC 3986) escapes them. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape the SigV4 signer asks for. */
class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.hash = this.start();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }

  reset(): void {
    this.hash = this.start();
  }

  private start(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

function bytes(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * The same cluster (server, CA, context) with its user replaced by one that authenticates with
 * an in-process EKS token: the kubeconfig's own credentials (often an `aws eks get-token` exec
 * user) are not used.
 */
export function withEksToken(access: KubeAccess, options: EksTokenOptions): KubeAccess {
  const cluster = access.config.getCurrentCluster();
  const context = access.config.getContextObject(access.config.getCurrentContext());
  if (!cluster || !context) throw new Error(`${access.source}: no current cluster and context`);
  const userName = `eks-token/${options.clusterName}`;
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [cluster],
    users: [{ name: userName }],
    contexts: [{ name: context.name, cluster: cluster.name, user: userName, namespace: context.namespace }],
    currentContext: context.name,
  });
  config.addAuthenticator(new EksTokenAuthenticator(userName, options));
  return { config, source: `${access.source} with an in-process EKS token for cluster "${options.clusterName}" (${options.region})` };
}
