/**
 * tenantctl as a library: `runCli(argv, io)` runs a command line and returns its exit code;
 * the operations it is built on live in ../releases, ../tenants and ../certificates.
 */
export { runCli, mainHelp } from './main';
export type { CliIo } from './context';
export { EXIT, exitCodeForError, exitCodeForSummary, CliInputError, CannotConnectError } from './exit-codes';
export { cliTemporalSettings } from './temporal-settings';
export { defaultActor } from './actor';
export { UiLinks } from './ui-links';
export { followRelease, type FollowView, type FollowResult } from './follow';
export * from '../releases';
export * from '../tenants';
export * from '../certificates';
