import { DescribeRulesCommand, ModifyRuleCommand, type Action, type Rule } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ErrorType, permanentFailure } from '../shared/errors';
import { sameRuleActions, writableRuleActions, type RuleAction } from '../shared/release/listener-rule-actions';
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
 * The one module that changes a tenant's listener rules: the forward weights of a blue/green
 * release (docs/releases.md, "Blue/green") and the exact actions of a release in maintenance mode
 * ("Maintenance mode"). Exact values, never increments, so a retried step sets what it meant to
 * set; each compares before it writes.
 */
export function createListenerRuleActivities({ aws }: { aws: AwsClients }) {
  const describe = async ({ target, ruleArn }: Pick<ListenerRuleInput, 'target' | 'ruleArn'>): Promise<Rule> => {
    const { Rules = [] } = await aws.elbv2(target).send(new DescribeRulesCommand({ RuleArns: [ruleArn] }), { abortSignal: abortSignal() });
    const rule = Rules[0];
    if (!rule) throw permanentFailure(ErrorType.ResourceNotFound, `listener rule ${ruleArn} not found`);
    return rule;
  };
  const modify = (target: AwsTarget, ruleArn: string, actions: Action[]) =>
    aws.elbv2(target).send(new ModifyRuleCommand({ RuleArn: ruleArn, Actions: actions }), { abortSignal: abortSignal() });
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
      await modify(input.target, input.ruleArn, [action]);
      return { changed: true, before: { blue: before.blue, green: before.green } };
    },

    /** The rule's actions as they are now (a forward, possibly weighted), in the form `setListenerRuleActions` takes back. */
    async readListenerRule(input: Pick<ListenerRuleInput, 'target' | 'ruleArn'>): Promise<{ actions: RuleAction[] }> {
      return { actions: writableRuleActions(actionsOf(await describe(input))) };
    },

    /** Makes the rule's actions exactly these: a maintenance page, or the actions read before it (ModifyRule only when they differ). */
    async setListenerRuleActions(input: Pick<ListenerRuleInput, 'target' | 'ruleArn'> & { actions: RuleAction[] }): Promise<{ changed: boolean }> {
      if (input.actions.length === 0) throw permanentFailure(ErrorType.InvalidInput, `listener rule ${input.ruleArn}: expected at least one action (got none)`);
      if (sameRuleActions(actionsOf(await describe(input)), input.actions)) return { changed: false };
      await modify(input.target, input.ruleArn, writableRuleActions(input.actions) as Action[]);
      return { changed: true };
    },
  };
}

/** The SDK's actions as plain JSON (every action AWS answers with has its `Type`). */
const actionsOf = (rule: Rule): RuleAction[] => (rule.Actions ?? []) as RuleAction[];

export type ListenerRuleActivities = ReturnType<typeof createListenerRuleActivities>;
