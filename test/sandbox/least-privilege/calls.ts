import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../../../src/shared/validation';

/**
 * One AWS call as the sandbox's emulator logs it while IAM is enforced
 * (test/sandbox/moto/patches/iam_enforcement.py, `<stateDir>/aws/calls.jsonl`).
 */
const callSchema = z.object({
  service: z.string().min(1),
  action: z.string().min(1),
  account: z.string().regex(/^\d{12}$/, 'expected a 12-digit account ID'),
  principalArn: z.string().startsWith('arn:'),
  region: z.string().optional(),
  resource: z.string().optional(),
  /** Whether the sandbox let the call through; refused calls are tests of the refusal. */
  allowed: z.boolean().optional(),
  /** Condition keys of the request the sandbox knows (null: the key is absent). */
  context: z.record(z.string(), z.union([z.string(), z.array(z.string()), z.null()])).optional(),
  /** `cloudformation`: an action CloudFormation's resource handler takes with the stack's role. */
  via: z.string().optional(),
});
export type AwsCall = z.infer<typeof callSchema> & { source: string };

/** SigV4 signing names that differ from the IAM action prefix. */
const IAM_PREFIX: Record<string, string> = { monitoring: 'cloudwatch', email: 'ses', 'execute-api': 'apigateway' };

/** The IAM action a call is authorized as, e.g. `cloudwatch:DescribeAlarms` for a `monitoring` call. */
export const iamAction = (call: Pick<AwsCall, 'service' | 'action'>): string => `${IAM_PREFIX[call.service] ?? call.service}:${call.action}`;

export function parseCallLog(text: string, source: string): AwsCall[] {
  const calls: AwsCall[] = [];
  text.split('\n').forEach((line, index) => {
    if (!line.trim()) return;
    const at = `${source}:${index + 1}`;
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch {
      throw new Error(`${at}: not a JSON line: ${line.slice(0, 120)}`);
    }
    const parsed = callSchema.safeParse(data);
    if (!parsed.success) throw new Error(`${at}: not an AWS call record: ${describeIssues(parsed.error.issues, data).join('; ')}`);
    calls.push({ ...parsed.data, source: at });
  });
  return calls;
}

/** The call logs the integration suite leaves, one per sandbox: `.sandbox/test-<file>/**\/aws/calls.jsonl`. */
export function findCallLogs(sandboxRoot: string): string[] {
  if (!existsSync(sandboxRoot)) return [];
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && depth < 4 && entry.name !== 'kube' && entry.name !== 'temporal') walk(path, depth + 1);
      else if (entry.isFile() && entry.name === 'calls.jsonl' && relative(sandboxRoot, path).split('/').at(-2) === 'aws') found.push(path);
    }
  };
  for (const entry of readdirSync(sandboxRoot)) {
    const path = join(sandboxRoot, entry);
    if (entry.startsWith('test-') && statSync(path).isDirectory()) walk(path, 0);
  }
  return found.sort();
}

export const readCallLogs = (paths: string[], root: string): AwsCall[] => paths.flatMap((path) => parseCallLog(readFileSync(path, 'utf8'), relative(root, path)));
