/**
 * Listener rule evaluation as an Application Load Balancer does it
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-update-rules.html):
 * rules in priority order (lowest first), the default rule last; a rule matches when every one of
 * its conditions matches, a condition when any of its values does. Pure, so it is unit-tested alone.
 */

export interface RuleCondition {
  field: string;
  values: string[];
  /** http-header: the header's name. */
  headerName?: string;
  /** query-string: key/value pairs (a missing key matches any key). */
  queryPairs?: { key?: string; value: string }[];
}

export type RuleAction =
  | { type: 'forward'; targetGroups: { arn: string; weight: number }[] }
  | { type: 'fixed-response'; statusCode: number; contentType?: string; body?: string }
  | { type: 'redirect'; statusCode: number; protocol?: string; host?: string; port?: string; path?: string; query?: string };

export interface ListenerRule {
  arn: string;
  /** Infinity for the default rule. */
  priority: number;
  conditions: RuleCondition[];
  action: RuleAction;
}

export interface RoutedRequest {
  host: string;
  path: string;
  method: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  sourceIp: string;
}

/** `*` any run of characters, `?` exactly one; ALB's wildcard syntax. */
function wildcard(pattern: string, caseInsensitive: boolean): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, caseInsensitive ? 'is' : 's');
}

function anyMatches(patterns: string[], value: string | undefined, caseInsensitive: boolean): boolean {
  return value !== undefined && patterns.some((p) => wildcard(p, caseInsensitive).test(value));
}

function headerValues(request: RoutedRequest, name: string): string[] {
  const value = request.headers[name.toLowerCase()];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function conditionMatches(condition: RuleCondition, request: RoutedRequest): boolean {
  switch (condition.field) {
    case 'host-header':
      // The port is not part of the host condition.
      return anyMatches(condition.values, request.host.replace(/:\d+$/, ''), true);
    case 'path-pattern':
      return anyMatches(condition.values, request.path, false);
    case 'http-header':
      return headerValues(request, condition.headerName ?? '').some((v) => anyMatches(condition.values, v, true));
    case 'http-request-method':
      return condition.values.includes(request.method);
    case 'query-string':
      return (condition.queryPairs ?? []).some(({ key, value }) =>
        key === undefined
          ? [...request.query.values()].some((v) => anyMatches([value], v, true))
          : request.query.getAll(key).some((v) => anyMatches([value], v, true)),
      );
    case 'source-ip':
      // Every sandbox client is on loopback: only an exact address or a /32 can be told apart.
      return condition.values.some((cidr) => cidr.replace(/\/32$/, '') === request.sourceIp);
    default:
      return false;
  }
}

export function sortRules(rules: ListenerRule[]): ListenerRule[] {
  return [...rules].sort((a, b) => a.priority - b.priority);
}

/** The first rule (of rules sorted by sortRules) whose conditions all match; the default rule has none. */
export function matchRule(sortedRules: ListenerRule[], request: RoutedRequest): ListenerRule | undefined {
  return sortedRules.find((rule) => rule.conditions.every((c) => conditionMatches(c, request)));
}

/** A weighted pick among a forward action's target groups (`random` in [0, 1)); groups of weight 0 get nothing. */
export function pickTargetGroup(groups: { arn: string; weight: number }[], random: number): string | undefined {
  const total = groups.reduce((sum, g) => sum + Math.max(0, g.weight), 0);
  if (total <= 0) return undefined;
  let point = random * total;
  for (const group of groups) {
    point -= Math.max(0, group.weight);
    if (point < 0) return group.arn;
  }
  return groups.filter((g) => g.weight > 0).at(-1)?.arn;
}
