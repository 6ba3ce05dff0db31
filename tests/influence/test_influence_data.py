"""Validation sets (task sets, files of conversations or tasks), subtasks, duplicates."""

from __future__ import annotations

import json

import pytest
from helpers.influence import adder, chat

from synthkit.errors import DataError
from synthkit.influence.data import Duplicates, ValidationSpec, family, load_validation, row_messages


def test_row_messages():
    assert row_messages({"messages": adder(1)}) == adder(1)
    assert row_messages({"instruction": "Do x.", "response": "x()"}) == chat("Do x.", "x()")
    assert row_messages({"instruction": "Do x.", "response": "  "}) is None
    assert row_messages({"messages": [{"role": "user", "content": "hi"}]}) is None  # no assistant turn
    assert row_messages({"seed": "def f(): pass"}) is None


def test_bundled_tasks_group_by_tier_with_fenced_reference_solutions():
    val = load_validation(ValidationSpec(tasks="bundled:train"))
    assert {v.subtask for v in val} == {"synthkit/easy", "synthkit/medium", "synthkit/hard"}
    first = val[0]
    assert first.messages[0]["role"] == "user" and first.messages[0]["content"].startswith("Write a Python function")
    assert first.messages[1]["content"].startswith("```python\ndef ")
    capped = load_validation(ValidationSpec(tasks="bundled:train", limit_per_subtask=2))
    assert len(capped) == 6


def test_humaneval_solutions_are_prompt_plus_body():
    val = load_validation(ValidationSpec(tasks="humaneval", limit_per_subtask=1))
    assert len(val) == 1 and val[0].subtask == "HumanEval"
    code = val[0].messages[1]["content"]
    assert "def has_close_elements" in code and "return False" in code


def test_a_file_of_conversations_with_a_subtask_field(tmp_path):
    rows = [{"id": f"v{i}", "messages": adder(i), "meta": {"topic": "math" if i < 2 else "io"}} for i in range(3)]
    rows.append({"id": "v3", "messages": [{"role": "user", "content": "no answer"}], "meta": {"topic": "io"}})
    path = tmp_path / "val.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    val = load_validation(ValidationSpec(path=str(path), subtask_field="meta.topic"))
    assert [(v.id, v.subtask) for v in val] == [("v0", "math"), ("v1", "math"), ("v2", "io")]
    default = load_validation(ValidationSpec(path=str(path)))
    assert {v.subtask for v in default} == {"all"}  # no task ids: one subtask
    with pytest.raises(DataError, match="no `meta.nope`"):
        load_validation(ValidationSpec(path=str(path), subtask_field="meta.nope"))


def test_family_and_spec_errors():
    assert family("HumanEval/12") == "HumanEval" and family("synthkit/easy/003") == "synthkit/easy"
    assert family("t7") == "t7"
    with pytest.raises(ValueError, match="exactly one"):
        ValidationSpec()
    with pytest.raises(ValueError, match="exactly one"):
        ValidationSpec(tasks="humaneval", path="x.jsonl")


def test_duplicates_match_either_turn_modulo_fences_and_whitespace():
    val = load_validation(ValidationSpec(tasks="bundled:train", limit_per_subtask=1))
    dups = Duplicates(val)
    user, code = val[0].messages[0]["content"], val[0].messages[1]["content"]
    bare = code.replace("```python\n", "").replace("\n```", "")
    assert dups.of(chat(user, "something else entirely")) == f"user turn equals validation example {val[0].id}"
    assert dups.of(chat("A new problem statement here.", "  " + bare.replace("\n", "\n\n")))
    assert dups.of(chat("A new problem statement here.", "def other():\n    return 1\n")) is None
    assert Duplicates([]).of(chat("x", "y")) is None
