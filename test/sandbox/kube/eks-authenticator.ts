/**
 * The sandbox cluster's EKS token authenticator: a TokenReview webhook on 127.0.0.1 that
 * kube-apiserver asks about bearer tokens it does not know (--authentication-token-webhook-config-file,
 * see cluster.ts). It checks a token the way EKS's authenticator (aws-iam-authenticator) does:
 * `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL, for the STS endpoint it
 * trusts, with the `x-k8s-aws-id` header signed; it sends the URL to STS (the sandbox's moto,
 * whose patch sts_presigned_caller_identity.py checks the signature) with this cluster's name in
 * that header, so a token signed for another cluster is refused; and it maps the role STS names
 * to a Kubernetes user. What differs from EKS is in docs/sandbox.md. Node built-ins only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';

export interface EksAuthenticatorOptions {
  /** The STS endpoint tokens must point at (the sandbox's moto). */
  stsEndpoint: string;
  /** The cluster name tokens must be signed for (`x-k8s-aws-id`). */
  clusterName: string;
  /**
   * The Kubernetes user of an IAM role (`arn:aws:iam::<account>:role/<name>`), as an EKS access
   * entry gives it; undefined refuses the role. Default: every role, as `eks:<role ARN>` in
   * group system:masters (the sandbox's stand-in for a cluster-admin access entry).
   */
  userOf?: (roleArn: string, sessionName: string) => { username: string; groups: string[] } | undefined;
}

export interface EksAuthenticator {
  /** The webhook's URL, for the API server's webhook kubeconfig. */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startEksAuthenticator(options: EksAuthenticatorOptions): Promise<EksAuthenticator> {
  const sts = new URL(options.stsEndpoint);
  const userOf = options.userOf ?? ((roleArn: string) => ({ username: `eks:${roleArn}`, groups: ['system:masters'] }));

  async function review(token: string): Promise<{ username: string; uid: string; groups: string[] }> {
    if (!token.startsWith(EKS_TOKEN_PREFIX)) throw new Error('not an EKS token (no k8s-aws-v1. prefix)');
    let url: URL;
    try {
      url = new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8'));
    } catch {
      throw new Error('the token is not a base64url URL');
    }
    if (url.origin !== sts.origin) throw new Error(`the token points at ${url.origin}, not the STS endpoint ${sts.origin}`);
    const query = url.searchParams;
    if (query.get('Action') !== 'GetCallerIdentity') throw new Error(`the token's action is ${query.get('Action')}, not GetCallerIdentity`);
    const signed = (query.get('X-Amz-SignedHeaders') ?? '').split(';');
    if (!signed.includes('x-k8s-aws-id')) throw new Error('the token does not sign the x-k8s-aws-id header');
    const answer = await fetch(url, { headers: { 'x-k8s-aws-id': options.clusterName }, signal: AbortSignal.timeout(10_000) });
    const body = await answer.text();
    if (!answer.ok) throw new Error(`STS refused the token: HTTP ${answer.status} ${/<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? ''}`);
    const arn = /<Arn>([^<]+)<\/Arn>/.exec(body)?.[1];
    const session = arn && /^arn:(aws[\w-]*):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
    if (!session) throw new Error(`STS named ${arn ?? 'no ARN'}; only role sessions are mapped`);
    const [, partition, account, role, sessionName] = session;
    const roleArn = `arn:${partition}:iam::${account}:role/${role}`;
    const user = userOf(roleArn, sessionName!);
    if (!user) throw new Error(`${roleArn} has no access to cluster ${options.clusterName}`);
    return { ...user, uid: `aws-iam-authenticator:${account}:${roleArn}` };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let spec: { token?: string } = {};
    try {
      spec = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: { token?: string } }).spec ?? {};
    } catch {
      // an unreadable review is answered as unauthenticated below
    }
    let status: Record<string, unknown>;
    try {
      const user = await review(spec.token ?? '');
      status = { authenticated: true, user: { username: user.username, uid: user.uid, groups: user.groups } };
    } catch (error) {
      status = { authenticated: false, error: (error as Error).message };
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/authenticate`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
