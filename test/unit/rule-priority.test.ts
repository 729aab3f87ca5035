import { firstFreeRulePriority, loadBalancerFullName, MAX_RULE_PRIORITY, rulePrioritySlot } from '../../src/shared/rule-priority';

describe('listener rule priorities', () => {
  it('starts each tenant at a stable slot in 1..50000', () => {
    expect(rulePrioritySlot('acme')).toBe(rulePrioritySlot('acme'));
    expect(rulePrioritySlot('acme')).not.toBe(rulePrioritySlot('globex'));
    for (const id of ['a1', 'acme', 'globex', 'x'.repeat(32)]) {
      expect(rulePrioritySlot(id)).toBeGreaterThanOrEqual(1);
      expect(rulePrioritySlot(id)).toBeLessThanOrEqual(MAX_RULE_PRIORITY);
    }
  });

  it('skips taken priorities, wraps around, and gives up only when every one is taken', () => {
    const slot = rulePrioritySlot('acme');
    expect(firstFreeRulePriority('acme', new Set())).toBe(slot);
    expect(firstFreeRulePriority('acme', new Set([slot, slot + 1]))).toBe(slot + 2);
    const allButOne = new Set(Array.from({ length: MAX_RULE_PRIORITY }, (_, i) => i + 1).filter((p) => p !== 7));
    expect(firstFreeRulePriority('acme', allButOne)).toBe(7);
    allButOne.add(7);
    expect(firstFreeRulePriority('acme', allButOne)).toBeUndefined();
  });

  it('reads the CloudWatch dimension of a load balancer from its listener ARN', () => {
    expect(loadBalancerFullName('arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/tenants/50dc6c495c0c9188/f2f7dc8efc522ab2')).toBe('app/tenants/50dc6c495c0c9188');
    expect(() => loadBalancerFullName('arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/x/1/2')).toThrow(/Application Load Balancer listener ARN/);
  });
});
