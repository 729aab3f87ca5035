"""IAM enforcement closer to AWS, and a log of who called what.

*Gap:* moto's request authorization (on once `INITIAL_NO_AUTH_ACTION_COUNT` requests
have passed, or after `POST /moto-api/reset-auth` with `0`) is basic
(moto/iam/access_control.py):

* `sts:AssumeRole` checks the role's trust policy only when the role is in the
  *caller's* account, so a cross-account AssumeRole never looks at the trust policy, and
  a role that does not exist can be assumed;
* a trust policy's `Principal: {AWS: arn:aws:iam::<acct>:root}` (the account as
  principal) matches nothing but that literal ARN, and a Service principal raises;
* an Allow statement whose Principal or Condition does not match makes the whole
  request *denied* (AWS: the statement just does not apply), and conditions know only
  `StringEquals`;
* the resource of most calls is unknown (`*`), and a statement scoped to an ARN then
  never matches, so a correctly scoped policy is refused;
* a role created through CloudFormation keeps its policies as dicts, which the
  evaluator cannot read (every call of its sessions fails with a KeyError, HTTP 500);
* the action's prefix is the request's signing name, which is not the IAM prefix for
  CloudWatch (`monitoring:DescribeAlarms` instead of `cloudwatch:DescribeAlarms`), and S3's
  HeadBucket is asked for as `s3:HeadBucket` (AWS authorizes it as `s3:ListBucket`);
* JSON-protocol services (ECS, SSM, ACM, ...) get an XML `AccessDenied` body that the
  AWS SDKs cannot parse, and the message does not say which resource.

*Patch:* replaces `IAMPolicy.__init__` (documents as dicts too) and
`IAMPolicyStatement.is_action_permitted` (Principal with account
roots, role ARNs for their sessions and `Service`; Resource/NotResource; conditions
`String*`, `Arn*`, `Bool`, `Null` with `...IfExists`, evaluated only for keys the
sandbox knows; a statement that does not match is neutral), the trust check of
`sts:AssumeRole` (the role's own account; a missing role is refused; `sts:ExternalId`
absent counts as absent) and the AccessDenied error shape; wraps
`ActionAuthenticatorMixin._authenticate_and_authorize_action` to remember the calling
principal per request (the CloudFormation permission check in `cfn_iam.py` needs it)
and to append one JSON line per authorized or refused call to the file named by
`SANDBOX_AWS_CALL_LOG` (set by the launcher's `--call-log`).

With the resource unknown (`*`), an Allow statement applies on its action alone and a
Deny statement scoped to specific resources does not apply: moto cannot tell which
resource a call touches, so the sandbox checks actions, not ARNs, for those calls (see
the README section "IAM enforcement").
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
from typing import Any

from moto import settings
from moto.core import authorization as core_authorization
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam import access_control
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

_local = threading.local()

SIGNING_NAME_TO_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
# Operations AWS authorizes as another action than their own name (moto asks for `s3:HeadBucket`,
# which no policy can grant): the S3 API reference's "Permissions" of each.
AUTHORIZED_AS = {"s3:HeadBucket": "s3:ListBucket"}
_log_lock = threading.Lock()

# Keys the sandbox can fill in; a key the sandbox never sees is not evaluated (the
# condition passes), so moto stays permissive rather than refusing what AWS allows.
UNKNOWN = object()


# --------------------------------------------------------------------------
# who is calling
# --------------------------------------------------------------------------


class Principal:
    """The identity of an authorized request (an IAM user or an assumed-role session)."""

    def __init__(self, account_id: str, partition: str, arn: str, kind: str, name: str, session: str | None = None):
        self.account_id = account_id
        self.partition = partition
        self.arn = arn
        self.kind = kind  # "user" | "role"
        self.name = name
        self.session = session

    def policies(self) -> list[Any]:
        return policies_of(self.account_id, self.partition, self.kind, self.name)


def current_principal() -> Principal | None:
    """The principal of the request this thread is serving, when IAM is enforced."""
    return getattr(_local, "principal", None)


def enforced() -> bool:
    return core_authorization.ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def policies_of(account_id: str, partition: str, kind: str, name: str) -> list[Any]:
    backend = iam_backends[account_id][partition]
    found: list[Any] = []
    if kind == "role":
        for policy_name in backend.list_role_policies(name):
            found.append(backend.get_role_policy(name, policy_name)[1])
        found += backend.list_attached_role_policies(name)[0]
    else:
        for policy_name in backend.list_user_policies(name):
            found.append(backend.get_user_policy(name, policy_name))
        found += backend.list_attached_user_policies(name)[0]
        for group in backend.get_groups_for_user(name):
            for policy_name in backend.list_group_policies(group.name):
                found.append(backend.get_group_policy(group.name, policy_name))
            found += backend.list_attached_group_policies(group.name)[0]
    return found


def _principal_of(access_key: Any, account_id: str, partition: str) -> Principal:
    if isinstance(access_key, access_control.AssumedRoleAccessKey):
        return Principal(account_id, partition, access_key.arn, "role", access_key._owner_role_name,
                         access_key._session_name)
    return Principal(account_id, partition, access_key.arn, "user", access_key._owner_user_name)


# --------------------------------------------------------------------------
# policy evaluation
# --------------------------------------------------------------------------


def evaluate(policies: list[Any], action: str, resource: str, context: dict[str, Any] | None = None) -> PermissionResult:
    """AWS's identity-policy logic: an explicit Deny wins, then an Allow, else neutral (implicit deny)."""
    permitted = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, resource, None, context)
        if result == PermissionResult.DENIED:
            return result
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    # IAM wildcards: * and ? (fnmatch's [] classes do not exist in IAM, so escape them).
    escaped = pattern.replace("[", "[[]")
    if case_sensitive:
        return fnmatch.fnmatchcase(value, escaped)
    return fnmatch.fnmatchcase(value.lower(), escaped.lower())


def _principal_matches(expected: Any, principal: str | None) -> bool:
    if expected == "*":
        return True
    if not isinstance(expected, dict) or principal is None:
        return False
    candidates = [principal]
    # A session of a role is matched by the role's ARN.
    parts = principal.split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        candidates.append(f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}")
    account = parts[4] if len(parts) == 6 else None
    for value in _as_list(expected.get("AWS", [])):
        if value == "*" or value in candidates:
            return True
        # The account as principal ("123456789012" or its root ARN) delegates to that account's IAM policies.
        if account and (value == account or value == f"arn:{parts[1]}:iam::{account}:root"):
            return True
    for value in _as_list(expected.get("Service", [])):
        if value == principal:
            return True
    return False


_STRING_OPS = {
    "StringEquals": lambda e, a: e == a,
    "StringNotEquals": lambda e, a: e != a,
    "StringEqualsIgnoreCase": lambda e, a: e.lower() == a.lower(),
    "StringNotEqualsIgnoreCase": lambda e, a: e.lower() != a.lower(),
    "StringLike": lambda e, a: _matches(e, a),
    "StringNotLike": lambda e, a: not _matches(e, a),
    "ArnEquals": lambda e, a: _matches(e, a),
    "ArnLike": lambda e, a: _matches(e, a),
    "ArnNotEquals": lambda e, a: not _matches(e, a),
    "ArnNotLike": lambda e, a: not _matches(e, a),
    "Bool": lambda e, a: str(e).lower() == str(a).lower(),
}


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    actual = context.get(key, UNKNOWN)
    if actual is UNKNOWN:
        return True  # the sandbox cannot tell: not evaluated (README)
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        operator = operator.split(":", 1)[1]
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if base == "Null":
        wants_null = str(_as_list(expected)[0]).lower() == "true"
        return (actual is None) == wants_null
    if actual is None:
        # A missing key: only IfExists and the negated operators hold (as in AWS).
        return if_exists or "Not" in base
    op = _STRING_OPS.get(base)
    if op is None:
        return True  # an operator the sandbox does not implement is not evaluated (README)
    actual_values = [str(v) for v in _as_list(actual)]
    expected_values = [str(v) for v in _as_list(expected)]
    if "Not" in base:
        return all(all(op(e, a) for e in expected_values) for a in actual_values)
    return any(op(e, a) for e in expected_values for a in actual_values)


def _conditions_hold(statement: dict[str, Any], context: dict[str, Any] | None) -> bool:
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            if not _condition_holds(operator, key, expected, context or {}):
                return False
    return True


def _resource_matches(statement: dict[str, Any], resource: str) -> bool | None:
    """True/False, or None when the resource is unknown to moto (`*`)."""
    if "Resource" not in statement and "NotResource" not in statement:
        return True  # trust policies
    if resource == "*":
        return None
    if "NotResource" in statement:
        return not any(_matches(p, resource) for p in _as_list(statement["NotResource"]))
    return any(_matches(p, resource) for p in _as_list(statement["Resource"]))


def statement_is_action_permitted(  # replaces IAMPolicyStatement.is_action_permitted
    self: IAMPolicyStatement,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, Any] | None = None,
) -> PermissionResult:
    statement = self._statement
    if "NotAction" in statement:
        concerned = not any(_matches(p, action, case_sensitive=False) for p in _as_list(statement["NotAction"]))
    else:
        concerned = any(_matches(p, action, case_sensitive=False) for p in _as_list(statement.get("Action", [])))
    if not concerned:
        return PermissionResult.NEUTRAL
    if "Principal" in statement and not _principal_matches(statement["Principal"], principal):
        return PermissionResult.NEUTRAL
    if not _conditions_hold(statement, incoming_condition_values):
        return PermissionResult.NEUTRAL
    matches = _resource_matches(statement, resource)
    deny = statement.get("Effect") == "Deny"
    if matches is None:
        # Unknown resource: an Allow applies on its action; a Deny only when it covers every resource.
        matches = not deny or _as_list(statement.get("Resource", [])) == ["*"]
    if not matches:
        return PermissionResult.NEUTRAL
    return PermissionResult.DENIED if deny else PermissionResult.PERMITTED


# --------------------------------------------------------------------------
# sts:AssumeRole trust
# --------------------------------------------------------------------------


def _role_of(role_arn: str, partition: str) -> Any | None:
    parts = role_arn.split(":")
    if len(parts) != 6 or parts[2] != "iam":
        return None
    try:
        return iam_backends[parts[4]][partition].get_role_by_arn(role_arn)
    except (NotFoundException, KeyError):
        return None


def _is_assuming_role_operation(self: Any, resource_arn: str) -> bool:
    return self._action == "sts:AssumeRole"


def _check_role_trust_relationship(self: Any, role_arn: str) -> bool:
    role = _role_of(role_arn, get_partition(self._region))
    if role is None:
        return False
    external_id = self._data.get("ExternalId")
    context = {"sts:ExternalId": external_id[0] if isinstance(external_id, list) else external_id}
    trust = IAMPolicy(role.assume_role_policy_document)
    return trust.is_action_permitted(self._action, role_arn, self._access_key.arn, context) == PermissionResult.PERMITTED


# --------------------------------------------------------------------------
# errors and the call log
# --------------------------------------------------------------------------


def access_denied_message(principal_arn: str, action: str, resource: str | None) -> str:
    on = f" on resource: {resource}" if resource and resource != "*" else ""
    return f"User: {principal_arn} is not authorized to perform: {action}{on} because no identity-based policy allows the {action} action"


class QueryAccessDenied(_RESTError):
    """moto's AccessDeniedError with AWS's wording (naming the resource when moto knows it)."""

    code = 403

    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


def _is_json_protocol(headers: Any) -> bool:
    return bool(headers.get("X-Amz-Target")) or "json" in (headers.get("Content-Type") or "")


def _raise_access_denied(self: Any) -> None:  # replaces IAMRequest._raise_access_denied
    message = access_denied_message(self._access_key.arn, self._action, getattr(self, "_sandbox_resource", None))
    if _is_json_protocol(self._headers):
        raise JsonRESTError("AccessDeniedException", message)
    raise QueryAccessDenied(message)


def write_call(entry: dict[str, Any]) -> None:
    path = os.environ.get("SANDBOX_AWS_CALL_LOG")
    if not path:
        return
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with _log_lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)


def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    # Replaces ActionAuthenticatorMixin._authenticate_and_authorize_action (same steps, plus
    # the principal for later checks and the call log).
    _local.principal = None
    mixin = core_authorization.ActionAuthenticatorMixin
    if not enforced():
        mixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in mixin.PUBLIC_OPERATIONS:
        return
    from urllib.parse import urlparse

    parsed_url = urlparse(self.uri)
    path = self.raw_path + ("?" + parsed_url.query if parsed_url.query else "")
    iam_request = iam_request_cls(
        account_id=self.current_account, method=self.method, path=path, data=self.data,
        body=self.raw_body, headers=self.headers, action=self._get_action(),
    )
    iam_request.check_signature()
    # moto names the action after the signing name; a few services sign with another name than
    # their IAM prefix (CloudWatch signs as "monitoring").
    service = SIGNING_NAME_TO_IAM_PREFIX.get(iam_request._service, iam_request._service)
    iam_request._action = f"{service}:{iam_request._action.split(':', 1)[1]}"
    iam_request._action = AUTHORIZED_AS.get(iam_request._action, iam_request._action)
    principal = _principal_of(iam_request._access_key, self.current_account, get_partition(iam_request._region))
    iam_request._sandbox_resource = resource
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "service": service,
        "action": iam_request._action.split(":", 1)[1],
        "account": principal.account_id,
        "region": iam_request._region,
        "principalArn": principal.arn,
        **({"resource": resource} if resource and resource != "*" else {}),
    }
    try:
        iam_request.check_action_permitted(resource)
    except Exception:
        write_call({**entry, "allowed": False})
        raise
    write_call({**entry, "allowed": True})
    _local.principal = principal


_original_policy_init = IAMPolicy.__init__


def policy_init(self: IAMPolicy, policy: Any) -> None:  # replaces IAMPolicy.__init__
    # Roles created through CloudFormation keep their documents as dicts, which moto took for
    # its {"policy_document": ...} records (KeyError).
    if isinstance(policy, dict) and "Statement" in policy:
        self._policy_json = policy
        return
    if isinstance(policy, dict) and isinstance(policy.get("policy_document"), dict):
        self._policy_json = policy["policy_document"]
        return
    _original_policy_init(self, policy)


def apply() -> None:
    if getattr(IAMPolicyStatement.is_action_permitted, "__sandbox_patched__", False):
        return
    IAMPolicy.__init__ = policy_init  # type: ignore[method-assign]
    statement_is_action_permitted.__sandbox_patched__ = True  # type: ignore[attr-defined]
    IAMPolicyStatement.is_action_permitted = statement_is_action_permitted  # type: ignore[method-assign]
    access_control.IAMRequestBase._is_assuming_role_operation = _is_assuming_role_operation  # type: ignore[method-assign]
    access_control.IAMRequestBase._check_role_trust_relationship = _check_role_trust_relationship  # type: ignore[method-assign]
    access_control.IAMRequest._raise_access_denied = _raise_access_denied  # type: ignore[method-assign]
    core_authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action  # type: ignore[method-assign]
