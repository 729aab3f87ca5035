"""CloudFormation ClientRequestToken idempotency.

moto gap closed
---------------
moto ignores `ClientRequestToken`: a retried CreateStack fails with
AlreadyExistsException, a retried UpdateStack fails with "No updates are to be
performed." (or runs a second update), and a retried ExecuteChangeSet fails.
AWS treats a repeated request carrying the same token as the same request and
answers it without doing the work again. Stack events of an operation carry its
token (set by cfn_engine's event helpers).

Why the product relies on it
----------------------------
Temporal retries activities; the CloudFormation activity passes a deterministic
token per operation so that a retry after a lost response is a no-op.

How it hooks into moto
----------------------
Wraps `CloudFormationBackend.create_stack/update_stack/delete_stack/
execute_change_set` (as replaced by cfn_engine / cfn_change_sets). The token of
a finished operation is remembered on the stack (`_sandbox_tokens`) or change set
(`_sandbox_execute_token`); a request with the same action and token returns
the earlier result. Tokens are not expired (AWS keeps them for the life of the
stack operation history).
"""

from __future__ import annotations

from typing import Any, Callable

from moto.cloudformation import models as cfn_models

from . import cfn_change_sets
from ._common import request_context


def _tokens(stack: Any) -> dict[str, set[str]]:
    tokens = getattr(stack, "_sandbox_tokens", None)
    if tokens is None:
        tokens = stack._sandbox_tokens = {}
    return tokens


def _remember(stack: Any, action: str, token: str | None) -> None:
    if token:
        _tokens(stack).setdefault(action, set()).add(token)


def _seen(stack: Any, action: str, token: str | None) -> bool:
    return bool(token) and token in _tokens(stack).get(action, set())


def _all_stacks(backend: Any) -> list[Any]:
    return list(backend.stacks.values()) + list(backend.deleted_stacks.values())


def _wrap_create_stack(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        token = request_context().get("ClientRequestToken")
        if token:
            for stack in _all_stacks(self):
                if stack.name == name and _seen(stack, "CreateStack", token):
                    return stack
        stack = original(self, name, *args, **kwargs)
        _remember(stack, "CreateStack", token)
        return stack

    return create_stack


def _wrap_update_stack(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        token = request_context().get("ClientRequestToken")
        if token:
            for stack in self.stacks.values():
                if (stack.name == name or stack.stack_id == name) and _seen(stack, "UpdateStack", token):
                    return stack
        stack = original(self, name, *args, **kwargs)
        _remember(stack, "UpdateStack", token)
        return stack

    return update_stack


def _wrap_delete_stack(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        token = request_context().get("ClientRequestToken")
        target = None
        for stack in _all_stacks(self):
            if stack.stack_id == name_or_stack_id or (stack.name == name_or_stack_id and stack.stack_id in self.stacks):
                target = stack
                break
        if target is not None and _seen(target, "DeleteStack", token):
            return None
        result = original(self, name_or_stack_id)
        if target is not None:
            _remember(target, "DeleteStack", token)
        return result

    return delete_stack


def _wrap_execute_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        token = request_context().get("ClientRequestToken")
        if token:
            try:
                change_set = cfn_change_sets.find_change_set(self, change_set_name, stack_name)
            except Exception:  # noqa: BLE001 - let the real call raise the proper error
                change_set = None
            if change_set is not None and getattr(change_set, "_sandbox_execute_token", None) == token:
                return None
        result = original(self, change_set_name, stack_name)
        if token:
            change_set = cfn_change_sets.find_change_set(self, change_set_name, stack_name)
            change_set._sandbox_execute_token = token
        return result

    return execute_change_set


def apply() -> None:
    backend = cfn_models.CloudFormationBackend
    for name, factory in (
        ("create_stack", _wrap_create_stack),
        ("update_stack", _wrap_update_stack),
        ("delete_stack", _wrap_delete_stack),
        ("execute_change_set", _wrap_execute_change_set),
    ):
        original = getattr(backend, name)
        if getattr(original, "__sandbox_token__", False):
            continue
        wrapped = factory(original)
        wrapped.__sandbox_token__ = True  # type: ignore[attr-defined]
        wrapped.__sandbox_patched__ = True  # type: ignore[attr-defined]
        setattr(backend, name, wrapped)
