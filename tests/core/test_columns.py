"""Load-time checks: a column no earlier stage provides, and a missing input file,
fail at `synthkit validate` and before `run` starts anything (core.columns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthkit.cli import main
from synthkit.core.columns import template_fields, writers
from synthkit.core.pipeline import Pipeline
from synthkit.errors import ConfigError


def write_yaml(tmp_path: Path, stages: str) -> Path:
    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"Write f{i}."}) + "\n"
                                                  for i in range(3)))
    path = tmp_path / "p.yaml"
    path.write_text(f"name: cols\nllm: {{backend: dummy}}\nstages:\n{stages}")
    return path


def validate(path: Path, capsys) -> tuple[int, str, str]:
    rc = main(["validate", str(path)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_validate_fails_on_a_template_placeholder_no_stage_provides(tmp_path, capsys):
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: generate, template: 'Solve {instruction} in {no_such_column}'}\n")
    rc, out, err = validate(path, capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "stages.1 (generate): template placeholder {no_such_column}" in err
    assert "column 'no_such_column'" in err and "available here: id, instruction" in err
    # the same pipeline runs nothing: no stage folder is made
    with pytest.raises(ConfigError, match="no_such_column"):
        Pipeline.from_yaml(path).run()
    assert not list((tmp_path / "runs" / "cols").glob("0*_*"))


def test_the_error_names_the_stages_that_write_the_column(tmp_path, capsys):
    path = write_yaml(tmp_path, "  - {stage: load_seeds, source: {kind: python_package, packages: [textwrap]}}\n"
                                "  - {stage: verify_tests}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and "stages.1 (verify_tests): no earlier stage provides column one of 'code', 'response'" in err
    assert "available here: id, meta, seed" in err
    for stage in ("synthesize", "gibbs_resample", "rft_sample", "load_seeds"):
        assert stage in err.split("stages that write it:")[1]
    # alternatives: verify_tests needs tests or io_tests, and says so
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: generate, template: '{instruction}', output: code}\n"
                                "  - {stage: verify_tests}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and "stages.2 (verify_tests): no earlier stage provides column one of 'tests', 'io_tests'" in err


def test_a_valid_chain_passes_and_config_decides_what_is_read(tmp_path, capsys):
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: generate, template: '{instruction}', output: answer}\n"
                                "  - {stage: select_top, by: answer, k: 1}\n"
                                "  - {stage: dedup_minhash, columns: [answer, instruction]}\n")
    rc, out, err = validate(path, capsys)
    assert rc == 0, err
    assert "valid (4 stages)" in out
    bad = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                               "  - {stage: dedup_minhash}\n")            # default columns: [code]
    rc, _, err = validate(bad, capsys)
    assert rc == 2 and "stages.1 (dedup_minhash): columns: no earlier stage provides column 'code'" in err


def test_missing_input_files_fail_at_validate_with_the_path(tmp_path, capsys):
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: nowhere/seeds.jsonl}\n"
                                "  - {stage: generate, template: '{instruction}'}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and err.count("\n") == 1
    assert f"path: {(tmp_path / 'nowhere' / 'seeds.jsonl').resolve()} does not exist" in err
    path = write_yaml(tmp_path, "  - {stage: load_seeds, source: {kind: directory, path: no_such_dir}}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and f"source.path: {(tmp_path / 'no_such_dir').resolve()} does not exist" in err
    path = write_yaml(tmp_path, "  - {stage: load_seeds, tasks: tasks/missing.jsonl}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and "tasks: " in err and "missing.jsonl does not exist" in err
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: generate, template_file: prompts/none.txt}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and "stages.1.template_file: prompt file not found" in err and "none.txt" in err


def test_rows_given_in_memory_provide_their_columns(tmp_path):
    rows = [{"id": "a", "question": "Add two numbers."}, {"id": "b", "question": "Reverse a string."}]
    ok = Pipeline([{"stage": "generate", "template": "Q: {question}"}], name="mem", llm={"backend": "dummy"},
                  workdir=tmp_path / "runs")
    assert len(ok.run(dataset=rows)) == 2
    bad = Pipeline([{"stage": "generate", "template": "{instruction}"}], name="mem2", llm={"backend": "dummy"},
                   workdir=tmp_path / "runs")
    with pytest.raises(ConfigError, match=r"column 'instruction' \(available here: id, question\)"):
        bad.run(dataset=rows)


def test_unknown_columns_are_never_refused(tmp_path, capsys):
    """After a map (any function) nothing is checked; a plugin stage without declarations reads nothing."""
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: map, function: 'json:loads'}\n"
                                "  - {stage: generate, template: '{made_by_the_function}'}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 0, err


def test_template_fields_and_writers():
    assert template_fields("{a} {b.c} {d[0]} {{literal}} {a}") == ["a", "b", "d"]
    with pytest.raises(ConfigError, match="not a valid format string"):
        template_fields("{unclosed")
    assert {"synthesize", "gibbs_resample", "rft_sample"} <= set(writers("code"))
    assert "verify_tests" in writers("verify") and writers("no_such_column") == []


def test_a_parquet_seed_file_provides_its_columns(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": ["Add two numbers."], "answer": ["def add(a, b): ..."]}), tmp_path / "s.parquet")
    path = tmp_path / "p.yaml"
    path.write_text("name: pq\nllm: {backend: dummy}\nstages:\n  - {stage: load_seeds, path: s.parquet}\n"
                    "  - {stage: generate, template: '{question} {instruction}'}\n")
    rc = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and "placeholder {instruction}" in err and "available here: answer, id, question" in err


def test_missing_benchmark_and_validation_files_fail_at_validate(tmp_path, capsys):
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: decontaminate, columns: [instruction], benchmarks: [{name: mine, path: b/x.jsonl}]}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and f"stages.1.benchmarks.0.path: {(tmp_path / 'b' / 'x.jsonl').resolve()} does not exist" in err
    path = write_yaml(tmp_path, "  - {stage: load_seeds, path: seeds.jsonl}\n"
                                "  - {stage: filter_influence, enabled: false, validation: {path: v/val.jsonl}}\n")
    rc, _, err = validate(path, capsys)
    assert rc == 2 and f"stages.1.validation.path: {(tmp_path / 'v' / 'val.jsonl').resolve()} does not exist" in err
