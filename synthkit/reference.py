"""Every option of a pipeline file, read from the pydantic configs.

One source for three readers: ``synthkit stages NAME`` (``stage_text``), ``synthkit schema``
(``pipeline_schema``: the JSON Schema of a pipeline file, stages as a union told apart by
``stage:``; committed as ``schema/pipeline.schema.json``) and the docs' stage reference (``reference_markdown``, rendered into docs/stages.md
when the site is built). An option is a field's name, annotation, default and
``Field(description=...)``; nested models (``source:``, ``lora:``) are listed under their key.
``config_models()`` names every config model, for the test that each field is described.
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any, Literal, NamedTuple, Union

from pydantic import BaseModel, Field, create_model
from pydantic_core import PydanticUndefined

from synthkit.core.config import PipelineConfig, RayConfig
from synthkit.core.registry import STAGES
from synthkit.llm.base import LLMConfig

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


class Option(NamedTuple):
    """One row of an options table."""

    name: str
    type: str
    default: str
    description: str


def type_name(ann: Any) -> str:
    """``int | None``, ``list[str]``, ``"chat" | "completion"``: an annotation as a reader writes it."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin is Union or type(ann).__name__ == "UnionType":
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name
    if ann is type(None):
        return "None"
    if ann is Any:
        return "any"
    return getattr(ann, "__name__", str(ann).replace("typing.", ""))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)"
        return json.dumps(_plain(value), default=str)
    if field.default is PydanticUndefined:
        return "required"
    return json.dumps(_plain(field.default), default=str)


def _plain(value: Any) -> Any:
    """A default as YAML would spell it: models as their non-default keys."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def options(model: type[BaseModel]) -> list[Option]:
    """The model's own fields, in declaration order."""
    return [Option(name, type_name(f.annotation), _default(f), (f.description or "").strip())
            for name, f in model.model_fields.items()]


def nested_models(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """``(key path, model)`` of every model reachable through the fields, depth first, each once."""
    out: list[tuple[str, type[BaseModel]]] = []
    for name, f in model.model_fields.items():
        for sub in _models_in(f.annotation):
            path = f"{prefix}{name}"
            if len(_models_in(f.annotation)) > 1:
                path += f" ({_tag(sub)})"
            out.append((path, sub))
            out.extend(nested_models(sub, prefix=f"{prefix}{name}."))
    return out


def _models_in(ann: Any) -> list[type[BaseModel]]:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return [m for arg in typing.get_args(ann) for m in _models_in(arg)]


def _tag(model: type[BaseModel]) -> str:
    """How a union member is chosen: its ``Literal`` field (``kind: directory``), else its class name."""
    for name, f in model.model_fields.items():
        if typing.get_origin(f.annotation) is Literal:
            return f"{name}: {', '.join(str(a) for a in typing.get_args(f.annotation))}"
    return model.__name__


def builtin_stages() -> list[str]:
    """The stages synthkit ships (``synthkit/stages/``), sorted; plugins and stages registered by
    running code are left out, so the schema and the reference do not depend on the environment."""
    return [n for n in STAGES.names() if STAGES.get(n).__module__.startswith("synthkit.stages.")]


def stage_summary(name: str) -> str:
    doc = (STAGES.get(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def stage_text(name: str) -> str:
    """What ``synthkit stages NAME`` prints: the stage's doc, then each option on its own lines."""
    cls = STAGES.get(name)
    lines = [f"{name}: {stage_summary(name)}", ""]
    for path, model in [("", cls.Config), *nested_models(cls.Config)]:
        if path:
            lines += ["", f"{path}:"]
        for o in options(model):
            if o.name == "stage" and not path:
                continue
            lines.append(f"  {o.name}: {o.type} = {o.default}")
            if o.description:
                lines.append(f"      {o.description}")
    return "\n".join(lines)


def _md_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| option | type | default | description |", "|---|---|---|---|"]
    for o in options(model):
        if o.name in skip:
            continue
        cell = [f"`{o.name}`", f"`{o.type}`", f"`{o.default}`", o.description]
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cell) + " |")
    return rows


def _md_model(title: str, anchor: str, model: type[BaseModel], intro: str, skip=()) -> list[str]:
    out = [f"## {title} {{#{anchor}}}", ""]
    if intro:
        out += [intro, ""]
    out += _md_table(model, skip)
    for path, sub in nested_models(model):
        out += ["", f"**`{path}`**", "", *_md_table(sub)]
    return out + [""]


def _other_models() -> list[tuple[str, str, type[BaseModel], str]]:
    """(title, anchor, model, intro) of the configs outside the stages."""
    from synthkit.rounds.config import IterationsConfig
    from synthkit.train.config import TrainConfig

    return [
        ("The pipeline file", "pipeline", PipelineConfig, "The top level of a pipeline YAML file."),
        ("`llm:`", "llm", LLMConfig, "Which model answers; on the pipeline, or on a stage to override keys."),
        ("`ray:`", "ray", RayConfig, "Read only with `executor: ray`; see [scaling](scaling.md)."),
        ("`iterations:`", "iterations", IterationsConfig,
         "Rounds of self-distillation; see [pipelines](pipelines.md#iterative-rounds)."),
        ("The trainer (`synthkit train`)", "trainer", TrainConfig,
         "A `synthkit train` config file, and the `train:` blocks of `iterations:`; see [the trainer](trainer.md)."),
    ]


def config_models() -> dict[str, type[BaseModel]]:
    """Every config model a user writes keys of, by a readable name, nested ones included."""
    found: dict[str, type[BaseModel]] = {}
    roots = [(f"stage {n}", STAGES.get(n).Config) for n in builtin_stages()]
    roots += [(title, model) for title, _, model, _ in _other_models()]
    for title, model in roots:
        found[title] = model
        for path, sub in nested_models(model):
            found[f"{title}: {path}"] = sub
    return found


def reference_markdown() -> str:
    """docs/stages.md: every stage's options, then the pipeline, llm, ray, iterations and trainer keys."""
    out = ["# Stage reference", "",
           "Generated from the code when the site is built (`synthkit/reference.py`), so it cannot go",
           "stale; `synthkit stages NAME` prints the same for one stage. Every stage also takes `shard_size`",
           "(rows per saved shard, the unit of resume) and its LLM stages an `llm:` block laid over the",
           "pipeline's.", ""]
    out += [f"- [`{n}`](#{n}): {stage_summary(n)}" for n in builtin_stages()] + [""]
    for n in builtin_stages():
        out += _md_model(f"`{n}`", n, STAGES.get(n).Config, stage_summary(n), skip=("stage",))
    out += ["# Other configs", ""]
    for title, anchor, model, intro in _other_models():
        out += _md_model(title, anchor, model, intro)
    return "\n".join(out)


def _stage_variant(name: str) -> type[BaseModel]:
    """The stage's config with ``stage`` pinned to its name, so a union can tell stages apart."""
    cls = STAGES.get(name).Config
    model_name = "Stage_" + re.sub(r"\W", "_", name)
    return create_model(model_name, __base__=cls, __doc__=stage_summary(name) or None,
                        stage=(Literal[name], Field(description=f"`{name}`: the stage's registry key")))


def pipeline_schema() -> dict[str, Any]:
    """The JSON Schema of a pipeline file: the pipeline's keys, ``iterations:`` in full, and
    each ``stages:`` item validated against the config of the stage its ``stage:`` names."""
    from synthkit.rounds.config import IterationsConfig

    variants = tuple(_stage_variant(n) for n in builtin_stages())
    stage_union = typing.Annotated[Union[variants], Field(discriminator="stage")]  # type: ignore[valid-type]
    fields = PipelineConfig.model_fields
    doc = create_model(
        "Pipeline", __base__=PipelineConfig,
        stages=(list[stage_union], Field(description=fields["stages"].description)),
        iterations=(IterationsConfig | None, Field(None, description=fields["iterations"].description)),
    )
    schema = doc.model_json_schema()
    schema["title"] = "synthkit pipeline"
    return {"$schema": SCHEMA_URL, **schema}
