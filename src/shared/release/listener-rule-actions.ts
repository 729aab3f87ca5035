/**
 * A listener rule's actions as plain JSON (the shape ELBv2's DescribeRules answers and ModifyRule
 * takes), with the comparison that makes a write idempotent and the maintenance page of a release
 * in maintenance mode (docs/releases.md, "Maintenance mode"). No SDK import: workflows use it too.
 */

export interface RuleTargetGroup {
  TargetGroupArn: string;
  Weight?: number;
}

export interface RuleAction {
  Type: string;
  Order?: number;
  TargetGroupArn?: string;
  ForwardConfig?: {
    TargetGroups?: RuleTargetGroup[];
    TargetGroupStickinessConfig?: { Enabled?: boolean; DurationSeconds?: number };
  };
  FixedResponseConfig?: { StatusCode: string; ContentType?: string; MessageBody?: string };
  RedirectConfig?: Record<string, unknown>;
}

/**
 * A forward to one group is written either as `TargetGroupArn` or as a `ForwardConfig` with that
 * one group (AWS answers with both): both read as the same weighted list here, weights defaulting
 * to 1 as ALB's do, so a rule is never written again only because it was spelt the other way.
 */
function canonical(action: RuleAction): unknown {
  const groups = action.ForwardConfig?.TargetGroups?.length
    ? action.ForwardConfig.TargetGroups.map((g) => ({ arn: g.TargetGroupArn, weight: g.Weight ?? 1 }))
    : action.TargetGroupArn
      ? [{ arn: action.TargetGroupArn, weight: 1 }]
      : undefined;
  const stickiness = action.ForwardConfig?.TargetGroupStickinessConfig;
  return {
    type: action.Type,
    order: action.Order ?? null,
    groups: groups ? [...groups].sort((a, b) => a.arn.localeCompare(b.arn)) : null,
    stickiness: stickiness?.Enabled ? { enabled: true, seconds: stickiness.DurationSeconds ?? null } : null,
    fixed: action.FixedResponseConfig
      ? { status: action.FixedResponseConfig.StatusCode, type: action.FixedResponseConfig.ContentType ?? null, body: action.FixedResponseConfig.MessageBody ?? null }
      : null,
    redirect: action.RedirectConfig ?? null,
  };
}

/** True when the two lists send every request the same way (order of actions by their `Order`). */
export function sameRuleActions(a: readonly RuleAction[], b: readonly RuleAction[]): boolean {
  const sorted = (actions: readonly RuleAction[]) => [...actions].sort((x, y) => (x.Order ?? 0) - (y.Order ?? 0)).map(canonical);
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
}

/**
 * The actions as ModifyRule takes them back: only the fields AWS accepts, nothing it added on
 * reading (a stickiness block that is off). A forward keeps its weights exactly.
 */
export function writableRuleActions(actions: readonly RuleAction[]): RuleAction[] {
  return actions.map((action) => {
    const out: RuleAction = { Type: action.Type };
    if (action.Order !== undefined) out.Order = action.Order;
    if (action.ForwardConfig?.TargetGroups?.length) {
      out.ForwardConfig = { TargetGroups: action.ForwardConfig.TargetGroups.map((g) => ({ TargetGroupArn: g.TargetGroupArn, ...(g.Weight !== undefined ? { Weight: g.Weight } : {}) })) };
      const stickiness = action.ForwardConfig.TargetGroupStickinessConfig;
      if (stickiness?.Enabled) out.ForwardConfig.TargetGroupStickinessConfig = { Enabled: true, DurationSeconds: stickiness.DurationSeconds };
    } else if (action.TargetGroupArn) {
      out.TargetGroupArn = action.TargetGroupArn;
    }
    if (action.FixedResponseConfig) out.FixedResponseConfig = { ...action.FixedResponseConfig };
    if (action.RedirectConfig) out.RedirectConfig = { ...action.RedirectConfig };
    return out;
  });
}

/** How long the page asks a browser to wait before it loads again. */
export const MAINTENANCE_RETRY_SECONDS = 30;

/**
 * What users get while their tenant is in maintenance: a 503 (search engines keep the page, clients
 * retry) with a small HTML page. An ALB fixed response sets only the status, content type and body
 * (at most 1,024 characters): it cannot send a `Retry-After` header, so the page reloads itself.
 */
export const MAINTENANCE_PAGE_HTML =
  '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="' +
  String(MAINTENANCE_RETRY_SECONDS) +
  '"><title>Down for maintenance</title></head><body><h1>Down for maintenance</h1>' +
  '<p>We are backing up and updating this service. It will be back in a few minutes; this page reloads by itself.</p></body></html>';

export function maintenancePageActions(): RuleAction[] {
  return [{ Type: 'fixed-response', Order: 1, FixedResponseConfig: { StatusCode: '503', ContentType: 'text/html', MessageBody: MAINTENANCE_PAGE_HTML } }];
}

/** True for a rule that already answers with the maintenance page (an earlier run put it there). */
export function isMaintenancePage(actions: readonly RuleAction[]): boolean {
  return sameRuleActions(actions, maintenancePageActions());
}
