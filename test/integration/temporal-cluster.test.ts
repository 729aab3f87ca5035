// A release on the production-shaped Temporal (PostgreSQL, several history shards, SQL
// visibility, the compose file's dynamic config, the UI server): scripts/test-integration.sh
// starts this file's sandbox with TENANT_FLEET_TEST_TEMPORAL=cluster. docs/testing.md.
import { execFileSync } from 'node:child_process';
import { releaseOutcome, startRelease } from '../../src/client/releases';
import { provisionTenant } from '../../src/client/tenants';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { CLUSTER_HISTORY_SHARDS, COMPOSE_DYNAMIC_CONFIG } from '../sandbox/temporal-cluster';
import { temporalClusterTools } from '../sandbox/tools';
import { liveVersion } from '../sandbox/runtime-reads';
import { startHarness, type Harness } from './harness';

/** A few ECS tenants (this file's sandbox has no Kubernetes cluster), enough for a canary and a second wave. */
const TENANTS = ['acme', 'globex', 'initech'];

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await Promise.all(TENANTS.map((id) => provisionTenant(h.client, { tenant: h.tenant(id), initialVersion: '1.0.0', requestedBy: 'jest' })));
}, 240_000);
afterAll(async () => {
  await h?.stop();
});

describe('the production-shaped Temporal cluster', () => {
  it('is the cluster the compose file describes: PostgreSQL for history and visibility, several shards', async () => {
    const info = await h.client.workflowService.getClusterInfo({});
    expect(info.persistenceStore).toBe('postgres12');
    expect(info.visibilityStore).toBe('postgres12');
    expect(info.historyShardCount).toBe(CLUSTER_HISTORY_SHARDS);
    expect(info.historyShardCount).toBeGreaterThanOrEqual(4);
    const { customAttributes } = await h.client.connection.operatorService.listSearchAttributes({ namespace: h.env.TEMPORAL_NAMESPACE });
    expect(Object.keys(customAttributes ?? {}).sort()).toEqual(expect.arrayContaining(CUSTOM_SEARCH_ATTRIBUTES.map((key) => key.name).sort()));
  });

  it('runs a release across waves, and visibility finds its children by the custom search attributes', async () => {
    const releaseId = `cluster-${Date.now()}`;
    const { handle, input } = await startRelease(h.client, h.config, { releaseId, plan: 'quick', requestedBy: 'jest', version: '1.1.0-cluster', tenants: TENANTS });
    expect(input.waves.length).toBeGreaterThan(1);
    const summary = await releaseOutcome(handle);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(TENANTS.length);
    for (const id of TENANTS) expect(await liveVersion(h, id)).toBe('1.1.0-cluster');
    // A List query on custom search attributes needs advanced visibility: here PostgreSQL's SQL visibility store.
    const children = await h.client.workflow.count(`WorkflowType = 'releaseTenant' AND ReleaseId = '${releaseId}' AND ExecutionStatus = 'Completed'`);
    expect(children.count).toBe(TENANTS.length);
  });

  it('serves the Web UI from the standalone UI server, against this cluster', async () => {
    const response = await fetch(`${h.env.TEMPORAL_UI_URL}/api/v1/namespaces/${h.env.TEMPORAL_NAMESPACE}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { namespaceInfo?: { name?: string } };
    expect(body.namespaceInfo?.name).toBe(h.env.TEMPORAL_NAMESPACE);
    expect(new URL(h.env.TEMPORAL_UI_URL!).hostname).toBe('127.0.0.1');
  });

  it('knows every key of the compose file\'s dynamic config (a key unknown to this server version would be ignored)', () => {
    const output = execFileSync(temporalClusterTools().server, ['validate-dynamic-config', COMPOSE_DYNAMIC_CONFIG], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(output).not.toMatch(/unknown|error|warn/i);
  });
});
