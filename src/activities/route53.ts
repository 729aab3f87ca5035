import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { ErrorType, permanentFailure, retryableFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { pollWithHeartbeat } from './poll';

export interface DnsRecord {
  name: string;
  type: 'CNAME' | 'A' | 'TXT';
  value: string;
  ttl?: number;
}

export interface DnsRecordsInput {
  target: AwsTarget;
  hostedZoneId: string;
  records: DnsRecord[];
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);

export function createRoute53Activities({ aws }: { aws: AwsClients }) {
  const current = async (input: DnsRecordsInput): Promise<Map<string, ResourceRecordSet>> => {
    const found = new Map<string, ResourceRecordSet>();
    for (const record of input.records) {
      const { ResourceRecordSets = [] } = await aws.route53(input.target).send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: input.hostedZoneId,
          StartRecordName: fqdn(record.name),
          StartRecordType: record.type,
          MaxItems: 1,
        }),
      );
      const set = ResourceRecordSets[0];
      if (set && set.Name === fqdn(record.name) && set.Type === record.type) found.set(`${record.type} ${fqdn(record.name)}`, set);
    }
    return found;
  };

  const applyChange = async (input: DnsRecordsInput, changes: { Action: 'UPSERT' | 'DELETE'; ResourceRecordSet: ResourceRecordSet }[]) => {
    const { ChangeInfo } = await aws.route53(input.target).send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: input.hostedZoneId,
        ChangeBatch: { Comment: 'tenant-fleet', Changes: changes },
      }),
    );
    if (!ChangeInfo?.Id) return;
    await pollWithHeartbeat({
      what: `Route53 change ${ChangeInfo.Id}`,
      read: () => aws.route53(input.target).send(new GetChangeCommand({ Id: ChangeInfo.Id })),
      done: (change) => change.ChangeInfo?.Status === 'INSYNC',
      intervalMs: 2_000,
      timeoutMs: 10 * 60_000,
      onTimeout: () => retryableFailure(ErrorType.Timeout, `Route53 change ${ChangeInfo.Id} not in sync after 10 minutes`),
    });
  };

  return {
    /** UPSERTs the records that differ and waits until Route53 has them in sync. */
    async upsertDnsRecords(input: DnsRecordsInput): Promise<{ changed: string[] }> {
      const existing = await current(input);
      const changes = input.records
        .filter((r) => {
          const set = existing.get(`${r.type} ${fqdn(r.name)}`);
          return set?.ResourceRecords?.[0]?.Value !== r.value || set.TTL !== (r.ttl ?? 300);
        })
        .map((r) => ({
          Action: 'UPSERT' as const,
          ResourceRecordSet: { Name: fqdn(r.name), Type: r.type, TTL: r.ttl ?? 300, ResourceRecords: [{ Value: r.value }] },
        }));
      if (changes.length > 0) await applyChange(input, changes);
      return { changed: changes.map((c) => c.ResourceRecordSet.Name) };
    },

    /**
     * UPSERTs CNAMEs (ACM validation records) into one zone, reading the zone once rather than
     * once per record; only records that are missing or differ are written.
     */
    async upsertZoneRecords(input: DnsRecordsInput): Promise<{ changed: string[] }> {
      const existing = new Map<string, ResourceRecordSet>();
      let start: { name?: string; type?: ResourceRecordSet['Type'] } = {};
      for (;;) {
        const page = await aws.route53(input.target).send(
          new ListResourceRecordSetsCommand({ HostedZoneId: input.hostedZoneId, StartRecordName: start.name, StartRecordType: start.type }),
        );
        for (const set of page.ResourceRecordSets ?? []) existing.set(`${set.Type} ${set.Name?.toLowerCase()}`, set);
        if (!page.IsTruncated) break;
        start = { name: page.NextRecordName, type: page.NextRecordType };
      }
      const wanted = new Map(input.records.map((r) => [`${r.type} ${fqdn(r.name).toLowerCase()}`, r]));
      const changes = [...wanted.entries()]
        .filter(([key, r]) => {
          const set = existing.get(key);
          return fqdn(set?.ResourceRecords?.[0]?.Value ?? '').toLowerCase() !== fqdn(r.value).toLowerCase() || set?.TTL !== (r.ttl ?? 300);
        })
        .map(([, r]) => ({
          Action: 'UPSERT' as const,
          ResourceRecordSet: { Name: fqdn(r.name), Type: r.type, TTL: r.ttl ?? 300, ResourceRecords: [{ Value: r.value }] },
        }));
      if (changes.length > 0) await applyChange(input, changes);
      return { changed: changes.map((c) => c.ResourceRecordSet.Name) };
    },

    /**
     * Deletes records that still point where we put them; a record someone repointed is
     * left alone and reported, because deleting it would take down whatever it now serves.
     */
    async deleteDnsRecords(input: DnsRecordsInput): Promise<{ deleted: string[]; skipped: string[] }> {
      const existing = await current(input);
      const deleted: string[] = [];
      const skipped: string[] = [];
      const changes = [];
      for (const record of input.records) {
        const set = existing.get(`${record.type} ${fqdn(record.name)}`);
        if (!set) continue;
        if (set.ResourceRecords?.[0]?.Value !== record.value) {
          skipped.push(fqdn(record.name));
          continue;
        }
        changes.push({ Action: 'DELETE' as const, ResourceRecordSet: set });
        deleted.push(fqdn(record.name));
      }
      if (changes.length > 0) await applyChange(input, changes);
      return { deleted, skipped };
    },
  };
}

export function requireHostedZone(hostedZoneId: string | undefined, tenantId: string): string {
  if (!hostedZoneId) {
    throw permanentFailure(ErrorType.InvalidInput, `tenant ${tenantId}: its account has no hostedZoneId in the fleet config, so its DNS cannot be managed`);
  }
  return hostedZoneId;
}

export type Route53Activities = ReturnType<typeof createRoute53Activities>;
