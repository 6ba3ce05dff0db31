"""`save`: the Hub layout, the card, splits, the empty result, and the stored row schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthkit.cli import main
from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline

ADD = "def add(a, b):\n    return a + b\n"
ECHO = "print(input())\n"
SEEDS = [  # both test styles (and the spellings conform_row folds into them), scores keys differing per row
    {"id": "assert", "instruction": "Write add(a, b).", "code": ADD, "entry_point": "add",
     "tests": "assert add(1, 2) == 3\nassert add(0, 0) == 0\n", "scores": {"seedq": 3}, "extra": 1},
    {"id": "io", "instruction": "Echo one line of stdin.", "code": ECHO,
     "tests": [{"input": "hi\n", "output": "hi"}, {"input": ["a", "b"], "output": "a"}], "extra": "text"},
    {"id": "apps", "instruction": "Echo again.", "code": ECHO, "tests": {"inputs": ["x\n"], "outputs": ["x\n"]},
     "scores": {"quality": 0.25}, "extra": [1, 2]},
    {"id": "asserts", "instruction": "Write add again.", "code": ADD, "entry_point": "add",
     "tests": ["assert add(2, 2) == 4", "assert add(-1, 1) == 0"]},
    {"id": "broken", "instruction": "Write add, wrongly.", "code": "def add(a, b):\n    return a - b\n",
     "entry_point": "add", "tests": "assert add(1, 2) == 3\n"},
]


def run(tmp_path: Path, seeds: list[dict], *stages: dict, name: str = "rt", save: dict | None = None):
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in seeds))
    out = tmp_path / "out"
    pipe = Pipeline([{"stage": "load_seeds", "path": str(path)}, *stages,
                     {"stage": "save", "path": str(out), **(save or {})}],
                    name=name, llm={"backend": "dummy"}, workdir=tmp_path / "runs")
    return pipe, pipe.run(), out


def funnel_rows(card: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in card.splitlines()
            if re.match(r"^\| \d+ \| \w+ \|", line)]


def test_round_trip_mixed_tests_and_scores_through_a_pipeline(tmp_path):
    pipe, final, out = run(tmp_path, SEEDS, {"stage": "verify_tests", "shard_size": 2, "timeout_s": 10},
                           {"stage": "generate", "template": "{instruction}", "n": 2, "shard_size": 3})
    ds = datasets.load_dataset(str(out), split="train")
    assert ds["id"] == final["id"] and ds["messages"] == final["messages"] and ds.features == final.features
    assert sorted({i.split("/")[0] for i in ds["id"]}) == ["apps", "assert", "asserts", "io"]   # broken failed
    f = ds.features
    text = datasets.Value("string")
    assert f["tests"] == text and f["io_tests"] == datasets.List({"input": text, "output": text})
    assert f["scores"] == {k: datasets.Value("float64") for k in ("seedq", "quality", "verify")}
    rows = {r["id"].split("/")[0]: r for r in ds}
    assert rows["io"]["tests"] is None and rows["io"]["io_tests"] == [{"input": "hi\n", "output": "hi"},
                                                                     {"input": "a\nb", "output": "a"}]
    assert rows["apps"]["io_tests"] == [{"input": "x\n", "output": "x\n"}]
    assert rows["asserts"]["tests"] == "assert add(2, 2) == 4\nassert add(-1, 1) == 0\n"
    assert rows["asserts"]["io_tests"] is None
    assert all(r["verify"]["status"] == "passed" and r["scores"]["verify"] == 1.0 for r in ds)
    assert rows["assert"]["scores"]["seedq"] == 3.0 and rows["io"]["scores"]["seedq"] is None
    # the unknown column of mixed types is JSON text, with a note in the stats
    assert {rows[k]["extra"] for k in ("assert", "io", "apps")} == {"1", "text", "[1, 2]"}
    seeds_stats = json.loads((pipe.run_dir / "00_load_seeds" / "stats.json").read_text())
    assert "extra" in seeds_stats["notes"] and "JSON text" in seeds_stats["notes"]["extra"]

    card = (out / "README.md").read_text()
    report = json.loads((pipe.run_dir / "report.json").read_text())
    rows_in_card = funnel_rows(card)
    assert len(rows_in_card) == len(report["stages"]) == 4
    for cells, folder in zip(rows_in_card, sorted(pipe.run_dir.glob("[0-9][0-9]_*"))):
        stats = json.loads((folder / "stats.json").read_text())
        dropped = ", ".join(f"{k}: {v}" for k, v in stats["dropped"].items()) or "-"
        hits = f"{stats['cache_hits']} of {stats['requests']}" if stats["requests"] else "-"
        assert cells == [str(stats["index"]), stats["stage"], str(stats["rows_in"]), str(stats["kept"]), dropped,
                         str(stats["kept"] + sum(stats["dropped"].values())), str(stats["seconds"]),
                         str(stats["prompt_tokens"]), str(stats["completion_tokens"]), hits]
    assert f"{report['rows_out']} rows (train: {report['rows_out']})" in card
    assert json.loads((out / "report.json").read_text())["stages"] == report["stages"]
    assert "`extra`" in card and "not decontaminated" in card and "## Scores" in card
    assert "| `seedq` | 2 |" in card and "| `verify` | 8 |" in card


def test_card_metadata_validates_and_its_pngs_open(tmp_path):
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData
    from PIL import Image

    _, final, out = run(tmp_path, SEEDS[:2], {"stage": "generate", "template": "{instruction}", "n": 3},
                        save={"license": "apache-2.0", "tags": ["tutorial"]})
    card = DatasetCard.load(out / "README.md", ignore_metadata_errors=False)
    meta = card.data.to_dict()
    DatasetCardData(**meta, ignore_metadata_errors=False)
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"] and meta["size_categories"] == ["n<1K"]
    assert meta["task_categories"] == ["text-generation"] and {"code", "synthetic", "tutorial"} <= set(meta["tags"])
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert configs["default"]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    info = DatasetInfosDict.from_dataset_card_data(card.data)["default"]
    assert info.features == final.features and info.splits["train"].num_examples == len(final) == 6
    assert info.download_size == sum(p.stat().st_size for p in (out / "data").glob("*.parquet"))
    pictures = re.findall(r"!\[[^]]*\]\((images/[^)]+\.png)\)", card.text)
    assert sorted(pictures) == sorted(p.relative_to(out).as_posix() for p in (out / "images").glob("*.png"))
    assert {"images/funnel.png", "images/lengths.png"} <= set(pictures)
    for p in pictures:
        with Image.open(out / p) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 100
    # re-rendering from the folder alone gives the same card, byte for byte
    before = {p: p.read_bytes() for p in [out / "README.md", *(out / "images").glob("*.png")]}
    assert main(["card", str(out)]) == 0
    assert all(p.read_bytes() == data for p, data in before.items())


def test_without_matplotlib_the_card_says_so_and_keeps_the_tables(tmp_path, monkeypatch):
    from synthkit.hub import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    _, _, out = run(tmp_path, SEEDS[:1], {"stage": "generate", "template": "{instruction}"})
    card = (out / "README.md").read_text()
    assert "matplotlib is not installed" in card and "![" not in card
    assert "| 1 | generate | 1 | 1 |" in card and not list(out.glob("images/*.png"))


def test_an_empty_result_is_a_result(tmp_path):
    pipe, final, out = run(tmp_path, [{"id": f"s{i}", "instruction": "x"} for i in range(4)],
                           {"stage": "generate", "template": "{instruction[99]}"})  # fails per row
    assert len(final) == 0
    table = pq.read_table(out / "data" / "train-00000-of-00001.parquet")
    assert table.num_rows == 0 and table.column_names == ["id", "instruction"]
    assert table.schema.field("id").type == pa.string()
    card = (out / "README.md").read_text()
    assert "| 1 | generate | 4 | 0 | template_error: 4 |" in card and "kept no rows" in card
    assert "0 rows (train: 0)" in card and "size_categories:\n- n<1K" in card


def test_validation_split_by_task_sharding_and_save_to_disk(tmp_path):
    seeds = [{"id": f"t{i}", "instruction": f"Task {i}."} for i in range(10)]
    _, final, out = run(tmp_path, seeds, {"stage": "generate", "template": "{instruction}", "n": 3},
                        save={"validation_fraction": 0.3, "max_shard_mb": 0.001, "save_to_disk": True})
    dd = datasets.load_dataset(str(out))
    train, val = dd["train"], dd["validation"]
    assert len(train) + len(val) == len(final) == 30 and len(val) >= 9
    roots = {s: {i.split("/")[0] for i in d["id"]} for s, d in (("train", train), ("validation", val))}
    assert not roots["train"] & roots["validation"]                       # no task in two splits
    assert len(list((out / "data").glob("train-*-of-*.parquet"))) > 1     # sharded by size
    assert sorted(list(train["id"]) + list(val["id"])) == sorted(final["id"])
    disk = datasets.load_from_disk(str(out / "save_to_disk"))
    assert disk["train"].to_list() == train.to_list()
    assert "Splits are cut by task" in (out / "README.md").read_text()


def test_mixed_shards_unify_on_load_with_a_note(tmp_path):
    sdir = rundir.StageDir(tmp_path / "00_x")
    sdir.prepare("fp", {})
    from synthkit.core.record import Funnel

    sdir.write_job("p000-s000000", [{"id": "a", "v": 1, "s": {"k": 1}}], [], "x", Funnel(1, 1))
    sdir.write_job("p000-s000001", [{"id": "b", "v": "two", "s": {"k": "y", "j": 2.5}}], [], "x", Funnel(1, 1))
    sdir.finish({"stage": "x"})
    table = rundir.load_table(sdir.data)
    assert table.to_pylist() == [{"id": "a", "v": "1", "s": {"k": "1", "j": None}},
                                 {"id": "b", "v": "two", "s": {"k": "y", "j": 2.5}}]
    notes = json.loads((sdir.path / "stats.json").read_text())["notes"]
    assert set(notes) == {"v", "s.k"}


@pytest.mark.parametrize("value", [{}, None])
def test_empty_dicts_and_nulls_store_as_null(value):
    table, notes = rundir.rows_to_table([{"id": "a", "scores": value, "meta": {"x": {}}}])
    assert table.to_pylist() == [{"id": "a", "scores": None, "meta": {"x": None}}] and not notes
