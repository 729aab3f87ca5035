import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeRulesCommand, type Rule } from '@aws-sdk/client-elastic-load-balancing-v2';
import { request as httpRequest } from 'node:http';
import { trafficStackNameFor } from '../../src/workflows/tenant-footprint';
import { resolveTenantEndpoint } from '../sandbox/data-plane/resolve';
import type { Harness } from './harness';
import { TEST_SANDBOX_DIR } from './sandbox-env';

/** A tenant's listener rule (its traffic stack's) as the load balancer holds it, read as the sandbox's administrator. */
export async function listenerRuleOf(h: Pick<Harness, 'admin' | 'tenant'>, id: string): Promise<Rule> {
  const lb = h.tenant(id).loadBalancer!;
  const { Stacks } = await h.admin.cloudFormation(lb.aws).send(new DescribeStacksCommand({ StackName: trafficStackNameFor(id) }));
  const ruleArn = Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ListenerRuleArn')?.OutputValue;
  const { Rules = [] } = await h.admin.elbv2(lb.aws).send(new DescribeRulesCommand({ RuleArns: [ruleArn!] }));
  return Rules[0]!;
}

export interface UserAnswer {
  status: number;
  contentType?: string;
  body: string;
}

/** One request to `hostname` through the load balancer emulator, as a user sends it; status 0 when nothing answered. */
export async function answerOf(hostname: string): Promise<UserAnswer> {
  const { url } = await resolveTenantEndpoint(TEST_SANDBOX_DIR, hostname);
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/`, { headers: { host: hostname }, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** The version a tenant app's answer names (its JSON body), if it is one. */
export function versionIn(answer: UserAnswer): string | undefined {
  if (answer.status !== 200) return undefined;
  try {
    return (JSON.parse(answer.body) as { version?: string }).version;
  } catch {
    return undefined;
  }
}
