from __future__ import annotations

import ast
import json

import pytest
from pydantic import ValidationError

from synthkit.core.stage import StageContext
from synthkit.errors import DataError
from synthkit.seeds.snippets import extract_snippets
from synthkit.stages.load_seeds import LoadSeeds


def run(tmp_path, seed=0, **cfg):
    stage = LoadSeeds(LoadSeeds.Config(stage="load_seeds", **cfg),
                      StageContext(index=0, seed=seed, stage_dir=tmp_path, base_dir=tmp_path))
    return stage.process_all(None)


def test_stdlib_packages_give_parseable_bounded_snippets(tmp_path):
    rows, rejected = run(tmp_path, source={"kind": "python_package", "packages": ["textwrap", "json"]},
                         min_lines=4, max_lines=40)
    assert rows
    assert {r["meta"]["module"].split(".")[0] for r in rows} == {"textwrap", "json"}
    for r in rows:
        ast.parse(r["seed"])
        assert 4 <= len(r["seed"].splitlines()) <= 40
        assert r["meta"]["license"] == "PSF-2.0" and r["meta"]["line"] >= 1
        assert r["seed"].startswith(("def ", "class ", "@", "async def "))
    assert len({r["id"] for r in rows}) == len(rows)
    assert {x.reason for x in rejected} <= {"too_short", "too_long", "unparseable"}
    # deterministic
    again, _ = run(tmp_path, source={"kind": "python_package", "packages": ["textwrap", "json"]},
                   min_lines=4, max_lines=40)
    assert [r["id"] for r in again] == [r["id"] for r in rows]


def test_installed_package_license_from_metadata(tmp_path):
    from synthkit.seeds.sources import package_license

    assert package_license("pydantic") == "MIT" and package_license("json") == "PSF-2.0"
    rows, _ = run(tmp_path, source={"kind": "python_package", "packages": ["datasketch"]},
                  min_lines=3, limit=3)
    assert len(rows) == 3 and all(r["meta"]["license"] == "MIT" for r in rows)
    assert rows[0]["meta"]["module"].startswith("datasketch")


def test_unknown_package_and_bad_kind(tmp_path):
    with pytest.raises(DataError, match="no_such_pkg_zz"):
        run(tmp_path, source={"kind": "python_package", "packages": ["no_such_pkg_zz"]})
    with pytest.raises(ValidationError, match="python_package"):
        LoadSeeds.Config(stage="load_seeds", source={"kind": "zip", "path": "x"})
    with pytest.raises(ValidationError, match="exactly one"):
        LoadSeeds.Config(stage="load_seeds")


def test_directory_source_strip_docstrings_and_skips(tmp_path):
    src = tmp_path / "code"
    src.mkdir()
    (src / "a.py").write_text(
        'def f(x):\n    """Doc\n    string."""\n\n    return x + 1\n\n\n'
        'class C:\n    """Only a docstring."""\n\n\n'
        'def g(): "inline doc"; return 1\n\n'
        '@staticmethod\ndef h(y):\n    """d"""\n    def inner():\n        """nested"""\n        return y\n    return inner\n')
    (src / "broken.py").write_text("def oops(:\n    pass\n")
    rows, rejected = run(tmp_path, source={"kind": "directory", "path": "code"},
                         min_lines=1, max_lines=50, docstrings="strip")
    seeds = {r["meta"]["name"]: r["seed"] for r in rows}
    assert seeds["f"] == "def f(x):\n    return x + 1"
    assert seeds["C"] == "class C:\n    pass"
    assert seeds["g"] == 'def g(): "inline doc"; return 1'   # not on its own lines: kept
    assert seeds["h"].startswith("@staticmethod\ndef h(y):") and '"""' not in seeds["h"]
    assert [r["meta"]["line"] for r in rows if r["meta"]["name"] == "h"] == [14]
    assert [(x.reason, x.row["meta"]["path"]) for x in rejected] == [("unparseable", "broken.py")]


def test_snippet_bounds_and_garbage_never_raise():
    snips, skips = extract_snippets("def a():\n    return 1\n", min_lines=3)
    assert not snips and skips[0].reason == "too_short"
    snips, skips = extract_snippets("def a():\n" + "    x = 1\n" * 10, max_lines=5)
    assert not snips and skips[0].reason == "too_long"
    for junk in ["\x00\x01def", "def f(:\n", "\ufffd" * 50, "(" * 5000, ""]:
        snips, skips = extract_snippets(junk)
        assert snips == []


def test_jsonl_path_keeps_ids_and_reports_bad_lines(tmp_path):
    p = tmp_path / "seeds.jsonl"
    p.write_text('{"id": 1, "seed": "a"}\n\n{"id": 2, "seed": "b"}\n')
    rows, rejected = run(tmp_path, path="seeds.jsonl")
    assert [r["id"] for r in rows] == ["1", "2"] and rejected == []
    p.write_text('{"seed": "a"}\n{"seed": "a"}\n{"seed": "b"\n')
    with pytest.raises(DataError, match=r"seeds.jsonl:3"):
        run(tmp_path, path="seeds.jsonl")
    with pytest.raises(DataError, match="missing.jsonl"):
        run(tmp_path, path="missing.jsonl")


def test_jsonl_without_ids_gets_stable_unique_ids(tmp_path):
    p = tmp_path / "seeds.jsonl"
    p.write_text('{"seed": "a"}\n{"seed": "a"}\n{"seed": "b"}\n')
    rows, _ = run(tmp_path, path=str(p))
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "-1"
    assert [r["id"] for r in run(tmp_path, path=str(p))[0]] == ids


def test_parquet_and_hf_dir_sources(tmp_path):
    import datasets

    code = ["def add(a, b):\n    s = a + b\n    return s\n", "x = 1\n"]
    ds = datasets.Dataset.from_dict({"content": code, "lic": ["MIT", "BSD"]})
    ds.to_parquet(str(tmp_path / "c.parquet"))
    ds.save_to_disk(str(tmp_path / "hfdir"))
    rows, _ = run(tmp_path, source={"kind": "parquet", "path": "c.parquet"}, min_lines=1)
    assert [r["meta"]["name"] for r in rows] == ["add"]
    rows, _ = run(tmp_path, source={"kind": "hf", "path_or_id": "hfdir", "field": "content",
                                    "meta_fields": {"license": "lic"}}, min_lines=1)
    assert rows[0]["meta"]["license"] == "MIT" and rows[0]["seed"].startswith("def add")
    rows, _ = run(tmp_path, source={"kind": "hf", "path_or_id": "hfdir", "extract": False})
    assert [r["seed"] for r in rows] == code
    rows, _ = run(tmp_path, path="hfdir")
    assert len(rows) == 2 and all("id" in r for r in rows)
    with pytest.raises(DataError, match="nope"):
        run(tmp_path, source={"kind": "jsonl", "path": "c.parquet", "field": "nope"})


def test_shuffle_is_seeded_and_limit_applies_after(tmp_path):
    src = {"kind": "python_package", "packages": ["json"]}
    base, _ = run(tmp_path, source=src, min_lines=1)
    a, _ = run(tmp_path, source=src, min_lines=1, shuffle=True, limit=5, seed=1)
    b, _ = run(tmp_path, source=src, min_lines=1, shuffle=True, limit=5, seed=1)
    c, _ = run(tmp_path, source=src, min_lines=1, shuffle=True, limit=5, seed=2)
    assert len(a) == 5 and [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["id"] for r in a] != [r["id"] for r in c]
    assert {r["id"] for r in a} <= {r["id"] for r in base}
    json.dumps(a)  # JSON-compatible rows


def test_json_list_and_json_lines_read_alike(tmp_path):
    """One reader: a .json list, a .json of JSON lines and a .jsonl give the same seed rows."""
    rows = [{"id": 1, "seed": "def f():\n    return 1\n"}, {"id": 2, "seed": "x = 2\n"}]
    (tmp_path / "list.json").write_text(json.dumps(rows, indent=2))
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = [run(tmp_path, path=f)[0] for f in ("list.json", "lines.json", "s.jsonl")]
    assert got[0] == got[1] == got[2] and [r["id"] for r in got[0]] == ["1", "2"]
    src = [run(tmp_path, source={"kind": "jsonl", "path": f, "field": "seed", "extract": False})[0]
           for f in ("list.json", "s.jsonl")]
    assert [r["seed"] for r in src[0]] == [r["seed"] for r in src[1]] == [r["seed"] for r in rows]
    (tmp_path / "bad.json").write_text(json.dumps([rows[0], 3]))
    with pytest.raises(DataError, match="bad.json: item 1 of the JSON list is int, expected an object"):
        run(tmp_path, path="bad.json")


def test_edited_seed_file_changes_the_fingerprint(tmp_path):
    from synthkit.core.pipeline import Pipeline

    (tmp_path / "s.jsonl").write_text('{"seed": "a"}\n')
    def build():
        return Pipeline([{"stage": "load_seeds", "path": "s.jsonl"}], name="f", base_dir=tmp_path,
                        workdir=tmp_path).build()[0]

    before = build().fingerprint_extra()
    (tmp_path / "s.jsonl").write_text('{"seed": "a"}\n{"seed": "b"}\n')
    assert build().fingerprint_extra() != before


# --- tasks: a task set with tests (GiFT, RFT) ----------------------------------------


def test_tasks_bundled_train_rows_carry_description_tests_entry_point_and_seed_solution(tmp_path):
    from synthkit.data.bundled import load_bundled
    from synthkit.eval.programs import row_program
    from synthkit.sandbox import Sandbox

    rows, rejected = run(tmp_path, tasks="bundled:train")
    train = load_bundled(split="train")
    assert rejected == [] and [r["id"] for r in rows] == [t["task_id"] for t in train]
    first = rows[0]
    assert first["meta"]["task_id"] == first["id"] and first["meta"]["split"] == "train"
    assert first["instruction"] == train[0]["description"].strip() and first["seed"] == train[0]["prompt"]
    assert first["entry_point"] == train[0]["entry_point"] and "assert" in first["tests"]
    with Sandbox(workers=1, timeout_s=5.0) as sb:   # the seed solutions pass their tests, in the sandbox
        results = sb.run([row_program(r)[1] for r in rows[:3]])
    assert all(r.passed for r in results)
    json.dumps(rows)


def test_tasks_held_out_split_is_never_training_input(tmp_path):
    from synthkit.data.bundled import load_bundled

    with pytest.raises(ValidationError, match="held-out"):
        LoadSeeds.Config(stage="load_seeds", tasks="bundled:test")
    rows, rejected = run(tmp_path, tasks="bundled")
    test_ids = {t["task_id"] for t in load_bundled(split="test")}
    assert {x.row["id"] for x in rejected} == test_ids and {x.reason for x in rejected} == {"held_out"}
    assert not test_ids & {r["id"] for r in rows} and len(rows) == len(load_bundled(split="train"))
    # the same tasks in a file of their own are caught by id too
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(t) + "\n" for t in load_bundled(split="test")[:2]))
    rows, rejected = run(tmp_path, tasks="mine.jsonl")
    assert rows == [] and [x.reason for x in rejected] == ["held_out", "held_out"]
    with pytest.raises(ValidationError, match="exactly one"):
        LoadSeeds.Config(stage="load_seeds", tasks="bundled", path="x.jsonl")


def test_tasks_humaneval_mbpp_and_apps_files_become_runnable_rows(tmp_path):
    mbpp = {"task_id": 7, "text": "Write a function to add two numbers.", "code": "def add(a, b):\n    return a + b",
            "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]}
    apps = {"problem_id": 3, "question": "Read two ints and print their sum.",
            "input_output": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]}),
            "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a + b)"])}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mbpp.jsonl").write_text(json.dumps(mbpp) + "\n")
    (tmp_path / "apps.jsonl").write_text(json.dumps(apps) + "\n")
    [m], _ = run(tmp_path, tasks="sub/mbpp.jsonl")      # relative to the pipeline file's folder
    assert m["id"] == "MBPP/7" and m["entry_point"] == "add" and m["code"].startswith("def add")
    assert m["instruction"].startswith("Write a function to add") and "assert add(1, 2) == 3" in m["tests"]
    [a], _ = run(tmp_path, tasks="apps.jsonl")
    assert a["tests"] == [{"input": "1 2\n", "output": "3\n"}] and a["entry_point"] is None
    assert a["code"].startswith("a, b = map")
    rows, _ = run(tmp_path, tasks="humaneval", limit=2)
    assert [r["id"] for r in rows] == ["HumanEval/0", "HumanEval/1"]
    assert rows[0]["code"].startswith(rows[0]["seed"])   # the body completes the prompt
    assert "check(has_close_elements)" in rows[0]["tests"]


def test_a_folder_the_save_stage_wrote_is_read_back(tmp_path):
    from synthkit.core.pipeline import Pipeline

    (tmp_path / "s.jsonl").write_text('{"id": "a", "seed": "x"}\n{"id": "b", "seed": "y"}\n')
    Pipeline([{"stage": "load_seeds", "path": "s.jsonl"}, {"stage": "save", "path": "saved"}], name="w",
             base_dir=tmp_path, workdir=tmp_path / "runs").run()
    assert (tmp_path / "saved" / "data").is_dir() and not (tmp_path / "saved" / "state.json").exists()
    rows, _ = run(tmp_path, path="saved")
    assert [(r["id"], r["seed"]) for r in rows] == [("a", "x"), ("b", "y")]
