"""sts:AssumeRoleWithWebIdentity checks the token against the role's trust (IRSA).

moto gap closed
---------------
moto's AssumeRoleWithWebIdentity hands out credentials for any role and any token: it
reads neither the token nor the role's trust policy, and needs no IAM OIDC provider.

Why the product relies on it
----------------------------
Kubernetes tenants get AWS credentials through IRSA (docs/decisions.md): the tenant
stack's app role trusts only the cluster's OIDC provider and only the tenant's service
account (`system:serviceaccount:tenant-<id>:app`, audience `sts.amazonaws.com`). That
scoping is the whole of the isolation between tenants sharing a cluster, so the sandbox
must refuse another tenant's token, as AWS does.

What it checks (as STS documents it)
------------------------------------
* the token is a JWT whose payload has `iss`, `sub` and `aud`, and `exp` in the future
  (`InvalidIdentityToken`, `ExpiredTokenException`);
* the role's account has an IAM OIDC provider for `iss` (without `https://`), and `aud`
  is one of its client IDs (`InvalidIdentityToken`);
* an Allow statement of the role's trust policy has the action
  `sts:AssumeRoleWithWebIdentity`, the provider's ARN as `Principal.Federated`, and its
  `StringEquals` / `StringLike` conditions on `<provider>:sub` and `<provider>:aud` hold
  (any other condition key makes the statement not apply); otherwise `AccessDenied`
  (HTTP 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity").

Not checked: the token's signature (the provider's keys, e.g. the sandbox
kube-apiserver's, are not fetched) and Deny statements in trust policies.

The call is unsigned (the token is the proof): with IAM enforced, moto would read a SigV4
header that is not there and fail with HTTP 500, so STS's authorization step lets unsigned
AssumeRoleWithWebIdentity/AssumeRoleWithSAML through, as AWS does.

How it hooks into moto
----------------------
Wraps `TokenResponse.assume_role_with_web_identity` (the response layer sees the token;
the backend does not), and calls moto's own implementation once the checks pass; wraps
`TokenResponse._authenticate_and_authorize_normal_action` for the unsigned calls.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import time
from typing import Any, Callable

from moto.core.exceptions import _RESTError
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sts import responses as sts_responses

from ._common import wrap_once

ACTION = "sts:AssumeRoleWithWebIdentity"


class StsError(_RESTError):
    def __init__(self, code: str, message: str, status: int = 400):
        self.code = status
        super().__init__(code, message)


def _claims(token: str | None) -> dict[str, Any]:
    parts = (token or "").split(".")
    if len(parts) != 3:
        raise StsError("InvalidIdentityToken", "The ID Token provided is not a valid JWT.")
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, json.JSONDecodeError) as cause:
        raise StsError("InvalidIdentityToken", "The ID Token provided is not a valid JWT.") from cause
    if not isinstance(claims, dict) or not all(isinstance(claims.get(k), (str, list)) for k in ("iss", "sub", "aud")):
        raise StsError("InvalidIdentityToken", "The ID Token provided is missing iss, sub or aud.")
    return claims


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(conditions: dict[str, Any], provider: str, claims: dict[str, Any], audience: str) -> bool:
    values = {f"{provider}:sub": claims["sub"], f"{provider}:aud": audience}
    for operator, tests in (conditions or {}).items():
        if operator not in ("StringEquals", "StringLike"):
            return False
        for key, expected in tests.items():
            actual = values.get(key)
            if actual is None:
                return False
            wanted = _as_list(expected)
            if operator == "StringEquals" and actual not in wanted:
                return False
            if operator == "StringLike" and not any(fnmatch.fnmatchcase(actual, w) for w in wanted):
                return False
    return True


def _trusted(role: Any, provider_arn: str, provider: str, claims: dict[str, Any], audience: str) -> bool:
    document = role.assume_role_policy_document
    policy = json.loads(document) if isinstance(document, str) else document
    for statement in _as_list(policy.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(ACTION, a) for a in _as_list(statement.get("Action", []))):
            continue
        principal = statement.get("Principal") or {}
        if not isinstance(principal, dict) or provider_arn not in _as_list(principal.get("Federated", [])):
            continue
        if _condition_holds(statement.get("Condition") or {}, provider, claims, audience):
            return True
    return False


def check(role_arn: str, token: str | None, now: float | None = None) -> None:
    """Raises STS's error when AWS would refuse this token for this role."""
    claims = _claims(token)
    expires = claims.get("exp")
    current = time.time() if now is None else now
    if isinstance(expires, (int, float)) and expires <= current:
        raise StsError("ExpiredTokenException", f"Token expired: current date/time {int(current)} must be before the expiration date/time {int(expires)}")
    parts = (role_arn or "").split(":")
    denied = StsError("AccessDenied", f"Not authorized to perform {ACTION}", 403)
    if len(parts) != 6 or parts[2] != "iam":
        raise denied
    partition, account = parts[1], parts[4]
    iam = iam_backends[account][partition]
    try:
        role = iam.get_role_by_arn(role_arn)
    except NotFoundException:
        raise denied from None
    issuer = str(_as_list(claims["iss"])[0])
    provider = issuer.removeprefix("https://")
    provider_arn = f"arn:{partition}:iam::{account}:oidc-provider/{provider}"
    try:
        registered = iam.get_open_id_connect_provider(provider_arn)
    except NotFoundException:
        raise StsError("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer}") from None
    audiences = [str(a) for a in _as_list(claims["aud"]) if str(a) in registered.client_id_list]
    if not audiences:
        raise StsError("InvalidIdentityToken", "Incorrect token audience")
    if not any(_trusted(role, provider_arn, provider, claims, audience) for audience in audiences):
        raise denied


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def assume_role_with_web_identity(self: Any) -> Any:
        check(self._get_param("RoleArn"), self._get_param("WebIdentityToken"))
        return original(self)

    return assume_role_with_web_identity


# Calls AWS accepts unsigned: the token (or assertion) is the caller's proof.
UNSIGNED_ACTIONS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}


def _wrap_authorization(original: Callable[..., Any]) -> Callable[..., Any]:
    def _authenticate_and_authorize_normal_action(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._get_action() in UNSIGNED_ACTIONS and "Authorization" not in self.headers:
            return None
        return original(self, *args, **kwargs)

    return _authenticate_and_authorize_normal_action


def apply() -> None:
    wrap_once(sts_responses.TokenResponse, "assume_role_with_web_identity", _wrap, __name__)
    # With IAM enforced, moto reads the SigV4 header of every call, and fails (HTTP 500) on these.
    wrap_once(sts_responses.TokenResponse, "_authenticate_and_authorize_normal_action", _wrap_authorization, __name__)
