"""Fixtures the launcher's test modules share: each module gets its own launcher (module scope)."""

from __future__ import annotations

from typing import Iterator

import pytest

from test_launcher import INSTANT, Aws, _free_port, _start, _stop


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A launcher where everything happens at once (time scale 0), on a free 127.0.0.1 port."""
    port = _free_port()
    proc, url = _start(port, settings=INSTANT)
    assert url == f"http://127.0.0.1:{port}"
    yield url
    assert _stop(proc) == 0


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Aws:
    """boto3 clients for that launcher: `aws("sts")`."""
    return Aws(endpoint)
