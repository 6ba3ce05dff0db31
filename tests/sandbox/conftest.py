"""Shared sandbox fixtures. Every program in these tests runs inside the sandbox."""

from __future__ import annotations

import pytest

from synthkit.sandbox import Sandbox

@pytest.fixture(scope="session")
def sandbox():
    sb = Sandbox(workers=2, timeout_s=2.0, memory_mb=256)
    yield sb
    sb.close()
