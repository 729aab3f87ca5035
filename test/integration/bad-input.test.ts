import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { runCliCaptured } from '../support/cli';
import { EXIT } from '../../src/client/cli/exit-codes';
import { provisionTenant } from '../../src/client/tenants';
import { startRelease } from '../../src/client/releases';
import { ErrorType } from '../../src/shared/errors';
import { TASK_QUEUES } from '../../src/shared/task-queues';
import { InputValidationError } from '../../src/shared/validation';
import { startHarness, type Harness } from './harness';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { tempDir } from '../support/temp-dir';

/**
 * Bad input against the real sandbox: refused with the field named, and nothing happens —
 * no workflow under the requested ID (visibility), and a workflow started by hand with bad
 * input fails before scheduling any activity or child (its history), so AWS and Kubernetes
 * are never called.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.stop());

const countOf = async (workflowId: string) => (await h.client.workflow.count(`WorkflowId = '${workflowId}'`)).count;

const cli = (argv: string[]) => runCliCaptured(argv, { ...h.env, USER: 'jest' });

describe('refused before anything starts', () => {
  it.each([
    [['release', 'start', '--release-id', 'bad-input-1', '--version', 'bad tag!'], '--version'],
    [['release', 'start', '--release-id', 'bad-input-2', '--version', '1.0.0', '--tenants', 'acme,Nope!'], '--tenants[1]'],
    [['release', 'start', '--release-id', 'bad-input-3', '--version', '1.0.0', '--plan', 'no-such-plan'], '--plan'],
    [['release', 'start', '--release-id', 'bad-input-4', '--version', '1.0.0', '--plan', 'quick', '--tenants', 'nobody'], '--tenants'],
  ])('tenantctl %j', async (argv, field) => {
    const { code, err } = await cli(argv);
    expect(code).toBe(EXIT.refused);
    expect(err).toContain(field);
    expect(await countOf(`release/${argv[3]!}`)).toBe(0);
  });

  it('tenantctl refuses a release when the fleet config has a window that does not parse or a freeze that ends before it starts', async () => {
    const fleet = parseYaml(readFileSync(h.env.TENANT_FLEET_CONFIG!, 'utf8')) as { tenants: { id: string; maintenanceWindows?: string[] }[]; freezes?: unknown[] };
    const index = fleet.tenants.findIndex((t) => t.id === 'oscorp');
    fleet.tenants[index]!.maintenanceWindows = ['Sun 02:00-04:00 Europe/Atlantis'];
    fleet.freezes = [{ from: '2026-12-20T00:00:00Z', until: '2026-12-01T00:00:00Z', reason: 'year end' }];
    const configPath = join(tempDir('bad-input-window-'), 'fleet.yaml');
    writeFileSync(configPath, toYaml(fleet));
    const { code, err } = await runCliCaptured(['release', 'start', '--release-id', 'bad-input-window', '--version', '1.0.0', '--plan', 'quick'], { ...h.env, USER: 'jest', TENANT_FLEET_CONFIG: configPath });
    expect(code).toBe(EXIT.refused);
    expect(err).toContain(`tenants[${index}].maintenanceWindows[0]: not a maintenance window: unknown time zone "Europe/Atlantis"`);
    expect(err).toContain('(got "Sun 02:00-04:00 Europe/Atlantis")');
    expect(err).toContain('freezes[0].until: ends before it starts (from 2026-12-20T00:00:00Z); expected an end after the start (got "2026-12-01T00:00:00Z")');
    expect(await countOf('release/bad-input-window')).toBe(0);
  });

  it('the client library refuses a bad release and a bad tenant spec without starting them', async () => {
    await expect(startRelease(h.client, h.config, { releaseId: 'bad-input-lib', version: '-x', plan: 'quick', requestedBy: 'jest' })).rejects.toThrow(InputValidationError);
    expect(await countOf('release/bad-input-lib')).toBe(0);
    const tenant = { ...h.tenant('oscorp'), hostnames: ['NOT A HOST'] };
    await expect(provisionTenant(h.client, { tenant, requestedBy: 'jest' })).rejects.toThrow(/tenant\.hostnames\[0\]/);
    expect(await countOf('tenant/oscorp/provision')).toBe(0);
  });
});

describe('a workflow started by hand with bad input fails before calling anything', () => {
  const valid = () => h.tenant('oscorp');
  it.each([
    ['provisionTenant', 'tenant/bad-input-p/provision', () => [{ tenant: { ...valid(), id: 'Bad_Id' } }], 'tenant.id'],
    ['deprovisionTenant', 'tenant/bad-input-d/deprovision', () => [{ tenant: { ...valid(), aws: { ...valid().aws, region: 'mars-1' } } }], 'tenant.aws.region'],
    ['releaseWave', 'release/bad-input-w', () => [{ releaseId: 'bad-input-w', version: '2.0.0', plan: 'quick', environments: ['dev'], waves: [], options: {}, requestedBy: 'jest' }], 'waves'],
    ['releaseTenant', 'release/bad-input-t/tenant/oscorp', () => [{ releaseId: 'bad-input-t', tenantId: 'oscorp', version: '..', mode: 'deploy', verifyWindowMs: 0, restoreDatabaseOnRollback: false }], 'version'],
    [
      'releaseTenant',
      'release/bad-input-mw/tenant/oscorp',
      () => [{ releaseId: 'bad-input-mw', tenantId: 'oscorp', version: '2.0.0', mode: 'deploy', verifyWindowMs: 0, restoreDatabaseOnRollback: false, maintenance: { windows: ['Sun 25:00-04:00 UTC'], freezes: [] } }],
      'maintenance.windows',
    ],
    ['certificates', 'certs/bad-input-c', () => [{ group: 'Bad Group', loadBalancer: { listenerArn: 'nope', aws: valid().aws } }], 'group'],
  ])('%s', async (type, workflowId, args, field) => {
    const handle = await h.client.workflow.start(type, { workflowId: `${workflowId}-${Date.now()}`, taskQueue: TASK_QUEUES.workflows, args: args() });
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain(field);
    const events = (await handle.fetchHistory()).events ?? [];
    const acted = events.filter((e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes || e.signalExternalWorkflowExecutionInitiatedEventAttributes);
    expect(acted).toEqual([]);
  });
});
