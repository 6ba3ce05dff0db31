from __future__ import annotations

import pytest

from synthkit.core.config import apply_override, parse_pipeline
from synthkit.core.pipeline import Pipeline
from synthkit.errors import ConfigError


def _raw(**stage_extra):
    return {"name": "t", "llm": {"backend": "dummy"},
            "stages": [{"stage": "load_seeds", "path": "x.jsonl"},
                       {"stage": "generate", **stage_extra}]}


def test_unknown_stage_key_names_path_and_allowed_keys():
    with pytest.raises(ConfigError) as e:
        parse_pipeline(_raw(temprature=0.5))
    msg = str(e.value)
    assert "stages.1.temprature: unknown key" in msg
    assert "temperature" in msg and "max_tokens" in msg


def test_unknown_top_level_key():
    raw = _raw()
    raw["stagez"] = []
    with pytest.raises(ConfigError, match=r"stagez: unknown key. Allowed: name, seed, workdir, llm, stages"):
        parse_pipeline(raw)


def test_unknown_llm_key_and_bad_backend():
    raw = _raw()
    raw["llm"] = {"backend": "hf"}
    with pytest.raises(ConfigError, match=r"llm.backend: .*'transformers'.*got 'hf'"):
        parse_pipeline(raw)
    raw["llm"] = {"backend": "dummy", "modle": "x"}
    with pytest.raises(ConfigError, match=r"llm.modle: unknown key. Allowed: backend, model"):
        parse_pipeline(raw)


def test_unknown_stage_lists_available():
    raw = _raw()
    raw["stages"][1] = {"stage": "sample_llms"}
    with pytest.raises(ConfigError) as e:
        parse_pipeline(raw)
    assert "Unknown stage 'sample_llms'. Available:" in str(e.value)
    assert "generate" in str(e.value) and "load_seeds" in str(e.value) and "save" in str(e.value)


def test_wrong_type_names_field():
    with pytest.raises(ConfigError, match=r"stages.1.n: .*got 'many'"):
        parse_pipeline(_raw(n="many"))


def test_stage_llm_override_is_validated():
    with pytest.raises(ConfigError, match=r"stages.1.llm.backend"):
        parse_pipeline(_raw(llm={"backend": "nope"}))


def test_overrides_apply_with_yaml_types():
    cfg, stages = parse_pipeline(_raw(), ["stages.1.n=8", "llm.model=/ckpt", "seed=3",
                                          "stages.1.stop=[a, b]"])
    assert stages[1].n == 8 and cfg.llm.model == "/ckpt" and cfg.seed == 3
    assert stages[1].stop == ["a", "b"]


def test_bad_override_paths():
    raw = _raw()
    with pytest.raises(ConfigError, match="not an index"):
        apply_override(raw, "stages.9.n=1")
    with pytest.raises(ConfigError, match="expected key.path=value"):
        apply_override(raw, "stages.1.n")


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="pipeline file not found"):
        Pipeline.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Pipeline.from_yaml(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        Pipeline.from_yaml(bad)


@pytest.mark.parametrize("stage, where, allowed", [
    # through `X | None` and a discriminated union (the `kind` tag is part of the path)
    ({"stage": "load_seeds", "source": {"kind": "python_package", "packages": ["json"], "packagez": 1}},
     "stages.0.source.python_package.packagez", "kind, packages, exclude"),
    # through dict[str, Aspect]
    ({"stage": "judge", "aspects": {"clarity": {"weight": 1, "rubrik": "x"}}},
     "stages.0.aspects.clarity.rubrik", "weight, rubric"),
])
def test_unknown_nested_key_lists_allowed_keys(stage, where, allowed):
    with pytest.raises(ConfigError) as e:
        parse_pipeline({"name": "t", "llm": {"backend": "dummy"}, "stages": [stage]})
    assert f"{where}: unknown key. Allowed: {allowed}" in str(e.value)




@pytest.mark.parametrize("stage, where, now", [
    ({"stage": "generate", "chat": False}, "stages.0.chat", "style: chat|completion"),
    ({"stage": "synthesize", "seed_field": "snippet"}, "stages.0.seed_field", "field"),
    ({"stage": "dedup_minhash", "num_workers": 2}, "stages.0.num_workers", "workers"),
    ({"stage": "decontaminate", "minhash_threshold": 0.8}, "stages.0.minhash_threshold", "threshold"),
    ({"stage": "decontaminate", "substring": False}, "stages.0.substring", "detectors (a list of those that run)"),
    ({"stage": "load_seeds", "source": {"kind": "hf", "path_or_id": "d", "field_map": {"seed": "c"}}},
     "stages.0.source.hf.field_map", "field (the text column) and meta_fields"),
])
def test_a_drafts_key_fails_as_unknown_and_the_error_names_its_replacement(stage, where, now):
    with pytest.raises(ConfigError) as e:
        parse_pipeline({"name": "t", "llm": {"backend": "dummy"}, "stages": [stage]})
    assert f"{where}: unknown key (now: {now}). Allowed: " in str(e.value)


def test_the_pipeline_docstring_describes_every_argument():
    import inspect

    doc = Pipeline.__doc__
    args = [p for p in inspect.signature(Pipeline.__init__).parameters if p != "self"]
    assert args and all(f"\n        {a}: " in doc for a in args), [a for a in args if f"\n        {a}: " not in doc]
