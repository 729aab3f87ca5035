/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import { AddTagsToCertificateCommand, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { DescribeListenerCertificatesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { createAwsActivities } from '../../src/activities';
import { TemplateStore } from '../../src/activities/templates';
import { temporalSettingsFromEnv } from '../../src/client/connection';
import { deprovisionTenant, provisionTenant } from '../../src/client/tenants';
import { certificatesInputFromConfig, idempotencyToken, nameCovers, planCertificates } from '../../src/shared/certificates';
import { workflowIds } from '../../src/shared/ids';
import { certificatePlanQuery, certificatesInputSchema, certificatesStatusQuery, type CertificatesStatus } from '../../src/shared/messages/certificates';
import type { TenantSpec } from '../../src/shared/tenant-spec';
import { startHarness, type Harness } from './harness';
import { decodePayloads, replayAndMaybeRecord } from './histories';
import { sandboxEnv, TEST_SANDBOX_DIR } from './sandbox-env';
import { WebhookReceiver } from '../sandbox/webhook-receiver';
import { until } from './until';

const GROUP = 'sandbox-alb';
/**
 * Test timings (the defaults are production's: 5m grace, 1d check interval), a smaller packing than
 * ACM's 10 names, and an expiry warning beyond renewBefore (30 days), so a certificate can be inside
 * it without being reissued.
 */
const POLICY = { gracePeriod: '2s', validationTimeout: '3m', checkInterval: '20s', debounce: '1s', maxNamesPerCertificate: 4, expiryWarnings: ['45d'] };
let h: Harness;
let receiver: WebhookReceiver;
beforeAll(async () => {
  // The sandbox's fleet with a `certificates:` policy: the workers read it, and so must the run provisioning starts.
  // Certificate events go to a real local webhook.
  receiver = await WebhookReceiver.start();
  const fleet = parse(readFileSync(sandboxEnv().TENANT_FLEET_CONFIG!, 'utf8')) as Record<string, unknown>;
  const fleetConfigPath = join(TEST_SANDBOX_DIR, 'fleet-certificates.yaml');
  const notifications = {
    channels: [{ name: 'receiver', webhook: { url: receiver.url } }],
    subscriptions: [{ events: ['certificate-expiring', 'certificate-validation-stuck'], environments: ['dev', 'staging', 'prod'] }],
  };
  writeFileSync(fleetConfigPath, stringify({ ...fleet, certificates: POLICY, notifications }));
  h = await startHarness({ fleetConfigPath });
});
afterAll(async () => {
  await h?.stop();
  await receiver?.stop();
});

const lb = () => h.tenant('hooli').loadBalancer!;

/** The names each certificate on the listener serves, read from ACM (cached: a certificate's names never change). */
const namesCache = new Map<string, string[]>();
async function listenerNames(): Promise<{ arn: string; names: string[] }[]> {
  const { Certificates = [] } = await h.admin.elbv2(lb().aws).send(new DescribeListenerCertificatesCommand({ ListenerArn: lb().listenerArn }));
  const result = [];
  for (const { CertificateArn: arn } of Certificates) {
    if (!arn) continue;
    let names = namesCache.get(arn);
    if (!names) {
      const cert = (await h.admin.acm(lb().aws).send(new DescribeCertificateCommand({ CertificateArn: arn }))).Certificate!;
      names = [...new Set([cert.DomainName!, ...(cert.SubjectAlternativeNames ?? [])])];
      namesCache.set(arn, names);
    }
    result.push({ arn, names });
  }
  return result;
}

/** Samples the listener until stopped and records every moment a hostname had no certificate. */
function watchCoverage(hostnames: string[]): { stop: () => Promise<string[]> } {
  const gaps: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const certs = await listenerNames();
      for (const hostname of hostnames) {
        if (!certs.some((c) => c.names.some((n) => nameCovers(n, hostname)))) gaps.push(`${new Date().toISOString()} ${hostname}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return gaps;
    },
  };
}

const status = () => h.client.workflow.getHandle(workflowIds.certificates(GROUP)).query(certificatesStatusQuery);

/** Converged: healthy, and every given hostname served by exactly one attached, issued certificate of the group. */
async function converged(hostnames: string[], extra: (s: CertificatesStatus) => boolean = () => true): Promise<CertificatesStatus> {
  return until(
    `certificates covering ${hostnames.join(', ')}`,
    status,
    (s) =>
      s.health === 'ok' &&
      extra(s) &&
      hostnames.every((hn) => s.certificates.filter((c) => c.attached && c.status === 'ISSUED' && c.names.some((n) => nameCovers(n, hn))).length === 1),
    180_000,
  );
}

describe('certificates workflow against the sandbox (Temporal + moto)', () => {
  const tenants = ['hooli', 'umbrella', 'stark'];
  const provision = (tenant: TenantSpec) => provisionTenant(h.client, { tenant, requestedBy: 'jest' });

  beforeAll(async () => {
    // Provisioning must start the run: one left from an earlier use of this sandbox would keep its own input.
    await h.client.workflow
      .getHandle(workflowIds.certificates(GROUP))
      .terminate('certificates test: provisioning starts the run')
      .catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      });
  });

  /** The input `certs/<group>`'s current run was started with, decrypted from its history. */
  async function startInput(): Promise<{ input: unknown; continued: boolean }> {
    const history = await h.client.workflow.getHandle(workflowIds.certificates(GROUP)).fetchHistory();
    await decodePayloads(history, temporalSettingsFromEnv(h.env).dataConverter.payloadCodecs ?? []);
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    return { input: defaultPayloadConverter.fromPayload(started!.input!.payloads![0] as Payload), continued: !!started?.continuedExecutionRunId };
  }

  it("provisioning starts the group's workflow from the fleet config: its certificates policy, every tenant on the load balancer", async () => {
    await Promise.all(tenants.map((id) => provision(h.tenant(id))));
    const { input, continued } = await startInput();
    expect(continued).toBe(false);
    // What `tenantctl certs sync` would start, not the load balancer alone on default policy.
    expect(input).toEqual(certificatesInputFromConfig(h.config, GROUP));
    const { policy, tenants: known } = certificatesInputSchema.parse(input);
    expect(policy).toMatchObject({ gracePeriod: 2_000, validationTimeout: 180_000, checkInterval: 20_000, debounce: 1_000, maxNamesPerCertificate: 4 });
    expect(Object.keys(known).sort()).toEqual(h.config.tenants.filter((t) => t.loadBalancer === GROUP).map((t) => t.id).sort());
  });

  it('provisioning three tenants yields the planned certificates: issued, validated through Route53 records, attached', async () => {
    const hostnames = tenants.flatMap((id) => h.tenant(id).hostnames);
    const settled = await converged(hostnames);
    const plan = (await h.client.workflow.getHandle(workflowIds.certificates(GROUP)).query(certificatePlanQuery))!;
    expect(plan.uncovered).toEqual([]);
    expect(plan.explanation[0]).toMatch(/^group sandbox-alb: /);
    // The config's packing, not ACM's default of 10 names per certificate.
    expect(Math.max(...plan.certificates.map((c) => c.names.length))).toBeLessThanOrEqual(POLICY.maxNamesPerCertificate);
    expect(plan.certificates.length).toBeGreaterThanOrEqual(Math.ceil(h.config.tenants.flatMap((t) => t.hostnames).length / POLICY.maxNamesPerCertificate));

    // The workflow's plan is the planner's plan for these tenants (and any other test's tenants on the group).
    const planned = plan.certificates.map((c) => c.names);
    for (const hostname of hostnames) expect(planned.flat().filter((n) => nameCovers(n, hostname))).toHaveLength(1);
    expect(settled.certificates.filter((c) => c.attached && c.status === 'ISSUED').map((c) => c.names.slice().sort())).toEqual(
      expect.arrayContaining(planned.map((names) => names.slice().sort())),
    );

    // Each certificate was validated through a record the workflow wrote into the tenant's own zone.
    for (const id of tenants) {
      const tenant = h.tenant(id);
      const { ResourceRecordSets = [] } = await h.admin.route53(tenant.aws).send(new ListResourceRecordSetsCommand({ HostedZoneId: tenant.hostedZoneId! }));
      for (const hostname of tenant.hostnames) {
        const cert = settled.certificates.find((c) => c.attached && c.names.some((n) => nameCovers(n, hostname)))!;
        const detail = (await h.admin.acm(lb().aws).send(new DescribeCertificateCommand({ CertificateArn: cert.arn }))).Certificate!;
        const option = detail.DomainValidationOptions!.find((o) => o.DomainName === hostname)!;
        expect(option.ValidationStatus).toBe('SUCCESS');
        expect(ResourceRecordSets).toContainEqual(
          expect.objectContaining({ Name: option.ResourceRecord!.Name, Type: 'CNAME', ResourceRecords: [{ Value: option.ResourceRecord!.Value }] }),
        );
      }
    }
    const attached = await listenerNames();
    for (const hostname of hostnames) expect(attached.filter((c) => c.names.some((n) => nameCovers(n, hostname)))).toHaveLength(1);
  });

  it('removing a tenant shrinks the plan without a moment with an uncovered hostname', async () => {
    const before = await status();
    const umbrella = h.tenant('umbrella');
    const kept = ['hooli', 'stark'].flatMap((id) => h.tenant(id).hostnames);
    const oldArn = before.certificates.find((c) => c.attached && c.names.includes(umbrella.hostnames[0]!))!.arn;
    const watch = watchCoverage(kept);
    try {
      await deprovisionTenant(h.client, { tenant: umbrella, requestedBy: 'jest' });
      const after = await converged(kept, (s) => !s.certificates.some((c) => c.arn === oldArn));
      expect(after.certificates.flatMap((c) => c.names)).not.toContain(umbrella.hostnames[0]);
      const plan = (await h.client.workflow.getHandle(workflowIds.certificates(GROUP)).query(certificatePlanQuery))!;
      expect(plan.certificates.flatMap((c) => c.names)).not.toContain(umbrella.hostnames[0]);
    } finally {
      expect(await watch.stop()).toEqual([]);
    }
    expect((await listenerNames()).some((c) => c.arn === oldArn)).toBe(false);
  });

  it('a certificate with less than its warning left notifies once, not at every check', async () => {
    const hooli = h.tenant('hooli');
    const cert = (await status()).certificates.find((c) => c.attached && c.names.includes(hooli.hostnames[0]!))!;
    // Sandbox control (test/sandbox/moto/README.md): NotAfter in 40 days, inside the 45-day warning, outside renewBefore (30 days).
    const notAfter = new Date(Date.now() + 40 * 86_400_000).toISOString();
    await h.admin.acm(lb().aws).send(new AddTagsToCertificateCommand({ CertificateArn: cert.arn, Tags: [{ Key: 'sandbox:not-after', Value: notAfter }] }));
    const key = `${workflowIds.certificates(GROUP)}/certificate-expiring/${cert.arn}/45d`;
    // No signal: the check the workflow's durable timer brings finds it.
    const [told] = await until('the expiry notification', () => Promise.resolve(receiver.requests(key)), (r) => r.length > 0);
    expect(told!.body).toMatchObject({ event: 'certificate-expiring', fields: { group: GROUP, arn: cert.arn, thresholdDays: '45' } });
    expect(Math.abs(Date.parse((told!.body.fields as { notAfter: string }).notAfter) - Date.parse(notAfter))).toBeLessThan(1_000);
    // Subscriptions match the environments of the tenants whose names the certificate serves (several share one).
    expect(told!.body.environments).toContain(hooli.environment);
    // Two more checks (20 s apart) find the same certificate on the same side of the threshold: nothing new to say.
    let last = (await status()).lastReconcile;
    for (let checks = 0; checks < 2; ) {
      const seen = await until('the next check', status, (s) => s.lastReconcile !== last, 60_000);
      last = seen.lastReconcile;
      checks += 1;
    }
    expect(receiver.requests(key)).toHaveLength(1);
    expect(receiver.deliveries((d) => d.body.event === 'certificate-expiring')).toHaveLength(1);
    expect((await status()).certificates.find((c) => c.arn === cert.arn)).toMatchObject({ attached: true, status: 'ISSUED' });
  });

  it('a certificate whose renewal is due in the past is reissued on the next check', async () => {
    const hooli = h.tenant('hooli');
    const hostnames = ['hooli', 'stark'].flatMap((id) => h.tenant(id).hostnames);
    const due = (await status()).certificates.find((c) => c.attached && c.names.includes(hooli.hostnames[0]!))!;
    // Sandbox control (test/sandbox/moto/README.md): NotAfter in ten days, well inside renewBefore (30 days).
    const soon = new Date(Date.now() + 10 * 86_400_000).toISOString();
    await h.admin.acm(lb().aws).send(new AddTagsToCertificateCommand({ CertificateArn: due.arn, Tags: [{ Key: 'sandbox:not-after', Value: soon }] }));
    const watch = watchCoverage(hostnames);
    try {
      // No signal: the workflow's durable timer (checkInterval 20s in this run) brings the check.
      const after = await converged(hostnames, (s) => !s.certificates.some((c) => c.arn === due.arn));
      const replacement = after.certificates.find((c) => c.names.includes(hooli.hostnames[0]!))!;
      expect(replacement.names.slice().sort()).toEqual(due.names.slice().sort());
      expect(replacement.arn).not.toBe(due.arn);
      expect(Date.parse(replacement.notAfter!)).toBeGreaterThan(Date.parse(soon));
    } finally {
      expect(await watch.stop()).toEqual([]);
    }
    // The run so far (issuance, a removal, a renewal) replays against today's code; recorded with TENANT_FLEET_RECORD_HISTORIES=1.
    const run = await h.client.workflow.getHandle(workflowIds.certificates(GROUP)).describe();
    await replayAndMaybeRecord(h.client, run.workflowId, run.runId, 'certificates');
  });
});

/** Runs an activity the way a retry would: twice, each time inside an activity context. */
async function twice<I, O>(activity: (input: I) => Promise<O>, input: I): Promise<[O, O]> {
  const first = (await new MockActivityEnvironment().run(activity, input)) as O;
  const second = (await new MockActivityEnvironment().run(activity, input)) as O;
  return [first, second];
}

describe('every certificate activity is safe to run twice', () => {
  it('request, validation records, wait, attach, detach and delete give the same outcome on a second run', async () => {
    const activities = createAwsActivities({ aws: h.aws, templates: new TemplateStore() });
    const target = lb().aws;
    const listenerArn = lb().listenerArn;
    // wonka's zone, but a hostname of this test's own: other files provision every tenant, and a
    // validation record is per domain, so a tenant's real hostname may already have one.
    const tenant = h.tenant('wonka');
    const hostname = `idempotency-${Date.now().toString(36)}.a.tenants.test`;
    const group = 'idempotency-check';
    const plan = planCertificates({
      group,
      hostnames: [{ hostname, tenantId: tenant.id, environment: tenant.environment }],
      existing: [],
      maxNamesPerCertificate: 10,
      maxCertificatesPerListener: 25,
      wildcardEnvironments: [],
    });
    const cert = plan.certificates[0]!;
    const request = { target, group, key: cert.key, names: cert.names, idempotencyToken: idempotencyToken(group, cert) };
    const [requested, requestedAgain] = await twice(activities.requestCertificate, request);
    expect(requestedAgain.arn).toBe(requested.arn);
    const listed = await activities.listGroupCertificates({ target, group });
    expect(listed.map((c) => c.arn)).toEqual([requested.arn]);

    const [records, recordsAgain] = await twice(activities.getValidationRecords, { target, arn: requested.arn });
    expect(recordsAgain).toEqual(records);
    const zone = { target: tenant.aws, hostedZoneId: tenant.hostedZoneId!, records: records.map((r) => ({ name: r.name, type: 'CNAME' as const, value: r.value })) };
    const [upserted, upsertedAgain] = await twice(activities.upsertZoneRecords, zone);
    expect(upserted.changed).toEqual(records.map((r) => r.name));
    expect(upsertedAgain.changed).toEqual([]);

    const [issued, issuedAgain] = await twice(activities.waitForCertificateIssued, { target, arn: requested.arn, validationTimeoutMs: 60_000 });
    expect(issued.status).toBe('ISSUED');
    expect(issuedAgain.status).toBe('ISSUED');

    const [attached, attachedAgain] = await twice(activities.attachListenerCertificates, { target, listenerArn, arns: [requested.arn] });
    expect(attached.added).toEqual([requested.arn]);
    expect(attachedAgain.added).toEqual([]);
    const [detached, detachedAgain] = await twice(activities.detachListenerCertificates, { target, listenerArn, arns: [requested.arn] });
    expect(detached.removed).toEqual([requested.arn]);
    expect(detachedAgain.removed).toEqual([]);
    const [deleted, deletedAgain] = await twice(activities.deleteCertificate, { target, arn: requested.arn });
    expect(deleted.deleted).toBe(true);
    expect(deletedAgain.deleted).toBe(false);
  });

  it('reports a certificate whose validation record never appears as stuck, naming the record', async () => {
    const activities = createAwsActivities({ aws: h.aws, templates: new TemplateStore() });
    const target = lb().aws;
    const { arn } = await activities.requestCertificate({ target, group: 'stuck-check', key: 'stuck', names: ['nowhere.unmanaged.test'], idempotencyToken: 'stuckcheck1' });
    const failure: unknown = await new MockActivityEnvironment()
      .run(activities.waitForCertificateIssued, { target, arn, validationTimeoutMs: 4_000 })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'CertificateValidationStuck', nonRetryable: true });
    expect((failure as Error).message).toMatch(/still pending validation .*waiting for _[0-9a-f]{32}\.nowhere\.unmanaged\.test\. CNAME/);
    await activities.deleteCertificate({ target, arn });
  });
});
