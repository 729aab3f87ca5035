import {
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  ListCertificatesCommand,
  ListTagsForCertificateCommand,
  RequestCertificateCommand,
  ResourceNotFoundException,
  type ACMClient,
  type CertificateDetail,
  type CertificateSummary,
} from '@aws-sdk/client-acm';
import { ErrorType, permanentFailure, retryableFailure } from '../shared/errors';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { abortSignal, pollWithHeartbeat } from './poll';

/** Tags that let the workflow read its group's certificates back from ACM. */
export const CERTIFICATE_TAGS = {
  group: 'tenant-fleet:certificate-group',
  key: 'tenant-fleet:certificate-key',
  managedBy: 'tenant-fleet:managed-by',
} as const;

export interface ValidationRecord {
  domain: string;
  name: string;
  value: string;
}

export interface CertificateInfo {
  arn: string;
  /** DomainName first, then the other subject alternative names. */
  names: string[];
  status: string;
  type: string;
  createdAt?: string;
  notAfter?: string;
  renewalEligibility?: string;
  renewalStatus?: string;
  inUseBy: string[];
  /** DNS validation records as ACM reports them (absent until ACM has generated them). */
  validation: (ValidationRecord & { status: string })[];
}

export interface RequestCertificateInput {
  target: AwsTarget;
  group: string;
  key: string;
  names: string[];
  idempotencyToken: string;
}

/**
 * How long a certificate's group tag, once read, is taken as still true. The product sets it
 * with the request and never changes it; the expiry only lets a certificate someone tags into
 * a group by hand be found within the hour.
 */
const GROUP_TAG_REUSE_MS = 60 * 60_000;
/**
 * How long a settled certificate's description is reused while ListCertificates shows it
 * unchanged (status, type, expiry, renewal eligibility, in use). The summary lacks the renewal
 * status, so a change there shows at most this much later; a reconcile reads the group twice
 * within minutes, and checks come a check interval apart.
 */
const DETAIL_REUSE_MS = 10 * 60_000;

/** What ListCertificates reports that a reused description must still agree with. */
function summaryKey(c: Pick<CertificateSummary, 'Status' | 'Type' | 'NotAfter' | 'RenewalEligibility' | 'InUse'>): string {
  return JSON.stringify([c.Status, c.Type, c.NotAfter?.getTime(), c.RenewalEligibility, c.InUse]);
}

export function createAcmActivities({ aws }: { aws: AwsClients }) {
  /*
   * Per worker, shared by every group and account it serves (a certificate ARN names its account
   * and region): the group tag of each certificate seen, and the last description of each
   * certificate. Finding a group's certificates reads the tags of every certificate in the
   * account, so each is read once, not on every listing; a reconcile lists its group twice
   * and describes what it waits on, so a certificate described meanwhile is not described again.
   */
  const groupTags = new Map<string, { group: string | undefined; at: number }>();
  const described = new Map<string, { detail: CertificateDetail; at: number }>();
  const forget = (arn: string) => {
    groupTags.delete(arn);
    described.delete(arn);
  };

  const describe = async (target: AwsTarget, arn: string): Promise<CertificateDetail | undefined> => {
    try {
      const detail = (await aws.acm(target).send(new DescribeCertificateCommand({ CertificateArn: arn }), { abortSignal: abortSignal() })).Certificate;
      if (detail) described.set(arn, { detail, at: Date.now() });
      return detail;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) {
        forget(arn);
        return undefined;
      }
      throw error;
    }
  };

  /** The certificate's group tag (`group` undefined: it has none), or undefined if the certificate went meanwhile. */
  const groupOf = async (acm: ACMClient, arn: string, now: number): Promise<{ group: string | undefined } | undefined> => {
    const known = groupTags.get(arn);
    if (known && now - known.at < GROUP_TAG_REUSE_MS) return known;
    try {
      const { Tags = [] } = await acm.send(new ListTagsForCertificateCommand({ CertificateArn: arn }), { abortSignal: abortSignal() });
      const group = Tags.find((t) => t.Key === CERTIFICATE_TAGS.group)?.Value;
      groupTags.set(arn, { group, at: now });
      return { group };
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      forget(arn);
      return undefined;
    }
  };

  /** A recent description still matching the listing; never one pending validation (its validation status moves). */
  const reusable = (summary: CertificateSummary, now: number): CertificateDetail | undefined => {
    const known = summary.CertificateArn ? described.get(summary.CertificateArn) : undefined;
    if (!known || now - known.at >= DETAIL_REUSE_MS || summary.Status === undefined || summary.InUse === undefined) return undefined;
    const { detail } = known;
    if (detail.Status === 'PENDING_VALIDATION') return undefined;
    return summaryKey({ ...detail, InUse: (detail.InUseBy ?? []).length > 0 }) === summaryKey(summary) ? detail : undefined;
  };

  return {
    /**
     * Every certificate tagged with the group: reality, as the planner sees it. ACM cannot list
     * by tag, so this lists the account's certificates and reads each one's tags (once, see
     * above), then describes the group's certificates unless a recent description still holds.
     */
    async listGroupCertificates({ target, group }: { target: AwsTarget; group: string }): Promise<CertificateInfo[]> {
      const acm = aws.acm(target);
      const now = Date.now();
      for (const [arn, entry] of groupTags) if (now - entry.at >= GROUP_TAG_REUSE_MS) groupTags.delete(arn);
      for (const [arn, entry] of described) if (now - entry.at >= DETAIL_REUSE_MS) described.delete(arn);
      const summaries: CertificateSummary[] = [];
      let token: string | undefined;
      do {
        const page = await acm.send(new ListCertificatesCommand({ NextToken: token, MaxItems: 1000 }), { abortSignal: abortSignal() });
        summaries.push(...(page.CertificateSummaryList ?? []).filter((s) => s.CertificateArn));
        token = page.NextToken;
      } while (token);
      const found: CertificateInfo[] = [];
      for (const summary of summaries) {
        const arn = summary.CertificateArn!;
        if ((await groupOf(acm, arn, now))?.group !== group) continue;
        const detail = reusable(summary, now) ?? (await describe(target, arn));
        if (detail) found.push(toInfo(arn, detail));
      }
      return found.sort((a, b) => (a.arn < b.arn ? -1 : 1));
    },

    /**
     * Requests a DNS-validated certificate. The idempotency token (derived from the group, the
     * names and what the certificate replaces) makes a retried request return the first one.
     */
    async requestCertificate(input: RequestCertificateInput): Promise<{ arn: string }> {
      const [domainName, ...sans] = input.names;
      if (!domainName) throw permanentFailure(ErrorType.InvalidInput, `certificate ${input.key} of group ${input.group} has no names`);
      if (!/^\w{1,32}$/.test(input.idempotencyToken)) {
        throw permanentFailure(ErrorType.InvalidInput, `idempotencyToken: expected 1-32 word characters (got ${JSON.stringify(input.idempotencyToken)})`);
      }
      const { CertificateArn } = await aws.acm(input.target).send(
        new RequestCertificateCommand({
          DomainName: domainName,
          SubjectAlternativeNames: [domainName, ...sans],
          ValidationMethod: 'DNS',
          IdempotencyToken: input.idempotencyToken,
          Tags: [
            { Key: CERTIFICATE_TAGS.group, Value: input.group },
            { Key: CERTIFICATE_TAGS.key, Value: input.key },
            { Key: CERTIFICATE_TAGS.managedBy, Value: 'tenant-fleet' },
            { Key: 'Name', Value: `certs/${input.group}/${input.key.slice(0, 8)}` },
          ],
        }),
        { abortSignal: abortSignal() },
      );
      if (!CertificateArn) throw new Error(`ACM returned no certificate ARN for ${domainName}`);
      groupTags.set(CertificateArn, { group: input.group, at: Date.now() });
      return { arn: CertificateArn };
    },

    /** The DNS validation records; ACM generates them a few seconds after the request, so this waits for them. */
    async getValidationRecords({ target, arn }: { target: AwsTarget; arn: string }): Promise<ValidationRecord[]> {
      const detail = await pollWithHeartbeat({
        what: `validation records of ${arn}`,
        read: () => describe(target, arn),
        done: (d) => d === undefined || (d.DomainValidationOptions ?? []).every((o) => o.ResourceRecord?.Name && o.ResourceRecord.Value),
        intervalMs: 2_000,
        timeoutMs: 5 * 60_000,
        onTimeout: () => retryableFailure(ErrorType.Timeout, `ACM has not generated the validation records of ${arn} within 5 minutes`),
      });
      if (!detail) throw permanentFailure(ErrorType.ResourceNotFound, `certificate ${arn} does not exist`);
      return toInfo(arn, detail).validation.map(({ domain, name, value }) => ({ domain, name, value }));
    },

    /**
     * Waits until the certificate is issued. The deadline counts from the certificate's request
     * (not this attempt), so retries and later reconciles cannot wait on it for ever: past it,
     * the certificate is reported stuck with the records ACM still waits for.
     */
    async waitForCertificateIssued({ target, arn, validationTimeoutMs }: { target: AwsTarget; arn: string; validationTimeoutMs: number }): Promise<CertificateInfo> {
      const first = await describe(target, arn);
      if (!first) throw permanentFailure(ErrorType.ResourceNotFound, `certificate ${arn} does not exist`);
      const createdAt = first.CreatedAt?.getTime() ?? Date.now();
      const remaining = Math.max(0, createdAt + validationTimeoutMs - Date.now());
      const final = await pollWithHeartbeat({
        what: `certificate ${arn} issued`,
        read: async () => {
          const detail = await describe(target, arn);
          return detail ? toInfo(arn, detail) : { ...toInfo(arn, first), status: 'DELETED' };
        },
        done: (c) => c.status !== 'PENDING_VALIDATION',
        intervalMs: 3_000,
        timeoutMs: remaining,
        onTimeout: (last) =>
          permanentFailure(ErrorType.CertificateValidationStuck, `certificate ${arn} still pending validation ${formatDuration(validationTimeoutMs)} after its request: ${pendingSummary(last)}`, {
            details: [{ arn, pendingRecords: (last?.validation ?? []).filter((v) => v.status !== 'SUCCESS') }],
          }),
      });
      if (final.status !== 'ISSUED') {
        throw permanentFailure(ErrorType.CertificateValidationStuck, `certificate ${arn} ended ${final.status} instead of ISSUED`, { details: [{ arn, pendingRecords: [] }] });
      }
      return final;
    },

    /**
     * Deletes a certificate that no listener serves any more. ELB releases a detached
     * certificate with a delay, so "in use" is waited out for a while; one still in use after
     * that (attached somewhere we do not manage) is a permanent CertificateInUse naming the users.
     */
    async deleteCertificate({ target, arn }: { target: AwsTarget; arn: string }): Promise<{ deleted: boolean }> {
      const detail = await pollWithHeartbeat({
        what: `certificate ${arn} released by its load balancers`,
        read: () => describe(target, arn),
        done: (d) => d === undefined || (d.InUseBy ?? []).length === 0,
        intervalMs: 3_000,
        timeoutMs: 5 * 60_000,
        onTimeout: (last) => permanentFailure(ErrorType.CertificateInUse, `certificate ${arn} is still in use by ${(last?.InUseBy ?? []).join(', ')}; detach it there first`),
      });
      if (!detail) return { deleted: false };
      try {
        await aws.acm(target).send(new DeleteCertificateCommand({ CertificateArn: arn }), { abortSignal: abortSignal() });
        forget(arn);
        return { deleted: true };
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
        forget(arn);
        return { deleted: false };
      }
    },
  };
}

function toInfo(arn: string, detail: CertificateDetail): CertificateInfo {
  const names = [...new Set([detail.DomainName, ...(detail.SubjectAlternativeNames ?? [])].filter((n): n is string => !!n))];
  return {
    arn,
    names,
    status: detail.Status ?? 'UNKNOWN',
    type: detail.Type ?? 'UNKNOWN',
    createdAt: (detail.CreatedAt ?? detail.ImportedAt)?.toISOString(),
    notAfter: detail.NotAfter?.toISOString(),
    renewalEligibility: detail.RenewalEligibility,
    renewalStatus: detail.RenewalSummary?.RenewalStatus,
    inUseBy: detail.InUseBy ?? [],
    validation: (detail.DomainValidationOptions ?? [])
      .filter((o) => o.ResourceRecord?.Name && o.ResourceRecord.Value)
      .map((o) => ({ domain: o.DomainName ?? '', name: o.ResourceRecord!.Name!, value: o.ResourceRecord!.Value!, status: o.ValidationStatus ?? 'UNKNOWN' })),
  };
}

const formatDuration = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} minute(s)` : `${Math.round(ms / 1000)} second(s)`);

function pendingSummary(last: CertificateInfo | undefined): string {
  const pending = (last?.validation ?? []).filter((v) => v.status !== 'SUCCESS');
  return pending.length === 0 ? 'no validation record reported' : `waiting for ${pending.map((p) => `${p.name} CNAME ${p.value}`).join(', ')}`;
}

export type AcmActivities = ReturnType<typeof createAcmActivities>;
