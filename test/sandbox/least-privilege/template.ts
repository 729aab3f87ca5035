import { parseCloudFormationYaml } from '../../../src/shared/cloudformation-yaml';

/**
 * The IAM roles a CloudFormation template declares, with the policies they would have once
 * deployed into one account: every intrinsic (!Sub, !Ref, !GetAtt, !Join, !If, ...) resolved
 * to the concrete strings AWS would put there.
 */
export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[] | PolicyStatement;
}
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export interface TemplateRole {
  logicalId: string;
  name: string;
  arn: string;
  /** Inline policies and the template's managed policies attached to the role. */
  policies: { name: string; document: PolicyDocument }[];
  permissionsBoundary?: { name: string; document: PolicyDocument };
}

export interface DeployTarget {
  accountId: string;
  region: string;
  partition?: string;
  stackName?: string;
  /** Parameter values; a parameter left out takes its Default. */
  parameters?: Record<string, string>;
}


export function parseTemplate(text: string, source: string): Record<string, unknown> {
  try {
    return parseCloudFormationYaml(text) as Record<string, unknown>;
  } catch (cause) {
    throw new Error(`${source}: not a readable CloudFormation template: ${(cause as Error).message}`, { cause });
  }
}

type Json = unknown;
const NO_VALUE = Symbol('AWS::NoValue');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
}

/** Resolves a template for one account; throws naming the path of anything it cannot resolve. */
export class TemplateResolver {
  private readonly resources: Record<string, Resource>;
  private readonly values = new Map<string, string>();
  private readonly conditions = new Map<string, boolean>();

  constructor(
    private readonly template: Record<string, unknown>,
    private readonly target: DeployTarget,
    private readonly source: string,
  ) {
    this.resources = (template.Resources ?? {}) as Record<string, Resource>;
    const partition = target.partition ?? 'aws';
    this.values.set('AWS::AccountId', target.accountId);
    this.values.set('AWS::Region', target.region);
    this.values.set('AWS::Partition', partition);
    this.values.set('AWS::URLSuffix', 'amazonaws.com');
    this.values.set('AWS::StackName', target.stackName ?? 'stack');
    for (const [name, spec] of Object.entries((template.Parameters ?? {}) as Record<string, { Default?: string | number }>)) {
      const value = target.parameters?.[name] ?? (spec.Default === undefined ? undefined : String(spec.Default));
      if (value !== undefined) this.values.set(name, value);
    }
    for (const [logicalId, resource] of Object.entries(this.resources)) {
      const props = resource.Properties ?? {};
      if (resource.Type === 'AWS::IAM::Role') {
        const name = this.roleName(logicalId);
        this.values.set(logicalId, name);
        this.values.set(`${logicalId}.Arn`, `arn:${partition}:iam::${target.accountId}:role${this.path(props.Path)}${name}`);
      } else if (resource.Type === 'AWS::IAM::ManagedPolicy') {
        const name = props.ManagedPolicyName === undefined ? logicalId : String(this.resolve(props.ManagedPolicyName, `Resources.${logicalId}.Properties.ManagedPolicyName`));
        const arn = `arn:${partition}:iam::${target.accountId}:policy${this.path(props.Path)}${name}`;
        this.values.set(logicalId, arn);
        this.values.set(`${logicalId}.PolicyArn`, arn);
      }
    }
  }

  private path(value: Json): string {
    return value === undefined ? '/' : String(this.resolve(value, 'Path'));
  }

  private roleName(logicalId: string): string {
    const name = this.resources[logicalId]?.Properties?.RoleName;
    if (name === undefined) throw new Error(`${this.source}: Resources.${logicalId} has no RoleName; the calls of a generated role name cannot be told apart`);
    return String(this.resolve(name, `Resources.${logicalId}.Properties.RoleName`));
  }

  private condition(name: string, at: string): boolean {
    const known = this.conditions.get(name);
    if (known !== undefined) return known;
    const spec = (this.template.Conditions as Record<string, Json> | undefined)?.[name];
    if (spec === undefined) throw new Error(`${this.source}: ${at}: unknown condition ${name}`);
    const value = this.resolve(spec, `Conditions.${name}`) === true;
    this.conditions.set(name, value);
    return value;
  }

  private lookup(name: string, at: string): string {
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`${this.source}: ${at}: cannot resolve ${name} (no parameter value, default or known resource attribute)`);
    return value;
  }

  private sub(text: string, variables: Record<string, Json>, at: string): string {
    return text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (name in variables) return String(this.resolve(variables[name], `${at}.${name}`));
      return this.lookup(name, at);
    });
  }

  resolve(value: Json, at: string): Json {
    if (Array.isArray(value)) return value.map((v, i) => this.resolve(v, `${at}[${i}]`)).filter((v) => v !== NO_VALUE);
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Condition' || keys[0]!.startsWith('Fn::'))) {
      const fn = keys[0]!;
      const arg = value[fn];
      const args = Array.isArray(arg) ? arg : [arg];
      switch (fn) {
        case 'Ref':
          return arg === 'AWS::NoValue' ? NO_VALUE : this.lookup(String(arg), at);
        case 'Condition':
          return this.condition(String(arg), at);
        case 'Fn::Sub':
          return typeof arg === 'string' ? this.sub(arg, {}, at) : this.sub(String(args[0]), (args[1] ?? {}) as Record<string, Json>, at);
        case 'Fn::GetAtt':
          return this.lookup((Array.isArray(arg) ? arg : String(arg).split('.')).map(String).join('.'), at);
        case 'Fn::Join':
          return (this.resolve(args[1], at) as Json[]).map(String).join(String(args[0]));
        case 'Fn::Select':
          return (this.resolve(args[1], at) as Json[])[Number(this.resolve(args[0], at))];
        case 'Fn::Split':
          return String(this.resolve(args[1], at)).split(String(args[0]));
        case 'Fn::If':
          return this.resolve(this.condition(String(args[0]), at) ? args[1] : args[2], at);
        case 'Fn::Equals':
          return JSON.stringify(this.resolve(args[0], at)) === JSON.stringify(this.resolve(args[1], at));
        case 'Fn::Not':
          return this.resolve(args[0], at) !== true;
        case 'Fn::And':
          return args.every((a) => this.resolve(a, at) === true);
        case 'Fn::Or':
          return args.some((a) => this.resolve(a, at) === true);
        default:
          throw new Error(`${this.source}: ${at}: ${fn} is not supported by the least-privilege check`);
      }
    }
    return Object.fromEntries(
      Object.entries(value)
        .map(([k, v]) => [k, this.resolve(v, `${at}.${k}`)] as const)
        .filter(([, v]) => v !== NO_VALUE),
    );
  }

  /** Every AWS::IAM::Role of the template with its policies, resolved. */
  roles(): TemplateRole[] {
    const managed = new Map<string, { name: string; document: PolicyDocument; roles: string[] }>();
    const inlineExtra = new Map<string, { name: string; document: PolicyDocument }[]>();
    for (const [logicalId, resource] of Object.entries(this.resources)) {
      const at = `Resources.${logicalId}.Properties`;
      const props = (resource.Properties ?? {});
      if (resource.Type === 'AWS::IAM::ManagedPolicy') {
        managed.set(this.values.get(logicalId)!, {
          name: logicalId,
          document: this.resolve(props.PolicyDocument, `${at}.PolicyDocument`) as PolicyDocument,
          roles: ((this.resolve(props.Roles ?? [], `${at}.Roles`) as Json[]) ?? []).map(String),
        });
      } else if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::RolePolicy') {
        const roles = resource.Type === 'AWS::IAM::Policy' ? (this.resolve(props.Roles ?? [], `${at}.Roles`) as Json[]).map(String) : [String(this.resolve(props.RoleName, `${at}.RoleName`))];
        const policy = { name: String(this.resolve(props.PolicyName, `${at}.PolicyName`)), document: this.resolve(props.PolicyDocument, `${at}.PolicyDocument`) as PolicyDocument };
        for (const role of roles) inlineExtra.set(role, [...(inlineExtra.get(role) ?? []), policy]);
      }
    }
    return Object.entries(this.resources)
      .filter(([, resource]) => resource.Type === 'AWS::IAM::Role')
      .map(([logicalId, resource]) => {
        const at = `Resources.${logicalId}.Properties`;
        const props = (resource.Properties ?? {});
        const name = this.values.get(logicalId)!;
        const inline = ((this.resolve(props.Policies ?? [], `${at}.Policies`) as { PolicyName: string; PolicyDocument: PolicyDocument }[]) ?? []).map((p) => ({ name: p.PolicyName, document: p.PolicyDocument }));
        const attached = (this.resolve(props.ManagedPolicyArns ?? [], `${at}.ManagedPolicyArns`) as Json[]).map((arn) => {
          const policy = managed.get(String(arn));
          if (!policy) throw new Error(`${this.source}: ${at}.ManagedPolicyArns: ${String(arn)} is not a managed policy of this template; its document is unknown`);
          return { name: policy.name, document: policy.document };
        });
        const byPolicyRoles = [...managed.values()].filter((p) => p.roles.includes(name)).map((p) => ({ name: p.name, document: p.document }));
        const boundaryArn = props.PermissionsBoundary === undefined ? undefined : String(this.resolve(props.PermissionsBoundary, `${at}.PermissionsBoundary`));
        const boundary = boundaryArn === undefined ? undefined : managed.get(boundaryArn);
        if (boundaryArn !== undefined && !boundary) throw new Error(`${this.source}: ${at}.PermissionsBoundary: ${boundaryArn} is not a managed policy of this template`);
        return {
          logicalId,
          name,
          arn: this.values.get(`${logicalId}.Arn`)!,
          policies: [...inline, ...attached, ...byPolicyRoles, ...(inlineExtra.get(name) ?? [])],
          ...(boundary ? { permissionsBoundary: { name: boundary.name, document: boundary.document } } : {}),
        };
      });
  }
}

export function templateRoles(text: string, source: string, target: DeployTarget): TemplateRole[] {
  return new TemplateResolver(parseTemplate(text, source), target, source).roles();
}
