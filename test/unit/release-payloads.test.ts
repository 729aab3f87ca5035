import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { EncryptionCodec, parseKeyring } from '../../src/client/codec';
import { releaseWaveInputSchema, type ReleaseTenantResult, type ReleaseWaveInput } from '../../src/shared/messages/release';
import { childInputOf } from '../../src/shared/release/child-input';
import { carriedState, openRun, step } from '../../src/shared/release/machine';
import type { ChildMode, MachineState, ReleaseCommand, ReleaseEvent, ReleasePlanInput, TimerName } from '../../src/shared/release/machine-types';
import { abortResultOf, progressOf, PROGRESS_PAGE_SIZE_MAX } from '../../src/shared/release/report';
import { parseOrThrow } from '../../src/shared/validation';

/**
 * Every payload a release sends stays under 512 KB at 5,000 tenants (Temporal warns there and
 * refuses at 2 MB): the start input, the continue-as-new state, the result, the progress query
 * (its default answer, the largest page, one tenant) and the update replies. The pure release
 * machine runs whole releases over 5,000 tenants with the longest tenant IDs the rules allow;
 * each payload is what the workflow would send at that moment, through Temporal's default payload
 * converter and the project's encryption codec, measured as the encoded Payload message. The
 * largest of each kind over the release counts.
 */

const LIMIT = 512 * 1024;
const TENANTS = 5_000;
const codec = new EncryptionCodec(parseKeyring([`k1:${Buffer.alloc(32, 1).toString('base64')}`], 'test'));

async function payloadBytes(value: unknown): Promise<number> {
  const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(value)]);
  return temporal.api.common.v1.Payload.encode(encoded!).finish().length;
}

/** 32 characters, the most a tenant ID may have. */
const tenantId = (i: number) => `tenant-${String(i).padStart(5, '0')}-abcdefghijklmnopqrs`;

function releaseInput({ singleWave = false, allFailuresAllowed = false } = {}): ReleaseWaveInput {
  const failureThreshold = allFailuresAllowed ? { percent: 100 } : { percent: 5 };
  const ids = Array.from({ length: TENANTS }, (_, i) => tenantId(i));
  const wave = (name: string, tenants: string[], extra: object = {}) => ({ name, tenants, maxInFlight: 200, failureThreshold, bakeMs: 60_000, ...extra });
  const waves = singleWave
    ? [wave('all', ids, { maxInFlight: 2_000 })]
    : [
        wave('canary', ids.slice(0, 1), { failureThreshold: allFailuresAllowed ? failureThreshold : { count: 0 }, approval: { timeoutMs: 3_600_000, onTimeout: 'abort' } }),
        wave('early', ids.slice(1, 501)),
        wave('half', ids.slice(501, 3001)),
        wave('rest', ids.slice(3001), { bakeMs: 0 }),
      ];
  return {
    releaseId: 'payloads-5000',
    version: '2.4.0',
    plan: 'standard',
    environments: ['staging', 'prod'],
    waves,
    options: { verifyWindowMs: 300_000, restoreDatabaseOnRollback: true, rollbackOnAbort: true, busyRetry: { attempts: 3, delayMs: 30_000 } },
    requestedBy: 'github-actions:acme/platform/runs/123456789 (release-bot)',
  };
}

/** An error message as AWS and the verify step write them, different for each tenant. */
const failureReason = (id: string) =>
  `verify failed: alarm tenant-${id}-5xx is in ALARM (Threshold Crossed: 1 out of the last 1 datapoints [12.0 (01/12/26 10:15:00)] was greater than the threshold (5.0)); rolled back to the previous version`;

type Outcome = ReleaseTenantResult['status'] | 'busy';

interface Scenario {
  /** The child's outcome for a tenant (plan index `i`), per attempt. */
  outcome: (i: number, attempt: number, mode: ChildMode) => Outcome;
  /** Abort (with rollback) once this many children have finished. */
  abortAfter?: number;
}

type Sizes = Record<string, number>;

/** Runs a release to its end, measuring every payload kind every few hundred steps; returns the largest of each. */
async function measure(raw: ReleaseWaveInput, scenario: Scenario): Promise<{ sizes: Sizes; summary: Extract<ReleaseCommand, { type: 'finish' }>['summary']; runs: number }> {
  const input: ReleasePlanInput = parseOrThrow(releaseWaveInputSchema, raw, 'release');
  const index = new Map(input.waves.flatMap((w) => w.tenants).map((id, i) => [id, i]));
  const sizes: Sizes = {};
  const record = async (kind: string, value: unknown) => (sizes[kind] = Math.max(sizes[kind] ?? 0, await payloadBytes(value)));
  let state: MachineState = openRun(input, undefined);
  let now = 1_800_000_000_000;
  let historyLong = false;
  let finished: Extract<ReleaseCommand, { type: 'finish' }> | undefined;
  let runs = 1;
  let settled = 0;
  const queue: { id: string; mode: ChildMode }[] = [];
  const timers = new Map<TimerName, number>();
  const attempts = new Map<string, number>();

  const observe = async () => {
    await record('progress query (default)', progressOf(input, state));
    await record(`progress query (page of ${PROGRESS_PAGE_SIZE_MAX})`, progressOf(input, state, { page: 2, pageSize: PROGRESS_PAGE_SIZE_MAX }));
    await record('progress query (one tenant)', progressOf(input, state, { tenant: tenantId(777) }));
    // What it would carry if it continued as new now: it does so only while the waves run (not stopping, not reverting).
    if (state.waveIndex < input.waves.length && !state.abort && !state.haltReason) await record('continue-as-new state', carriedState(input, state));
  };

  const send = async (event: ReleaseEvent): Promise<unknown> => {
    const result = step(input, state, event, { now, historyLong });
    state = result.state;
    for (const command of result.commands) {
      if (command.type === 'start-child') {
        queue.push({ id: command.tenantId, mode: command.mode });
        await record('child input', childInputOf(input, command));
      }
      if (command.type === 'start-timer') timers.set(command.timer, now + command.ms);
      if (command.type === 'cancel-timer') timers.delete(command.timer);
      if (command.type === 'finish') finished = command;
      if (command.type === 'continue-as-new') {
        const carried = carriedState(input, state);
        await record('continue-as-new state', carried);
        state = openRun(input, JSON.parse(JSON.stringify(carried)) as ReturnType<typeof carriedState>);
        runs += 1;
        historyLong = false;
        timers.clear();
        await send({ type: 'run-started', first: false });
      }
    }
    return result.reply;
  };

  await record('start input', raw);
  await send({ type: 'run-started', first: true });
  for (let steps = 0; !finished; steps++) {
    if (steps % 400 === 0) await observe();
    // Now and then the history is long enough to continue as new.
    if (steps % 3_000 === 2_999) historyLong = true;
    if (scenario.abortAfter !== undefined && settled === scenario.abortAfter) {
      settled += 1;
      const reply = (await send({ type: 'abort', by: 'alice', reason: 'error rate up', rollback: true })) as { stoppedStarting: string[] };
      await record('update reply (abort)', abortResultOf(reply.stoppedStarting, false));
      continue;
    }
    const child = queue.shift();
    if (child) {
      await send({ type: 'child-started', tenantId: child.id });
      const attempt = (attempts.get(child.id) ?? 0) + 1;
      attempts.set(child.id, attempt);
      const outcome = scenario.outcome(index.get(child.id)!, attempt, child.mode);
      settled += 1;
      if (outcome === 'busy') await send({ type: 'child-busy', tenantId: child.id, message: `tenant ${child.id} is busy: provisionTenant holds the lock` });
      else {
        const previousVersion = ['2.3.0', '2.3.1', '2.2.9-hotfix.1'][index.get(child.id)! % 3]!;
        const reason = child.mode === 'revert' ? `release aborted; rolled back to ${previousVersion}` : outcome !== 'succeeded' ? failureReason(child.id) : undefined;
        await send({ type: 'child-finished', tenantId: child.id, result: { tenantId: child.id, status: outcome, deployed: true, previousVersion, reason } });
      }
      continue;
    }
    if (state.waves[state.waveIndex]?.status === 'awaiting-approval' && !state.waves[state.waveIndex]!.approval) {
      await record('update reply (approve)', await send({ type: 'approve', by: 'alice', comment: 'canary healthy' }));
      continue;
    }
    const [timer, at] = [...timers.entries()].sort((a, b) => a[1] - b[1])[0] ?? [];
    if (timer !== undefined) {
      now = Math.max(now, at!);
      timers.delete(timer);
      await send({ type: 'timer-fired', timer });
      continue;
    }
    throw new Error(`the release waits for nothing (phase ${state.phase})`);
  }
  await observe();
  await record('result (summary)', finished.summary);
  return { sizes, summary: finished.summary, runs };
}

function expectUnderLimit(sizes: Sizes): void {
  if (process.env.PRINT_PAYLOAD_SIZES) process.stdout.write(`${JSON.stringify(sizes, null, 2)}\n`);
  const over = Object.entries(sizes).filter(([, bytes]) => bytes > LIMIT);
  expect(over).toEqual([]);
}

describe(`release payloads at ${TENANTS.toLocaleString('en-US')} tenants stay under 512 KB`, () => {
  it('a release that goes through, with busy tenants and failures under the thresholds', async () => {
    // 1 in 40 rolls back (2.5 %, under the waves' 5 %), 1 in 97 is busy once.
    const { sizes, summary, runs } = await measure(releaseInput(), { outcome: (i, attempt) => (i % 97 === 3 && attempt === 1 ? 'busy' : i % 40 === 7 ? 'rolled-back' : 'succeeded') });
    expect(summary.status).toBe('completed-with-failures');
    expect(summary.counts['rolled-back']).toBe(125);
    expect(runs).toBeGreaterThan(1);
    expect(Object.keys(sizes)).toEqual(
      expect.arrayContaining(['start input', 'child input', 'continue-as-new state', 'progress query (default)', 'progress query (one tenant)', 'result (summary)', 'update reply (approve)']),
    );
    expectUnderLimit(sizes);
  }, 120_000);

  it('a release that halts in its largest wave: the failures in full, the rest counted as not started', async () => {
    const { sizes, summary } = await measure(releaseInput(), { outcome: (i) => (i > 500 && i % 3 === 0 ? 'rollback-failed' : 'succeeded') });
    expect(summary.status).toBe('halted');
    expect(summary.notStarted?.count).toBeGreaterThan(2_000);
    expectUnderLimit(sizes);
  }, 120_000);

  it('a release aborted with rollback late: thousands reverted, the abort reply names the first hundred and counts all', async () => {
    const { sizes, summary } = await measure(releaseInput(), { outcome: (_i, _attempt, mode) => (mode === 'revert' ? 'rolled-back' : 'succeeded'), abortAfter: 1_500 });
    expect(summary.status).toBe('aborted');
    expect(summary.counts['rolled-back']).toBeGreaterThan(1_000);
    expect(sizes['update reply (abort)']).toBeDefined();
    expectUnderLimit(sizes);
  }, 120_000);

  it('one wave of every tenant, 2,000 in flight at once: the current wave is the whole fleet', async () => {
    const { sizes, summary } = await measure(releaseInput({ singleWave: true }), { outcome: (i) => (i % 50 === 1 ? 'rolled-back' : 'succeeded') });
    expect(summary.status).toBe('completed-with-failures');
    expectUnderLimit(sizes);
  }, 120_000);

  it('every tenant fails under a 100 % threshold, each with its own reason: the carried state keeps the listed failures\' reasons and drops the rest past its budget', async () => {
    const { sizes, summary, runs } = await measure(releaseInput({ allFailuresAllowed: true }), { outcome: () => 'rolled-back' });
    expect(summary.status).toBe('completed-with-failures');
    expect(summary.counts['rolled-back']).toBe(TENANTS);
    expect(runs).toBeGreaterThan(1);
    // The summary lists the first failures with their own reasons, though they were carried through several runs.
    expect(summary.tenants[0]).toMatchObject({ tenantId: tenantId(0), reason: failureReason(tenantId(0)) });
    expect(summary.tenants.at(-1)!.reason).toBe(failureReason(summary.tenants.at(-1)!.tenantId));
    expectUnderLimit(sizes);
  }, 120_000);
});
