import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { awsTargetFor } from '../../shared/config/resolve';
import type { FleetConfig, KubernetesCluster } from '../../shared/config/schema';
import type { AwsClients } from '../aws/clients';
import { withEksToken } from './eks-token';
import { loadKubeAccess, type KubeAccess } from './kubeconfig';

export interface ClusterAccessOptions {
  /** For `eksToken.account`: the fleet access role's credentials, assumed and refreshed by AwsClients. */
  aws?: AwsClients;
  /** The STS endpoint for EKS tokens (AWS_ENDPOINT_URL; the sandbox's moto); default: STS's regional endpoint. */
  awsEndpoint?: string;
}

/** How one `kubernetesClusters[]` entry of the fleet config reaches its API server. */
export function clusterAccess(cluster: KubernetesCluster, config: FleetConfig, options: ClusterAccessOptions = {}): KubeAccess {
  const access = loadKubeAccess({ kubeconfig: cluster.kubeconfig, context: cluster.context });
  const eks = cluster.eksToken;
  if (eks === undefined) return access;
  let credentials;
  if (eks.account === undefined) {
    // The worker's own identity (its pod's IRSA role, the instance profile, or the environment).
    credentials = defaultProvider();
  } else {
    const account = config.accounts.find((a) => a.name === eks.account);
    if (!account) throw new Error(`eksToken.account "${eks.account}" is not in accounts`);
    if (!options.aws) throw new Error(`eksToken.account "${eks.account}" needs the worker's AWS clients to assume the account's fleet access role`);
    credentials = options.aws.credentialsFor(awsTargetFor(account, eks.region));
  }
  return withEksToken(access, { clusterName: eks.clusterName, region: eks.region, credentials, endpoint: options.awsEndpoint });
}
