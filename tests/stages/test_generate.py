"""generate: prompt styles, templates, and checkpoint provenance."""

from __future__ import annotations

import pytest

from synthkit.core.pipeline import Pipeline
from synthkit.core.record import Rejected
from synthkit.errors import ConfigError


def build(tmp_path, responses=("an answer",), pipeline_llm=None, **cfg):
    pipe = Pipeline([{"stage": "load_seeds", "path": "x.jsonl"}, {"stage": "generate", **cfg}], name="g",
                    llm={"backend": "dummy", "dummy_responses": list(responses), **(pipeline_llm or {})},
                    workdir=tmp_path, base_dir=tmp_path)
    return pipe.build()[1]


ROWS = [{"id": "a", "seed": "add two numbers"}, {"id": "b", "seed": "reverse a list"}]


def test_chat_style_sends_a_user_message_and_tags_the_model(tmp_path):
    st = build(tmp_path, template="Task: {seed}", system="Be brief.", n=2)
    out = st.process(ROWS)
    assert [r["id"] for r in out] == ["a/0-0", "a/0-1", "b/0-0", "b/0-1"]
    assert out[0]["messages"][0] == {"role": "user", "content": "Task: add two numbers"}
    meta = out[0]["meta"]
    assert meta["checkpoint"] == "embedded" and meta["checkpoint_index"] == 0   # the llm's model, by name
    assert meta["model"] == "dummy:embedded" and meta["sample"] == 0


def test_completion_style_sends_the_template_as_text(tmp_path):
    plain = build(tmp_path, template="# {seed}\n", style="completion")
    assert plain._prompt(ROWS[0]) == "# add two numbers\n"


def test_template_file_resolves_against_the_pipeline_folder(tmp_path):
    (tmp_path / "t.txt").write_text("From a file: {seed}")
    st = build(tmp_path, template_file="t.txt")
    assert st.process(ROWS[:1])[0]["messages"][0]["content"] == "From a file: add two numbers"
    with pytest.raises(ConfigError, match="stages.1.template_file: prompt file not found"):
        build(tmp_path, template_file="nope.txt")


def test_each_checkpoint_is_a_pass_with_its_own_seed(tmp_path):
    st = build(tmp_path, checkpoints=["m1", "m2"], temperature=1.0)
    assert list(st.passes()) == ["m1", "m2"]
    rows = {}
    for name in st.passes():
        st.open_pass(name)
        rows[name] = st.process(ROWS)
        st.close_pass()
    assert [r["meta"]["checkpoint"] for r in rows["m2"]] == ["m2", "m2"]
    assert [r["id"] for r in rows["m2"]] == ["a/1-0", "b/1-0"]
    assert rows["m1"][0]["meta"]["seed"] != rows["m2"][0]["meta"]["seed"]


def test_a_row_the_template_cannot_fill_is_rejected(tmp_path):
    out = build(tmp_path, template="{missing}").process(ROWS[:1])
    assert isinstance(out[0], Rejected) and out[0].reason == "template_error"


def test_stage_llm_block_is_resolved_by_the_runner(tmp_path):
    st = build(tmp_path, pipeline_llm={"model": "base"}, llm={"model": "other", "dummy_responses": ["x"]})
    assert st.ctx.llm_config.model == "other" and st.process(ROWS[:1])[0]["response"] == "x"


def test_backend_keys_fail_at_load_time_and_switching_backend_drops_the_old_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"stages.1.llm: `base_url` is read only by the openai backend, not by "
                                          r"'dummy'. Keys for dummy: backend, model, cache, dummy_responses"):
        build(tmp_path, llm={"base_url": "http://127.0.0.1:1/v1"})
    with pytest.raises(ConfigError, match=r"^llm: `device` is read only by the transformers backend"):
        build(tmp_path, pipeline_llm={"device": "cpu"})
    st = build(tmp_path, llm={"backend": "openai", "base_url": "http://127.0.0.1:1/v1"})  # dummy_responses dropped
    assert st.ctx.llm_config.backend == "openai" and st.ctx.llm_config.dummy_responses == []
