import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import type { TemplateRole } from './template';

/**
 * AWS's policy evaluation for one request, by a maintained simulator
 * (@cloud-copilot/iam-simulate: identity policies, permissions boundary, every condition
 * operator, resource ARNs by the action's resource types).
 *
 * - `allowed`: the role's policies allow the request with what the call log knows.
 * - `conditional`: allowed only if conditions hold on keys the log does not record
 *   (iam:PassedToService, kms:ViaService, request tags, ...): the sandbox's own enforcement
 *   let the call through, and the simulator cannot say more.
 * - `denied`: no statement allows it (or one denies it), whatever the unknown keys are.
 * - `simulator-gap`: an action the simulator's IAM data cannot type for this resource
 *   (SIMULATOR_DATA_GAPS): it can say nothing, and the sandbox's own IAM evaluation let the call through.
 * - `invalid`: the simulator refused the request itself (an action IAM does not know, a
 *   resource ARN of the wrong type), with its message.
 */
export type Verdict = { result: 'allowed' | 'conditional' | 'denied' | 'simulator-gap' } | { result: 'invalid'; message: string };

/**
 * Actions whose resource types the simulator's IAM data lacks for Application Load Balancer ARNs
 * (Classic and Application Load Balancers share the `elasticloadbalancing` prefix and these action
 * names, and the data knows only the Classic resource).
 */
export const SIMULATOR_DATA_GAPS: ReadonlySet<string> = new Set(['elasticloadbalancing:AddTags', 'elasticloadbalancing:RemoveTags']);

export interface EvaluatedRequest {
  role: TemplateRole;
  accountId: string;
  action: string;
  /** The resource ARN when the log knows it; otherwise every resource the action can name. */
  resource?: string;
  region?: string;
  /** Condition keys the call log recorded; null means the key is absent from the request. */
  context?: Record<string, string | string[] | null>;
}

export async function evaluateRequest({ role, accountId, action, resource, region, context = {} }: EvaluatedRequest): Promise<Verdict> {
  const known = Object.fromEntries(Object.entries(context).filter((entry): entry is [string, string | string[]] => entry[1] !== null));
  const simulation: Simulation = {
    request: {
      principal: role.arn,
      action,
      resource: { resource: resource ?? '*', accountId },
      contextVariables: {
        'aws:PrincipalArn': role.arn,
        'aws:PrincipalAccount': accountId,
        ...(region ? { 'aws:RequestedRegion': region } : {}),
        ...known,
      },
    },
    identityPolicies: role.policies.map((p) => ({ name: p.name, policy: p.document })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(role.permissionsBoundary ? { permissionBoundaryPolicies: [{ name: role.permissionsBoundary.name, policy: role.permissionsBoundary.document }] } : {}),
  };
  const strict = await runSimulation(simulation, { simulationMode: 'Strict' });
  if (strict.resultType === 'error') {
    if (strict.errors.message === 'no.resource.types' && SIMULATOR_DATA_GAPS.has(action)) return { result: 'simulator-gap' };
    return { result: 'invalid', message: strict.errors.message };
  }
  if (strict.overallResult === 'Allowed') return { result: 'allowed' };
  // Discovery treats keys as unknown, except those the log recorded (present or absent) and the principal's own.
  const recorded = [...Object.keys(context), ...Object.keys(simulation.request.contextVariables)];
  const discovery = await runSimulation(simulation, {
    simulationMode: 'Discovery',
    discoveryContextKeyConstraints: recorded.map((keyName) => ({ keyName, presenceIsKnown: true, valueIsKnown: true })),
  });
  if (discovery.resultType !== 'error' && discovery.overallResult === 'Allowed') return { result: 'conditional' };
  return { result: 'denied' };
}
