/**
 * `npm run least-privilege [-- --check] [call logs or folders...]`: the AWS calls the sandbox
 * logged (by default every `.sandbox/test-*` sandbox the integration suite left, see
 * scripts/test-integration.sh) against the policies of infra/cloudformation/fleet-access-role.yaml
 * as deployed into each account: calls per role, calls the role's policies do not allow (there
 * must be none), and actions granted but never used (each must have a reason in
 * infra/least-privilege-unused.yaml). `--check` exits 1 on any of those problems, or when
 * there are no calls to check.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ACCESS_ROLE_NAME, SANDBOX_REGION } from '../test/sandbox/aws-baseline';
import { findCallLogs, readCallLogs } from '../test/sandbox/least-privilege/calls';
import { checkLeastPrivilege, loadUnused, type LeastPrivilegeReport, type Problem } from '../test/sandbox/least-privilege/check';
import { templateRoles } from '../test/sandbox/least-privilege/template';
import { repoRoot } from '../test/sandbox/tools';

const TEMPLATE = join('infra', 'cloudformation', 'fleet-access-role.yaml');
const UNUSED = join('infra', 'least-privilege-unused.yaml');
const log = (line: string) => console.log(`[least-privilege] ${line}`);

function callLogPaths(args: string[]): string[] {
  if (args.length === 0) return findCallLogs(join(repoRoot, '.sandbox'));
  return args.flatMap((arg) => {
    const path = resolve(arg);
    if (!existsSync(path)) throw new Error(`${arg}: no such call log or folder`);
    return statSync(path).isDirectory() ? findCallLogs(path) : [path];
  });
}

const problemLine = (p: Problem) => `  ${p.role} ${p.action}${p.resource ? ` on ${p.resource}` : ''}: ${p.count} call(s), first at ${p.firstAt}${p.detail ? ` (${p.detail})` : ''}`;

function print(report: LeastPrivilegeReport, logs: string[]): void {
  log(`${report.calls} call(s) in ${logs.length} log(s): ${logs.map((l) => relative(repoRoot, l)).join(', ')}`);
  for (const role of report.byRole) {
    const total = [...role.actions.values()].reduce((a, b) => a + b, 0);
    log(`${role.role}: ${total} call(s) in ${role.accounts.size} account(s)`);
    for (const [action, count] of [...role.actions].sort(([a], [b]) => a.localeCompare(b))) console.log(`  ${action.padEnd(48)} ${count}`);
  }
  if (report.otherPrincipals.size > 0) {
    log(`not checked (principals the template does not declare: the seeding, tests reading AWS): ${[...report.otherPrincipals].map(([p, n]) => `${p} ${n}`).join(', ')}`);
  }
  if (report.refusedBySandbox > 0) log(`${report.refusedBySandbox} call(s) the sandbox refused (tests of the refusal) are not evaluated`);
  log(`calls the role's policies do not allow: ${report.denied.length === 0 ? 'none' : report.denied.length}`);
  for (const p of report.denied) console.log(problemLine(p));
  if (report.invalid.length > 0) log(`calls the policy simulator cannot evaluate: ${report.invalid.length}`);
  for (const p of report.invalid) console.log(problemLine(p));
  if (report.conditional.length > 0) log(`allowed only under conditions the call log cannot show (the sandbox enforced them): ${report.conditional.length}`);
  for (const p of report.conditional) console.log(problemLine(p));
  if (report.simulatorGaps.length > 0) log(`not typed by the policy simulator's IAM data (the sandbox's IAM let them through): ${report.simulatorGaps.length}`);
  for (const p of report.simulatorGaps) console.log(problemLine(p));
  const unexplained = report.unused.filter((u) => !u.reason).length;
  log(`granted but unused: ${report.unused.length}${unexplained ? `, ${unexplained} without a reason (use the action, remove the grant, or give the reason in ${UNUSED})` : ''}`);
  for (const u of report.unused) console.log(`  ${u.role} ${u.action}: ${u.reason ?? 'NO REASON'}`);
  for (const e of report.stale) log(`note: ${UNUSED} lists ${e.role} ${e.action}, which is used now or no longer granted; delete the entry`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { check: { type: 'boolean', default: false } }, allowPositionals: true });
  const logs = callLogPaths(positionals);
  const calls = readCallLogs(logs, repoRoot);
  if (calls.length === 0) {
    log('no calls to check: run the integration suite first (npm run test:integration); each sandbox logs to .sandbox/test-<file>/aws/calls.jsonl');
    return values.check ? 1 : 0;
  }
  const template = readFileSync(join(repoRoot, TEMPLATE), 'utf8');
  const rolesOf = (accountId: string) => templateRoles(template, TEMPLATE, { accountId, region: SANDBOX_REGION, parameters: { RoleName: ACCESS_ROLE_NAME } });
  const report = await checkLeastPrivilege(calls, rolesOf, loadUnused(join(repoRoot, UNUSED)));
  print(report, logs);
  if (!values.check) return 0;
  log(report.ok ? 'ok' : 'FAILED: see above');
  return report.ok ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
