"""``synthkit influence score``: the stage's scoring outside a pipeline, as a table."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trak", reason="needs traker: pip install 'traker>=0.3'")

from helpers.influence import adder, printer  # noqa: E402

from synthkit.cli import main  # noqa: E402


def test_influence_score_writes_a_table_and_reuses_the_cache(ckpts, tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    rows = [{"id": f"a{i}", "messages": adder(i)} for i in range(3)] + [{"id": "p0", "messages": printer(0)},
                                                                        {"id": "x", "seed": "no chat"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"task_id": f"add/{i}", "messages": adder(50 + i)}) + "\n" for i in range(2)))
    args = ["influence", "score", "--train", str(train), "--val", str(val), "--checkpoints", str(ckpts[0].parent),
            "--dim", "32", "--device", "cpu", "--threads", "1", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "scores.jsonl")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "step 1" in out and "step 2" in out and "8 training features computed" in out
    table = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [t["id"] for t in table] == ["a0", "a1", "a2", "p0", "x"]
    assert table[-1]["influence"] is None and all(t["subtask"] == "add" for t in table[:4])
    assert main(args[:-1] + [str(tmp_path / "scores.csv")]) == 0
    assert "0 training features computed" in capsys.readouterr().out
    assert (tmp_path / "scores.csv").read_text().startswith("id,influence,subtask\n")


def test_influence_score_bad_input_is_one_line(tmp_path, capsys):
    rc = main(["influence", "score", "--train", str(tmp_path / "missing.jsonl"), "--val", "bundled:test",
               "--checkpoints", str(tmp_path)])
    assert rc == 2 and "missing.jsonl does not exist" in capsys.readouterr().err
