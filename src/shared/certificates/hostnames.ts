/** DNS name rules the certificate planner relies on, as ACM and ALB's SNI apply them. */

export const isWildcard = (name: string) => name.startsWith('*.');

/** `a.b.example.com` -> `b.example.com`; undefined for a name with fewer than three labels (no wildcard above a registrable domain). */
export function wildcardParent(hostname: string): string | undefined {
  if (isWildcard(hostname)) return undefined;
  const dot = hostname.indexOf('.');
  if (dot === -1) return undefined;
  const parent = hostname.slice(dot + 1);
  // `*.com` is not issuable; require at least two labels below the wildcard.
  return parent.includes('.') ? parent : undefined;
}

/** Whether a certificate name serves `hostname` under SNI: equal, or a wildcard for exactly one label. */
export function nameCovers(name: string, hostname: string): boolean {
  if (name === hostname) return true;
  return isWildcard(name) && !isWildcard(hostname) && wildcardParent(hostname) === name.slice(2);
}

/** ACM's first name (the certificate's DomainName, its CN) may have at most 64 characters; SANs up to 253. */
export const MAX_PRIMARY_NAME_LENGTH = 64;

/** Orders a certificate's names: sorted, with the first name that may be the CN moved to the front. */
export function orderNames(names: Iterable<string>): string[] {
  const sorted = [...new Set(names)].sort();
  const primary = sorted.findIndex((n) => n.length <= MAX_PRIMARY_NAME_LENGTH);
  if (primary > 0) sorted.unshift(...sorted.splice(primary, 1));
  return sorted;
}
