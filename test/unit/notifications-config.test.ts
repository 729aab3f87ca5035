import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { channelsFor, webhookBody } from '../../src/activities/notify';
import { parseFleetConfig } from '../../src/shared/config/load';
import { expiringNotifications, expiryWakeTimes, validationStuckNotification } from '../../src/shared/notifications/certificates';
import { approvalOverdueNotification, gateOf, releaseNotification } from '../../src/shared/notifications/release';
import { cutWaves } from '../../src/shared/release/plan';
import { InputValidationError } from '../../src/shared/validation';

const example = parse(readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8')) as Record<string, unknown>;
const withNotifications = (notifications: unknown) => stringify({ ...example, notifications });

function problems(notifications: unknown): string[] {
  try {
    parseFleetConfig(withNotifications(notifications), 'fleet.yaml');
  } catch (error) {
    if (error instanceof InputValidationError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

const channels = [
  { name: 'ops-slack', webhook: { url: 'https://hooks.slack.com/services/T0/B0/x', secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:fleet/slack-AbCdEf' } },
  { name: 'pager', snsTopicArn: 'arn:aws:sns:us-east-1:123456789012:fleet-events' },
];

describe('fleet config: notifications', () => {
  it('accepts webhook and SNS channels with subscriptions, and picks the channels of an event and environment', () => {
    const config = parseFleetConfig(
      withNotifications({
        channels,
        subscriptions: [
          { events: ['approval-awaited', 'release-ended'], environments: ['prod'] },
          { events: ['provisioning-failed'], environments: ['dev', 'staging'], channels: ['pager'] },
        ],
      }),
    );
    expect(channelsFor(config, { event: 'approval-awaited', environments: ['staging', 'prod'] }).map((c) => c.name)).toEqual(['ops-slack', 'pager']);
    expect(channelsFor(config, { event: 'provisioning-failed', environments: ['dev'] }).map((c) => c.name)).toEqual(['pager']);
    expect(channelsFor(config, { event: 'wave-halted', environments: ['prod'] })).toEqual([]);
    expect(parseFleetConfig(stringify(example)).notifications).toEqual({ channels: [], subscriptions: [] });
  });

  it('refuses an unknown event, an unknown environment or channel, and a webhook that is not https, naming the field and value', () => {
    expect(
      problems({
        channels: [{ name: 'hook', webhook: { url: 'http://hooks.example.com/fleet' } }, { name: 'nothing' }],
        subscriptions: [{ events: ['release-finished'], environments: ['qa'], channels: ['pager'] }],
      }),
    ).toEqual([
      expect.stringMatching(/^notifications\.channels\[0\]\.webhook\.url: expected an https URL \(plain http is allowed only to 127\.0\.0\.1, the sandbox\) \(got "http:\/\/hooks\.example\.com\/fleet"\)$/),
      expect.stringMatching(/^notifications\.channels\[1\]: give "webhook", "snsTopicArn" or both/),
      expect.stringMatching(/^notifications\.subscriptions\[0\]\.events\[0\]: .*"approval-awaited".* \(got "release-finished"\)$/),
    ]);
    // References are checked once every field has its shape.
    expect(problems({ channels, subscriptions: [{ events: ['wave-halted'], environments: ['qa'], channels: ['pager', 'sms'] }] })).toEqual([
      'notifications.subscriptions[0].environments[0]: unknown environment; expected one of: dev, staging, prod (got "qa")',
      'notifications.subscriptions[0].channels[1]: unknown channel; expected one of: ops-slack, pager (got "sms")',
    ]);
    // The sandbox's receiver listens on 127.0.0.1 over plain http.
    expect(() => parseFleetConfig(withNotifications({ channels: [{ name: 'local', webhook: { url: 'http://127.0.0.1:8099/hook' } }] }))).not.toThrow();
  });

  it('tells an approval gate with the approve command, the wave of the gate and a stable key', () => {
    const input = { releaseId: 'r-1', version: '2.0.0', environments: ['prod'], waves: [{ name: 'canary' }, { name: 'rest' }] } as Parameters<typeof releaseNotification>[0];
    const gate = releaseNotification(input, 'wave-2/awaiting-approval', 'release/r-1', 'run-1')!;
    expect(gate).toMatchObject({ event: 'approval-awaited', key: 'release/r-1/approval-awaited/1', command: 'tenantctl release approve r-1 --wave canary' });
    // The same gate after a continue-as-new (another run) sends the same key.
    expect(releaseNotification(input, 'wave-2/awaiting-approval', 'release/r-1', 'run-2')!.key).toBe(gate.key);
    expect(releaseNotification(input, 'wave-1/running', 'release/r-1', 'run-1')).toBeUndefined();
    expect(releaseNotification(input, 'aborted', 'release/r-1', 'run-1', 'bad canary')).toMatchObject({ event: 'release-ended', fields: { outcome: 'aborted' } });
    const body = webhookBody(gate, 'http://127.0.0.1:8233/namespaces/default/workflows/release%2Fr-1');
    expect(body.text).toBe(
      'release r-1 of 2.0.0 waits for approval after wave "canary" to start wave "rest"\n`tenantctl release approve r-1 --wave canary`\n<http://127.0.0.1:8233/namespaces/default/workflows/release%2Fr-1|Temporal UI>',
    );
  });

  it('a wave whose approval reminder comes after its timeout is refused, naming the field; the reminder reaches the workflow input', () => {
    const plans = (approval: unknown) => stringify({ ...example, releasePlans: [{ name: 'p', waves: [{ name: 'canary', tenants: 1, approval }, { name: 'rest', tenants: 'rest' }] }] });
    expect(() => parseFleetConfig(plans({ timeout: '1h', notifyAfter: '2h' }))).toThrow(
      /releasePlans\[0\]\.waves\[0\]\.approval\.notifyAfter: notifyAfter must be shorter than timeout/,
    );
    expect(() => parseFleetConfig(plans({ timeout: '1h', notifyAfter: 'soon' }))).toThrow(/releasePlans\[0\]\.waves\[0\]\.approval\.notifyAfter: expected a duration/);
    const plan = parseFleetConfig(plans({ timeout: '1h', notifyAfter: '20m' })).releasePlans[0]!;
    expect(cutWaves(plan, ['a', 'b'])[0]!.approval).toEqual({ timeoutMs: 3_600_000, onTimeout: 'abort', notifyAfterMs: 1_200_000 });
    expect(cutWaves({ waves: [{ ...plan.waves[0]!, approval: { required: true, timeout: 60_000, onTimeout: 'continue' } }] }, ['a'])[0]!.approval).toEqual({ timeoutMs: 60_000, onTimeout: 'continue' });
  });

  it('an overdue gate reminds with the approve command, keyed by the gate like its approval-awaited', () => {
    const input = { releaseId: 'r-1', version: '2.0.0', environments: ['prod'], waves: [{ name: 'canary' }, { name: 'rest' }] } as Parameters<typeof releaseNotification>[0];
    expect(gateOf('wave-2/awaiting-approval')).toBe(2);
    expect(gateOf('wave-2/running')).toBeUndefined();
    const overdue = approvalOverdueNotification(input, 2, 4 * 3_600_000, 'release/r-1', 'run-1');
    expect(overdue).toMatchObject({ event: 'approval-overdue', key: 'release/r-1/approval-overdue/1', command: 'tenantctl release approve r-1 --wave canary', environments: ['prod'] });
    expect(overdue.text).toBe('release r-1 of 2.0.0 has waited 4 h for approval after wave "canary"');
    expect(approvalOverdueNotification(input, 2, 90_000, 'release/r-1', 'run-2')).toMatchObject({ key: overdue.key, text: expect.stringContaining('waited 90 s') as unknown });
  });

  it('certificates: stuck once per certificate, expiring once per certificate and threshold (the tightest crossed)', () => {
    const DAY = 86_400_000;
    const now = Date.parse('2026-03-01T00:00:00Z');
    const scope = { group: 'alb-a', environments: ['prod'], workflowId: 'certs/alb-a', runId: 'run-1' };
    const stuck = validationStuckNotification(scope, { arn: 'arn:acm:1', names: ['a.example.com'], since: '2026-03-01T00:00:00.000Z', pendingRecords: [{ name: '_x.a.example.com.' }] });
    expect(stuck).toMatchObject({ event: 'certificate-validation-stuck', key: 'certs/alb-a/certificate-validation-stuck/arn:acm:1' });
    expect(stuck.text).toContain('ACM still waits for _x.a.example.com.');
    const cert = (daysLeft: number) => ({ arn: 'arn:acm:2', names: ['b.example.com'], status: 'ISSUED', notAfter: new Date(now + daysLeft * DAY).toISOString() });
    const thresholds = [14 * DAY, 3 * DAY];
    expect(expiringNotifications(scope, cert(20), thresholds, now)).toEqual([]);
    expect(expiringNotifications(scope, cert(13.5), thresholds, now).map((n) => n.key)).toEqual(['certs/alb-a/certificate-expiring/arn:acm:2/14d']);
    // First seen two days before expiry: one message, for the tightest threshold.
    expect(expiringNotifications(scope, cert(2), thresholds, now).map((n) => [n.key, n.fields?.thresholdDays])).toEqual([['certs/alb-a/certificate-expiring/arn:acm:2/3d', '3']]);
    expect(expiringNotifications(scope, { ...cert(2), status: 'PENDING_VALIDATION' }, thresholds, now)).toEqual([]);
    // The workflow wakes when a threshold still ahead is crossed.
    expect(expiryWakeTimes(cert(20), thresholds, now)).toEqual([now + 6 * DAY, now + 17 * DAY]);
    expect(expiryWakeTimes(cert(13.5), thresholds, now)).toEqual([now + 10.5 * DAY]);
  });
});
