import {
  AddListenerCertificatesCommand,
  DescribeListenerCertificatesCommand,
  DescribeRulesCommand,
  RemoveListenerCertificatesCommand,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ErrorType, permanentFailure } from '../shared/errors';
import { firstFreeRulePriority } from '../shared/rule-priority';
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

  const rulesOf = async ({ target, listenerArn }: ListenerCertificatesInput): Promise<Rule[]> => {
    const rules: Rule[] = [];
    let marker: string | undefined;
    do {
      const page = await aws.elbv2(target).send(new DescribeRulesCommand({ ListenerArn: listenerArn, Marker: marker }), { abortSignal: abortSignal() });
      rules.push(...(page.Rules ?? []));
      marker = page.NextMarker;
    } while (marker);
    return rules;
  };

  return {
    listListenerCertificates: read,

    /**
     * The listener rule priority for a tenant whose traffic stack has none yet. A rule that already
     * matches one of the tenant's hostnames is the tenant's own (hostnames are unique in the fleet),
     * left by an earlier attempt whose stack is still being created: its priority is returned, so a
     * retry asks for the same one. Otherwise the first free priority from a slot derived from the
     * tenant ID: stable for a tenant, and two tenants provisioned at once rarely probe the same slot
     * (if they do, the second stack's rule fails with PriorityInUse and its retry moves on).
     */
    async allocateRulePriority(input: ListenerCertificatesInput & { tenantId: string; hostnames: string[] }): Promise<{ priority: number; reused: boolean }> {
      const rules = await rulesOf(input);
      const wanted = new Set(input.hostnames.map((h) => h.toLowerCase()));
      const own = rules.find((rule) => !rule.IsDefault && hostsOf(rule).some((h) => wanted.has(h.toLowerCase())));
      if (own?.Priority && own.Priority !== 'default') return { priority: Number(own.Priority), reused: true };
      const taken = new Set(rules.filter((r) => !r.IsDefault && r.Priority !== 'default').map((r) => Number(r.Priority)));
      const priority = firstFreeRulePriority(input.tenantId, taken);
      if (priority === undefined) {
        throw permanentFailure(ErrorType.InvalidInput, `listener ${input.listenerArn} has no free rule priority left for tenant ${input.tenantId} (all ${taken.size} taken)`);
      }
      return { priority, reused: false };
    },

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

function hostsOf(rule: Rule): string[] {
  return (rule.Conditions ?? []).filter((c) => c.Field === 'host-header').flatMap((c) => c.HostHeaderConfig?.Values ?? c.Values ?? []);
}

export type Elbv2Activities = ReturnType<typeof createElbv2Activities>;
