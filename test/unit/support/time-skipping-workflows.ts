// The workflows the time-skipping tests run: the real releaseWave, tenantLock and certificates,
// with releaseTenant replaced by a child that succeeds at once (those tests are about timers in
// the parent, not about deploying), except for tenant `stuck`, which runs until it is terminated.
import { condition } from '@temporalio/workflow';
import type { ReleaseTenantInput, ReleaseTenantResult } from '../../../src/shared/messages/release';

export { certificates, releaseWave, tenantLock } from '../../../src/workflows';

export async function releaseTenant(input: ReleaseTenantInput): Promise<ReleaseTenantResult> {
  if (input.tenantId === 'stuck') await condition(() => false);
  return Promise.resolve({ tenantId: input.tenantId, status: 'succeeded', previousVersion: '1.0.0', deployed: true });
}
