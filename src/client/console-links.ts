/*
 * Links into the AWS console for what `tenantctl tenant resources` lists. The console opens in the
 * account the browser is signed in to: each link goes with its account ID, so an operator can tell
 * which role to use (tenantctl itself reads everything as the workers' identity, through each
 * account's fleet access role). Commercial partition only (GovCloud and China have other hosts).
 */

const enc = encodeURIComponent;
const regional = (region: string, path: string) => `https://${region}.console.aws.amazon.com/${path}`;

export const consoleLinks = {
  stack: (region: string, stackId: string) => regional(region, `cloudformation/home?region=${region}#/stacks/stackinfo?stackId=${enc(stackId)}`),
  ecsService: (region: string, cluster: string, service: string) => regional(region, `ecs/v2/clusters/${enc(cluster)}/services/${enc(service)}/health?region=${region}`),
  ecsTask: (region: string, cluster: string, taskId: string) => regional(region, `ecs/v2/clusters/${enc(cluster)}/tasks/${enc(taskId)}/configuration?region=${region}`),
  certificate: (region: string, arn: string) => regional(region, `acm/home?region=${region}#/certificates/${enc(arn.split('/').pop() ?? arn)}`),

  /** The console page of a stack's resource, by its type and physical ID; undefined for a type without a known page. */
  resource(region: string, type: string, physicalId: string | undefined): string | undefined {
    if (!physicalId) return undefined;
    switch (type) {
      case 'AWS::RDS::DBCluster':
        return regional(region, `rds/home?region=${region}#database:id=${enc(physicalId)};is-cluster=true`);
      case 'AWS::RDS::DBInstance':
        return regional(region, `rds/home?region=${region}#database:id=${enc(physicalId)};is-cluster=false`);
      case 'AWS::RDS::DBSubnetGroup':
        return regional(region, `rds/home?region=${region}#db-subnet-group:id=${enc(physicalId)}`);
      case 'AWS::EC2::SecurityGroup':
        return regional(region, `ec2/home?region=${region}#SecurityGroup:groupId=${enc(physicalId)}`);
      case 'AWS::S3::Bucket':
        return `https://s3.console.aws.amazon.com/s3/buckets/${enc(physicalId)}?region=${region}`;
      case 'AWS::IAM::Role':
        return `https://console.aws.amazon.com/iam/home#/roles/details/${enc(physicalId)}`;
      case 'AWS::SSM::Parameter':
        return regional(region, `systems-manager/parameters/${physicalId.replace(/^\//, '')}/description?region=${region}`);
      case 'AWS::CloudWatch::Alarm':
        return regional(region, `cloudwatch/home?region=${region}#alarmsV2:alarm/${enc(physicalId)}`);
      case 'AWS::ElasticLoadBalancingV2::TargetGroup':
        return regional(region, `ec2/home?region=${region}#TargetGroup:targetGroupArn=${enc(physicalId)}`);
      case 'AWS::ElasticLoadBalancingV2::ListenerRule':
        return regional(region, `ec2/home?region=${region}#ListenerRuleDetails:ruleArn=${enc(physicalId)}`);
      case 'AWS::Logs::LogGroup':
        return regional(region, `cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${enc(enc(physicalId))}`);
      default:
        return undefined;
    }
  },
};
