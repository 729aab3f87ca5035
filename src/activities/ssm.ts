import { DeleteParametersCommand, GetParametersCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { ErrorType, permanentFailure } from '../shared/errors';
import { PREVIOUS_RELEASE_PARAMETER, RELEASE_PARAMETER, releaseTargetSchema, type ReleaseRecord } from '../shared/release/record';
import type { AwsTarget } from '../shared/tenant-spec';
import { describeIssues } from '../shared/validation';
import type { AwsClients } from './aws/clients';
import { deleteStackBefore } from './cloudformation';

export interface PutParametersInput {
  target: AwsTarget;
  tenantId: string;
  /** Relative names under `/tenant-fleet/<tenant>/`; values are non-secret configuration only. */
  parameters: Record<string, string>;
}

export const parameterPrefix = (tenantId: string) => `/tenant-fleet/${tenantId}/`;

export function createSsmActivities({ aws }: { aws: AwsClients }) {
  return {
    /** Writes only the parameters whose value differs, so a second run changes nothing. */
    async putTenantParameters(input: PutParametersInput): Promise<{ written: string[]; unchanged: string[] }> {
      const ssm = aws.ssm(input.target);
      const prefix = parameterPrefix(input.tenantId);
      const names = Object.keys(input.parameters).map((name) => prefix + name);
      const current = new Map<string, string>();
      for (let i = 0; i < names.length; i += 10) {
        const { Parameters = [] } = await ssm.send(new GetParametersCommand({ Names: names.slice(i, i + 10) }));
        for (const p of Parameters) if (p.Name) current.set(p.Name, p.Value ?? '');
      }
      const written: string[] = [];
      const unchanged: string[] = [];
      for (const [name, value] of Object.entries(input.parameters)) {
        const fullName = prefix + name;
        if (current.get(fullName) === value) {
          unchanged.push(fullName);
          continue;
        }
        await ssm.send(new PutParameterCommand({ Name: fullName, Value: value, Type: 'String', Overwrite: true }));
        written.push(fullName);
      }
      return { written, unchanged };
    },

    /**
     * The tenant's recorded release targets (shared/release/record.ts); either absent when never
     * written. A record that does not parse is refused naming the parameter: a rollback must not
     * guess what the tenant ran.
     */
    async readReleaseRecord(input: { target: AwsTarget; tenantId: string }): Promise<ReleaseRecord> {
      const prefix = parameterPrefix(input.tenantId);
      const { Parameters = [] } = await aws.ssm(input.target).send(new GetParametersCommand({ Names: [prefix + RELEASE_PARAMETER, prefix + PREVIOUS_RELEASE_PARAMETER] }));
      const parse = (name: string) => {
        const value = Parameters.find((p) => p.Name === prefix + name)?.Value;
        if (value === undefined) return undefined;
        let json: unknown;
        try {
          json = JSON.parse(value);
        } catch (error) {
          throw permanentFailure(ErrorType.InvalidInput, `${prefix + name}: expected a release target as JSON (got ${JSON.stringify(value.slice(0, 80))})`, { cause: error });
        }
        const parsed = releaseTargetSchema.safeParse(json);
        if (!parsed.success) throw permanentFailure(ErrorType.InvalidInput, `${prefix + name} is not a release target: ${describeIssues(parsed.error.issues, json).join('; ')}`);
        return parsed.data;
      };
      const release = parse(RELEASE_PARAMETER);
      const previous = parse(PREVIOUS_RELEASE_PARAMETER);
      return { ...(release ? { release } : {}), ...(previous ? { previous } : {}) };
    },

    /**
     * `stackBefore` (deprovisioning): also the slot where a release carrying the template keeps that
     * stack before its change (cloudformation.ts, `deleteStackBefore`). An input field rather than an
     * activity of its own, so deprovisioning makes the same commands as before and every recorded
     * history replays.
     */
    async deleteTenantParameters(input: { target: AwsTarget; tenantId: string; names: string[]; stackBefore?: string }): Promise<{ deleted: string[] }> {
      const deleted: string[] = [];
      if (input.names.length > 0) {
        const prefix = parameterPrefix(input.tenantId);
        const { DeletedParameters = [] } = await aws
          .ssm(input.target)
          .send(new DeleteParametersCommand({ Names: input.names.map((n) => prefix + n) }));
        deleted.push(...DeletedParameters);
      }
      if (input.stackBefore) deleted.push(...(await deleteStackBefore(aws.ssm(input.target), input.stackBefore)));
      return { deleted };
    },
  };
}

export type SsmActivities = ReturnType<typeof createSsmActivities>;
