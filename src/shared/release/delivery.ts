import type { DeliveryMetrics, DeliveryTags, GateOutcome } from '../delivery-metrics';
import type { MachineState, ReleaseCommand, ReleasePlanInput } from './machine-types';

const AWAITING_APPROVAL = /^wave-(\d+)\/awaiting-approval$/;

/**
 * Turns what a release does (the machine's commands and state) into delivery metrics: its
 * duration and lead time when it ends, and how long each approval gate waited. It reads, never
 * changes, the state and issues no command, so the workflow's history is the same with it.
 * A release spanning several environments is counted once in each (its input's `environments`).
 */
export class ReleaseDeliveryObserver {
  private gate?: { wave: number; openedAt: number };
  private readonly tags: DeliveryTags[];

  constructor(
    input: Pick<ReleasePlanInput, 'environments' | 'plan'>,
    private readonly metrics: DeliveryMetrics,
    /** When the release was requested: its workflow's first run started (epoch ms). */
    private readonly requestedAt: number,
  ) {
    this.tags = input.environments.map((environment) => ({ environment, plan: input.plan }));
  }

  /** After each step of the machine, with the commands it returned and the state it left. */
  observe(commands: readonly ReleaseCommand[], state: MachineState, now: number): void {
    for (const command of commands) {
      if (command.type === 'set-phase') {
        // The gate after wave N is the phase `wave-<N+1>/awaiting-approval`; any other phase means it closed.
        const gate = AWAITING_APPROVAL.exec(command.phase);
        if (gate && this.gate === undefined) {
          this.gate = { wave: Number(gate[1]) - 2, openedAt: now };
          for (const tags of this.tags) this.metrics.gateOpened(tags);
        } else if (!gate && this.gate) {
          this.closeGate(state, now);
        }
      }
      if (command.type === 'finish') this.finish(command, state, now);
    }
  }

  private finish({ summary }: Extract<ReleaseCommand, { type: 'finish' }>, state: MachineState, now: number): void {
    if (this.gate) this.closeGate(state, now);
    for (const tags of this.tags) this.metrics.releaseEnded(tags, summary.status, (now - this.requestedAt) / 1000);
    // Lead time counts releases whose every wave went through, up to the moment the last one was done.
    const lastDone = state.waves.every((w) => w.status === 'done') ? state.waves.at(-1)?.finishedAt : undefined;
    if (lastDone) for (const tags of this.tags) this.metrics.leadTime(tags, (Date.parse(lastDone) - this.requestedAt) / 1000);
  }

  private closeGate(state: MachineState, now: number): void {
    const { wave, openedAt } = this.gate!;
    this.gate = undefined;
    const approval = state.waves[wave]?.approval;
    const timedOut = approval?.by === 'release plan' || (!approval && state.abort?.by === 'release plan');
    const outcome: GateOutcome = timedOut ? 'timed-out' : approval ? 'approved' : 'release-ended';
    // An approval sent before the gate opened waited for nothing.
    const closedAt = approval ? Math.max(openedAt, Date.parse(approval.at)) : now;
    for (const tags of this.tags) this.metrics.gateClosed(tags, outcome, (closedAt - openedAt) / 1000);
  }
}
