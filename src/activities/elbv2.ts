import {
  AddListenerCertificatesCommand,
  DescribeListenerCertificatesCommand,
  RemoveListenerCertificatesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsTarget } from '../shared/tenant-spec';
import type { AwsClients } from './aws/clients';
import { abortSignal } from './poll';

export interface ListenerCertificatesInput {
  target: AwsTarget;
  listenerArn: string;
}

export interface ListenerCertificates {
  /** The listener's default certificate: set by whoever created the listener, never touched here. */
  defaultArn?: string;
  /** The other (SNI) certificates. */
  attached: string[];
}

/** Attaching and detaching certificates on an HTTPS listener; each compares before it writes. */
export function createElbv2Activities({ aws }: { aws: AwsClients }) {
  const read = async ({ target, listenerArn }: ListenerCertificatesInput): Promise<ListenerCertificates> => {
    const result: ListenerCertificates = { attached: [] };
    let marker: string | undefined;
    do {
      const page = await aws.elbv2(target).send(new DescribeListenerCertificatesCommand({ ListenerArn: listenerArn, Marker: marker }), { abortSignal: abortSignal() });
      for (const cert of page.Certificates ?? []) {
        if (!cert.CertificateArn) continue;
        if (cert.IsDefault) result.defaultArn = cert.CertificateArn;
        else if (!result.attached.includes(cert.CertificateArn)) result.attached.push(cert.CertificateArn);
      }
      marker = page.NextMarker;
    } while (marker);
    return result;
  };

  return {
    listListenerCertificates: read,

    async attachListenerCertificates(input: ListenerCertificatesInput & { arns: string[] }): Promise<{ added: string[] }> {
      const current = await read(input);
      const added = input.arns.filter((arn) => arn !== current.defaultArn && !current.attached.includes(arn));
      if (added.length > 0) {
        await aws.elbv2(input.target).send(
          new AddListenerCertificatesCommand({ ListenerArn: input.listenerArn, Certificates: added.map((arn) => ({ CertificateArn: arn })) }),
          { abortSignal: abortSignal() },
        );
      }
      return { added };
    },

    /** Detaches SNI certificates; the default certificate is never removed (ALB refuses, and it is not ours). */
    async detachListenerCertificates(input: ListenerCertificatesInput & { arns: string[] }): Promise<{ removed: string[] }> {
      const current = await read(input);
      const removed = input.arns.filter((arn) => current.attached.includes(arn));
      if (removed.length > 0) {
        await aws.elbv2(input.target).send(
          new RemoveListenerCertificatesCommand({ ListenerArn: input.listenerArn, Certificates: removed.map((arn) => ({ CertificateArn: arn })) }),
          { abortSignal: abortSignal() },
        );
      }
      return { removed };
    },
  };
}

export type Elbv2Activities = ReturnType<typeof createElbv2Activities>;
