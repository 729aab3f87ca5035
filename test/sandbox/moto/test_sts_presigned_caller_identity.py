"""patches/sts_presigned_caller_identity.py: a presigned GetCallerIdentity says who signed it (EKS tokens)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from test_launcher import Aws


def _session(aws: Aws) -> tuple[str, dict[str, Any]]:
    name = f"eks-worker-{uuid.uuid4().hex[:6]}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return name, aws("sts").assume_role(RoleArn=role, RoleSessionName="worker")["Credentials"]


def _presigned(aws: Aws, creds: dict[str, Any], cluster: str = "tenant-fleet") -> str:
    request = AWSRequest(method="GET", url=f"{aws.url}/?Action=GetCallerIdentity&Version=2011-06-15", headers={"x-k8s-aws-id": cluster})
    SigV4QueryAuth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]), "sts", "us-east-1", expires=60).add_auth(request)
    return request.url


def _get(url: str, cluster: str = "tenant-fleet") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"x-k8s-aws-id": cluster}), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_answers_with_the_role_session_that_signed_the_url(aws: Aws) -> None:
    role, creds = _session(aws)
    status, body = _get(_presigned(aws, creds))
    assert status == 200, body
    assert f":assumed-role/{role}/worker</Arn>" in body


def test_refuses_a_url_whose_signature_does_not_hold(aws: Aws) -> None:
    _, creds = _session(aws)
    # The signed cluster header is part of the signature: another cluster's name breaks it.
    status, body = _get(_presigned(aws, creds, cluster="tenant-fleet"), cluster="other-cluster")
    assert status == 403 and "SignatureDoesNotMatch" in body
    status, body = _get(_presigned(aws, {**creds, "SecretAccessKey": "not-the-secret"}))
    assert status == 403 and "SignatureDoesNotMatch" in body


def test_refuses_an_unknown_key(aws: Aws) -> None:
    _, creds = _session(aws)
    status, body = _get(_presigned(aws, {**creds, "AccessKeyId": "ASIAUNKNOWN000000000"}))
    assert status == 403 and "InvalidClientTokenId" in body
