"""The option reference: every option described, `synthkit stages NAME`, `synthkit schema`, and the
committed schema the bundled pipelines point editors at."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from synthkit.core.registry import STAGES
from synthkit.reference import builtin_stages, config_models, pipeline_schema, reference_markdown, stage_text

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schema" / "pipeline.schema.json"
SCHEMA_LINE = "# yaml-language-server: $schema=../schema/pipeline.schema.json"
PIPELINES = sorted(p for p in (ROOT / "pipelines").glob("*.yaml") if "stages" in yaml.safe_load(p.read_text()))


def test_every_option_of_every_config_has_a_description():
    models = config_models()
    # the walk reaches every built-in stage, the llm block, the trainer and the iterations block
    assert {f"stage {n}" for n in builtin_stages()} <= set(models)
    assert {"`llm:`", "`iterations:`", "The trainer (`synthkit train`)"} <= set(models)
    assert len(builtin_stages()) >= 15
    missing = [f"{title}: {name} ({model.__module__}.{model.__qualname__})"
               for title, model in models.items()
               for name, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not missing, "fields without Field(description=...):\n" + "\n".join(missing)


def test_stages_name_prints_each_option_with_type_default_and_description():
    out = subprocess.run([sys.executable, "-m", "synthkit.cli", "stages", "verify_tests"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    fields = STAGES.get("verify_tests").Config.model_fields
    for name, field in fields.items():
        if name == "stage":
            continue
        assert f"  {name}: " in out.stdout
        assert field.description in out.stdout
    assert "timeout_s: float = 5.0" in out.stdout
    assert 'isolation: "auto" | "full" | "basic" = "auto"' in out.stdout


def test_stages_name_lists_nested_options_under_their_key():
    text = stage_text("load_seeds")
    assert "source (kind: directory):" in text and "glob: str" in text


def test_stages_with_an_unknown_name_fails_with_the_choices():
    out = subprocess.run([sys.executable, "-m", "synthkit.cli", "stages", "verfy_tests"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 2
    assert "verfy_tests" in out.stderr and "verify_tests" in out.stderr


def test_committed_schema_is_what_synthkit_schema_prints():
    out = subprocess.run([sys.executable, "-m", "synthkit.cli", "schema"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == pipeline_schema()
    assert json.loads(SCHEMA.read_text()) == pipeline_schema(), (
        "schema/pipeline.schema.json is stale: run `synthkit schema > schema/pipeline.schema.json`")


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_bundled_pipeline_points_at_the_schema_and_passes_it(path):
    assert path.read_text().splitlines()[0] == SCHEMA_LINE
    errors = list(jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(
        yaml.safe_load(path.read_text())))
    assert not errors, [e.message for e in errors]


def test_schema_tells_stages_apart_by_their_stage_key():
    validator = jsonschema.Draft202012Validator(pipeline_schema())
    ok = {"name": "x", "stages": [{"stage": "verify_tests", "timeout_s": 3}]}
    assert not list(validator.iter_errors(ok))
    # a key of another stage, a typo, a wrong type and an unknown stage are all refused
    for stage in ({"stage": "verify_tests", "n": 2}, {"stage": "verify_tests", "timout_s": 3},
                  {"stage": "verify_tests", "timeout_s": "long"}, {"stage": "verify_test"}):
        assert list(validator.iter_errors({"name": "x", "stages": [stage]})), stage
    items = pipeline_schema()["properties"]["stages"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(builtin_stages())


def test_reference_page_has_a_section_per_stage_and_the_other_configs():
    page = reference_markdown()
    for name in builtin_stages():
        assert f"## `{name}` {{#{name}}}" in page
    for anchor in ("pipeline", "llm", "ray", "iterations", "trainer"):
        assert f"{{#{anchor}}}" in page
    assert STAGES.get("verify_tests").Config.model_fields["memory_mb"].description in page
