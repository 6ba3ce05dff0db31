"""The card's provenance is the one recorded at run time; the gallery copy; small helpers."""

from __future__ import annotations

import json

from synthkit.cli import main
from synthkit.core.pipeline import Pipeline
from synthkit.hub import gallery, provenance
from synthkit.hub.card import size_category


def test_provenance_is_recorded_when_the_data_is_made_not_when_the_card_is_rendered(tmp_path, monkeypatch):
    seeds = tmp_path / "s.jsonl"
    seeds.write_text(json.dumps({"id": "a", "instruction": "Reverse a list."}) + "\n")
    out = tmp_path / "out"
    Pipeline([{"stage": "load_seeds", "path": str(seeds)}, {"stage": "generate", "template": "{instruction}"},
              {"stage": "save", "path": str(out)}], name="prov", seed=7, llm={"backend": "dummy"},
             workdir=tmp_path / "runs").run()
    recorded = json.loads((out / "report.json").read_text())["provenance"]
    assert recorded["seed"] == 7 and recorded["packages"]["datasets"] and recorded["created_at"]
    assert set(recorded) >= {"synthkit", "git_revision", "git_dirty", "python", "command"}
    card = (out / "README.md").read_text()
    assert "- seed: 7" in card and recorded["created_at"] in card and f"`{recorded['command']}`" in card

    # later, elsewhere: other versions, another command. The card still states what made the data.
    monkeypatch.setattr(provenance, "provenance", lambda seed=None: {"synthkit": "9.9", "command": "other"})
    monkeypatch.setattr(provenance, "package_versions", lambda: {"datasets": "0.0"})
    assert main(["card", str(out)]) == 0
    assert (out / "README.md").read_text() == card


def test_command_is_the_command_line_that_ran():
    assert provenance.command(["/venv/bin/synthkit", "run", "pipelines/quickstart.yaml", "-o", "a.b=c d"]) == \
        "synthkit run pipelines/quickstart.yaml -o 'a.b=c d'"
    assert provenance.command(["-c", "x"]) == "python -c x"
    assert provenance.command(["bench/x.py", "--n", "2"]) == "python bench/x.py --n 2"


def test_copy_card_takes_the_card_and_its_images_only(tmp_path):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "data").mkdir()
    (src / "README.md").write_text("card")
    (src / "images" / "funnel.png").write_bytes(b"png")
    (src / "data" / "train-00000-of-00001.parquet").write_bytes(b"rows")
    dest = tmp_path / "data_cards" / "demo"
    dest.mkdir(parents=True)
    (dest / "stale.md").write_text("old")
    assert gallery.copy_card(src, dest) == dest / "README.md"
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == \
        ["README.md", "images/funnel.png"]


def test_card_without_a_folder_is_one_line(capsys, tmp_path):
    assert main(["card"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["card", str(tmp_path)]) == 2
    assert "no data/train-*.parquet" in capsys.readouterr().err


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 123_456, 10**13)] == \
        ["n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "n>1T"]
