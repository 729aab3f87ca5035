"""Small helpers shared by the sandbox patches (no moto gap of its own)."""

from __future__ import annotations

import threading
from typing import Any

# Per-request context for data that moto's response layer reads but does not
# hand to its backends (ClientRequestToken, OnFailure, DisableRollback, ...).
# moto's server is a threaded werkzeug server, so this is thread-local.
_local = threading.local()


def set_request_context(**values: Any) -> None:
    _local.ctx = dict(values)


def clear_request_context() -> None:
    _local.ctx = {}


def request_context() -> dict[str, Any]:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = _local.ctx = {}
    return ctx


def error_code_and_message(exc: BaseException) -> tuple[str, str]:
    """The AWS error code and message of a moto exception (or any exception)."""
    # moto.core.exceptions.ServiceException: code (str) + message
    # moto.core.exceptions._RESTError/JsonRESTError/AWSError: error_type + message
    code = getattr(exc, "error_type", None)
    if not isinstance(code, str) or not code:
        code = getattr(exc, "code", None)
    if not isinstance(code, str) or not code:
        code = type(exc).__name__
    message = getattr(exc, "message", None)
    if not isinstance(message, str) or not message:
        message = str(exc) or type(exc).__name__
    return code, message


def action_result(response: Any, key: str) -> Any:
    """The object `key` of a moto response method's ActionResult; None when the response is not one."""
    return getattr(response, "result", {}).get(key) if hasattr(response, "result") else None


def wrap_once(owner: Any, name: str, factory: Any, patch: str) -> None:
    """Replaces `owner.name` with `factory(original)`, once per patch module.

    Several patches may wrap the same moto method (ACM's `CertBundle.describe`), so the
    guard remembers which patches a function already carries instead of a single flag;
    `__name__` is kept because moto's response dispatch looks methods up by name.
    """
    original = getattr(owner, name)
    applied = getattr(original, "__sandbox_patches__", frozenset())
    if patch in applied:
        return
    wrapped = factory(original)
    wrapped.__name__ = name
    wrapped.__sandbox_patches__ = applied | {patch}
    setattr(owner, name, wrapped)
