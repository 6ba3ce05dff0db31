"""The README is a front page: short, its commands are CI's, its stage example runs as written,
and every figure it quotes is on the benchmarks page it links to."""

from __future__ import annotations

import re
from pathlib import Path

from synthkit.core.registry import STAGES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_is_a_front_page():
    assert len(README.splitlines()) <= 300


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(b.strip() for b in _blocks("bash") if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text()


def test_readme_links_point_at_existing_pages_and_anchors():
    for target, anchor in re.findall(r"\]\((docs/[^)#]+\.md)(?:#([\w-]+))?\)", README):
        page = ROOT / target
        assert page.is_file(), target
        if anchor:
            assert f"{{#{anchor}}}" in page.read_text(), f"{target}#{anchor}"


def test_every_quoted_figure_is_in_its_benchmark_section():
    quoted = re.findall(r"\[([^\]]*\d[^\]]*)\]\(docs/benchmarks\.md#([\w-]+)\)", README)
    assert len(quoted) >= 5
    sections = dict(re.findall(r"\{#([\w-]+)\}\n(.*?)(?=\n## |\Z)", BENCHMARKS, flags=re.S))
    for figure, anchor in quoted:
        for number in re.findall(r"\d[\d.,]*", figure):
            assert number in sections[anchor], f"{figure} not in benchmarks#{anchor}"


def test_readme_stage_example_imports_from_synthkit_only_and_runs(tmp_path):
    from synthkit import Pipeline

    code = next(b for b in _blocks("python") if "register_stage" in b)
    imports = re.findall(r"^(?:from (\S+) import|import (\S+))", code, flags=re.M)
    assert {m or i for m, i in imports} <= {"synthkit", "pydantic"}
    try:
        exec(compile(code, "README.md", "exec"), {})
        out = Pipeline([{"stage": "min_length", "min_chars": 5}], name="readme", workdir=tmp_path,
                       llm={"backend": "dummy"}).run(dataset=[{"id": "a", "response": "def f(): pass"},
                                                             {"id": "b", "response": "x"}])
        assert out["id"] == ["a"]
        assert STAGES.get("min_length").Config.model_fields["min_chars"].description
    finally:
        STAGES._items.pop("min_length", None)
