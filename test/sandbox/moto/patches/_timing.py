"""Deferred state changes: the sandbox's way of making operations take time without threads.

An operation computes its outcome inside the API call (moto's way) and then hands the
visible steps to a timeline: each step is applied on the first read at or after its
time. Reads advance the timelines they look at first (see the patches that use this).
Durations are AWS-like seconds multiplied by the time scale setting (`_settings.scaled`).
"""

from __future__ import annotations

import datetime
from typing import Any, Callable

from moto.core.utils import utcnow

from ._settings import scaled

Step = tuple[datetime.datetime, Callable[[datetime.datetime], None]]


def later(start: datetime.datetime, aws_seconds: float) -> datetime.datetime:
    return start + datetime.timedelta(seconds=scaled(aws_seconds))


def steps(owner: Any) -> list[Step]:
    timeline = owner.__dict__.get("_sandbox_timeline")
    if timeline is None:
        timeline = owner.__dict__["_sandbox_timeline"] = []
    return timeline


def schedule(owner: Any, at: datetime.datetime, apply: Callable[[datetime.datetime], None]) -> None:
    """Adds a step; steps of one owner run in time order (ties: in the order added)."""
    timeline = steps(owner)
    timeline.append((at, apply))
    timeline.sort(key=lambda step: step[0])  # stable: ties keep their order


def pending(owner: Any) -> bool:
    return bool(owner.__dict__.get("_sandbox_timeline"))


def advance(owner: Any, now: datetime.datetime | None = None) -> None:
    """Applies the owner's steps that are due (all of them with `now=datetime.max`)."""
    timeline = owner.__dict__.get("_sandbox_timeline")
    if not timeline:
        return
    now = now or utcnow()
    while timeline and timeline[0][0] <= now:
        at, apply = timeline.pop(0)
        apply(min(at, utcnow()))


def settle(owner: Any) -> None:
    """Applies every remaining step now (an operation that must not wait for an earlier one)."""
    advance(owner, datetime.datetime.max)
