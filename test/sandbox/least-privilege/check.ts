import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseOrThrow } from '../../../src/shared/validation';
import { iamAction, type AwsCall } from './calls';
import { evaluateRequest, type Verdict } from './evaluate';
import type { PolicyStatement, TemplateRole } from './template';

/** infra/least-privilege-unused.yaml: granted actions no call of the suite uses, each with its reason. */
const unusedSchema = z.strictObject({
  unused: z.array(
    z.strictObject({
      role: z.string().min(1, "expected the role's logical ID in the template"),
      action: z.string().min(1, 'expected the action as the policy grants it, or "*" for every grant of the role'),
      reason: z
        .string()
        .trim()
        .min(10, 'expected a one-line reason why the grant stays although no call uses it')
        .refine((r) => !r.includes('\n'), 'expected one line'),
    }),
  ),
});
export type UnusedEntry = z.infer<typeof unusedSchema>['unused'][number];

export function parseUnused(text: string, source: string): UnusedEntry[] {
  return parseOrThrow(unusedSchema, parseYaml(text) ?? { unused: [] }, `least-privilege exceptions ${source}`).unused;
}
export const loadUnused = (path: string): UnusedEntry[] => parseUnused(readFileSync(path, 'utf8'), path);

/** The roles of the template as deployed into each account the calls came from. */
export type RolesOf = (accountId: string) => TemplateRole[];
/** The roles' logical IDs and grants are the same in every account; any account lists them. */
const ANY_ACCOUNT = '000000000000';

interface RoleCalls {
  /** Logical ID in the template. */
  role: string;
  accounts: Set<string>;
  /** `service:Action` -> number of calls. */
  actions: Map<string, number>;
}

export interface Problem {
  role: string;
  action: string;
  resource?: string;
  count: number;
  /** Where the first such call is in the logs (file:line). */
  firstAt: string;
  detail?: string;
}

export interface LeastPrivilegeReport {
  calls: number;
  byRole: RoleCalls[];
  /** Calls by principals the template does not declare (the seeding's admin, tests inspecting AWS): counted only. */
  otherPrincipals: Map<string, number>;
  /** Calls the sandbox refused (tests of the refusal itself): not evaluated. */
  refusedBySandbox: number;
  denied: Problem[];
  invalid: Problem[];
  /** Allowed only under conditions on keys the log does not record (see evaluate.ts). */
  conditional: Problem[];
  /** Actions the simulator's IAM data cannot type (SIMULATOR_DATA_GAPS in evaluate.ts); the sandbox's IAM let them through. */
  simulatorGaps: Problem[];
  unused: { role: string; action: string; reason?: string }[];
  /**
   * Exception entries that match no unused grant any more (the grant is used now, or gone):
   * reported so the file shrinks, not a failure (a new test that uses a grant is good news).
   */
  stale: UnusedEntry[];
  ok: boolean;
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const statements = (role: TemplateRole): PolicyStatement[] => role.policies.flatMap((p) => asList(p.document.Statement as never) as unknown as PolicyStatement[]);

/** IAM's action match: case-insensitive, `*` and `?` wildcards. */
export function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return regex.test(action);
}

/** `arn:aws:sts::<acct>:assumed-role/<name>/<session>` or `arn:aws:iam::<acct>:role/<path/><name>`: the role's name. */
export function roleNameOf(principalArn: string): string | undefined {
  const assumed = /^arn:[^:]+:sts::\d{12}:assumed-role\/([^/]+)\/[^/]+$/.exec(principalArn);
  if (assumed) return assumed[1];
  const role = /^arn:[^:]+:iam::\d{12}:role\/(?:.*\/)?([^/]+)$/.exec(principalArn);
  return role?.[1];
}

export async function checkLeastPrivilege(calls: AwsCall[], rolesOf: RolesOf, exceptions: UnusedEntry[]): Promise<LeastPrivilegeReport> {
  const byRole = new Map<string, RoleCalls>();
  const otherPrincipals = new Map<string, number>();
  const usedBy = new Map<string, Set<string>>(); // role -> IAM actions of its allowed calls
  const verdicts = new Map<string, Promise<Verdict>>();
  const problems = { denied: new Map<string, Problem>(), invalid: new Map<string, Problem>(), conditional: new Map<string, Problem>(), 'simulator-gap': new Map<string, Problem>() };
  let refusedBySandbox = 0;

  const rolesByAccount = new Map<string, TemplateRole[]>();
  const roles = (account: string) => rolesByAccount.get(account) ?? rolesByAccount.set(account, rolesOf(account)).get(account)!;
  for (const role of roles(ANY_ACCOUNT)) byRole.set(role.logicalId, { role: role.logicalId, accounts: new Set(), actions: new Map() });

  for (const call of calls) {
    const name = roleNameOf(call.principalArn);
    const role = name === undefined ? undefined : roles(call.account).find((r) => r.name === name);
    if (!role) {
      // An assumed role's session name varies per client: count the role.
      const kind = call.principalArn.replace(/^arn:[^:]+:(sts|iam)::\d{12}:/, '').replace(/^(assumed-role\/[^/]+)\/.*$/, '$1');
      otherPrincipals.set(kind, (otherPrincipals.get(kind) ?? 0) + 1);
      continue;
    }
    if (call.allowed === false) {
      refusedBySandbox++;
      continue;
    }
    const action = iamAction(call);
    const entry = byRole.get(role.logicalId)!;
    entry.accounts.add(call.account);
    entry.actions.set(action, (entry.actions.get(action) ?? 0) + 1);

    const key = JSON.stringify([role.arn, action, call.resource ?? '*', call.region ?? '', call.context ?? {}]);
    let verdict = verdicts.get(key);
    if (!verdict) {
      verdict = evaluateRequest({ role, accountId: call.account, action, resource: call.resource, region: call.region, context: call.context });
      verdicts.set(key, verdict);
    }
    const outcome = await verdict;
    // The sandbox enforced these: the call happened, so the grant is used.
    if (outcome.result === 'allowed' || outcome.result === 'conditional' || outcome.result === 'simulator-gap') {
      const used = usedBy.get(role.logicalId) ?? usedBy.set(role.logicalId, new Set()).get(role.logicalId)!;
      used.add(action);
    }
    if (outcome.result === 'allowed') continue;
    const bucket = problems[outcome.result];
    const problemKey = JSON.stringify([role.logicalId, action, call.resource ?? '']);
    const known = bucket.get(problemKey);
    if (known) known.count++;
    else
      bucket.set(problemKey, {
        role: role.logicalId,
        action,
        ...(call.resource ? { resource: call.resource } : {}),
        count: 1,
        firstAt: call.source,
        ...(outcome.result === 'invalid' ? { detail: outcome.message } : {}),
      });
  }

  // Every action pattern an Allow statement grants, per role, against the actions its calls used.
  const unused: LeastPrivilegeReport['unused'] = [];
  const matched = new Set<UnusedEntry>();
  for (const role of roles(ANY_ACCOUNT)) {
    const used = [...(usedBy.get(role.logicalId) ?? [])];
    const granted = [...new Set(statements(role).filter((s) => s.Effect === 'Allow').flatMap((s) => asList(s.Action)))];
    for (const action of granted) {
      if (used.some((u) => actionMatches(action, u))) continue;
      const entry = exceptions.find((e) => e.role === role.logicalId && e.action === action) ?? exceptions.find((e) => e.role === role.logicalId && e.action === '*');
      if (entry) matched.add(entry);
      unused.push({ role: role.logicalId, action, ...(entry ? { reason: entry.reason } : {}) });
    }
  }
  const stale = exceptions.filter((e) => !matched.has(e));
  const report = {
    calls: calls.length,
    byRole: [...byRole.values()],
    otherPrincipals,
    refusedBySandbox,
    denied: [...problems.denied.values()],
    invalid: [...problems.invalid.values()],
    conditional: [...problems.conditional.values()],
    simulatorGaps: [...problems['simulator-gap'].values()],
    unused,
    stale,
  };
  return { ...report, ok: report.denied.length === 0 && report.invalid.length === 0 && unused.every((u) => u.reason) };
}
