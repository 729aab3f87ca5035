import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { createHash, createHmac } from 'node:crypto';
import type { UiLinks } from '../client/cli/ui-links';
import type { FleetConfig, NotificationChannel } from '../shared/config/schema';
import { ErrorType, permanentFailure, retryableFailure } from '../shared/errors';
import type { Notification } from '../shared/notifications/events';
import type { FleetConfigSource } from './fleet';
import { activityContext } from './poll';

export interface NotificationDependencies {
  config: FleetConfigSource;
  /** Links into the Temporal UI (the worker's TEMPORAL_UI_URL); without it, messages carry none. */
  ui?: UiLinks;
  /** The sandbox's moto; unset means AWS. The calls run with the worker's own credentials. */
  awsEndpoint?: string;
  /** One webhook request; the activity's start-to-close bounds all of them. */
  webhookTimeoutMs?: number;
}

/** The channels subscribed to this event in one of its environments. */
export function channelsFor(config: FleetConfig, notification: Pick<Notification, 'event' | 'environments'>): NotificationChannel[] {
  const names = new Set<string>();
  for (const s of config.notifications.subscriptions) {
    if (!s.events.includes(notification.event) || !s.environments.some((e) => notification.environments.includes(e))) continue;
    for (const c of s.channels ?? config.notifications.channels.map((c) => c.name)) names.add(c);
  }
  return config.notifications.channels.filter((c) => names.has(c.name));
}

/** The webhook's body: Slack reads `text` (and ignores the rest); other receivers get the fields as JSON. */
export function webhookBody(notification: Notification, link: string | undefined): Record<string, unknown> {
  const lines = [notification.text];
  if (notification.command) lines.push(`\`${notification.command}\``);
  if (link) lines.push(`<${link}|Temporal UI>`);
  return {
    text: lines.join('\n'),
    event: notification.event,
    key: notification.key,
    workflowId: notification.workflowId,
    environments: notification.environments,
    ...(notification.command ? { command: notification.command } : {}),
    ...(link ? { link } : {}),
    ...(notification.fields ? { fields: notification.fields } : {}),
  };
}

const regionOf = (arn: string) => arn.split(':')[3]!;

/**
 * Delivery of a workflow's notification to every channel subscribed to it. Safe to run twice: each
 * delivery carries the notification's key (webhook: `Idempotency-Key`; SNS: a message attribute, and
 * the deduplication ID on a FIFO topic), so a receiver can drop a repeat. Repeats are rare anyway:
 * each channel that took the notification is recorded in the attempt's heartbeat, and a retry (one
 * channel down, or the worker killed mid-way) sends only to the channels not recorded there.
 */
export function createNotificationActivities(deps: NotificationDependencies) {
  const sns = new Map<string, SNSClient>();
  const secrets = new Map<string, SecretsManagerClient>();
  const client = <C>(cache: Map<string, C>, region: string, make: () => C) => {
    let c = cache.get(region);
    if (!c) cache.set(region, (c = make()));
    return c;
  };
  const aws = (region: string) => ({ region, endpoint: deps.awsEndpoint, maxAttempts: 3, requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 } });

  async function secretOf(arn: string): Promise<string> {
    const answer = await client(secrets, regionOf(arn), () => new SecretsManagerClient(aws(regionOf(arn)))).send(new GetSecretValueCommand({ SecretId: arn }));
    if (!answer.SecretString) throw permanentFailure(ErrorType.InvalidInput, `secret ${arn} has no string value; expected the webhook's token as a string`);
    return answer.SecretString;
  }

  async function toWebhook(webhook: NonNullable<NotificationChannel['webhook']>, notification: Notification, link: string | undefined): Promise<void> {
    const body = JSON.stringify(webhookBody(notification, link));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': notification.key };
    if (webhook.secretArn) {
      const secret = await secretOf(webhook.secretArn);
      headers.authorization = `Bearer ${secret}`;
      headers['x-tenant-fleet-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    }
    let response: Response;
    try {
      response = await fetch(webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(deps.webhookTimeoutMs ?? 5_000) });
    } catch (error) {
      throw retryableFailure(ErrorType.NotificationFailed, `webhook ${webhook.url} unreachable: ${(error as Error).message}`, { cause: error });
    }
    await response.body?.cancel();
    if (response.ok) return;
    const message = `webhook ${webhook.url} answered ${response.status}`;
    // A 4xx other than timeout/throttling is the receiver refusing this request: sending it again cannot help.
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) throw permanentFailure(ErrorType.NotificationFailed, message);
    throw retryableFailure(ErrorType.NotificationFailed, message);
  }

  async function toSns(topicArn: string, notification: Notification, link: string | undefined): Promise<void> {
    const fifo = topicArn.endsWith('.fifo');
    await client(sns, regionOf(topicArn), () => new SNSClient(aws(regionOf(topicArn)))).send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: notification.text.replace(/[^\x20-\x7e]/g, ' ').slice(0, 100),
        Message: JSON.stringify(webhookBody(notification, link)),
        MessageAttributes: {
          'idempotency-key': { DataType: 'String', StringValue: notification.key },
          event: { DataType: 'String', StringValue: notification.event },
        },
        // FIFO topics drop a repeat of the same deduplication ID within 5 minutes; standard topics leave it to subscribers (the attribute).
        ...(fifo ? { MessageDeduplicationId: createHash('sha256').update(notification.key).digest('hex'), MessageGroupId: createHash('sha256').update(notification.workflowId).digest('hex') } : {}),
      }),
    );
  }

  return {
    async deliverNotification(notification: Notification): Promise<{ delivered: string[] }> {
      const channels = channelsFor(await deps.config(), notification);
      const link = deps.ui?.workflow(notification.workflowId, notification.runId);
      const context = activityContext();
      const delivered = deliveredBefore(context?.info.heartbeatDetails).filter((name) => channels.some((c) => c.name === name));
      const failed: unknown[] = [];
      for (const channel of channels) {
        if (delivered.includes(channel.name)) continue;
        try {
          if (channel.webhook) await toWebhook(channel.webhook, notification, link);
          if (channel.snsTopicArn) await toSns(channel.snsTopicArn, notification, link);
          delivered.push(channel.name);
          context?.heartbeat({ delivered } satisfies DeliveryProgress);
        } catch (error) {
          failed.push(error);
        }
      }
      if (failed.length > 0) throw failed.length === 1 ? failed[0] : retryableFailure(ErrorType.NotificationFailed, `${failed.length} channels failed: ${failed.map((e) => (e as Error).message).join('; ')}`, { cause: failed[0] });
      return { delivered };
    },
  };
}

/** What an attempt of deliverNotification heartbeats, for the next attempt to read. */
const deliveryProgressSchema = z.object({ delivered: z.array(z.string()) });
type DeliveryProgress = z.infer<typeof deliveryProgressSchema>;

/** The channels an earlier attempt delivered to; none when there was no attempt or its details are not ours. */
function deliveredBefore(details: unknown): string[] {
  const progress = deliveryProgressSchema.safeParse(details);
  return progress.success ? [...progress.data.delivered] : [];
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
