import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';

/**
 * Who calls the sandbox's AWS once IAM is enforced (test/sandbox/moto/README.md, "IAM enforcement"):
 *
 * - `worker`: the IAM user `tenant-fleet-worker` in the platform account, the identity the workers and
 *   tenantctl run as (`AWS_ACCESS_KEY_ID` in `.sandbox/env`). Its only permission is `sts:AssumeRole`
 *   on the fleet access roles; everything else goes through those roles, as in production.
 * - `admin`: the IAM user `sandbox-admin` (everything allowed), which reaches every account through
 *   `OrganizationAccountAccessRole` (AWS Organizations' role in member accounts). The seeding uses it,
 *   and so may tests that read or poke sandbox state directly (`TENANT_FLEET_SANDBOX_ADMIN_*` in
 *   `.sandbox/env`); product code never does.
 *
 * Before enforcement moto accepts any credentials; these identities are made then, so a fresh
 * sandbox looks like an AWS organization on its first day: an administrator and nothing else.
 */
export interface SandboxIdentity extends AwsCredentialIdentity {
  arn: string;
}

export interface SandboxIdentities {
  worker: SandboxIdentity;
  admin: SandboxIdentity;
}

export const PLATFORM_ACCOUNT = '123456789012';
export const WORKER_USER = 'tenant-fleet-worker';
export const ADMIN_USER = 'sandbox-admin';
export const ORGANIZATION_ROLE_NAME = 'OrganizationAccountAccessRole';
const ACCESS_ROLE_PATTERN = 'arn:aws:iam::*:role/TenantFleetAccess';
const REGION = 'us-east-1';

/** Only while moto checks nothing: its default account for unknown keys is the platform account. */
const BOOTSTRAP_CREDENTIALS = { accessKeyId: 'sandbox-bootstrap', secretAccessKey: 'sandbox-bootstrap' };

const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

export async function bootstrapSandboxIdentities(endpoint: string, accountIds: string[]): Promise<SandboxIdentities> {
  const iam = new IAMClient({ region: REGION, endpoint, credentials: BOOTSTRAP_CREDENTIALS });
  try {
    const admin = await user(iam, ADMIN_USER, policy({ Effect: 'Allow', Action: '*', Resource: '*' }));
    const worker = await user(iam, WORKER_USER, policy({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ACCESS_ROLE_PATTERN }));
    for (const accountId of accountIds) await organizationRole(endpoint, accountId);
    return { admin, worker };
  } finally {
    iam.destroy();
  }
}

/** Switches moto's request authentication and authorization on (moto's own switch; see the README). */
export async function enforceIam(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '0' });
  if (!response.ok) throw new Error(`moto refused to enforce IAM: ${response.status} ${await response.text()}`);
}

async function user(iam: IAMClient, name: string, inlinePolicy: string): Promise<SandboxIdentity> {
  const { User } = await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: name, PolicyDocument: inlinePolicy }));
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  return { arn: User!.Arn!, accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
}

async function organizationRole(endpoint: string, accountId: string): Promise<void> {
  // Unchecked credentials in the account itself (moto files an AssumeRole key under the role's account).
  const sts = new STSClient({ region: REGION, endpoint, credentials: BOOTSTRAP_CREDENTIALS });
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/${ORGANIZATION_ROLE_NAME}`, RoleSessionName: 'sandbox-bootstrap' }),
  );
  sts.destroy();
  const iam = new IAMClient({
    region: REGION,
    endpoint,
    credentials: { accessKeyId: Credentials!.AccessKeyId!, secretAccessKey: Credentials!.SecretAccessKey!, sessionToken: Credentials!.SessionToken },
  });
  try {
    const exists = await iam.send(new GetRoleCommand({ RoleName: ORGANIZATION_ROLE_NAME })).then(
      () => true,
      () => false,
    );
    if (exists) return;
    await iam.send(
      new CreateRoleCommand({
        RoleName: ORGANIZATION_ROLE_NAME,
        AssumeRolePolicyDocument: policy({
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${PLATFORM_ACCOUNT}:user/${ADMIN_USER}` },
          Action: 'sts:AssumeRole',
        }),
      }),
    );
    await iam.send(new PutRolePolicyCommand({ RoleName: ORGANIZATION_ROLE_NAME, PolicyName: 'administrator', PolicyDocument: policy({ Effect: 'Allow', Action: '*', Resource: '*' }) }));
  } finally {
    iam.destroy();
  }
}

/**
 * The environment of `.sandbox/env`: the SDKs' default credentials are the worker's; the administrator's
 * are there under names no SDK reads, for tests (test/sandbox/admin-clients.ts).
 */
export function sandboxAwsEnv(identities: SandboxIdentities): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: identities.worker.accessKeyId,
    AWS_SECRET_ACCESS_KEY: identities.worker.secretAccessKey,
    AWS_REGION: REGION,
    TENANT_FLEET_SANDBOX_ADMIN_ACCESS_KEY_ID: identities.admin.accessKeyId,
    TENANT_FLEET_SANDBOX_ADMIN_SECRET_ACCESS_KEY: identities.admin.secretAccessKey,
  };
}
