import { DescribeRulesCommand, ModifyRuleCommand, type Action, type Rule } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ErrorType, permanentFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import type { Colour, TrafficWeights } from './runtime/types';
import { abortSignal } from './poll';

/** A tenant's listener rule (its traffic stack's ListenerRule or TestListenerRule) and its two colours' target groups. */
export interface ListenerRuleInput {
  target: AwsTarget;
  ruleArn: string;
  targetGroups: Record<Colour, string>;
}

/**
 * The weights of a rule's forward action, in percent per colour. A plain forward to one group (a
 * traffic stack made before blue/green) is 100 % on that group's colour; weights are relative in
 * ELBv2 (0-999), so they are read as shares of their sum.
 */
export function weightsOf(rule: Rule, targetGroups: Record<Colour, string>): TrafficWeights | undefined {
  const forward = (rule.Actions ?? []).find((a) => a.Type === 'forward');
  if (!forward) return undefined;
  const groups = forward.ForwardConfig?.TargetGroups?.length
    ? forward.ForwardConfig.TargetGroups.map((g) => ({ arn: g.TargetGroupArn, weight: g.Weight ?? 1 }))
    : [{ arn: forward.TargetGroupArn, weight: 1 }];
  const total = groups.reduce((sum, g) => sum + Math.max(0, g.weight), 0);
  const share = (colour: Colour) => {
    const weight = groups.filter((g) => g.arn === targetGroups[colour]).reduce((sum, g) => sum + Math.max(0, g.weight), 0);
    return total === 0 ? 0 : Math.round((weight * 100) / total);
  };
  return { blue: share('blue'), green: share('green') };
}

/**
 * The forward weights of a tenant's listener rules: exact values, never increments, so a retried
 * step sets what it meant to set (docs/releases.md, "Blue/green"). Each compares before it writes.
 */
export function createListenerRuleActivities({ aws }: { aws: AwsClients }) {
  const describe = async ({ target, ruleArn }: Pick<ListenerRuleInput, 'target' | 'ruleArn'>): Promise<Rule> => {
    const { Rules = [] } = await aws.elbv2(target).send(new DescribeRulesCommand({ RuleArns: [ruleArn] }), { abortSignal: abortSignal() });
    const rule = Rules[0];
    if (!rule) throw permanentFailure(ErrorType.ResourceNotFound, `listener rule ${ruleArn} not found`);
    return rule;
  };
  const readWeights = async (input: ListenerRuleInput): Promise<TrafficWeights & { forwards: boolean }> => {
    const weights = weightsOf(await describe(input), input.targetGroups);
    return weights ? { ...weights, forwards: true } : { blue: 0, green: 0, forwards: false };
  };
  return {
    /** `forwards: false` when the rule does something else than forward (a maintenance page): both weights 0. */
    readTrafficWeights: readWeights,

    /**
     * Sets the rule to forward exactly `weights` (percent, summing to 100) to the two colours'
     * groups with ModifyRule: seconds, no stack update. Unchanged when the rule already forwards so.
     */
    async setTrafficWeights(input: ListenerRuleInput & { weights: TrafficWeights }): Promise<{ changed: boolean; before: TrafficWeights }> {
      const { blue, green } = input.weights;
      const valid = (w: number) => Number.isInteger(w) && w >= 0 && w <= 100;
      if (!valid(blue) || !valid(green) || blue + green !== 100) {
        throw permanentFailure(ErrorType.InvalidInput, `weights ${JSON.stringify(input.weights)} for rule ${input.ruleArn}: expected whole percentages summing to 100`);
      }
      const before = await readWeights(input);
      if (before.forwards && before.blue === blue && before.green === green) return { changed: false, before: { blue, green } };
      const action: Action = {
        Type: 'forward',
        ForwardConfig: {
          TargetGroups: [
            { TargetGroupArn: input.targetGroups.blue, Weight: blue },
            { TargetGroupArn: input.targetGroups.green, Weight: green },
          ],
        },
      };
      await aws.elbv2(input.target).send(new ModifyRuleCommand({ RuleArn: input.ruleArn, Actions: [action] }), { abortSignal: abortSignal() });
      return { changed: true, before: { blue: before.blue, green: before.green } };
    },
  };
}

export type ListenerRuleActivities = ReturnType<typeof createListenerRuleActivities>;
