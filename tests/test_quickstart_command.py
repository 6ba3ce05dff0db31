"""The README's first command installs the `card` extra, so a new user's first card has its plots."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_first_command_installs_the_card_extra_which_brings_matplotlib():
    first = next(line for line in (ROOT / "README.md").read_text().splitlines() if "pip install" in line)
    assert 'pip install -e ".[card]"' in first and "synthkit run pipelines/quickstart.yaml" in first
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(re.match(r"matplotlib\b", dep) for dep in extras["card"])
