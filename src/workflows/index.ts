// The workflow bundle's entry point: every workflow type the workers register.
export { tenantLock } from './tenant-lock';
export { provisionTenant } from './provision-tenant';
export { deprovisionTenant } from './deprovision-tenant';
export { releaseWave } from './release-wave';
export { releaseTenant } from './release-tenant';
export { retireColour } from './retire-colour';
export { certificates } from './certificates';
export { inspectKubernetesWorkload } from './inspect-kubernetes-workload';
export { releaseRollback, rollbackTenant } from './release-rollback';
