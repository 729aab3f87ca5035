import { DescribeRulesCommand, ElasticLoadBalancingV2Client, ModifyRuleCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { createListenerRuleActivities, weightsOf } from '../../src/activities/listener-rule';
import type { AwsClients } from '../../src/activities/aws/clients';

const groups = { blue: 'arn:tg/blue', green: 'arn:tg/green' };
const target = { accountId: '123456789012', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/r' } as never;

describe('listener rule weights', () => {
  it('reads a plain forward as all on its colour, and weights as shares of their sum', () => {
    expect(weightsOf({ Actions: [{ Type: 'forward', TargetGroupArn: groups.blue }] }, groups)).toEqual({ blue: 100, green: 0 });
    const weighted = (blue: number, green: number) => ({
      Actions: [{ Type: 'forward' as const, ForwardConfig: { TargetGroups: [{ TargetGroupArn: groups.blue, Weight: blue }, { TargetGroupArn: groups.green, Weight: green }] } }],
    });
    expect(weightsOf(weighted(90, 10), groups)).toEqual({ blue: 90, green: 10 });
    expect(weightsOf(weighted(1, 1), groups)).toEqual({ blue: 50, green: 50 });
    expect(weightsOf({ Actions: [{ Type: 'fixed-response' }] }, groups)).toBeUndefined();
  });

  it('sets exact weights, writes nothing when the rule has them, and refuses a set not summing to 100', async () => {
    const elb = mockClient(ElasticLoadBalancingV2Client);
    let actions: unknown = [{ Type: 'forward', TargetGroupArn: groups.blue }];
    elb.on(DescribeRulesCommand).callsFake(() => ({ Rules: [{ RuleArn: 'rule', Actions: actions }] }));
    elb.on(ModifyRuleCommand).callsFake((input: { Actions: unknown }) => {
      actions = input.Actions;
      return {};
    });
    const aws = { elbv2: () => new ElasticLoadBalancingV2Client({ region: 'us-east-1' }) } as unknown as AwsClients;
    const rules = createListenerRuleActivities({ aws });
    const input = { target, ruleArn: 'rule', targetGroups: groups };
    expect(await rules.setTrafficWeights({ ...input, weights: { blue: 90, green: 10 } })).toEqual({ changed: true, before: { blue: 100, green: 0 } });
    // A retry of the same step sets the same weights: no second write.
    expect(await rules.setTrafficWeights({ ...input, weights: { blue: 90, green: 10 } })).toEqual({ changed: false, before: { blue: 90, green: 10 } });
    expect(elb.commandCalls(ModifyRuleCommand)).toHaveLength(1);
    expect(await rules.readTrafficWeights(input)).toEqual({ blue: 90, green: 10, forwards: true });
    await expect(rules.setTrafficWeights({ ...input, weights: { blue: 90, green: 20 } })).rejects.toThrow(/summing to 100/);
    elb.restore();
  });
});
