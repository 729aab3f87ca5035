/** ALB listener rule priorities run from 1 to 50,000 (lower is evaluated first). */
export const MAX_RULE_PRIORITY = 50_000;

/** Where a tenant's search for a free priority starts: a hash of its ID (FNV-1a), the same on every run. */
export function rulePrioritySlot(tenantId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < tenantId.length; i++) {
    hash ^= tenantId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash % MAX_RULE_PRIORITY) + 1;
}

/** The first priority from the tenant's slot upwards (wrapping around) that no rule holds; undefined when all are taken. */
export function firstFreeRulePriority(tenantId: string, taken: ReadonlySet<number>): number | undefined {
  const start = rulePrioritySlot(tenantId);
  for (let i = 0; i < MAX_RULE_PRIORITY; i++) {
    const priority = ((start - 1 + i) % MAX_RULE_PRIORITY) + 1;
    if (!taken.has(priority)) return priority;
  }
  return undefined;
}

/** The load balancer's CloudWatch dimension (app/<name>/<id>) from one of its listener ARNs. */
export function loadBalancerFullName(listenerArn: string): string {
  const match = /:listener\/(app\/[^/]+\/[^/]+)\/[^/]+$/.exec(listenerArn);
  if (!match) throw new Error(`expected an Application Load Balancer listener ARN, got ${JSON.stringify(listenerArn)}`);
  return match[1]!;
}
