/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { DescribeRulesCommand, ElasticLoadBalancingV2Client, ModifyRuleCommand, type Action } from '@aws-sdk/client-elastic-load-balancing-v2';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { AwsClients } from '../../src/activities/aws/clients';
import { createListenerRuleActivities } from '../../src/activities/listener-rule';
import { describeMaintenanceOutage, maintenanceOutageOf, outagesOf } from '../../src/client/release-maintenance';
import { planRelease } from '../../src/client/releases';
import { parseFleetConfig } from '../../src/shared/config/load';
import { childInputOf } from '../../src/shared/release/child-input';
import {
  isMaintenancePage,
  MAINTENANCE_PAGE_HTML,
  maintenancePageActions,
  sameRuleActions,
  writableRuleActions,
  type RuleAction,
} from '../../src/shared/release/listener-rule-actions';
import { releaseWaveInputSchema } from '../../src/shared/messages/release';
import type { AwsTarget } from '../../src/shared/tenant-spec';
import { progressBlock, summaryLines } from '../../src/client/cli/release-view';
import type { CompactReleaseState, ReleaseTenantResult } from '../../src/shared/messages/release';
import { compactState, expandState } from '../../src/shared/release/compact';
import { openRun, step } from '../../src/shared/release/machine';
import type { ReleaseCommand, ReleaseEvent } from '../../src/shared/release/machine-types';
import { addWaveMaintenance, describeWaveMaintenance, progressOf } from '../../src/shared/release/report';
import { planInput } from '../support/release-sim';
import { InputValidationError } from '../../src/shared/validation';

const exampleText = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
const example = parseFleetConfig(exampleText);
const request = { releaseId: 'r-1', version: '2.0.0', plan: example.releasePlans[0]!.name, requestedBy: 'unit' };

function refusalOf(fn: () => unknown): InputValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InputValidationError);
    return error as InputValidationError;
  }
  throw new Error('expected a refusal');
}

describe('maintenance mode: asking for it, and its refusals before anything starts', () => {
  it('the example fleet has a tenant without a load balancer: a release of it in maintenance mode is refused, naming field, tenant and value', () => {
    expect(example.tenants.find((t) => t.id === 'acme')?.loadBalancer).toBeUndefined();
    const refused = refusalOf(() => planRelease(example, { ...request, options: { maintenanceMode: {} } }));
    expect(refused.problems).toEqual([
      expect.stringMatching(/^maintenanceMode: tenant "acme" has no load balancer, so no listener rule can answer with the maintenance page; .* \(got maintenanceMode \{\} from the request\)$/),
    ]);
  });

  it('from the plan, with a drain time: carried in the options in ms, and to each deploy (not to a revert or a rollback)', () => {
    const raw = parse(exampleText) as { releasePlans: Record<string, unknown>[] };
    raw.releasePlans[0]!.maintenanceMode = { drain: '20s' };
    const config = parseFleetConfig(stringify(raw), 'fleet.yaml');
    const refused = refusalOf(() => planRelease(config, request));
    expect(refused.problems[0]).toContain(`(got maintenanceMode {"drainMs":20000} from plan "${request.plan}")`);
    const withLoadBalancers = config.tenants.filter((t) => t.loadBalancer).map((t) => t.id);
    expect(withLoadBalancers.length).toBeGreaterThan(0);
    const input = releaseWaveInputSchema.parse(planRelease(config, { ...request, tenants: withLoadBalancers }));
    expect(input.options.maintenanceMode).toEqual({ drainMs: 20_000 });
    const start = { type: 'start-child', tenantId: withLoadBalancers[0]!, wave: input.waves[0]!.name } as const;
    expect(childInputOf(input, { ...start, mode: 'deploy' }).maintenanceMode).toEqual({ drainMs: 20_000 });
    expect(childInputOf(input, { ...start, mode: 'revert', revertTo: '1.0.0' })).not.toHaveProperty('maintenanceMode');
    expect(childInputOf(input, { ...start, mode: 'rollback', revertTo: '1.0.0' })).not.toHaveProperty('maintenanceMode');
    // Without it, nothing in the options or a child's input changes.
    const plain = releaseWaveInputSchema.parse(planRelease(example, request));
    expect(plain.options).not.toHaveProperty('maintenanceMode');
    expect(childInputOf(plain, { ...start, tenantId: 'acme', mode: 'deploy' })).not.toHaveProperty('maintenanceMode');
  });

  it('is refused for tenants the plan releases blue/green (their shifts write the same rule), naming them', () => {
    const raw = parse(exampleText) as { releasePlans: Record<string, unknown>[]; loadBalancers: Record<string, unknown>[] };
    raw.loadBalancers[0]!.testListenerArn = String(raw.loadBalancers[0]!.listenerArn).replace(/[^/]+$/, '0c1d2e3f4a5b6c7d');
    raw.releasePlans[0]!.strategyByEnvironment = { staging: { type: 'blueGreen', steps: [{ weight: 100, bake: '1m' }], blueRetention: '1h' } };
    const config = parseFleetConfig(stringify(raw), 'fleet.yaml');
    const refused = refusalOf(() => planRelease(config, { ...request, tenants: ['globex'], options: { maintenanceMode: {} } }));
    expect(refused.problems).toEqual([expect.stringMatching(/^maintenanceMode: plan ".*" releases "globex" blue\/green, .* \(got maintenanceMode \{\}\)$/)]);
    // Without maintenance mode the same release plans fine.
    expect(planRelease(config, { ...request, tenants: ['globex'] }).blueGreen).toHaveLength(1);
  });

  it('a plan value that is neither true nor { drain } is refused by the fleet config, naming the field', () => {
    const raw = parse(exampleText) as { releasePlans: Record<string, unknown>[] };
    raw.releasePlans[0]!.maintenanceMode = { drain: 'soon' };
    const refused = refusalOf(() => parseFleetConfig(stringify(raw), 'fleet.yaml'));
    expect(refused.problems.join('\n')).toMatch(/releasePlans\[0\]\.maintenanceMode/);
  });
});

describe('listener rule actions', () => {
  const blue = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/1';
  const green = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/2';

  it('a forward to one group reads the same spelt either way; weights and groups are compared exactly', () => {
    const plain: RuleAction[] = [{ Type: 'forward', Order: 1, TargetGroupArn: blue }];
    // DescribeRules answers with both spellings and a stickiness block that is off.
    const described: RuleAction[] = [
      { Type: 'forward', Order: 1, TargetGroupArn: blue, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 1 }], TargetGroupStickinessConfig: { Enabled: false } } },
    ];
    expect(sameRuleActions(plain, described)).toBe(true);
    const weighted = (b: number, g: number): RuleAction[] => [
      { Type: 'forward', Order: 1, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: b }, { TargetGroupArn: green, Weight: g }] } },
    ];
    expect(sameRuleActions(weighted(90, 10), weighted(90, 10))).toBe(true);
    expect(sameRuleActions(weighted(90, 10), weighted(80, 20))).toBe(false);
    expect(sameRuleActions(weighted(100, 0), plain)).toBe(false);
    expect(sameRuleActions(plain, maintenancePageActions())).toBe(false);
  });

  it('what is written back keeps a weighted forward exactly, without what AWS adds on reading', () => {
    const described: RuleAction[] = [
      {
        Type: 'forward',
        Order: 1,
        ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 70 }, { TargetGroupArn: green, Weight: 30 }], TargetGroupStickinessConfig: { Enabled: false } },
      },
    ];
    expect(writableRuleActions(described)).toEqual([{ Type: 'forward', Order: 1, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 70 }, { TargetGroupArn: green, Weight: 30 }] } }]);
  });

  it('the maintenance page is a 503 HTML page within the 1,024 characters a fixed response may carry', () => {
    const [page] = maintenancePageActions();
    expect(page).toMatchObject({ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503', ContentType: 'text/html' } });
    expect(MAINTENANCE_PAGE_HTML.length).toBeLessThanOrEqual(1024);
    expect(MAINTENANCE_PAGE_HTML).toMatch(/http-equiv="refresh"/);
    expect(isMaintenancePage(maintenancePageActions())).toBe(true);
  });
});

describe('setListenerRuleActions: exact, and safe to run twice', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
  const ruleArn = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/lb/1/2/3';
  const elbv2 = mockClient(ElasticLoadBalancingV2Client);
  /** The rule as moto or AWS holds it: ModifyRule replaces its actions. */
  let actions: Action[];
  let activities: ReturnType<typeof createListenerRuleActivities>;
  const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> => quietActivityEnvironment().run<A, R, typeof fn>(fn, ...args);

  beforeEach(() => {
    elbv2.reset();
    actions = [{ Type: 'forward', Order: 1, TargetGroupArn: 'tg-blue', ForwardConfig: { TargetGroups: [{ TargetGroupArn: 'tg-blue', Weight: 1 }] } }];
    elbv2.on(DescribeRulesCommand).callsFake(() => ({ Rules: [{ RuleArn: ruleArn, Actions: actions }] }));
    elbv2.on(ModifyRuleCommand).callsFake((input: { Actions?: Action[] }) => {
      actions = input.Actions ?? [];
      return { Rules: [{ RuleArn: ruleArn, Actions: actions }] };
    });
    activities = createListenerRuleActivities({ aws: new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } }) });
  });

  it('puts the page up once and back once, however often each is asked, and reads back exactly what was there', async () => {
    const { actions: before } = await run(activities.readListenerRule, { target, ruleArn });
    expect(await run(activities.setListenerRuleActions, { target, ruleArn, actions: maintenancePageActions() })).toEqual({ changed: true });
    // A retry after a lost completion, or a resumed workflow: the same exact actions, no second write.
    expect(await run(activities.setListenerRuleActions, { target, ruleArn, actions: maintenancePageActions() })).toEqual({ changed: false });
    expect(elbv2.commandCalls(ModifyRuleCommand)).toHaveLength(1);
    expect(isMaintenancePage(actions as RuleAction[])).toBe(true);
    expect(await run(activities.setListenerRuleActions, { target, ruleArn, actions: before })).toEqual({ changed: true });
    expect(await run(activities.setListenerRuleActions, { target, ruleArn, actions: before })).toEqual({ changed: false });
    expect(elbv2.commandCalls(ModifyRuleCommand)).toHaveLength(2);
    expect(sameRuleActions(actions as RuleAction[], before)).toBe(true);
    expect(actions).toEqual([{ Type: 'forward', Order: 1, ForwardConfig: { TargetGroups: [{ TargetGroupArn: 'tg-blue', Weight: 1 }] } }]);
  });

  it('a rule that is gone is a permanent failure naming it; an empty action list is refused', async () => {
    elbv2.on(DescribeRulesCommand).resolves({ Rules: [] });
    await expect(run(activities.readListenerRule, { target, ruleArn })).rejects.toMatchObject({ type: 'ResourceNotFound', nonRetryable: true, message: expect.stringContaining(ruleArn) as unknown });
    await expect(run(activities.setListenerRuleActions, { target, ruleArn, actions: [] })).rejects.toMatchObject({ type: 'InvalidInput', nonRetryable: true });
  });
});

describe('tenantctl release status: the time each tenant spent on the maintenance page', () => {
  const result = (pageFrom: string, trafficBack?: string) => ({ maintenance: { pageFrom, ...(trafficBack ? { trafficBack } : {}) } });

  it('is traffic back minus page up, from the tenant workflow result; a page traffic never left is told as such', () => {
    const outage = maintenanceOutageOf(result('2026-12-02T07:00:00.000Z', '2026-12-02T07:00:12.345Z'));
    expect(outage).toEqual({ pageFrom: '2026-12-02T07:00:00.000Z', trafficBack: '2026-12-02T07:00:12.345Z', ms: 12_345 });
    expect(describeMaintenanceOutage(outage)).toBe('maintenance page 12.3 s');
    expect(describeMaintenanceOutage(maintenanceOutageOf(result('2026-12-02T07:00:00.000Z')))).toBe('maintenance page since 2026-12-02T07:00:00.000Z, traffic not back');
    // A tenant released without the page (already on the version) has nothing to show.
    expect(describeMaintenanceOutage(maintenanceOutageOf({}))).toBe('');
  });

  it("reads only finished tenants' results (a running tenant's would wait for it to end)", async () => {
    const asked: string[] = [];
    const outages = await outagesOf(
      { acme: { status: 'succeeded' }, globex: { status: 'running' }, hooli: { status: 'rolled-back' }, initech: { status: 'pending' }, umbrella: { status: 'skipped' } },
      (tenantId) => {
        asked.push(tenantId);
        return Promise.resolve(tenantId === 'acme' ? result('2026-12-02T07:00:00.000Z', '2026-12-02T07:00:09.100Z') : undefined);
      },
    );
    expect(asked.sort()).toEqual(['acme', 'hooli']);
    expect(Object.fromEntries(Object.entries(outages).map(([id, o]) => [id, describeMaintenanceOutage(o)]))).toEqual({ acme: 'maintenance page 9.1 s', hooli: '' });
  });
});

describe('the outage per wave (the release summary, the progress query, tenantctl release status)', () => {
  const t0 = Date.parse('2026-12-02T10:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const result = (tenantId: string, pageMs: number | undefined, status: ReleaseTenantResult['status'] = 'succeeded'): ReleaseTenantResult => ({
    tenantId,
    status,
    deployed: true,
    previousVersion: '1.0.0',
    maintenance: { pageFrom: at(0), ...(pageMs !== undefined ? { trafficBack: at(pageMs) } : {}) },
  });
  const run = (events: ReleaseEvent[], input = planInput([{ name: 'canary', maxInFlight: 1, failureThreshold: { count: 1 }, bakeMs: 0 }, { name: 'rest', maxInFlight: 3, failureThreshold: { count: 1 }, bakeMs: 0 }], [1, 3])) => {
    let state = openRun(input, undefined);
    const clock = { now: t0, historyLong: false };
    let commands: ReleaseCommand[] = [];
    for (const event of [{ type: 'run-started', first: true } as const, ...events]) ({ state, commands } = step(input, state, event, clock));
    return { input, state, commands };
  };

  it('adds each finished tenant of a wave: max with the tenant, total, count; a page traffic never left counts apart', () => {
    let wave = addWaveMaintenance(undefined, 'acme', { pageFrom: at(0), trafficBack: at(12_300) });
    wave = addWaveMaintenance(wave, 'globex', { pageFrom: at(0), trafficBack: at(20_000) });
    wave = addWaveMaintenance(wave, 'initech', { pageFrom: at(0), trafficBack: at(20_000) });
    expect(wave).toEqual({ tenants: 3, totalMs: 52_300, maxMs: 20_000, longest: 'globex' });
    expect(describeWaveMaintenance(wave)).toBe('maintenance page max 20.0 s (globex), total 52.3 s over 3 tenants');
    const stuck = addWaveMaintenance(wave, 'hooli', { pageFrom: at(0) });
    expect(stuck).toEqual({ ...wave, notBack: 1 });
    expect(describeWaveMaintenance(stuck)).toBe('maintenance page max 20.0 s (globex), total 52.3 s over 3 tenants; 1 tenant still on it');
    expect(describeWaveMaintenance(addWaveMaintenance(undefined, 'hooli', { pageFrom: at(0) }))).toBe('maintenance page 1 tenant still on it');
  });

  it('the release keeps it per wave as its tenants finish (in the progress query), carries it across continue-as-new, and ends with it in its summary', () => {
    const { input, state, commands } = run([
      { type: 'child-finished', tenantId: 't0', result: result('t0', 13_900) },
      { type: 'child-finished', tenantId: 't1', result: result('t1', 9_100) },
      { type: 'child-finished', tenantId: 't2', result: result('t2', 11_000, 'rolled-back') },
      { type: 'child-finished', tenantId: 't3', result: result('t3', undefined, 'rollback-failed') },
    ]);
    const canary = { tenants: 1, totalMs: 13_900, maxMs: 13_900, longest: 't0' };
    const rest = { tenants: 2, totalMs: 20_100, maxMs: 11_000, longest: 't2', notBack: 1 };
    expect(progressOf(input, state).waves.map((w) => w.maintenance)).toEqual([canary, rest]);
    expect(expandState(input, JSON.parse(JSON.stringify(compactState(input, state))) as CompactReleaseState).waves.map((w) => w.maintenance)).toEqual([canary, rest]);
    const finish = commands.at(-1) as Extract<ReleaseCommand, { type: 'finish' }>;
    expect(finish.summary.maintenanceByWave).toEqual([
      { wave: 'canary', ...canary },
      { wave: 'rest', ...rest },
    ]);
    const lines = summaryLines({ paint: (_colour, text) => text }, finish.summary);
    expect(lines.slice(lines.indexOf('outage per wave (maintenance mode):'))).toEqual([
      'outage per wave (maintenance mode):',
      '  canary  maintenance page max 13.9 s (t0), total 13.9 s over 1 tenant',
      '  rest    maintenance page max 11.0 s (t2), total 20.1 s over 2 tenants; 1 tenant still on it',
    ]);
    // Under its wave, in the wave's status column.
    expect(progressBlock({ paint: (_colour, text) => text }, progressOf(input, state)).slice(2, 6)).toEqual([
      '  ✓ canary  done               1 tenants: 1 succeeded',
      '            maintenance page max 13.9 s (t0), total 13.9 s over 1 tenant',
      '  ✗ rest    halted             3 tenants: 1 succeeded, 1 rolled-back, 1 rollback-failed',
      '            maintenance page max 11.0 s (t2), total 20.1 s over 2 tenants; 1 tenant still on it',
    ]);
  });

  it('a release without maintenance mode has none, and a rollback during the bake adds nothing', () => {
    const plain = run([{ type: 'child-finished', tenantId: 't0', result: { tenantId: 't0', status: 'succeeded', deployed: true } }]);
    expect(plain.state.waves.map((w) => w.maintenance)).toEqual([undefined, undefined]);
    const finish = run(['t0', 't1', 't2', 't3'].map((id) => ({ type: 'child-finished', tenantId: id, result: { tenantId: id, status: 'succeeded', deployed: true } }) as const)).commands.at(-1) as Extract<ReleaseCommand, { type: 'finish' }>;
    expect(finish.summary).not.toHaveProperty('maintenanceByWave');
  });
});
