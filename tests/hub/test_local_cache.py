"""What docs/getting-started.md tells users about loading a rerun into the same folder."""

from __future__ import annotations

import datasets

from synthkit.core.pipeline import Pipeline


def _run(tmp_path, out, instructions):
    rows = [{"id": f"r{i}", "instruction": text} for i, text in enumerate(instructions)]
    Pipeline([{"stage": "save", "path": str(out)}], name="cache", llm={"backend": "dummy"},
             workdir=tmp_path / f"runs-{len(instructions)}").run(dataset=rows)


def test_a_rerun_into_the_same_folder_needs_force_redownload(tmp_path):
    out = tmp_path / "out" / "quickstart"
    _run(tmp_path, out, ["first"])
    assert datasets.load_dataset(str(out), split="train")["instruction"] == ["first"]
    _run(tmp_path, out, ["tsrif"])  # other rows, files of the same names and sizes
    # datasets' cache keys a local folder with a card by its name and its files' names and sizes
    assert datasets.load_dataset(str(out), split="train")["instruction"] == ["first"]
    fresh = datasets.load_dataset(str(out), split="train", download_mode="force_redownload")
    assert fresh["instruction"] == ["tsrif"]
