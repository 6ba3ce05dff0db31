"""`synthkit card --gallery`: each named pipeline runs as it is and its card, with
its images, lands in ``<out>/<pipeline name>/``; pipelines it cannot show are
refused by name before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthkit.cli import main
from synthkit.errors import ConfigError
from synthkit.hub.gallery import make_gallery


def pipeline(tmp: Path, name: str, save: bool = True, extra: str = "") -> Path:
    (tmp / "seeds.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"Write f{i}."}) + "\n"
                                             for i in range(4)))
    text = (f"name: {name}\nworkdir: runs\nllm: {{backend: dummy}}\n{extra}stages:\n"
            "  - {stage: load_seeds, path: seeds.jsonl}\n"
            "  - {stage: generate, template: '{instruction}', n: 1}\n")
    if save:
        text += f"  - {{stage: save, path: out/{name}}}\n"
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


def test_gallery_copies_each_card_with_its_images(tmp_path):
    a, b = pipeline(tmp_path, "alpha"), pipeline(tmp_path, "beta")
    (tmp_path / "cards" / "alpha").mkdir(parents=True)
    (tmp_path / "cards" / "alpha" / "stale.txt").write_text("from an earlier gallery")
    assert main(["card", "--gallery", str(a), str(b), "--out", str(tmp_path / "cards")]) == 0
    for name in ("alpha", "beta"):
        dest = tmp_path / "cards" / name
        card = (dest / "README.md").read_text()
        assert card == (tmp_path / "out" / name / "README.md").read_text()  # the card save wrote, as is
        assert f"# {name}" in card and "data/train-" in card
        images = sorted(p.name for p in (dest / "images").iterdir())
        assert images and images == sorted(p.name for p in (tmp_path / "out" / name / "images").iterdir())
        assert not (dest / "data").exists()  # the card only, not the rows
    assert not (tmp_path / "cards" / "alpha" / "stale.txt").exists()  # replaced, not merged


def test_gallery_refuses_what_it_cannot_show(tmp_path):
    good = pipeline(tmp_path, "good")
    with pytest.raises(ConfigError, match="no save stage"):
        make_gallery([good, pipeline(tmp_path, "nosave", save=False)], tmp_path / "cards")
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()  # the good one did not run either
    rounds = pipeline(tmp_path, "rounds", extra="iterations: {rounds: 2, train: {max_steps: 1}}\n")
    with pytest.raises(ConfigError, match="iterations"):
        make_gallery([rounds], tmp_path / "cards")
    assert not (tmp_path / "cards").exists()


def test_showcase_settings_become_overrides_by_stage_name(tmp_path):
    from synthkit.core.config import load_raw
    from synthkit.hub.gallery import SHOWCASE, showcase_overrides

    raw = {"name": "x", "stages": [{"stage": "load_seeds"}, {"stage": "verify_tests"}, {"stage": "save"}]}
    assert showcase_overrides(raw, {"verify_tests": {"min_pass_rate": 1.0}}) == ["stages.1.min_pass_rate=1.0"]
    with pytest.raises(ConfigError, match="no `judge` stage"):
        showcase_overrides(raw, {"judge": {"min_score": 1}})
    assert showcase_overrides(raw) == []  # a pipeline without showcase settings runs as it is
    root = Path(__file__).resolve().parents[2]
    scoder = load_raw(root / "pipelines" / "scoder.yaml")
    overrides = showcase_overrides(scoder)
    assert any(o.endswith(".min_pass_rate=1.0") for o in overrides) and SHOWCASE["scoder"]["verify_tests"]
    from synthkit.core.pipeline import Pipeline

    pipe = Pipeline.from_yaml(root / "pipelines" / "scoder.yaml", overrides)
    verify = next(s for s in pipe.stage_configs if s.stage == "verify_tests")
    assert verify.min_pass_rate == 1.0  # the gallery keeps only exercises that pass all their tests
    seeds = next(s for s in pipe.build() if s.name == "load_seeds").process_all(None)[0]
    assert len(seeds) == 8 and all(r["seed"].startswith("def ") and len(r["seed"].splitlines()) <= 3 for r in seeds)
