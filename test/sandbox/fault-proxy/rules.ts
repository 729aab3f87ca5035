import { z } from 'zod';

/**
 * What the fault proxy may do to a request, and to which requests. Rules are plain JSON so the
 * same shape travels through the control API (tests in another process than the sandbox) and
 * the in-process handle.
 */
export const FAULTS = ['throttle', '5xx', 'latency', 'drop'] as const;
export type Fault = (typeof FAULTS)[number];

export const TARGETS = ['aws', 'kube'] as const;
export type Target = (typeof TARGETS)[number];

export const faultRuleSchema = z.strictObject({
  target: z.enum(TARGETS),
  /** Every given field must match; none given matches every request of the target. */
  match: z
    .strictObject({
      /** AWS: the SigV4 signing name (`cloudformation`, `ecs`, `route53`...); Kubernetes: unused. */
      service: z.string().min(1).optional(),
      /** AWS: the operation (`DescribeStacks`, `UpdateService`); Kubernetes: the HTTP method (`PATCH`). */
      action: z.string().min(1).optional(),
      /** A regular expression tested against the request path (with its query string). */
      path: z.string().min(1).optional(),
    })
    .default({}),
  fault: z.enum(FAULTS),
  /** Share of matching requests that get the fault, 0..1. */
  rate: z.number().min(0).max(1),
  /** For `latency`: added delay before the request is forwarded. */
  latencyMs: z.number().int().min(0).max(120_000).default(1_000),
  /**
   * For `drop`: `request` closes the connection before the request reaches the server;
   * `response` forwards it and then closes instead of answering, so the side effect happened
   * and the caller cannot know (the case idempotency exists for).
   */
  dropStage: z.enum(['request', 'response']).default('request'),
});
export type FaultRule = z.output<typeof faultRuleSchema>;
export type FaultRuleInput = z.input<typeof faultRuleSchema>;

export const faultRulesSchema = z.array(faultRuleSchema);

/** What the proxy knows about one request, for matching and for counters. */
export interface RequestFacts {
  target: Target;
  service: string;
  action: string;
  method: string;
  path: string;
}

export function ruleMatches(rule: FaultRule, facts: RequestFacts): boolean {
  if (rule.target !== facts.target) return false;
  const { service, action, path } = rule.match;
  if (service !== undefined && service !== facts.service) return false;
  if (action !== undefined && action !== facts.action) return false;
  if (path !== undefined && !new RegExp(path).test(facts.path)) return false;
  return true;
}

/**
 * The first matching rule whose dice roll hits decides the fault; latency also lets a later
 * rule add an error on top (a slow throttle is a real thing). `random` is injected (seeded) so
 * a run can be reproduced as far as concurrency allows.
 */
export function chooseFaults(rules: readonly FaultRule[], facts: RequestFacts, random: () => number): { latency?: FaultRule; failure?: FaultRule } {
  const chosen: { latency?: FaultRule; failure?: FaultRule } = {};
  for (const rule of rules) {
    if (!ruleMatches(rule, facts) || random() >= rule.rate) continue;
    if (rule.fault === 'latency') chosen.latency ??= rule;
    else chosen.failure ??= rule;
    if (chosen.failure) break;
  }
  return chosen;
}

/** mulberry32: a tiny seeded PRNG, good enough to pick faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
