/* eslint-disable @typescript-eslint/unbound-method -- the activity factories return plain closures that never use `this`. */
import type { Client } from '@temporalio/client';
import { quietActivityEnvironment } from '../support/mock-activity';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { fleetConfigSource } from '../../src/activities/fleet';
import { createTemporalActivities } from '../../src/activities/temporal';
import { certificatesInputFromConfig } from '../../src/shared/certificates/from-config';
import { parseFleetConfig } from '../../src/shared/config/load';
import { resolveTenantSpec } from '../../src/shared/config/resolve';
import { certificatesInputSchema, reconcileForTenant } from '../../src/shared/messages/certificates';

/*
 * The `signalCertificates` activity with a stub client that records the signal-with-start it
 * would send: provisioning's `certs/<group>` must start from the worker's fleet config, like
 * `tenantctl certs sync`, not from the tenant's load balancer alone with default policy.
 */

const exampleText = readFileSync(join(__dirname, '..', '..', 'config', 'fleet.example.yaml'), 'utf8');
const POLICY = { gracePeriod: '2s', validationTimeout: '3m', checkInterval: '20s', debounce: '1s', maxNamesPerCertificate: 3 };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'signal-certificates-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(edit: (raw: Record<string, unknown>) => void): string {
  const raw = parse(exampleText) as Record<string, unknown>;
  edit(raw);
  const path = join(dir, 'fleet.yaml');
  writeFileSync(path, stringify(raw));
  return path;
}

interface Started {
  workflowId: string;
  args: unknown[];
  signalArgs: unknown[];
}

function stubClient(): { client: Client; started: Started[] } {
  const started: Started[] = [];
  const client = {
    workflow: {
      signalWithStart: (_workflow: string, options: Started) => {
        started.push({ workflowId: options.workflowId, args: options.args, signalArgs: options.signalArgs });
        return Promise.resolve();
      },
    },
  } as unknown as Client;
  return { client, started };
}

const globexReconcile = (configText: string) => reconcileForTenant(resolveTenantSpec(parseFleetConfig(configText), 'globex'), false)!;

describe('signalCertificates starts certs/<group> from the fleet config', () => {
  it("gives the run the config's start input (policy, wildcard environments, tenants), not defaults", async () => {
    const path = writeConfig((raw) => (raw.certificates = POLICY));
    const { client, started } = stubClient();
    const activities = createTemporalActivities({ client, taskQueue: 'q', fleetConfig: fleetConfigSource(path) });
    const input = globexReconcile(exampleText);

    const result = await quietActivityEnvironment().run(activities.signalCertificates, input);
    expect(result).toEqual({ workflowId: 'certs/public-us-east-1' });
    expect(started).toHaveLength(1);
    const config = parseFleetConfig(readFileSync(path, 'utf8'));
    expect(started[0]!.args).toEqual([certificatesInputFromConfig(config, 'public-us-east-1')]);
    const state = certificatesInputSchema.parse(started[0]!.args[0]);
    expect(state.policy).toMatchObject({ gracePeriod: 2_000, validationTimeout: 180_000, checkInterval: 20_000, debounce: 1_000, maxNamesPerCertificate: 3 });
    expect(state.wildcardEnvironments).toEqual(['dev']);
    expect(Object.keys(state.tenants)).toEqual(['globex']);
    expect(started[0]!.signalArgs).toEqual([input.request]);

    // A retry sends the same thing again.
    await quietActivityEnvironment().run(activities.signalCertificates, input);
    expect(started[1]).toEqual(started[0]);
  });

  it('refuses an invalid certificates policy, naming the field, its value and what was expected', async () => {
    const path = writeConfig((raw) => (raw.certificates = { ...POLICY, gracePeriod: 'two minutes' }));
    const { client, started } = stubClient();
    const activities = createTemporalActivities({ client, taskQueue: 'q', fleetConfig: fleetConfigSource(path) });
    const failure: unknown = await quietActivityEnvironment().run(activities.signalCertificates, globexReconcile(exampleText)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((failure as Error).message).toMatch(/certificates\.gracePeriod: expected a duration such as .* \(got "two minutes"\)/);
    expect(started).toEqual([]);
  });

  it("refuses a tenant whose load balancer the worker's config does not know", async () => {
    const path = writeConfig((raw) => {
      (raw.loadBalancers as { name: string }[])[0]!.name = 'renamed-lb';
      (raw.tenants as { loadBalancer?: string }[]).forEach((t) => t.loadBalancer && (t.loadBalancer = 'renamed-lb'));
    });
    const { client, started } = stubClient();
    const activities = createTemporalActivities({ client, taskQueue: 'q', fleetConfig: fleetConfigSource(path) });
    const failure: unknown = await quietActivityEnvironment().run(activities.signalCertificates, globexReconcile(exampleText)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((failure as Error).message).toMatch(/unknown certificate group "public-us-east-1": expected one of the fleet's load balancers: renamed-lb/);
    expect(started).toEqual([]);
  });

  it('refuses invalid activity input with the field at fault', async () => {
    const { client, started } = stubClient();
    const activities = createTemporalActivities({ client, taskQueue: 'q', fleetConfig: fleetConfigSource(writeConfig(() => undefined)) });
    const input = globexReconcile(exampleText);
    const failure: unknown = await quietActivityEnvironment()
      .run(activities.signalCertificates, { ...input, request: { ...input.request, hostnames: ['Not A Hostname'] } })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((failure as Error).message).toMatch(/request\.hostnames\[0\]: .*\(got "Not A Hostname"\)/);
    expect(started).toEqual([]);
  });

  it('without a fleet config, starts on the given start input (default policy)', async () => {
    const { client, started } = stubClient();
    const activities = createTemporalActivities({ client, taskQueue: 'q' });
    const input = globexReconcile(exampleText);
    await quietActivityEnvironment().run(activities.signalCertificates, input);
    expect(started[0]!.args).toEqual([input.start]);
  });
});
