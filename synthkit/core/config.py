"""Pipeline configuration: YAML in, validated pydantic objects out.

Everything fails at load time with the key path and what was expected::

    stages.2.timout_s: unknown key. Allowed: shard_size, timeout_s, memory_mb, workers
    stages.1.stage: Unknown stage 'sample_llms'. Available: generate, judge, ...
    llm.backend: Input should be 'transformers', 'vllm', 'openai' or 'dummy' (got 'hf')

Any key can be overridden from the CLI: ``-o stages.2.n=8 -o llm.model=/ckpt``.
Values are parsed as YAML (``8`` is an int, ``[a, b]`` a list, ``null`` None).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthkit.core.registry import STAGES
from synthkit.core.stage import StageConfig
from synthkit.errors import ConfigError
from synthkit.llm.base import BACKEND_KEYS, LLMConfig

log = logging.getLogger(__name__)


class RayConfig(BaseModel):
    """``ray:`` settings, read only with ``executor: ray`` (see docs/scaling.md)."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, description=(
        "cluster to join (host:6379, ray://host:10001); None: $RAY_ADDRESS, else a local instance"))
    num_cpus: int | None = Field(None, ge=1, description=(
        "CPUs of the local instance synthkit starts (ignored when joining a cluster)"))
    workers: int = Field(0, ge=0, description=(
        "Ray workers per row-local stage; 0 = as many as the cluster's resources fit"))
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs a CPU worker reserves (sandbox, filters, scoring)")
    cpus_per_llm_worker: float = Field(1.0, gt=0, description=(
        "CPUs an LLM worker reserves (its torch threads on a CPU model)"))
    num_gpus_per_llm_worker: float = Field(0.0, ge=0, description=(
        "GPUs an LLM worker reserves (= vLLM tensor_parallel_size); 0 = CPU"))
    max_retries: int = Field(3, ge=0, description="a job whose worker died is retried this often, then the run fails")


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="run folder name: <workdir>/<name>/")
    seed: int = Field(0, description="reaches every stage; fixes sampling and shuffles")
    workdir: str = Field("runs", description="run folders; relative to the pipeline file's folder")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="default model for every LLM stage")
    stages: list[dict[str, Any]] = Field(description="validated one by one against each stage's Config")
    iterations: dict[str, Any] | None = Field(None, description=(
        "self-distillation rounds; validated by synthkit.rounds"))
    executor: Literal["local", "ray"] = Field("local", description=(
        "ray: the same jobs on a Ray cluster (same rows, same resume)"))
    ray: RayConfig = Field(default_factory=RayConfig, description="executor: ray settings")
    inputs: list[dict[str, Any]] | None = Field(None, description=(
        "Written by `save` into a dataset's pipeline.yaml: each seed input's identity (a local file by "
        "sha256, a bundled set by name, a Hub dataset by id and revision); a run checks the files first."))


def format_validation_error(err: ValidationError, prefix: str, model: type[BaseModel]) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        if e["type"] == "extra_forbidden":
            at = _model_at(model, e["loc"][:-1])
            allowed = ", ".join(k for k in (at.model_fields if at else ()) if k != "stage")
            now = getattr(at, "former_keys", {}).get(str(e["loc"][-1]))
            lines.append(f"{loc}: unknown key" + (f" (now: {now})" if now else "") + f". Allowed: {allowed}")
        elif e["type"] == "missing":
            lines.append(f"{loc}: required key is missing")
        elif e["type"] == "value_error" or isinstance(e.get("input"), dict):
            # a validator's own message says what is wrong; echoing a whole mapping back is noise
            lines.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"{loc}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The (nested) model at ``loc``, for 'allowed keys' messages; None when ambiguous.

    Follows fields through ``X | None``, ``list[X]``, ``dict[str, X]`` and
    discriminated unions (a loc part that is no field but a ``kind`` tag picks
    the union member, any other non-field part is a list index or dict key).
    """
    candidates = [model]
    for part in loc:
        fields = [m.model_fields[str(part)] for m in candidates if str(part) in m.model_fields]
        if fields:
            candidates = _models_in(fields[0].annotation)
        else:
            tagged = [m for m in candidates if str(part) in _tags(m)]
            candidates = tagged or candidates
        if not candidates:
            return None
    return candidates[0] if len(candidates) == 1 else None


def _models_in(ann: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold, looking through Optional, Union, list, dict, Annotated."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return [m for arg in get_args(ann) for m in _models_in(arg)]


def _tags(model: type[BaseModel]) -> set[str]:
    """Values of the model's ``Literal`` fields: the tags a discriminated union selects it by."""
    return {str(v) for f in model.model_fields.values() if get_origin(f.annotation) is Literal
            for v in get_args(f.annotation)}


def validate_stage(raw: Any, index: int | str) -> StageConfig:
    where = f"stages.{index}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with a `stage:` key, got {raw!r}")
    if "stage" not in raw:
        raise ConfigError(f"{where}.stage: required key is missing. Available: {', '.join(STAGES.names())}")
    try:
        cls = STAGES.get(str(raw["stage"]))
    except ConfigError as e:
        raise ConfigError(f"{where}.stage: {e}") from None
    try:
        return cls.Config.model_validate(raw, context={"where": where})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, where, cls.Config)) from None


def stage_llm_config(pipeline_llm: LLMConfig, override: dict[str, Any] | None, index: int) -> LLMConfig:
    """The pipeline's LLM config with a stage's ``llm:`` keys laid over it."""
    if not override:
        return pipeline_llm
    try:
        return pipeline_llm.with_override(override)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"stages.{index}.llm", LLMConfig)) from None


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.2.c=value`` to the raw config dict, in place."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}': expected key.path=value")
    path, _, value = assignment.partition("=")
    keys = path.strip().split(".")
    node: Any = raw
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        where = ".".join(keys[: i + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"override '{path}': {where} is not an index of a list of {len(node)}")
            key = int(key)
        elif not isinstance(node, dict):
            raise ConfigError(f"override '{path}': {'.'.join(keys[:i])} is not a mapping")
        if last:
            node[key] = yaml.safe_load(value)
            if key == "backend" and len(keys) > 1 and keys[-2] == "llm" and isinstance(node, dict):
                _keep_keys_of(node, node[key], path)
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]


def _keep_keys_of(llm: dict[str, Any], backend: Any, path: str) -> None:
    """``-o llm.backend=X`` switches backends: drop the keys only the other backends
    read (``batch_size`` when switching to openai), which the file set for its own
    backend; any key set explicitly for X is kept. Same rule as ``LLMConfig.with_override``."""
    dropped = [k for k in list(llm) if k in BACKEND_KEYS and backend not in BACKEND_KEYS[k]]
    for k in dropped:
        del llm[k]
    if dropped:
        log.info("override %s=%s: dropped %s (read only by other backends)", path, backend, ", ".join(dropped))


def load_raw(path: str | Path, what: str = "pipeline file", keys: str = "name, llm, stages") -> dict[str, Any]:
    """A YAML file's top-level mapping; errors name the file and what was expected."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level ({keys}, ...)")
    return raw


def parse_pipeline(raw: dict[str, Any], overrides: list[str] = ()) -> tuple[PipelineConfig, list[StageConfig]]:
    for o in overrides:
        apply_override(raw, o)
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "", PipelineConfig)) from None
    if not cfg.stages:
        raise ConfigError("stages: the pipeline needs at least one stage")
    stages = [validate_stage(s, i) for i, s in enumerate(cfg.stages)]
    for i, s in enumerate(stages):
        stage_llm_config(cfg.llm, getattr(s, "llm", None), i)
    return cfg, stages
