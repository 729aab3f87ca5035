import { z } from 'zod';
import { durationSchema } from '../durations';

/**
 * How a certificate group is packed, renewed and rotated: the fleet config's `certificates`
 * section and the certificates workflow's input share this one schema. Durations in
 * milliseconds or "30d" style strings; defaults suit production, tests shorten them.
 */
export const certificatePolicySchema = z.strictObject({
  maxNamesPerCertificate: z.number().int().min(1).max(100).default(10),
  maxCertificatesPerListener: z.number().int().min(1).max(100).default(25),
  /** Reissue a certificate this long before NotAfter unless ACM has renewed it by then (ACM starts at 60 days). */
  renewBefore: durationSchema.prefault('30d'),
  /** A certificate still pending validation this long after its request is reported stuck, not waited on again. */
  validationTimeout: durationSchema.prefault('2h'),
  /** Between attaching a replacement and detaching what it replaces (listener propagation). */
  gracePeriod: durationSchema.prefault('5m'),
  /** Longest sleep between checks, so renewal status is watched even when nothing is due. */
  checkInterval: durationSchema.prefault('1d'),
  /**
   * `certificate-expiring` notifies once per certificate and threshold when an issued certificate
   * has less than this left (a renewal that did not happen: ACM's, or ours at `renewBefore`).
   */
  expiryWarnings: z.array(durationSchema).min(1).prefault(['14d']),
  /** Reconcile signals arriving within this window are handled together. */
  debounce: durationSchema.prefault('5s'),
});
export type CertificatePolicy = z.output<typeof certificatePolicySchema>;
