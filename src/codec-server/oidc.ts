import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import type { Caller } from './callers';

/**
 * The Temporal UI's own login, accepted besides static tokens: with `auth` enabled the UI sends
 * the user's OIDC access token to the codec endpoint (TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true), so
 * people who may open the UI decode with their own identity instead of a shared token. A token is
 * accepted only with a valid signature from the issuer's published key set (JWKS), the configured
 * issuer and audience, and an expiry; which namespaces it may decode comes from its claims:
 *
 * ```yaml
 * oidc:
 *   issuer: https://login.example.com/realms/ops
 *   audience: temporal-ui                      # or a list; the token's aud must contain one
 *   jwksUri: https://login.example.com/realms/ops/protocol/openid-connect/certs
 *   algorithms: [RS256]                         # the default
 *   nameClaim: email                            # shown in the access log (default sub)
 *   namespaces:                                 # a token matching any rule may decode its namespaces
 *     - { claim: groups, value: tenant-fleet-oncall, namespaces: [tenant-fleet-prod] }
 *     - { claim: realm_access.roles, value: auditor, namespaces: ["*"] }
 * ```
 */
export const oidcConfigSchema = z.strictObject({
  issuer: z.url({ message: 'expected the issuer URL exactly as the tokens\' iss claim has it' }),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  jwksUri: z.url({ message: "expected the URL of the issuer's JSON Web Key Set" }),
  algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384'])).min(1).default(['RS256']),
  nameClaim: z.string().min(1).default('sub'),
  namespaces: z
    .array(
      z.strictObject({
        /** A claim name, or a dotted path into nested claims (Keycloak's realm_access.roles). */
        claim: z.string().min(1),
        value: z.string().min(1),
        namespaces: z.array(z.string().min(1, 'expected a namespace name or "*"')).min(1, 'expected at least one namespace (or "*")'),
      }),
    )
    .min(1, 'expected at least one rule mapping a claim to namespaces; with none, no token could decode'),
});
export type OidcConfig = z.output<typeof oidcConfigSchema>;

/** Why a token was refused, for the 401 answer and the access log; never the token itself. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/** The issuer's key set could not be fetched: the token may be fine, so this is the server's problem (503), not the caller's. */
export class KeySetUnavailableError extends Error {
  override name = 'KeySetUnavailableError';
}

export interface OidcVerifier {
  /** The caller this access token stands for, or an InvalidTokenError saying why it is not accepted. */
  identify(token: string): Promise<Caller>;
}

export function oidcVerifier(config: OidcConfig): OidcVerifier {
  // Fetched on first use, cached, and fetched again (rate-limited by jose) when a token names an unknown key: key rotation needs no restart.
  const keys = createRemoteJWKSet(new URL(config.jwksUri));
  return {
    async identify(token) {
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, keys, {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: config.algorithms,
          requiredClaims: ['exp'],
          clockTolerance: 30,
        }));
      } catch (error) {
        if (keySetUnavailable(error)) {
          throw new KeySetUnavailableError(`the issuer's key set ${config.jwksUri} could not be read: ${(error as Error)?.message ?? String(error)}`, { cause: error });
        }
        throw new InvalidTokenError(describeRejection(error), { cause: error });
      }
      const name = claimAt(claims, config.nameClaim);
      const namespaces = [...new Set(config.namespaces.filter((rule) => claimHas(claimAt(claims, rule.claim), rule.value)).flatMap((rule) => rule.namespaces))];
      return { name: `oidc:${typeof name === 'string' ? name : 'unnamed'}`, tokenSha256: '', namespaces };
    },
  };
}

function describeRejection(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the access token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the access token's ${error.claim} claim is not accepted (${error.reason})`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "the access token's signature does not verify with the issuer's keys";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "the access token is signed with a key that is not in the issuer's key set";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the access token is signed with an algorithm that is not allowed';
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid) return 'the access token is not a well-formed JWT';
  return `the access token is not accepted (${(error as { code?: string }).code ?? 'unknown reason'})`;
}

/** jose's own errors are about the token, except for fetching the key set: timeouts, a bad answer, or a network error (not a JOSEError at all). */
function keySetUnavailable(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return error.code === 'ERR_JOSE_GENERIC'; // "Expected 200 OK from the JSON Web Key Set HTTP response"
}

function claimAt(claims: JWTPayload, path: string): unknown {
  if (path in claims) return claims[path];
  let current: unknown = claims;
  for (const key of path.split('.')) current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
  return current;
}

/** A list claim (groups, roles) contains the value; a string claim equals it or, as OAuth scopes are, lists it space-separated. */
function claimHas(claim: unknown, value: string): boolean {
  if (Array.isArray(claim)) return claim.includes(value);
  if (typeof claim === 'string') return claim === value || claim.split(' ').includes(value);
  return false;
}
