import { matchRule, pickTargetGroup, sortRules, type ListenerRule, type RoutedRequest } from '../../test/sandbox/data-plane/routing';
import { matchesHttpCode, TargetHealthTracker } from '../../test/sandbox/data-plane/target-health';

const request = (over: Partial<RoutedRequest> = {}): RoutedRequest => ({ host: 'a.example.test', path: '/', method: 'GET', query: new URLSearchParams(), headers: {}, sourceIp: '127.0.0.1', ...over });
const fixed = (statusCode: number) => ({ type: 'fixed-response' as const, statusCode });
const rule = (arn: string, priority: number, conditions: ListenerRule['conditions']): ListenerRule => ({ arn, priority, conditions, action: fixed(200) });

describe('listener rules (the sandbox load balancer)', () => {
  const rules = sortRules([
    rule('default', Number.POSITIVE_INFINITY, []),
    rule('header', 20, [{ field: 'http-header', headerName: 'X-Canary', values: ['y*s'] }]),
    rule('host', 10, [{ field: 'host-header', values: ['A.example.test', '*.wild.test'] }]),
    rule('host+path', 5, [
      { field: 'host-header', values: ['a.example.test'] },
      { field: 'path-pattern', values: ['/api/*'] },
    ]),
  ]);
  const match = (over: Partial<RoutedRequest>) => matchRule(rules, request(over))?.arn;

  it('takes the lowest priority whose conditions all match, the default last', () => {
    expect(match({ path: '/api/x' })).toBe('host+path');
    expect(match({ path: '/API/x' })).toBe('host'); // paths are case-sensitive
    expect(match({ host: 'a.example.test:8080' })).toBe('host'); // hosts are not, and the port is ignored
    expect(match({ host: 'x.wild.test' })).toBe('host');
    expect(match({ host: 'b.example.test', headers: { 'x-canary': 'YES' } })).toBe('header');
    expect(match({ host: 'a.example.test', headers: { 'x-canary': 'yes' } })).toBe('host');
    expect(match({ host: 'b.example.test' })).toBe('default');
  });

  it('splits by weight and sends nothing to weight 0', () => {
    const groups = [{ arn: 'a', weight: 80 }, { arn: 'b', weight: 20 }, { arn: 'c', weight: 0 }];
    expect(pickTargetGroup(groups, 0)).toBe('a');
    expect(pickTargetGroup(groups, 0.79)).toBe('a');
    expect(pickTargetGroup(groups, 0.81)).toBe('b');
    expect(pickTargetGroup(groups, 0.9999)).toBe('b');
    expect(pickTargetGroup([{ arn: 'c', weight: 0 }], 0.5)).toBeUndefined();
  });
});

describe('target health (the sandbox load balancer)', () => {
  const thresholds = { healthy: 3, unhealthy: 2 };
  const fail = { ok: false as const, reason: 'Target.Timeout' as const, description: 'Request timed out' };

  it('a new target is healthy after one passed check', () => {
    const t = new TargetHealthTracker();
    expect(t.health.state).toBe('initial');
    expect(t.record({ ok: true }, thresholds)).toBe(true);
    expect(t.health).toEqual({ state: 'healthy' });
  });

  it('a new target is unhealthy after the unhealthy threshold, and healthy again only after the healthy threshold', () => {
    const t = new TargetHealthTracker();
    t.record(fail, thresholds);
    expect(t.health).toMatchObject({ state: 'initial', reason: 'Elb.InitialHealthChecking' });
    t.record(fail, thresholds);
    expect(t.health).toMatchObject({ state: 'unhealthy', reason: 'Target.Timeout' });
    t.record({ ok: true }, thresholds);
    t.record({ ok: true }, thresholds);
    expect(t.health.state).toBe('unhealthy');
    t.record({ ok: true }, thresholds);
    expect(t.health.state).toBe('healthy');
    t.record(fail, thresholds);
    expect(t.health.state).toBe('healthy');
    t.record(fail, thresholds);
    expect(t.health.state).toBe('unhealthy');
  });

  it('reads ALB matchers', () => {
    expect(matchesHttpCode('200', 200)).toBe(true);
    expect(matchesHttpCode('200,202', 202)).toBe(true);
    expect(matchesHttpCode('200-299', 204)).toBe(true);
    expect(matchesHttpCode('200-299', 301)).toBe(false);
  });
});
