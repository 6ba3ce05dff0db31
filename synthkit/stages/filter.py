"""filter: keep or drop each row by a Python function of yours.

Contract::

    - stage: filter
      function: my_pkg.checks:short_enough   # `module:function`, importable (installed or on PYTHONPATH)
      kwargs: {max_chars: 4000}              # optional, passed as fn(row, **kwargs)

``fn(row, **kwargs)`` answers for one row:

=====================  ===========================================================
returns                the row is
=====================  ===========================================================
``True`` or ``None``   kept, unchanged
``False``              dropped with reason ``filtered``
a string               dropped with that string as the reason, in snake_case
                       (``"Too long!"`` -> ``too_long``; the original is the detail;
                       an empty string counts as ``filtered``)
raises                 dropped with reason ``filter_error``, ``"<Type>: <message>"``
                       as detail; the stage goes on with the next row
anything else          a ``DataError`` naming the function and the row id (a 0/1
                       int is ambiguous, so it is refused rather than guessed)
=====================  ===========================================================

``fn`` gets a deep copy of the row: a filter cannot change the rows it keeps.
Dropped rows land in ``rejected/`` and their reasons in the stats. The function
is imported when the config is validated, so a bad reference fails at load
time (``stages.N.function: ...``). Limits: as for ``map``, the fingerprint
covers the function's own source, not the code it calls.
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
