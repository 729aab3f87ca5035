"""The launcher's settings: one validated place, read before moto is imported.

Sources, later ones winning per setting:
  1. the defaults below;
  2. environment variables `TENANT_FLEET_SANDBOX_<NAME>`;
  3. `launcher.py --settings '<JSON object>'`, keyed by each setting's JSON key
     (test/sandbox/moto.ts passes the sandbox's own settings this way).

Anything that is not a known setting is refused, naming it: an unknown key in the
JSON object, an unknown `TENANT_FLEET_SANDBOX_*` variable (a misspelt setting would
otherwise be silently ignored), and the variables that earlier launchers read.
The table in test/sandbox/moto/README.md documents every setting.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

ENV_PREFIX = "TENANT_FLEET_SANDBOX_"

# TENANT_FLEET_SANDBOX_* variables that belong to other parts of the sandbox, not to the launcher.
NOT_OURS = {
    "TENANT_FLEET_SANDBOX_DIR": "the sandbox's state folder (scripts/demo.ts, scripts/sandbox.ts)",
}

# Variables earlier launchers read; setting one now would silently do nothing.
REPLACED = {
    "SANDBOX_ECS_ROLLOUT_SECONDS": "TENANT_FLEET_SANDBOX_TIME_SCALE (ECS rollouts are scaled like every other duration)",
    "SANDBOX_MOTO_SKIP_PATCHES": "TENANT_FLEET_SANDBOX_SKIP_PATCHES",
}


class SettingsError(ValueError):
    """Bad launcher settings; the message names the setting, the value and what was expected."""


@dataclass(frozen=True)
class Setting:
    key: str  # JSON key in --settings
    env: str  # environment variable
    default: Any
    parse: Callable[[Any], Any]  # raises ValueError(expected ...) for a bad value
    doc: str


def _number(minimum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        expected = f"a number >= {minimum:g}"
        if isinstance(value, bool):
            raise ValueError(expected)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(expected) from None
        if not math.isfinite(number) or number < minimum:
            raise ValueError(expected)
        return number

    return parse


def _count(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        expected = f"a whole number >= {minimum}"
        if isinstance(value, bool):
            raise ValueError(expected)
        if isinstance(value, str):
            value = value.strip()
            if not value.isdigit():
                raise ValueError(expected)
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or value < minimum:
            raise ValueError(expected)
        return value

    return parse


def _name_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        names = [part.strip() for part in value]
    else:
        raise ValueError("a comma-separated list of patch module names")
    from . import PATCHES  # the package's list; importing it does not import moto

    unknown = [name for name in names if name and name not in PATCHES]
    if unknown:
        raise ValueError(f"patch module names among {', '.join(PATCHES)} (unknown: {', '.join(unknown)})")
    return tuple(name for name in names if name)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "timeScale", "TENANT_FLEET_SANDBOX_TIME_SCALE", 0.002, _number(0),
        "Fraction of AWS's own durations that the sandbox's timed operations take (stacks, change sets, "
        "snapshots, restores, ECS rollouts, ACM validation). 1 = roughly AWS's pace; 0 = instant.",
    ),
    Setting(
        "snapshotQuota", "TENANT_FLEET_SANDBOX_SNAPSHOT_QUOTA", 100, _count(0),
        "Manual DB cluster snapshots (and, separately, manual DB instance snapshots) per account and region; "
        "AWS's default quota is 100.",
    ),
    Setting(
        "eventualConsistencySeconds", "TENANT_FLEET_SANDBOX_EVENTUAL_CONSISTENCY_SECONDS", 0.5, _number(0),
        "Real seconds (not scaled) during which a read right after a create may not see it yet; 0 = off.",
    ),
    Setting(
        "albCertificatesQuota", "TENANT_FLEET_SANDBOX_ALB_CERTIFICATES_QUOTA", 25, _count(0),
        "Certificates per Application Load Balancer, default certificates not counted (AWS: 25).",
    ),
    Setting(
        "albRulesQuota", "TENANT_FLEET_SANDBOX_ALB_RULES_QUOTA", 100, _count(0),
        "Listener rules per Application Load Balancer, default rules not counted (AWS: 100).",
    ),
    Setting(
        "acmDomainsQuota", "TENANT_FLEET_SANDBOX_ACM_DOMAINS_QUOTA", 10, _count(1),
        "Domain names per ACM certificate, DomainName included (AWS: 10 by default).",
    ),
    Setting(
        "skipPatches", "TENANT_FLEET_SANDBOX_SKIP_PATCHES", (), _name_list,
        "Patch modules to leave out, only to prove that the tests catch a missing patch.",
    ),
)

BY_KEY = {setting.key: setting for setting in SETTINGS}
BY_ENV = {setting.env: setting for setting in SETTINGS}


class Settings:
    """Resolved settings; attribute names are the JSON keys (settings.timeScale)."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def _parse(setting: Setting, raw: Any, source: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{source}: expected {exc} (got {json.dumps(raw)})") from None


def load(environ: Mapping[str, str], settings_json: str | None = None) -> Settings:
    values = {setting.key: setting.default for setting in SETTINGS}
    for name, raw in sorted(environ.items()):
        if name in REPLACED:
            raise SettingsError(f"{name} is no longer read; use {REPLACED[name]}")
        if not name.startswith(ENV_PREFIX) or name in NOT_OURS:
            continue
        setting = BY_ENV.get(name)
        if setting is None:
            known = ", ".join(sorted(BY_ENV))
            raise SettingsError(f"{name}: unknown sandbox setting (known: {known})")
        values[setting.key] = _parse(setting, raw, name)
    if settings_json is not None:
        try:
            given = json.loads(settings_json)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"--settings: expected a JSON object ({exc})") from None
        if not isinstance(given, dict):
            raise SettingsError(f"--settings: expected a JSON object (got {json.dumps(given)})")
        for key, raw in given.items():
            setting = BY_KEY.get(key)
            if setting is None:
                known = ", ".join(sorted(BY_KEY))
                raise SettingsError(f"--settings: unknown key {json.dumps(key)} (known: {known})")
            values[key] = _parse(setting, raw, f"--settings {key}")
    return Settings(values)


_current: Settings | None = None


def configure(settings: Settings) -> None:
    global _current
    _current = settings


def current() -> Settings:
    """The launcher's settings; the defaults when the patches are used without the launcher."""
    global _current
    if _current is None:
        _current = load({})
    return _current


def scaled(aws_seconds: float) -> float:
    """Seconds the sandbox takes for something that takes `aws_seconds` on AWS."""
    return aws_seconds * current().timeScale
