import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { loadFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import { adminCredentials } from './aws-baseline';

/**
 * The secrets the sandbox fleet's ECS tenants declare for their services (docs/services.md
 * "Secrets"), put where their references point, as an operator does before provisioning such a
 * tenant: with the ECS task controller on, a task whose secret is missing is stopped as ECS stops
 * it (docs/sandbox.md "ECS tasks"). Placeholder values; one that exists already is left alone.
 * Returns the ARNs seeded.
 */
export async function seedServiceSecrets(endpoint: string, admin: AwsCredentialIdentity, fleetConfigPath: string): Promise<string[]> {
  const config = await loadFleetConfig(fleetConfigPath);
  const arns = config.tenants.flatMap((tenant) => {
    const spec = resolveTenantSpec(config, tenant.id);
    return spec.runtime.kind === 'ecs' ? (spec.services ?? []).flatMap((s) => Object.values(s.secrets)) : [];
  });
  for (const arn of [...new Set(arns)]) {
    const [, , service, region, account, resource] = arn.split(':');
    const credentials = await adminCredentials(endpoint, account!, admin);
    if (service === 'ssm') {
      const ssm = new SSMClient({ region, endpoint, credentials });
      try {
        await ssm.send(new PutParameterCommand({ Name: `/${resource!.replace(/^parameter\//, '')}`, Type: 'SecureString', Value: 'sandbox-placeholder' }));
      } catch (error) {
        if ((error as Error).name !== 'ParameterAlreadyExists') throw error;
      } finally {
        ssm.destroy();
      }
    } else {
      const secrets = new SecretsManagerClient({ region, endpoint, credentials });
      try {
        await secrets.send(new CreateSecretCommand({ Name: arn.split(':secret:')[1], SecretString: 'sandbox-placeholder' }));
      } catch (error) {
        if ((error as Error).name !== 'ResourceExistsException') throw error;
      } finally {
        secrets.destroy();
      }
    }
  }
  return arns;
}
