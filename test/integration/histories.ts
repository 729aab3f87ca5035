import type { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporalSettingsFromEnv } from '../../src/client/connection';
import { repoRoot } from '../sandbox/tools';

export const HISTORIES_DIR = join(repoRoot, 'test', 'replay', 'histories');

/**
 * Replays a history this run just produced against the current workflow code (a
 * nondeterminism shows at once), and with TENANT_FLEET_RECORD_HISTORIES=1 saves it, payloads
 * decrypted, as a fixture for test/unit/replay.test.ts, which guards later changes.
 */
export async function replayAndMaybeRecord(client: Client, workflowId: string, runId: string, name: string): Promise<void> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const settings = temporalSettingsFromEnv();
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: process.env.TENANT_FLEET_WORKFLOW_BUNDLE! }, dataConverter: settings.dataConverter },
    history,
    workflowId,
  );
  if (process.env.TENANT_FLEET_RECORD_HISTORIES === '1') {
    await decodePayloads(history, settings.dataConverter.payloadCodecs ?? []);
    // @temporalio/proto's own converter: common's historyToJSON carries another protobufjs copy and refuses these messages.
    const json = temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, { longs: String, enums: String, bytes: String });
    writeFileSync(join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(json, null, 1)}\n`);
  }
}

type Codec = { decode(payloads: Payload[]): Promise<Payload[]> };

/** Fixtures must replay without the sandbox's throwaway key, so every payload is stored decoded (in place, keeping the proto types). */
export async function decodePayloads(node: unknown, codecs: Codec[]): Promise<void> {
  if (Array.isArray(node)) {
    for (const item of node) await decodePayloads(item, codecs);
    return;
  }
  if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return;
  const record = node as Record<string, unknown>;
  const metadata = record.metadata as Record<string, Uint8Array> | undefined;
  if (metadata && typeof metadata === 'object' && metadata[METADATA_ENCODING_KEY] && 'data' in record) {
    let payloads: Payload[] = [{ metadata, data: record.data as Uint8Array }];
    for (const codec of [...codecs].reverse()) payloads = await codec.decode(payloads);
    record.metadata = payloads[0]!.metadata;
    record.data = payloads[0]!.data;
    return;
  }
  for (const value of Object.values(record)) await decodePayloads(value, codecs);
}

/**
 * How long the workflow took to answer an update, by its own history: from the event that
 * accepted it to the one that completed it. Unlike a client's stopwatch, this leaves out the
 * time the request waited for the server and a busy worker, so it holds on a loaded machine.
 */
export async function updateHandlingMs(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }, updateName: string): Promise<number> {
  const { EventType } = temporal.api.enums.v1;
  const events = (await handle.fetchHistory()).events ?? [];
  const accepted = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED && e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === updateName).at(-1);
  if (!accepted) throw new Error(`no accepted ${updateName} update in the history`);
  const completed = events.find(
    (e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED && Number(e.workflowExecutionUpdateCompletedEventAttributes?.acceptedEventId) === Number(accepted.eventId),
  );
  if (!completed) throw new Error(`the ${updateName} update accepted at event ${String(accepted.eventId)} never completed`);
  return tsToMs(completed.eventTime) - tsToMs(accepted.eventTime);
}
