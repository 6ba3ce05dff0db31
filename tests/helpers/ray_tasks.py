"""Functions Ray workers import in tests/executors/test_ray.py (its Ray instance puts
``tests/`` on the workers' PYTHONPATH)."""

from __future__ import annotations

import os
from pathlib import Path


def die(row: dict, markers: str, victim: str, times: int) -> dict:
    """A `map` function that kills its own worker process at row ``victim`` until it has done
    so ``times`` times (counted by files in ``markers``); every other call keeps the row."""
    folder = Path(markers)
    folder.mkdir(exist_ok=True)
    if row["id"] == victim and len(list(folder.iterdir())) < times:
        (folder / str(os.getpid())).write_text("")
        os._exit(1)  # gone at once: no exception, no cleanup, as with an OOM kill
    return {**row, "mapped": True}
