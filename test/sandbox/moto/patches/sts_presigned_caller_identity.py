"""sts:GetCallerIdentity answers a presigned URL with the signer's identity (EKS tokens).

moto gap closed
---------------
An EKS bearer token is a presigned STS GetCallerIdentity URL (SigV4 in the query string:
X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature, and
X-Amz-Security-Token for role sessions). moto reads the caller's access key only from an
Authorization header, so such a request is answered with the default user's identity, and
its signature is never checked: any string would pass for any role.

Why the product relies on it
----------------------------
Workers without the AWS CLI make EKS tokens in-process (src/activities/kube-client/eks-token.ts).
The sandbox's token authenticator (test/sandbox/kube/eks-authenticator.ts) verifies them the
way EKS does, by sending the URL to STS, so STS must say who signed it, and refuse a URL whose
signature does not hold.

What it checks (as SigV4 query authentication is documented)
------------------------------------------------------------
* the access key exists (an IAM user's key, or a role session's with its session token);
* the signature is recomputed from the request (method, path, query without the signature,
  the signed headers, the empty payload's hash) with that key's secret and must match
  (`SignatureDoesNotMatch`, HTTP 403);
* X-Amz-Date is at most 15 minutes old (EKS's own limit; X-Amz-Expires is not enforced,
  as EKS tokens live longer than the 60 s they are signed for).
The identity answered is moto's own for that key (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).

How it hooks into moto
----------------------
moto's server picks the service of a request from its Authorization header, and sends one
without it to S3; a request signed in its query string is sent to the service named in
X-Amz-Credential's scope instead (`DomainDispatcherApplication.infer_service_region_host`).
Wraps `TokenResponse.get_caller_identity` (the request is at hand there) and answers with the
signer's identity once the checks pass; wraps `TokenResponse._authenticate_and_authorize_normal_action`
so that, with IAM enforced, a presigned GetCallerIdentity (no Authorization header) is not
refused for lacking one: the signature check above stands in for moto's.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import Any, Callable
from urllib.parse import parse_qs, quote

from moto.core.exceptions import _RESTError
from moto.iam.access_control import create_access_key
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sts import responses as sts_responses

from ._common import wrap_once

MAX_AGE = datetime.timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class StsError(_RESTError):
    def __init__(self, code: str, message: str, status: int = 403):
        self.code = status
        super().__init__(code, message)


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def is_presigned(response: Any) -> bool:
    return "Authorization" not in response.headers and _param(response.querystring, "X-Amz-Credential") is not None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret: str, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], payload_hash: str) -> str:
    credential = _param(query, "X-Amz-Credential") or ""
    _, date, region, service, _terminator = credential.split("/")
    amz_date = _param(query, "X-Amz-Date") or ""
    signed = (_param(query, "X-Amz-SignedHeaders") or "").split(";")
    canonical_query = "&".join(
        sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, vs in query.items() if k != "X-Amz-Signature" for v in vs)
    )
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{h}:{' '.join(str(lower.get(h, '')).split())}\n" for h in signed)
    canonical_request = "\n".join([method, quote(path or "/", safe="/-_.~"), canonical_query, canonical_headers, ";".join(signed), payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(response: Any, now: datetime.datetime | None = None) -> str:
    """The access key ID that signed this presigned request; raises STS's error otherwise."""
    query = response.querystring
    access_key_id = (_param(query, "X-Amz-Credential") or "").split("/")[0]
    token = _param(query, "X-Amz-Security-Token")
    try:
        account_id = get_account_id_from(access_key_id)
        key = create_access_key(account_id, "aws", access_key_id, {"X-Amz-Security-Token": token} if token else {})
    except Exception as cause:  # moto's CreateAccessKeyFailure and lookups of unknown keys
        raise StsError("InvalidClientTokenId", "The security token included in the request is invalid.") from cause
    secret = key.create_credentials().secret_key
    try:
        signed_at = datetime.datetime.strptime(_param(query, "X-Amz-Date") or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError as cause:
        raise StsError("AccessDenied", "X-Amz-Date is missing or malformed.") from cause
    current = now or datetime.datetime.now(datetime.timezone.utc)
    if current - signed_at > MAX_AGE:
        raise StsError("ExpiredToken", f"Request has expired: signed at {signed_at.isoformat()}, more than 15 minutes ago.")
    given = _param(query, "X-Amz-Signature") or ""
    path = response.parsed_url.path if getattr(response, "parsed_url", None) else "/"
    for payload_hash in (EMPTY_SHA256, "UNSIGNED-PAYLOAD"):
        if hmac.compare_digest(signature(secret, response.method, path, query, dict(response.headers), payload_hash), given):
            return access_key_id
    raise StsError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_caller_identity(self: Any) -> Any:
        if not is_presigned(self):
            return original(self)
        access_key_id = verify(self)
        self.get_access_key = lambda: access_key_id
        return original(self)

    return get_caller_identity


def _wrap_authorization(original: Callable[..., Any]) -> Callable[..., Any]:
    def _authenticate_and_authorize_normal_action(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._get_action() == "GetCallerIdentity" and is_presigned(self):
            return None
        return original(self, *args, **kwargs)

    return _authenticate_and_authorize_normal_action


def _wrap_dispatch(original: Callable[..., Any]) -> Callable[..., Any]:
    def infer_service_region_host(self: Any, environ: dict[str, Any], path: str) -> Any:
        if not environ.get("HTTP_AUTHORIZATION"):
            credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
            scope = credential.split("/")
            if len(scope) == 5 and scope[3] == "sts":
                return f"sts.{scope[2]}.amazonaws.com"
        return original(self, environ, path)

    return infer_service_region_host


def apply() -> None:
    wrap_once(DomainDispatcherApplication, "infer_service_region_host", _wrap_dispatch, __name__)
    wrap_once(sts_responses.TokenResponse, "get_caller_identity", _wrap, __name__)
    wrap_once(sts_responses.TokenResponse, "_authenticate_and_authorize_normal_action", _wrap_authorization, __name__)
