/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import {
  ACMClient,
  DescribeCertificateCommand,
  ListCertificatesCommand,
  ListTagsForCertificateCommand,
  ResourceNotFoundException,
  type CertificateDetail,
  type CertificateStatus,
} from '@aws-sdk/client-acm';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mockClient } from 'aws-sdk-client-mock';
import { createAcmActivities } from '../../src/activities/acm';
import { AwsClients } from '../../src/activities/aws/clients';
import type { AwsTarget } from '../../src/shared/tenant-spec';

/*
 * ACM cannot list certificates by tag: finding a group's certificates reads the tags of every
 * certificate in the account. A reconcile lists its group twice (before and after) and other
 * groups share the account, so each certificate's tags are read once, and a settled
 * certificate that the listing shows unchanged is not described again.
 */
const target: AwsTarget = { accountId: '123456789012', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/TenantFleetAccess', externalId: 'ext' };
const arn = (id: string) => `arn:aws:acm:us-east-1:123456789012:certificate/${id}`;

/** Runs an activity inside an activity context. */
function run<I, O>(activity: (input: I) => Promise<O>, input: I): Promise<O> {
  return quietActivityEnvironment().run(activity, input);
}

interface Cert {
  group?: string;
  status: CertificateStatus;
  inUse: boolean;
  notAfter: Date;
}

describe('listGroupCertificates', () => {
  const acm = mockClient(ACMClient);
  let certs: Map<string, Cert>;
  let clients: AwsClients;

  beforeEach(() => {
    acm.reset();
    certs = new Map<string, Cert>([
      [arn('ours-issued'), { group: 'alb', status: 'ISSUED', inUse: true, notAfter: new Date('2030-01-01T00:00:00Z') }],
      [arn('ours-pending'), { group: 'alb', status: 'PENDING_VALIDATION', inUse: false, notAfter: new Date('2030-01-01T00:00:00Z') }],
      [arn('other-group'), { group: 'other-alb', status: 'ISSUED', inUse: true, notAfter: new Date('2030-01-01T00:00:00Z') }],
      [arn('untagged'), { status: 'ISSUED', inUse: false, notAfter: new Date('2030-01-01T00:00:00Z') }],
    ]);
    const detail = (id: string, c: Cert): CertificateDetail => ({
      CertificateArn: id,
      DomainName: `${id.slice(-6)}.example.test`,
      Status: c.status,
      Type: 'AMAZON_ISSUED',
      NotAfter: c.notAfter,
      RenewalEligibility: 'INELIGIBLE',
      InUseBy: c.inUse ? ['arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1'] : [],
    });
    const missing = () => new ResourceNotFoundException({ message: 'no such certificate', $metadata: {} });
    acm.on(ListCertificatesCommand).callsFake(() => ({
      CertificateSummaryList: [...certs].map(([id, c]) => ({ CertificateArn: id, Status: c.status, Type: 'AMAZON_ISSUED', NotAfter: c.notAfter, RenewalEligibility: 'INELIGIBLE', InUse: c.inUse })),
    }));
    acm.on(ListTagsForCertificateCommand).callsFake(({ CertificateArn }: { CertificateArn: string }) => {
      const c = certs.get(CertificateArn);
      if (!c) throw missing();
      return { Tags: c.group ? [{ Key: 'tenant-fleet:certificate-group', Value: c.group }] : [{ Key: 'Name', Value: 'hand-made' }] };
    });
    acm.on(DescribeCertificateCommand).callsFake(({ CertificateArn }: { CertificateArn: string }) => {
      const c = certs.get(CertificateArn);
      if (!c) throw missing();
      return { Certificate: detail(CertificateArn, c) };
    });
    clients = new AwsClients({ baseCredentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
  });
  afterEach(() => clients.destroy());

  const calls = () => ({
    tags: acm.commandCalls(ListTagsForCertificateCommand).map((c) => c.args[0].input.CertificateArn),
    describes: acm.commandCalls(DescribeCertificateCommand).map((c) => c.args[0].input.CertificateArn),
  });

  it("reads each certificate's tags once and describes only what may have changed", async () => {
    const { listGroupCertificates } = createAcmActivities({ aws: clients });
    const list = (group: string) => run(listGroupCertificates, { target, group });

    const first = await list('alb');
    expect(first.map((c) => [c.arn, c.status])).toEqual([
      [arn('ours-issued'), 'ISSUED'],
      [arn('ours-pending'), 'PENDING_VALIDATION'],
    ]);
    expect(calls().tags.sort()).toEqual([...certs.keys()].sort());
    expect(calls().describes.sort()).toEqual([arn('ours-issued'), arn('ours-pending')]);

    // The reconcile's second listing: no tags read again; the settled certificate is not described again, the pending one is.
    acm.resetHistory();
    expect(await list('alb')).toEqual(first);
    expect(calls()).toEqual({ tags: [], describes: [arn('ours-pending')] });

    // Another group in the same account: no tags read again either.
    acm.resetHistory();
    expect((await list('other-alb')).map((c) => c.arn)).toEqual([arn('other-group')]);
    expect(calls()).toEqual({ tags: [], describes: [arn('other-group')] });

    // What the listing shows changing is described again: issued, detached, renewed; a deleted certificate is gone.
    acm.resetHistory();
    certs.get(arn('ours-pending'))!.status = 'ISSUED';
    certs.get(arn('ours-issued'))!.inUse = false;
    certs.delete(arn('untagged'));
    certs.set(arn('ours-new'), { group: 'alb', status: 'PENDING_VALIDATION', inUse: false, notAfter: new Date('2031-01-01T00:00:00Z') });
    const after = await list('alb');
    expect(after.map((c) => [c.arn, c.status, c.inUseBy.length])).toEqual([
      [arn('ours-issued'), 'ISSUED', 0],
      [arn('ours-new'), 'PENDING_VALIDATION', 0],
      [arn('ours-pending'), 'ISSUED', 0],
    ]);
    expect(calls().tags).toEqual([arn('ours-new')]);
    expect(calls().describes.sort()).toEqual([arn('ours-issued'), arn('ours-new'), arn('ours-pending')]);
  });

  it('a description older than ten minutes is not reused, and tags are read again after an hour', async () => {
    const now = jest.spyOn(Date, 'now');
    try {
      const { listGroupCertificates } = createAcmActivities({ aws: clients });
      const list = () => run(listGroupCertificates, { target, group: 'alb' });
      now.mockReturnValue(1_000_000);
      await list();
      acm.resetHistory();
      now.mockReturnValue(1_000_000 + 10 * 60_000);
      await list();
      expect(calls()).toEqual({ tags: [], describes: [arn('ours-issued'), arn('ours-pending')] });
      acm.resetHistory();
      now.mockReturnValue(1_000_000 + 60 * 60_000);
      await list();
      expect(calls().tags).toHaveLength(certs.size);
    } finally {
      now.mockRestore();
    }
  });
});
