"""Shared sandbox fixtures. Every program in these tests runs inside the sandbox."""

from __future__ import annotations

import pytest
from helpers.sandbox import make_sandbox


@pytest.fixture(scope="session")
def sandbox():
    sb = make_sandbox(workers=2, timeout_s=2.0, memory_mb=256)
    yield sb
    sb.close()
