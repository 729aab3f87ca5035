import type { Service } from '@aws-sdk/client-ecs';
import { greenIsLive } from '../../src/activities/runtime/ecs';
import { allOn, shareOn } from '../../src/workflows/blue-green';

const service = (revision: number, desiredCount: number): Service => ({ taskDefinition: `arn:aws:ecs:us-east-1:123456789012:task-definition/tenant-acme:${revision}`, desiredCount });

describe('blue/green', () => {
  it('reads the live ECS colour from the services alone', () => {
    // Before any blue/green release, and after a switch back (green at 0): blue.
    expect(greenIsLive(service(3, 2), undefined)).toBe(false);
    expect(greenIsLive(service(3, 2), service(4, 0))).toBe(false);
    // Green runs while blue is retired, or both run and green holds the newer revision (blue retained).
    expect(greenIsLive(service(3, 0), service(4, 2))).toBe(true);
    expect(greenIsLive(service(3, 2), service(4, 2))).toBe(true);
    // The next release deployed into blue: its revision is the newer one.
    expect(greenIsLive(service(5, 2), service(4, 2))).toBe(false);
  });

  it('weights are exact shares that sum to 100', () => {
    expect(allOn('green')).toEqual({ blue: 0, green: 100 });
    expect(shareOn('green', 10)).toEqual({ blue: 90, green: 10 });
    expect(shareOn('blue', 50)).toEqual({ blue: 50, green: 50 });
  });
});
