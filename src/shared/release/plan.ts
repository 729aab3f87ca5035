import { strategyFor, type FleetConfig, type ReleasePlan, type Tenant } from '../config/schema';
import { resolveTenantSpec } from '../config/resolve';
import { tenantIdSchema } from '../ids';
import { manifestProblems, releaseTargetFor, type ReleaseManifest } from './manifest';
import { RELEASE_RECORD_MAX_CHARS } from './record';
import type { ReleaseOptions, ReleaseWaveInput, WaveSpec } from '../messages/release';
import { InputValidationError } from '../validation';

/** Lower ranks carry less risk and go first. */
const TIER_RANK: Record<Tenant['tier'], number> = { internal: 0, free: 1, standard: 2, premium: 3, enterprise: 4 };

export interface ReleaseRequest {
  releaseId: string;
  version: string;
  plan: string;
  /** Narrow the plan's selector further (CLI `--env`, `--tenants`). */
  environments?: string[];
  tenants?: string[];
  requestedBy: string;
  /** Per-release overrides of the plan's options (a longer verify window, say). */
  options?: Partial<ReleaseOptions>;
  /** Run the migration step (CLI `--migrations`); default: the plan's `migrations`. */
  migrations?: boolean;
  /** The release's manifest (CLI `--manifest`; docs/releases.md, "Release manifests"); its version is `version`. */
  manifest?: ReleaseManifest;
}

/** The busy-tenant retry policy when a plan does not say otherwise. */
export const DEFAULT_BUSY_RETRY = { attempts: 5, delayMs: 30_000 } as const;

/**
 * Resolves a plan against the fleet: selects tenants, orders them least-risk first and cuts
 * the order into waves. Pure, so the client can show and validate the exact plan before the
 * release starts; every problem is reported as `field: what is wrong (got value)`.
 */
export function expandReleasePlan(config: FleetConfig, request: ReleaseRequest): ReleaseWaveInput {
  const problems: string[] = [];
  const plan = config.releasePlans.find((p) => p.name === request.plan);
  if (!plan) {
    problems.push(`plan: unknown release plan; expected one of: ${config.releasePlans.map((p) => p.name).join(', ') || '(none configured)'} (got ${JSON.stringify(request.plan)})`);
  }
  const knownEnvironments = new Set(config.environments.map((e) => e.name));
  for (const env of request.environments ?? []) {
    if (!knownEnvironments.has(env)) problems.push(`environments: unknown environment; expected one of: ${[...knownEnvironments].join(', ')} (got ${JSON.stringify(env)})`);
  }
  const knownTenants = new Set(config.tenants.map((t) => t.id));
  for (const id of request.tenants ?? []) {
    if (!tenantIdSchema.safeParse(id).success) problems.push(`tenants: not a tenant ID (got ${JSON.stringify(id)})`);
    else if (!knownTenants.has(id)) problems.push(`tenants: unknown tenant; the fleet config has no tenant with this ID (got ${JSON.stringify(id)})`);
  }
  if (problems.length > 0 || !plan) throw new InputValidationError('release request', problems);

  const selected = orderTenants(config, plan, selectTenants(config, plan, request));
  if (selected.length === 0) {
    throw new InputValidationError('release request', [
      `tenants: plan "${plan.name}" with these filters selects no tenant (got environments ${JSON.stringify(request.environments ?? 'any')}, tenants ${JSON.stringify(request.tenants ?? 'any')})`,
    ]);
  }
  const options: ReleaseWaveInput['options'] = {
    verifyWindowMs: plan.verifyWindow,
    ...(plan.verification === 'metrics' ? { verifyReadsMetrics: true } : {}),
    restoreDatabaseOnRollback: plan.restoreDatabaseOnRollback,
    ...(plan.restoreDatabaseOnRevert ? { restoreDatabaseOnRevert: { maxSnapshotAgeMs: plan.restoreDatabaseOnRevert.maxSnapshotAge } } : {}),
    rollbackOnAbort: plan.rollbackOnAbort,
    busyRetry: { ...DEFAULT_BUSY_RETRY },
    ...maintenanceModeOf(plan),
    ...request.options,
  };
  if (options.maintenanceMode) {
    // No rule to answer with the page: refused before anything starts rather than deployed without one.
    const without = selected.filter((t) => t.loadBalancer === undefined).map((t) => t.id);
    if (without.length > 0) {
      throw new InputValidationError('release request', [
        `maintenanceMode: ${without.length === 1 ? 'tenant' : 'tenants'} ${without.map((id) => JSON.stringify(id)).join(', ')} ${without.length === 1 ? 'has' : 'have'} no load balancer, so no listener rule can answer with the maintenance page; expected only tenants with tenants[].loadBalancer, or narrow the release with --tenants/--env (got maintenanceMode ${JSON.stringify(options.maintenanceMode)} from ${request.options?.maintenanceMode ? 'the request' : `plan "${plan.name}"`})`,
      ]);
    }
  }
  const blueGreen = blueGreenOf(plan, selected);
  if (options.maintenanceMode && blueGreen.blueGreen) {
    // Blue/green moves the rule's weights while maintenance mode holds it on the page: one or the other.
    const ids = blueGreen.blueGreen.flatMap((g) => g.tenants);
    throw new InputValidationError('release request', [
      `maintenanceMode: plan "${plan.name}" releases ${ids.map((id) => JSON.stringify(id)).join(', ')} blue/green, which keeps traffic flowing and moves the listener rule itself; expected maintenance mode only for tenants released rolling (got maintenanceMode ${JSON.stringify(options.maintenanceMode)})`,
    ]);
  }
  if (options.template && blueGreen.blueGreen) {
    // A blue/green deploy (blue-green.ts) has no stack step: refused rather than deployed without the change.
    const ids = blueGreen.blueGreen.flatMap((g) => g.tenants);
    throw new InputValidationError('release request', [
      `template: plan "${plan.name}" releases ${ids.map((id) => JSON.stringify(id)).join(', ')} blue/green, which changes no stack yet; expected a rolling strategy for a release carrying the tenant template, or narrow it with --tenants/--env (got template revision ${options.template.revision.slice(0, 12)})`,
    ]);
  }
  targetProblems(config, plan.name, selected, request, new Set(blueGreen.blueGreen?.flatMap((g) => g.tenants)));
  const migrations = request.migrations ?? plan.migrations ? migrationsOf(config, plan.name, selected) : {};
  if (migrations.migrations) {
    // A blue/green deploy (blue-green.ts) has no migration step yet: refused rather than skipped.
    const blueGreen = selected.filter((t) => strategyFor(plan, t.environment).type === 'blueGreen');
    if (blueGreen.length > 0) {
      throw new InputValidationError('release request', [
        `migrations: release plan "${plan.name}" releases ${blueGreen.map((t) => `"${t.id}"`).join(', ')} blue/green, which runs no migration step yet; expected a rolling strategy for tenants with migrations, or a release without them (got true)`,
      ]);
    }
  }
  const environments = [...new Set(selected.map((t) => t.environment))];
  return {
    releaseId: request.releaseId,
    version: request.version,
    plan: plan.name,
    environments,
    waves: cutWaves(plan, selected.map((t) => t.id)),
    options,
    requestedBy: request.requestedBy,
    ...maintenanceOf(config, selected),
    ...blueGreen,
    ...migrations,
    ...(request.manifest ? { manifest: request.manifest } : {}),
  };
}

/**
 * Refuses, before anything starts, a manifest that does not fit a selected tenant (each of its
 * services needs an image; configuration only for services it runs), a target too large to record
 * beside the version, and a release with a target on a tenant released blue/green: colours exist
 * for the primary service only (docs/releases.md, "Release manifests").
 */
function targetProblems(config: FleetConfig, planName: string, selected: Tenant[], request: ReleaseRequest, blueGreen: Set<string>): void {
  const problems: string[] = [];
  const manifest = request.manifest;
  if (manifest && manifest.version !== request.version) problems.push(`manifest.version: expected the release's version ${request.version} (got ${JSON.stringify(manifest.version)})`);
  for (const tenant of selected) {
    const spec = resolveTenantSpec(config, tenant.id);
    if (blueGreen.has(tenant.id) && (spec.services || manifest)) {
      problems.push(
        `${manifest ? 'manifest' : `tenants[id=${tenant.id}].services`}: release plan "${planName}" releases "${tenant.id}" blue/green, whose colours switch the primary service only; expected a rolling strategy for a tenant with services or a release with a manifest, or narrow it with --tenants/--env (got ${manifest ? `manifest ${manifest.version}` : `services ${spec.services!.map((s) => s.name).join(', ')}`})`,
      );
      continue;
    }
    if (!manifest) continue;
    const fits = manifestProblems(manifest, spec);
    problems.push(...fits);
    if (fits.length > 0) continue;
    const recorded = JSON.stringify(releaseTargetFor(spec, request.version, manifest)).length;
    if (recorded > RELEASE_RECORD_MAX_CHARS) {
      problems.push(`manifest: tenant ${tenant.id}'s release target takes ${recorded} characters, more than the ${RELEASE_RECORD_MAX_CHARS} its record (SSM workload/release) holds; expected fewer or shorter variables (got ${recorded})`);
    }
  }
  if (problems.length > 0) throw new InputValidationError('release request', problems);
}

/** The selected tenants the plan releases blue/green (its strategy for their environment), grouped by strategy. */
export function blueGreenOf(plan: Pick<ReleasePlan, 'strategy' | 'strategyByEnvironment'>, tenants: Tenant[]): Pick<ReleaseWaveInput, 'blueGreen'> {
  const groups = new Map<string, NonNullable<ReleaseWaveInput['blueGreen']>[number]>();
  for (const tenant of tenants) {
    const strategy = strategyFor(plan, tenant.environment);
    if (strategy.type !== 'blueGreen') continue;
    const carried = {
      type: 'blueGreen' as const,
      steps: strategy.steps.map((s) => ({ weight: s.weight, bakeMs: s.bake, ...(s.approval ? { approval: true } : {}) })),
      blueRetentionMs: strategy.blueRetention,
    };
    const key = JSON.stringify(carried);
    const group = groups.get(key);
    if (group) group.tenants.push(tenant.id);
    else groups.set(key, { tenants: [tenant.id], strategy: carried });
  }
  return groups.size > 0 ? { blueGreen: [...groups.values()] } : {};
}

/** The plan's maintenance mode as the release carries it (`drain` in ms), or nothing. */
function maintenanceModeOf(plan: ReleasePlan): Pick<ReleaseOptions, 'maintenanceMode'> {
  const mode = plan.maintenanceMode;
  if (!mode) return {};
  return { maintenanceMode: typeof mode === 'object' && mode.drain !== undefined ? { drainMs: mode.drain } : {} };
}

/**
 * Each selected tenant's migration (its own, else its environment's), grouped by what they share.
 * A release that runs migrations refuses to start while one selected tenant has none: it would
 * deploy a version whose schema change nobody ran.
 */
export function migrationsOf(config: FleetConfig, plan: string, tenants: Tenant[]): Pick<ReleaseWaveInput, 'migrations'> {
  const environments = new Map(config.environments.map((e) => [e.name, e]));
  const groups = new Map<string, NonNullable<ReleaseWaveInput['migrations']>[number]>();
  const problems: string[] = [];
  for (const tenant of tenants) {
    const migration = tenant.migration ?? environments.get(tenant.environment)?.migration;
    if (!migration) {
      const i = config.tenants.indexOf(tenant);
      problems.push(
        `tenants[${i}].migration: release plan "${plan}" runs migrations, but tenant "${tenant.id}" has no migration command; expected tenants[${i}].migration or environments[name=${tenant.environment}].migration with a command (got undefined)`,
      );
      continue;
    }
    const key = JSON.stringify([migration.command, migration.timeout]);
    const group = groups.get(key);
    if (group) group.tenants.push(tenant.id);
    else groups.set(key, { tenants: [tenant.id], command: [...migration.command], timeoutMs: migration.timeout });
  }
  if (problems.length > 0) throw new InputValidationError('release request', problems);
  return groups.size > 0 ? { migrations: [...groups.values()] } : {};
}

/**
 * The selected tenants' windows (their own, else their environment's) and the freezes of their
 * environments, grouped by what they share so that a fleet of thousands carries a handful of groups.
 */
export function maintenanceOf(config: FleetConfig, tenants: Tenant[]): Pick<ReleaseWaveInput, 'maintenance'> {
  const environments = new Map(config.environments.map((e) => [e.name, e]));
  const groups = new Map<string, NonNullable<ReleaseWaveInput['maintenance']>[number]>();
  for (const tenant of tenants) {
    const windows = tenant.maintenanceWindows ?? environments.get(tenant.environment)?.maintenanceWindows ?? [];
    const freezes = config.freezes
      .filter((f) => !f.environments || f.environments.includes(tenant.environment))
      .map(({ from, until, reason }) => ({ from, until, reason }));
    if (windows.length === 0 && freezes.length === 0) continue;
    const key = JSON.stringify([windows, freezes]);
    const group = groups.get(key);
    if (group) group.tenants.push(tenant.id);
    else groups.set(key, { tenants: [tenant.id], windows: [...windows], freezes });
  }
  return groups.size > 0 ? { maintenance: [...groups.values()] } : {};
}

function selectTenants(config: FleetConfig, plan: ReleasePlan, request: ReleaseRequest): Tenant[] {
  const { selector } = plan;
  return config.tenants.filter(
    (t) =>
      (!selector.environments || selector.environments.includes(t.environment)) &&
      (!selector.tiers || selector.tiers.includes(t.tier)) &&
      (!selector.regions || selector.regions.includes(t.region)) &&
      (!selector.tenants || selector.tenants.includes(t.id)) &&
      (!request.environments || request.environments.includes(t.environment)) &&
      (!request.tenants || request.tenants.includes(t.id)),
  );
}

/** Least risk first: by the plan's keys; non-production environments before production ones. */
export function orderTenants(config: FleetConfig, plan: Pick<ReleasePlan, 'order'>, tenants: Tenant[]): Tenant[] {
  const envRank = new Map(
    [...config.environments]
      .map((e, i) => ({ name: e.name, rank: (e.production ? 1_000 : 0) + i }))
      .map((e) => [e.name, e.rank] as const),
  );
  const keyOf: Record<ReleasePlan['order'][number], (t: Tenant) => number | string> = {
    tier: (t) => TIER_RANK[t.tier],
    environment: (t) => envRank.get(t.environment) ?? Number.MAX_SAFE_INTEGER,
    region: (t) => t.region,
    id: (t) => t.id,
  };
  const keys = [...plan.order.map((k) => keyOf[k]), keyOf.id];
  return [...tenants].sort((a, b) => {
    for (const key of keys) {
      const [x, y] = [key(a), key(b)];
      if (x < y) return -1;
      if (x > y) return 1;
    }
    return 0;
  });
}

/**
 * Sizes each wave from the whole selection: a count, a percentage (rounded up, at least one)
 * or "rest". Tenants left over after a plan without "rest" join its last wave, so a release
 * never silently leaves selected tenants out; waves that find nothing left are dropped.
 */
export function cutWaves(plan: Pick<ReleasePlan, 'waves'>, orderedIds: string[]): WaveSpec[] {
  const total = orderedIds.length;
  const waves: WaveSpec[] = [];
  let next = 0;
  plan.waves.forEach((wave, i) => {
    const isLast = i === plan.waves.length - 1;
    let size: number;
    if (wave.tenants === 'rest' || isLast) size = total - next;
    else if (wave.tenants !== undefined) size = wave.tenants;
    else size = Math.max(1, Math.ceil(((wave.percent ?? 0) * total) / 100));
    const tenants = orderedIds.slice(next, next + size);
    next += tenants.length;
    if (tenants.length === 0) return;
    waves.push({
      name: wave.name,
      tenants,
      maxInFlight: wave.maxInFlight,
      failureThreshold: wave.failureThreshold,
      bakeMs: wave.bake,
      approval: wave.approval?.required
        ? { timeoutMs: wave.approval.timeout, onTimeout: wave.approval.onTimeout, ...(wave.approval.notifyAfter !== undefined ? { notifyAfterMs: wave.approval.notifyAfter } : {}) }
        : undefined,
    });
  });
  return waves;
}

/** True when a wave's failures exceed its threshold (a count, or a percentage of the wave). */
export function thresholdExceeded(wave: Pick<WaveSpec, 'failureThreshold' | 'tenants'>, failures: number): boolean {
  const threshold = wave.failureThreshold;
  if ('count' in threshold) return failures > threshold.count;
  return (failures * 100) / Math.max(1, wave.tenants.length) > threshold.percent;
}
