"""verify_tests: run each row's code against its tests in the sandbox.

Reads ``code`` (or extracts it from ``response`` with ``prompts.answers.extract_code``
and ``entry_point``) and ``tests`` (an assert block, io cases, or APPS-style
``{"inputs", "outputs"}``). Writes ``code``, ``verify = {status, pass_rate, passed,
duration_s, tests_passed, tests_total}`` and ``scores["verify"]`` on every row.
Keeps a row when every test passed, or its pass rate reaches ``min_pass_rate``;
otherwise rejects it as ``no_code``, ``no_tests`` or the sandbox status (``failed``,
``error``, ``timeout``, ``memory``, ``killed``) with the sandbox's explanation.
The sandbox (``workers`` programs at a time) starts in ``setup()`` and stops in
``teardown()``; the model's code runs only there. ``stats.json`` records the
isolation it ran with as ``sandbox = {isolation, via}`` (docs/sandbox.md).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field

from synthkit.core.record import Rejected, Row
from synthkit.core.registry import register_stage
from synthkit.core.stage import Stage, StageConfig
from synthkit.eval.programs import row_program

OUTPUT_KEPT = 1000  # characters of a program's stdout and stderr kept on its row (the end of each)

log = logging.getLogger(__name__)


@register_stage("verify_tests")
class VerifyTests(Stage):
    """Run each row's code against its tests in the sandbox; keep the rows that pass."""

    reads, writes = (("code", "response"), ("tests", "io_tests")), ("verify", "scores")  # code, or extracted from response

    class Config(StageConfig):
        timeout_s: float = Field(5.0, gt=0, description="wall clock per program (per io case), seconds")
        memory_mb: int = Field(512, ge=64, description="address-space limit per program, MiB")
        workers: int = Field(2, ge=1, description="programs run in parallel")
        min_pass_rate: float = Field(1.0, ge=0, le=1, description="keep rows whose share of passed tests reaches this")
        preload: list[str] = Field(default_factory=list, description=(
            "modules imported once by the workers (numpy, ...)"))
        isolation: Literal["auto", "full", "basic"] = Field("auto", description=(
            "full: refuse to run without namespaces"))

    def __init__(self, config: StageConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self._sandbox = None
        self._isolation: dict[str, str] = {}

    def setup(self) -> None:
        from synthkit.sandbox import Sandbox

        cfg = self.config
        if self._sandbox is None:
            self._sandbox = Sandbox(workers=cfg.workers, timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb,
                                    preload=tuple(cfg.preload), isolation=cfg.isolation)
            self._isolation = {"isolation": self._sandbox.isolation, "via": self._sandbox.via,
                               "memory_via": self._sandbox.memory_via, "seccomp": self._sandbox.seccomp}

    def extra_stats(self) -> dict[str, Any]:
        """Recorded in ``stats.json`` beside the funnel: the sandbox's isolation."""
        return {"sandbox": dict(self._isolation)} if self._isolation else {}

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        if self._sandbox is None:  # called without setup(): start it now, teardown() still stops it
            self.setup()
        out: list[Row | Rejected | None] = [None] * len(batch)
        programs, slots = [], []
        for i, row in enumerate(batch):
            item = row_program(row)
            if isinstance(item, Rejected):
                out[i] = item
            else:
                programs.append(item[1])
                slots.append((i, item[0]))
        results = self._sandbox.run(programs) if programs else []
        for (i, row), res in zip(slots, results):
            out[i] = self._verdict(row, res)
        return out  # type: ignore[return-value]

    def _verdict(self, row: Row, res: Any) -> Row | Rejected:
        verify = {"status": res.status, "pass_rate": round(res.pass_rate, 6), "passed": res.passed,
                  "duration_s": round(res.duration_s, 6), "tests_passed": res.tests_passed,
                  "tests_total": res.tests_total, "detail": res.detail,
                  "stdout": res.stdout[-OUTPUT_KEPT:], "stderr": res.stderr[-OUTPUT_KEPT:]}
        row = {**row, "verify": verify, "scores": {**(row.get("scores") or {}), "verify": verify["pass_rate"]}}
        floor = self.config.min_pass_rate
        if res.passed or (floor < 1.0 and res.pass_rate >= floor):
            return row
        return Rejected(row, res.status if res.status != "passed" else "failed", res.detail)

