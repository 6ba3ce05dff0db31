"""Stage base classes: the one thing a pipeline step has to implement.

A row-local ``Stage`` implements ``process(batch) -> list[Row | Rejected]``: more or
fewer rows than it got, each dropped row as ``Rejected(row, reason)`` (the runner
writes and counts it); never ``None``, never a silently lost row. A ``WholeStage``
implements ``process_all(dataset)``: given a ``datasets.Dataset`` (never a list), it
returns ``(kept, rejected)``, ``kept`` a Dataset or a list of rows; see ``WholeStage``
for running distributed. The runner does the batching, sharding, resume, counting
and writing. A row-local stage may split its work into passes (one per checkpoint):
``open_pass(name)``, every input shard, ``close_pass()``, one output shard per
(pass, input shard); a sampling stage sets ``self.sampler`` (``core.sampling``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from synthkit.core.record import Rejected, Row
from synthkit.errors import ConfigError
from synthkit.llm.usage import MeteredLLM, Usage

if TYPE_CHECKING:
    import datasets
    import pyarrow

    from synthkit.core.shards import ShardedInput, Verdicts
    from synthkit.llm.base import LLM, LLMConfig

log = logging.getLogger(__name__)

PACKAGE_REF, PACKAGE_DIR = "synthkit:", Path(__file__).resolve().parents[1]  # synthkit:data/x.jsonl


class StageConfig(BaseModel):
    """Fields every stage accepts. Subclasses add theirs; unknown keys fail.

    ``former_keys`` maps a key of an earlier draft to what replaced it; it is
    not accepted, only named in the unknown-key error (``core.config``)."""

    model_config = ConfigDict(extra="forbid")
    former_keys: ClassVar[dict[str, str]] = {}  # old key -> its replacement, for the error message

    stage: str = Field(description="registry key; equals the stage's file name")
    shard_size: int = Field(64, ge=1, description="rows per saved shard: the unit of resume")



@dataclass
class StageContext:
    """What the runner hands a stage: where it lives and what it may use."""

    index: int                       # position in the pipeline, 0-based
    seed: int                        # pipeline seed (stages derive their own from it)
    stage_dir: Path                  # runs/<name>/<NN>_<stage>/
    base_dir: Path                   # relative paths in the config resolve against this
    llm_config: "LLMConfig | None" = None  # the pipeline's llm, after any stage override
    cache_dir: Path | None = None    # LLM cache location; None disables caching
    checkpoints: list[str] = field(default_factory=list)  # models registered by earlier rounds
    tokens_generated: int = 0        # stages add to this; the runner reports it
    usage: Usage = field(default_factory=Usage)  # what this stage's LLMs cost (make_llm counts into it)
    advance: Callable[[int], None] = lambda n: None  # a whole-dataset stage: n more input rows done (progress bar)
    pipeline: dict[str, Any] = field(default_factory=dict)  # the whole pipeline config (for data cards)
    rerun: Any = None                # () -> the record a saved dataset keeps as pipeline.yaml (core.rerun)

    def resolve(self, path: str | Path) -> Path:
        """A config path: ``synthkit:<file>`` is a file shipped in the package (how a saved
        dataset's pipeline.yaml names one, ``core.rerun``); a relative one is read from ``base_dir``."""
        if str(path).startswith(PACKAGE_REF):
            return PACKAGE_DIR / str(path)[len(PACKAGE_REF):]
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def make_llm(self, model: str | None = None, config: "LLMConfig | None" = None) -> "LLM":
        """Build (and cache-wrap) the LLM for ``model`` (default: the config's)."""
        from synthkit.llm.factory import make_llm

        cfg = config or self.llm_config
        if cfg is None:
            raise ConfigError(f"stage {self.index} needs an LLM: set `llm:` on the pipeline or the stage")
        llm = MeteredLLM(make_llm(cfg, model), self.usage)
        if cfg.cache and self.cache_dir is not None:
            from synthkit.llm.cache import CachedLLM
            llm = CachedLLM(llm, self.cache_dir, usage=self.usage)
        return llm


def read_template(path: str | None, ctx: StageContext, placeholder: str | None = None) -> str | None:
    """The text of a ``template_file:`` (relative to the pipeline file's folder),
    or None when no file is set. A missing file, or one without ``placeholder``,
    is a ConfigError naming ``stages.N.template_file``."""
    if path is None:
        return None
    file = ctx.resolve(path)
    where = f"stages.{ctx.index}.template_file"
    if not file.is_file():
        raise ConfigError(f"{where}: prompt file not found: {file}")
    text = file.read_text()
    if placeholder and placeholder not in text:
        raise ConfigError(f"{where}: {file} has no {placeholder} placeholder")
    return text


class Stage:
    """Row-local stage. Subclasses set a nested ``Config`` and implement ``process``."""

    name: ClassVar[str] = ""        # set by @register_stage
    Config: ClassVar[type[StageConfig]] = StageConfig
    whole_dataset: ClassVar[bool] = False
    reads_input: ClassVar[bool] = True  # False for a source stage (load_seeds) that ignores its input
    reads: ClassVar[tuple] = ()     # columns each row needs; a tuple inside = one of these (core.columns)
    writes: ClassVar[tuple[str, ...] | None] = None  # columns it adds; None = unknown (checks stop there)
    sampler: Any = None             # a CheckpointSampler: passes are its checkpoints

    def __init__(self, config: StageConfig, ctx: StageContext) -> None:
        self.config = config
        self.ctx = ctx

    # --- lifecycle (all optional) -------------------------------------------------
    def setup(self) -> None:
        """Acquire resources (a sandbox pool, say) before the first batch. Not called by validate."""

    def teardown(self) -> None:
        """Release what ``setup`` and ``open_pass`` acquired. Always called, even on error."""
        if self.sampler is not None:
            self.sampler.close()

    def passes(self) -> Sequence[str]:
        """Names of the passes over the input; one output shard per (pass, input shard)."""
        return self.sampler.passes() if self.sampler is not None else ("main",)

    def open_pass(self, name: str) -> None:
        """Called before a pass's first shard (load that checkpoint, say)."""
        if self.sampler is not None:
            self.sampler.open(name)

    def close_pass(self) -> None:
        """Called after a pass's last shard (free that checkpoint's memory)."""
        if self.sampler is not None:
            self.sampler.close()

    def check(self) -> None:
        """Verify what the config alone cannot (a server's capabilities, say) and raise
        ``ConfigError`` if it is wrong. ``synthkit validate`` and the runner call it for
        every stage before the first one runs, so a mistake fails in seconds, not an
        hour in. Default: nothing to check."""

    def columns_read(self) -> list[tuple[Any, str]]:
        """(column or tuple of alternatives, why) for each column the rows must have;
        default: ``reads``. Override where the config decides (a template's placeholders)."""
        return [(c, "") for c in self.reads]

    def columns_written(self) -> "tuple[str, ...] | None":
        """Columns this stage adds to its input (a source stage: its whole output);
        None when unknown. Default: ``writes``."""
        return self.writes

    def inputs(self) -> list[dict[str, Any]]:
        """The data this stage reads from outside the pipeline, identified for a rerun
        (``core.rerun``: a file by sha256, a bundled set by name, a Hub id and revision).
        Default: none."""
        return []

    def extra_stats(self) -> dict[str, Any]:
        """Recorded in ``stats.json`` beside the funnel after the stage ran (the
        sandbox's isolation level, a diversity report); the data card shows them.
        Under ``executor: ray`` a row-local stage is asked in each worker before its
        teardown, and a value the workers disagree on is listed (each distinct value). Default:
        nothing. Funnel keys (rows_in, kept, dropped, ...) cannot be overridden."""
        return {}

    def finish_run(self, report: dict[str, Any]) -> None:
        """Called once the whole run finished, with its ``report.json`` (``save``
        publishes the dataset's card with it). Default: nothing."""

    def fingerprint_extra(self) -> dict[str, Any]:
        """Anything beyond the config that changes this stage's output (default: nothing)."""
        return {}

    # --- the work -----------------------------------------------------------------
    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        raise NotImplementedError(f"stage '{self.name}' must implement process(batch)")


class WholeStage(Stage):
    """Whole-dataset stage: sees every row at once (dedup, selection).

    ``process_all`` is the one-machine path. A stage that can also run without one
    process holding every row sets ``distributed = True`` and implements its shard
    plan: ``map_shard`` on every input shard (in workers, each with its own copy of
    the stage, ``setup()`` done; reading only ``shard_columns()``, skipped when that
    is empty), then ``reduce_shards`` here, which returns ``Verdicts``. The executor
    decides which path runs; both must give the same rows and rejections."""

    whole_dataset: ClassVar[bool] = True
    distributed: ClassVar[bool] = False  # True: map_shard / reduce_shards below are implemented

    def process_all(self, dataset: "datasets.Dataset") -> tuple["datasets.Dataset | list[Row]", list[Rejected]]:
        raise NotImplementedError(f"stage '{self.name}' must implement process_all(dataset)")

    def shard_columns(self) -> list[str]:
        """The columns ``map_shard`` reads; empty: the plan has no map step."""
        return []

    def map_shard(self, table: "pyarrow.Table", offset: int) -> Any:
        """One input shard (rows from input position ``offset`` on) -> any picklable result."""
        raise NotImplementedError(f"stage '{self.name}' declares shard_columns() but no map_shard")

    def reduce_shards(self, source: "ShardedInput", results: list[Any]) -> "Verdicts":
        """The ``map_shard`` results, one per input file in order -> the verdict on every row."""
        raise NotImplementedError(f"stage '{self.name}' sets distributed = True but has no reduce_shards")


class LLMStageConfig(StageConfig):
    """Config fields shared by stages that call a model."""

    llm: "dict[str, Any] | None" = Field(None, description="overrides pipeline `llm:` keys for this stage only")
