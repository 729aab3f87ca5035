import type { z } from 'zod';
import type { ReleaseState, ReleaseSummary, ReleaseTenantResult, releaseWaveInputSchema } from '../messages/release';
import type { BakeRegression, WatchSet } from './bake-watch';

/** The release as validated: waves, options, IDs. It never changes during a release. */
export type ReleasePlanInput = z.output<typeof releaseWaveInputSchema>;

/** `rollback`: a tenant that regressed during its wave's bake. */
export type ChildMode = 'deploy' | 'revert' | 'rollback';
export type TimerName = 'busy-retry' | 'bake' | 'gate';

/**
 * The release state that continues as new (`ReleaseState`) plus what one run needs while it
 * waits: children in flight, the timer it waits on, and where it waits. All of it plain JSON;
 * `carriedState` drops the run's part, which is empty whenever a run continues as new.
 */
export interface MachineState extends ReleaseState {
  inFlight?: Record<string, { mode: ChildMode; started: boolean }>;
  timer?: TimerName;
  waiting?: 'tenants' | 'bake' | 'gate' | 'reverting' | 'continuing' | 'concluded';
  /** After an abort with rollback: tenants this release deployed that still wait for their revert. */
  toRevert?: string[];
  /** This run watches its bakes (the workflow's `release-active-bake` patch); each run decides for itself. */
  activeBake?: boolean;
  /**
   * The bake under way, watched: since when, until when (epoch ms), and its watch: `out` (an
   * activity watches now), `again` (one goes out while the bake has time left), `over`.
   */
  bake?: { since: number; until: number; watch: 'out' | 'again' | 'over' };
  /** Tenants that regressed during the bake and wait for their rollback to start (at most `maxInFlight` at once). */
  toRollBack?: string[];
}

/** What the workflow knows at the moment of an event and the machine may not look up itself. */
export interface Clock {
  /** Epoch ms (the workflow's deterministic clock). */
  now: number;
  /** The run's history is long enough to continue as new (the event budget, or the server's suggestion). */
  historyLong: boolean;
}

export type ReleaseEvent =
  /** The run's workflow has its handlers in place; `first` for the release's first run. */
  | { type: 'run-started'; first: boolean }
  | { type: 'child-started'; tenantId: string }
  | { type: 'child-finished'; tenantId: string; result: ReleaseTenantResult }
  /** The child could not take the tenant's lock: another operation holds it. */
  | { type: 'child-busy'; tenantId: string; message: string }
  | { type: 'child-failed'; tenantId: string; message: string }
  | { type: 'timer-fired'; timer: TimerName }
  /** The bake's watch came back: with the tenants that regressed, or none once the bake's time is up. */
  | { type: 'watch-reported'; regressions: BakeRegression[] }
  /** The bake's watch could not watch (its activity failed for good). */
  | { type: 'watch-failed'; message: string }
  | { type: 'approve'; by: string; comment?: string; wave?: string }
  | { type: 'abort'; by: string; reason: string; rollback?: boolean }
  | { type: 'pause'; by: string; reason?: string }
  | { type: 'resume'; by?: string }
  /** A tenant's child waits for its maintenance window (or a freeze's end) until `until`. */
  | { type: 'window-wait'; tenantId: string; until: string; waitingFor?: string }
  /** People let a tenant waiting for its window deploy now (the `skipWindow` update). */
  | { type: 'skip-window'; tenantId: string; by: string; reason: string };

export type ReleaseMetric = 'releaseStarted' | 'tenantDeployed' | 'tenantRolledBack' | 'tenantFailed';

export type ReleaseCommand =
  | { type: 'set-phase'; phase: string; details: string }
  | { type: 'start-child'; tenantId: string; mode: ChildMode; wave: string; revertTo?: string; reason?: string }
  | { type: 'stop-child'; tenantId: string; reason: string }
  /** Tell a child waiting for its window to deploy now. */
  | { type: 'skip-window'; tenantId: string; by: string; reason: string }
  | { type: 'start-timer'; timer: TimerName; ms: number }
  | { type: 'cancel-timer'; timer: TimerName }
  | { type: 'count'; metric: ReleaseMetric }
  /** Watch these tenants from `since` until `until` (epoch ms), returning early with any that regress. */
  | { type: 'watch-bake'; wave: string; since: number; until: number; tenants: WatchSet }
  /** The bake is over early (an abort, a halt): the watch out now is no longer wanted. */
  | { type: 'stop-watch' }
  /** Continue as new with `carriedState` of the state the machine holds when the workflow does it. */
  | { type: 'continue-as-new' }
  | { type: 'finish'; summary: ReleaseSummary; failure?: { kind: 'aborted' | 'halted'; message: string } };

export type StepReply = { refused: string } | { wave: string; early: boolean } | { stoppedStarting: string[] } | { tenant: string; wasWaitingUntil: string };

export interface StepResult {
  state: MachineState;
  commands: ReleaseCommand[];
  /** The answer to an update event (approve, abort). */
  reply?: StepReply;
}
