import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { AwsClients } from '../../src/activities/aws/clients';
import type { AwsTarget } from '../../src/shared/tenant-spec';
import { ORGANIZATION_ROLE_NAME } from './aws-identities';

/**
 * AWS clients as the sandbox's administrator (aws-identities.ts), for tests and scripts that read or
 * poke sandbox state directly: the same interface as the workers' AwsClients, but every account is
 * reached through OrganizationAccountAccessRole instead of the fleet access role, so a check never
 * depends on what the product's role happens to allow. Calls go to moto directly, past any fault proxy.
 */
export class SandboxAdminClients extends AwsClients {
  override credentialsFor(target: AwsTarget): AwsCredentialIdentityProvider {
    return super.credentialsFor({ ...target, roleArn: `arn:aws:iam::${target.accountId}:role/${ORGANIZATION_ROLE_NAME}`, externalId: 'sandbox-admin' });
  }

  /** Only tests read log groups (the product creates them through the tenant traffic stack). */
  cloudWatchLogs = (target: AwsTarget) => this.client(CloudWatchLogsClient, target);
  /** Only tests read security groups (the product makes them through the tenant's stacks). */
  ec2 = (target: AwsTarget) => this.client(EC2Client, target);
}

export function sandboxAdminClients(env: Record<string, string | undefined>): SandboxAdminClients {
  const accessKeyId = env.TENANT_FLEET_SANDBOX_ADMIN_ACCESS_KEY_ID;
  const secretAccessKey = env.TENANT_FLEET_SANDBOX_ADMIN_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('TENANT_FLEET_SANDBOX_ADMIN_ACCESS_KEY_ID / _SECRET_ACCESS_KEY are not set: source the sandbox env file first');
  }
  return new SandboxAdminClients({
    endpoint: env.TENANT_FLEET_DIRECT_AWS_ENDPOINT_URL ?? env.AWS_ENDPOINT_URL,
    baseCredentials: { accessKeyId, secretAccessKey },
    sessionName: 'sandbox-admin',
  });
}
