"""filter: keep or drop each row by a Python function of yours.

``function: my_pkg.checks:short_enough`` (``module:function``, importable) is called
as ``fn(row, **kwargs)`` on a deep copy of each row (it cannot change kept rows):
``True`` or ``None`` keeps the row; ``False`` drops it as ``filtered``; a string drops
it with that string as the reason, in snake_case (``"Too long!"`` -> ``too_long``,
the original as detail); an exception drops it as ``filter_error`` and the stage
goes on; anything else (a 0/1 int included) is a ``DataError`` naming the function
and the row id. The function is imported at validation, so a bad reference fails
at load time. Limit: the fingerprint covers the function's own source, not the
code it calls. Details: docs/pipelines.md.
"""

from __future__ import annotations

from typing import Any

from synthkit.core.record import Rejected, Row
from synthkit.core.registry import register_stage, snake_case
from synthkit.core.stage import Stage, StageConfig, StageContext
from synthkit.errors import DataError
from synthkit.stages.map import FunctionConfig, call_each, import_function, source_hash


@register_stage("filter")
class Filter(Stage):
    """Keep or drop each row by fn(row, **kwargs) of a `module:function` of yours."""

    reads, writes = (), ()  # passes rows through unchanged or drops them

    class Config(FunctionConfig):  # function: fn(row, **kwargs) -> True/None keeps, False or a reason drops
        pass

    def __init__(self, config: StageConfig, ctx: StageContext) -> None:
        super().__init__(config, ctx)
        self.fn = import_function(config.function)

    def fingerprint_extra(self) -> dict[str, Any]:
        return {"function_source": source_hash(self.fn)}

    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        out: list[Row | Rejected] = []
        for row, verdict in call_each(self.fn, self.config.kwargs, batch, "filter_error"):
            out.append(verdict if isinstance(verdict, Rejected) else self._judge(row, verdict))
        return out

    def _judge(self, row: Row, verdict: Any) -> Row | Rejected:
        if type(verdict).__module__ == "numpy" and type(verdict).__name__ in ("bool_", "bool"):
            verdict = bool(verdict)  # `np.mean(x) > 0.5` is a fair answer
        if verdict is None or verdict is True:
            return row
        if verdict is False:
            return Rejected(row, "filtered")
        if isinstance(verdict, str):
            reason = snake_case(verdict) or "filtered"
            return Rejected(row, reason, verdict if verdict != reason else "")
        raise DataError(f"filter function {self.config.function} returned {verdict!r} "
                        f"({type(verdict).__name__}) for row '{row.get('id')}'; expected True/None to keep, "
                        "False or a reason string to drop")
