"""patches/sts_web_identity.py: AssumeRoleWithWebIdentity honours the role's trust (IRSA)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import botocore
import pytest
import urllib.request
from botocore.exceptions import ClientError

from test_launcher import Aws

ISSUER = "https://oidc.sandbox.test/id/CLUSTER1"
PROVIDER = ISSUER.removeprefix("https://")


def _unsigned_sts(aws: Aws) -> Any:
    """An STS client that signs nothing, as the SDKs call AssumeRoleWithWebIdentity."""
    client = aws("sts")
    client.meta.events.register("choose-signer.sts.*", lambda **_: botocore.UNSIGNED)
    return client


def _token(sub: str, aud: str = "sts.amazonaws.com", iss: str = ISSUER, exp: float | None = None) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"iss": iss, "sub": sub, "aud": [aud], "exp": int(exp if exp is not None else time.time() + 3600)}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def _irsa_role(aws: Aws, account_id: str, tenant: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{PROVIDER}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{PROVIDER}:sub": f"system:serviceaccount:tenant-{tenant}:app",
                f"{PROVIDER}:aud": "sts.amazonaws.com",
            }},
        }],
    }
    name = f"tenant-{tenant}-{uuid.uuid4().hex[:6]}-app"
    return aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _assume(aws: Aws, role_arn: str, token: str) -> dict[str, Any]:
    return _unsigned_sts(aws).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="pod", WebIdentityToken=token)


def _error(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_only_the_tenants_service_account_assumes_its_role(aws: Aws) -> None:
    account_id = aws("sts").get_caller_identity()["Account"]
    role = _irsa_role(aws, account_id, "wayne")

    # No IAM OIDC provider for the issuer in the role's account yet.
    code, _, message = _error(lambda: _assume(aws, role, _token("system:serviceaccount:tenant-wayne:app")))
    assert (code, message) == ("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {ISSUER}")

    aws("iam").create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    assumed = _assume(aws, role, _token("system:serviceaccount:tenant-wayne:app"))
    assert assumed["AssumedRoleUser"]["Arn"].endswith("/pod")

    # Another tenant's service account, another service account of the tenant: refused as AWS does.
    for sub in ("system:serviceaccount:tenant-wonka:app", "system:serviceaccount:tenant-wayne:default"):
        assert _error(lambda: _assume(aws, role, _token(sub))) == ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    # A token for another audience than the provider's client IDs, an expired one, and no JWT at all.
    assert _error(lambda: _assume(aws, role, _token("system:serviceaccount:tenant-wayne:app", aud="vault")))[:2] == ("InvalidIdentityToken", 400)
    assert _error(lambda: _assume(aws, role, _token("system:serviceaccount:tenant-wayne:app", exp=time.time() - 5)))[0] == "ExpiredTokenException"
    assert _error(lambda: _assume(aws, role, "not-a-jwt"))[0] == "InvalidIdentityToken"


def test_a_role_that_trusts_a_service_is_not_assumable_with_a_web_identity(aws: Aws) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    role = aws("iam").create_role(RoleName=f"pod-identity-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with pytest.raises(ClientError) as info:
        _assume(aws, role, _token("system:serviceaccount:tenant-wayne:app"))
    assert info.value.response["Error"]["Code"] in ("AccessDenied", "InvalidIdentityToken")


def test_unsigned_as_aws_takes_it_also_with_iam_enforced(aws: Aws) -> None:
    account_id = aws("sts").get_caller_identity()["Account"]
    role = _irsa_role(aws, account_id, "acme")
    if not aws("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        aws("iam").create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    request = urllib.request.Request(f"{aws.url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request).read()
    # Last in this module: enforcement stays on in this launcher.
    assert _assume(aws, role, _token("system:serviceaccount:tenant-acme:app"))["AssumedRoleUser"]["Arn"].endswith("/pod")
    assert _error(lambda: _assume(aws, role, _token("system:serviceaccount:tenant-wayne:app")))[0] == "AccessDenied"
