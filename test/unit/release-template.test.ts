/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
} from '@aws-sdk/client-cloudformation';
import { DeleteParametersCommand, GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { parse, stringify } from 'yaml';
import { createAwsActivities } from '../../src/activities';
import { AwsClients } from '../../src/activities/aws/clients';
import { STACK_BEFORE_PART, stackBeforePrefix } from '../../src/activities/cloudformation';
import { TemplateStore, templateRevision } from '../../src/activities/templates';
import { releaseTemplateOption } from '../../src/client/release-template';
import { planRelease } from '../../src/client/releases';
import { parseFleetConfig } from '../../src/shared/config/load';
import { ErrorType } from '../../src/shared/errors';
import { childInputOf } from '../../src/shared/release/child-input';
import { describeChanges, describeRefusal, refusedChanges, releaseChangeSetName, type StackChangeLine } from '../../src/shared/release/stack-change';
import type { AwsTarget } from '../../src/shared/tenant-spec';
import { quietActivityEnvironment } from '../support/mock-activity';
import { refusal } from '../support/refusal';

const database: StackChangeLine = { logicalId: 'Database', resourceType: 'AWS::RDS::DBCluster', action: 'replace', replacement: 'True' };
const bucket: StackChangeLine = { logicalId: 'Bucket', resourceType: 'AWS::S3::Bucket', action: 'modify', replacement: 'False' };
const alarm: StackChangeLine = { logicalId: 'ErrorAlarm', resourceType: 'AWS::CloudWatch::Alarm', action: 'replace', replacement: 'True' };

describe('refusing replacements of stateful resources', () => {
  it('refuses a replaced, possibly replaced or removed database or bucket, unless allowed by name; anything else passes', () => {
    const conditional: StackChangeLine = { ...bucket, action: 'modify', replacement: 'Conditional' };
    const removed: StackChangeLine = { logicalId: 'Writer', resourceType: 'AWS::RDS::DBInstance', action: 'remove' };
    expect(refusedChanges([database, bucket, alarm])).toEqual([database]);
    expect(refusedChanges([conditional, removed])).toEqual([conditional, removed]);
    expect(refusedChanges([database, conditional], ['Database'])).toEqual([conditional]);
    expect(refusedChanges([database, conditional], ['Database', 'Bucket'])).toEqual([]);
    expect(refusedChanges([{ ...database, action: 'add' }, alarm, bucket])).toEqual([]);
  });

  it('names each refused resource with its type, and how a release allows it', () => {
    const message = describeRefusal('tenant-acme', 'tenant-fleet-release-0a1b2c3d', [database]);
    expect(message).toContain('Database (AWS::RDS::DBCluster) would be replaced');
    expect(message).toContain('options.template.allowReplacement: ["Database"]');
    expect(describeChanges([bucket, alarm])).toBe('modify Bucket (AWS::S3::Bucket), replace ErrorAlarm (AWS::CloudWatch::Alarm)');
  });

  it('names one change set per release and tenant, within the access role’s tenant-fleet-*', () => {
    expect(releaseChangeSetName('r-1', 'acme')).toBe(releaseChangeSetName('r-1', 'acme'));
    expect(releaseChangeSetName('r-1', 'acme')).not.toBe(releaseChangeSetName('r-2', 'acme'));
    expect(releaseChangeSetName('r-1', 'acme')).toMatch(/^tenant-fleet-release-[0-9a-f]{8}$/);
  });
});

const EXAMPLE = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
const request = { releaseId: 'r-1', version: '2.0.0', plan: 'standard', requestedBy: 'unit' };

describe('a release carrying the tenant template: its input', () => {
  const tenantTemplate = new TemplateStore().cloudFormation('tenant');

  it('carries the revision of this installation’s template and the resources it may replace', () => {
    expect(releaseTemplateOption(['DatabaseCluster'])).toEqual({ revision: templateRevision(tenantTemplate), allowReplacement: ['DatabaseCluster'] });
    const planned = planRelease(parseFleetConfig(EXAMPLE), { ...request, options: { template: releaseTemplateOption() } });
    expect(planned.options.template).toEqual({ revision: templateRevision(tenantTemplate) });
  });

  it('refuses, naming field and value, a resource that is not a stateful resource of the template, and a malformed revision', () => {
    const problems = refusal(() => releaseTemplateOption(['DatabaseCluster', 'Nope', 'ErrorAlarm']));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^template\.allowReplacement\[1\]: not a stateful resource of the tenant template; expected one of: .*DatabaseCluster \(AWS::RDS::DBCluster\).*DataBucket \(AWS::S3::Bucket\) \(got "Nope"\)$/);
    expect(problems[1]).toMatch(/^template\.allowReplacement\[2\]: .*\(got "ErrorAlarm"\)$/);
    const bad = refusal(() => planRelease(parseFleetConfig(EXAMPLE), { ...request, options: { template: { revision: 'abc' } } }));
    expect(bad.join('\n')).toMatch(/options\.template\.revision: expected the SHA-256 of the tenant template, 64 lowercase hex digits.*"abc"/);
  });

  it('refuses a plan that releases a selected tenant blue/green', () => {
    const config = parse(EXAMPLE) as { releasePlans: Record<string, unknown>[]; loadBalancers: Record<string, unknown>[] };
    config.loadBalancers[0]!.testListenerArn = String(config.loadBalancers[0]!.listenerArn).replace(/[^/]+$/, '0c1d2e3f4a5b6c7d');
    config.releasePlans[0]!.strategyByEnvironment = { staging: { type: 'blueGreen', steps: [{ weight: 100, bake: '1m' }], blueRetention: '1h' } };
    const parsed = parseFleetConfig(stringify(config));
    const template = releaseTemplateOption();
    expect(refusal(() => planRelease(parsed, { ...request, options: { template } }))).toEqual([
      `template: plan "standard" releases "globex" blue/green, which changes no stack yet; expected a rolling strategy for a release carrying the tenant template, or narrow it with --tenants/--env (got template revision ${template.revision.slice(0, 12)})`,
    ]);
  });
});

describe('prepareStackChange', () => {
  const target: AwsTarget = { accountId: '123456789012', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext', stackRoleArn: 'arn:aws:iam::123456789012:role/stacks' };
  const cfn = mockClient(CloudFormationClient);
  const ssm = mockClient(SSMClient);
  /** The tenant account's parameters, as SSM keeps them. */
  const parameters = new Map<string, string>();
  let clients: AwsClients;
  let activities: ReturnType<typeof createAwsActivities>;
  const revision = templateRevision(new TemplateStore().cloudFormation('tenant'));
  const input = { target, stackName: 'tenant-acme', revision, changeSetName: 'tenant-fleet-release-0a1b2c3d', parameters: { TenantId: 'acme' }, tags: { TenantId: 'acme' } };
  const failureOf = (run: Promise<unknown>) =>
    run.then(
      () => undefined,
      (error: unknown) => error as ApplicationFailure,
    );

  beforeEach(() => {
    cfn.reset();
    ssm.reset();
    parameters.clear();
    ssm.on(PutParameterCommand).callsFake((put: { Name: string; Value: string }) => {
      // Standard parameters: 4 KB at most.
      if (put.Value.length > 4096) throw new Error(`value of ${put.Name} too long: ${put.Value.length}`);
      parameters.set(put.Name, put.Value);
      return {};
    });
    ssm.on(GetParametersCommand).callsFake(({ Names = [] }: { Names?: string[] }) => ({
      Parameters: Names.filter((n) => parameters.has(n)).map((Name) => ({ Name, Value: parameters.get(Name) })),
    }));
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
    activities = createAwsActivities({ aws: clients, templates: new TemplateStore() });
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'tenant-acme', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Parameters: [{ ParameterKey: 'TenantId', ParameterValue: 'acme' }] }] });
    cfn.on(GetTemplateCommand).resolves({ TemplateBody: 'previous: template' });
    cfn.on(CreateChangeSetCommand).resolves({});
    cfn.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      ExecutionStatus: 'AVAILABLE',
      Changes: [
        { Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'Database', ResourceType: 'AWS::RDS::DBCluster', Replacement: 'True' } },
        { Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'Writer', ResourceType: 'AWS::RDS::DBInstance', Replacement: 'False' } },
      ],
    });
  });
  afterEach(() => clients.destroy());

  it('refuses a replaced database, nonRetryable and typed, naming its logical ID and type; executes nothing', async () => {
    const failure = await failureOf(quietActivityEnvironment().run(activities.prepareStackChange, input));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect({ type: failure?.type, nonRetryable: failure?.nonRetryable, message: failure?.message }).toMatchObject({
      type: ErrorType.StatefulReplacementRefused,
      nonRetryable: true,
      message: expect.stringContaining('Database (AWS::RDS::DBCluster) would be replaced') as unknown,
    });
    expect(cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });

  it('returns the changes and the stack before them when the release allows the replacement, under the release’s change set name', async () => {
    const prepared = await quietActivityEnvironment().run(activities.prepareStackChange, { ...input, allowReplacement: ['Database'] });
    expect(prepared).toEqual({
      changeSet: input.changeSetName,
      revision,
      state: 'changes',
      changes: [
        { logicalId: 'Database', resourceType: 'AWS::RDS::DBCluster', action: 'replace', replacement: 'True' },
        { logicalId: 'Writer', resourceType: 'AWS::RDS::DBInstance', action: 'modify', replacement: 'False' },
      ],
      previous: { templateBody: 'previous: template', parameters: { TenantId: 'acme' } },
    });
    expect(cfn.commandCalls(CreateChangeSetCommand)[0]?.args[0].input).toMatchObject({ ChangeSetName: input.changeSetName, ChangeSetType: 'UPDATE' });
  });

  it('refuses a release whose template revision is not the worker’s, before creating anything', async () => {
    const failure = await failureOf(quietActivityEnvironment().run(activities.prepareStackChange, { ...input, revision: 'f'.repeat(64) }));
    expect({ type: failure?.type, nonRetryable: failure?.nonRetryable }).toEqual({ type: ErrorType.InvalidInput, nonRetryable: true });
    expect(failure?.message).toMatch(/^template\.revision: the worker's tenant template is revision [0-9a-f]{12}, the release carries ffffffffffff/);
    expect(cfn.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
  });

  it('keeps the stack before the change in the tenant account before it can run, and a revert finds it there while the stack has the change', async () => {
    // Hashes compress badly: the slot needs several parts.
    const previousBody = `previous: template\n${Array.from({ length: 300 }, (_, i) => `# ${templateRevision(String(i))}`).join('\n')}`;
    cfn.on(GetTemplateCommand).resolves({ TemplateBody: previousBody });
    await quietActivityEnvironment().run(activities.prepareStackChange, { ...input, allowReplacement: ['Database'] });
    const prefix = stackBeforePrefix('tenant-acme');
    expect(prefix).toBe('/tenant-fleet/StackBefore/tenant-acme/');
    const manifest = JSON.parse(parameters.get(`${prefix}manifest`)!) as { changeSet: string; parts: number };
    expect({ changeSet: manifest.changeSet, several: manifest.parts > 1 }).toEqual({ changeSet: input.changeSetName, several: true });
    expect([...parameters.values()].every((v) => v.length <= STACK_BEFORE_PART)).toBe(true);
    // A retried prepare writes the same slot again.
    const written = new Map(parameters);
    await quietActivityEnvironment().run(activities.prepareStackChange, { ...input, allowReplacement: ['Database'] });
    expect(parameters).toEqual(written);

    // The change ran: the stack has the release's template and a new parameter.
    const release = new TemplateStore().cloudFormation('tenant');
    cfn.on(GetTemplateCommand).resolves({ TemplateBody: release });
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'tenant-acme', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Parameters: [{ ParameterKey: 'TenantId', ParameterValue: 'acme' }, { ParameterKey: 'Added', ParameterValue: 'x' }] }] });
    const ask = { target, stackName: 'tenant-acme', changeSetName: input.changeSetName, revision };
    expect(await quietActivityEnvironment().run(activities.previousStack, ask)).toEqual({ state: 'changed', previous: { templateBody: previousBody, parameters: { TenantId: 'acme' } } });

    // Put back (a retried restore asks again): nothing left to do.
    cfn.on(GetTemplateCommand).resolves({ TemplateBody: previousBody });
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'tenant-acme', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Parameters: [{ ParameterKey: 'TenantId', ParameterValue: 'acme' }] }] });
    expect(await quietActivityEnvironment().run(activities.previousStack, ask)).toEqual({ state: 'back' });

    // Another template since: left alone, saying why.
    cfn.on(GetTemplateCommand).resolves({ TemplateBody: 'another: template' });
    const movedOn = await quietActivityEnvironment().run(activities.previousStack, ask);
    expect(movedOn).toMatchObject({ state: 'moved-on', reason: expect.stringContaining("neither the release's") as unknown });
    // Another release's change set of the stack prepared since: this release's revert leaves it.
    const later = await quietActivityEnvironment().run(activities.previousStack, { ...ask, changeSetName: 'tenant-fleet-release-ffffffff' });
    expect(later).toMatchObject({ state: 'moved-on', reason: expect.stringContaining(`a later release's change set ${input.changeSetName}`) as unknown });
  });

  it('keeps nothing for a refused change, and a revert of a release that changed nothing has nothing to put back', async () => {
    await failureOf(quietActivityEnvironment().run(activities.prepareStackChange, input));
    expect(parameters.size).toBe(0);
    expect(await quietActivityEnvironment().run(activities.previousStack, { target, stackName: 'tenant-acme', changeSetName: input.changeSetName, revision })).toEqual({ state: 'none' });
  });

  it('refuses, to be retried, a slot whose parts do not match its manifest (another release writing it)', async () => {
    await quietActivityEnvironment().run(activities.prepareStackChange, { ...input, allowReplacement: ['Database'] });
    const prefix = stackBeforePrefix('tenant-acme');
    parameters.set(`${prefix}part-0`, 'H4sIAAAAAAAAA0tMSk5JTQEAAAD');
    const failure = await failureOf(quietActivityEnvironment().run(activities.previousStack, { target, stackName: 'tenant-acme', changeSetName: input.changeSetName, revision }));
    expect({ nonRetryable: failure?.nonRetryable, message: failure?.message }).toMatchObject({ nonRetryable: false, message: expect.stringContaining('does not match its manifest') as unknown });
  });

  describe("deprovisioning deletes the slot (deleteTenantParameters' stackBefore)", () => {
    const prefix = stackBeforePrefix('tenant-acme');
    /** DeleteParameters as SSM answers it: the names it deleted, the missing ones as invalid. `failAfter` calls: throttled from then on. */
    const deletes = (failAfter = Infinity) => {
      let calls = 0;
      ssm.on(DeleteParametersCommand).callsFake(({ Names = [] }: { Names?: string[] }) => {
        if (++calls > failAfter) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        const DeletedParameters = Names.filter((n) => parameters.delete(n));
        return { DeletedParameters, InvalidParameters: Names.filter((n) => !DeletedParameters.includes(n)) };
      });
    };
    const deprovision = async (): Promise<{ deleted: string[] }> =>
      quietActivityEnvironment().run(activities.deleteTenantParameters, { target, tenantId: 'acme', names: ['workload/version', 'workload/release'], stackBefore: 'tenant-acme' });
    const slot = () => [...parameters.keys()].filter((n) => n.startsWith(prefix)).sort();
    /** A slot as prepareStackChange keeps it, several parts long. */
    const keepSlot = async () => {
      cfn.on(GetTemplateCommand).resolves({ TemplateBody: `previous: template\n${Array.from({ length: 300 }, (_, i) => `# ${templateRevision(String(i))}`).join('\n')}` });
      await quietActivityEnvironment().run(activities.prepareStackChange, { ...input, allowReplacement: ['Database'] });
      expect(slot().length).toBeGreaterThan(2);
    };

    it("deletes every part and the manifest with the tenant's parameters, leaves other stacks' slots, and a second run finds nothing to do", async () => {
      deletes();
      await keepSlot();
      parameters.set('/tenant-fleet/acme/workload/version', '2.0.0');
      parameters.set('/tenant-fleet/StackBefore/tenant-acme-2/manifest', '{}');
      const first = await deprovision();
      expect(slot()).toEqual([]);
      expect(first.deleted).toContain('/tenant-fleet/acme/workload/version');
      expect(first.deleted).toContain(`${prefix}manifest`);
      expect([...parameters.keys()]).toEqual(['/tenant-fleet/StackBefore/tenant-acme-2/manifest']);
      // The manifest goes last: a delete cut short never leaves a manifest without its first parts.
      const deleteCalls = ssm.commandCalls(DeleteParametersCommand).map((c) => c.args[0].input.Names ?? []);
      expect(deleteCalls.at(-1)).toEqual([`${prefix}manifest`]);
      expect(await deprovision()).toEqual({ deleted: [] });
    });

    it('finishes a delete cut short, and on a tenant that never had a slot only reads', async () => {
      await keepSlot();
      const kept = slot();
      // The tenant's own parameters went, then the first batch of parts; the manifest is still there.
      deletes(2);
      await expect(deprovision()).rejects.toThrow(/Rate exceeded/);
      expect(slot()).toContain(`${prefix}manifest`);
      expect(slot().length).toBeLessThan(kept.length);
      deletes();
      await deprovision();
      expect(slot()).toEqual([]);
      ssm.resetHistory();
      expect(await deprovision()).toEqual({ deleted: [] });
      expect(ssm.commandCalls(DeleteParametersCommand).map((c) => c.args[0].input.Names)).toEqual([['/tenant-fleet/acme/workload/version', '/tenant-fleet/acme/workload/release']]);
    });

    it('finds parts its manifest does not name: left by a larger slot before it, or written by a prepare cut short before its manifest', async () => {
      deletes();
      for (let i = 0; i < 13; i++) parameters.set(`${prefix}part-${i}`, 'x');
      parameters.set(`${prefix}manifest`, JSON.stringify({ changeSet: 'c', parts: 2, sha256: 'y' }));
      await deprovision();
      expect(slot()).toEqual([]);
      for (let i = 0; i < 3; i++) parameters.set(`${prefix}part-${i}`, 'x');
      await deprovision();
      expect(slot()).toEqual([]);
      // A manifest naming more parts than remain (the delete before was cut short after the last batch).
      parameters.set(`${prefix}manifest`, JSON.stringify({ changeSet: 'c', parts: 25, sha256: 'y' }));
      parameters.set(`${prefix}part-3`, 'x');
      await deprovision();
      expect(slot()).toEqual([]);
    });
  });
});

describe('a revert or a rollback of a release carrying the template', () => {
  it('gets the template too, so its child puts back the stack the deploy changed', () => {
    const plan = { releaseId: 'r-1', version: '2.0.0', options: { verifyWindowMs: 0, restoreDatabaseOnRollback: false, template: { revision: 'a'.repeat(64) } } };
    for (const mode of ['deploy', 'revert', 'rollback'] as const) {
      const child = childInputOf(plan as unknown as Parameters<typeof childInputOf>[0], { type: 'start-child', tenantId: 'acme', mode, wave: 'canary', revertTo: mode === 'deploy' ? undefined : '1.0.0' });
      expect({ mode, template: child.template }).toEqual({ mode, template: { revision: 'a'.repeat(64) } });
    }
  });
});
