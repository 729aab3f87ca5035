import { CancellationScope, isCancellation } from '@temporalio/workflow';
import type { BakeWatchActivities } from '../activities/bake-watch';
import type { ReleaseCommand, ReleaseEvent } from '../shared/release/machine-types';
import { activitiesFor } from './activity-options';
import { messageOf } from './steps';

type WatchCommand = Extract<ReleaseCommand, { type: 'watch-bake' }>;

/**
 * The release's side of the active bake (docs/releases.md, "Active bake"): one `watchBake`
 * activity at a time checks every tenant the bake watches and comes back early with those that
 * regressed, or at the bake's end with none. Its outcome becomes an event for the release machine.
 */
export class BakeWatch {
  private scope?: CancellationScope;

  constructor(private readonly feed: (event: ReleaseEvent) => void) {}

  start({ wave, since, until, tenants }: WatchCommand, releaseId: string): void {
    const left = Math.max(0, until - Date.now());
    // Lives as long as the bake, plus room for its last check; retried after a lost worker within the bound.
    const activities = activitiesFor<BakeWatchActivities>({ startToCloseTimeout: left + 5 * 60_000, scheduleToCloseTimeout: left + 15 * 60_000 });
    const scope = new CancellationScope();
    this.scope = scope;
    void scope
      .run(() => activities.watchBake({ releaseId, wave, since, until, tenants }))
      .then(
        (result) => this.feed({ type: 'watch-reported', regressions: result.regressions }),
        (error: unknown) => {
          if (isCancellation(error)) return;
          this.feed({ type: 'watch-failed', message: messageOf(error) });
        },
      )
      .finally(() => {
        if (this.scope === scope) this.scope = undefined;
      });
  }

  /** The bake is over early: the answer of the watch out now is no longer wanted. */
  stop(): void {
    this.scope?.cancel();
    this.scope = undefined;
  }
}
