import { switchBackIn, type HistoryEvents } from '../../bench/switch-back';

/** A history of activities: [type, scheduled at s, completed at s], in order. */
function history(activities: [string, number, number][]): HistoryEvents {
  let id = 0;
  const time = (s: number) => ({ seconds: s, nanos: 0 });
  return activities.flatMap(([name, scheduledAt, completedAt]) => {
    const scheduledId = ++id;
    return [
      { eventId: scheduledId, eventTime: time(scheduledAt), activityTaskScheduledEventAttributes: { activityType: { name } } },
      { eventId: ++id, eventTime: time(completedAt), activityTaskCompletedEventAttributes: { scheduledEventId: scheduledId } },
    ];
  }) as unknown as HistoryEvents;
}

describe('bench: decision to every user on the old version, from a tenant release history', () => {
  it('rolling: from the failed verification to the old version rollout that follows it, not the new version rollout before it', () => {
    const events = history([
      ['ecsDeployAndRecord', 0, 30],
      ['ecsWaitForRollout', 30, 31],
      ['verifyTenantHealth', 31, 43],
      ['ecsSetVersion', 43, 44],
      ['ecsWaitForRollout', 44, 95],
      ['putTenantParameters', 95, 96],
    ]);
    expect(switchBackIn(events, 'rolling')).toEqual({ decisionToOldMs: 52_000, endedBy: 'ecsWaitForRollout' });
  });

  it('blue/green: from the failed step verification to the weights back on blue, before green is scaled down', () => {
    const events = history([
      ['ecsDeployColour', 0, 20],
      ['setTrafficWeights', 20, 21],
      ['verifyTenantHealth', 21, 33],
      ['setTrafficWeights', 33, 34],
      ['ecsRetireColour', 34, 40],
    ]);
    expect(switchBackIn(events, 'blueGreen')).toEqual({ decisionToOldMs: 1_000, endedBy: 'setTrafficWeights' });
  });

  it('finds nothing without a verification followed by a switch back', () => {
    expect(switchBackIn(history([['ecsDeployAndRecord', 0, 30], ['verifyTenantHealth', 30, 40]]), 'rolling')).toBeUndefined();
  });
});
