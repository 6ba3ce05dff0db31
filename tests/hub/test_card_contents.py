"""What the card says: column meanings, Hub metadata, citations, token lengths, a funnel whose chart and
table agree, distinct legend colours."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from synthkit.cli import main
from synthkit.core.pipeline import Pipeline
from synthkit.core.record import COLUMN_DOCS, COLUMNS
from synthkit.hub import citations, plots, tokens

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, n: int = 2) -> Path:
    seeds = tmp_path / "s.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"t{i}", "instruction": f"Reverse list number {i}."}) + "\n"
                             for i in range(3)))
    out = tmp_path / "out"
    Pipeline([{"stage": "load_seeds", "path": str(seeds)},
              {"stage": "generate", "template": "{instruction}", "n": n},
              {"stage": "save", "path": str(out)}], name="card", llm={"backend": "dummy"},
             workdir=tmp_path / "runs").run()
    return out


def test_every_schema_column_has_a_meaning():
    assert set(COLUMNS) <= set(COLUMN_DOCS) and all(COLUMN_DOCS.values())


def test_metadata_names_sources_licence_and_python_and_validates(tmp_path):
    from huggingface_hub import DatasetCard, DatasetCardData

    out = _run(tmp_path)
    card = DatasetCard.load(out / "README.md", ignore_metadata_errors=False)
    meta = card.data.to_dict()
    DatasetCardData(**meta, ignore_metadata_errors=False)
    assert meta["license"] == "other" and meta["license_name"] == "seed-licenses"
    assert meta["license_link"] == "README.md#seed-sources" and "## Seed sources" in card.text
    assert meta["source_datasets"] == ["original"] and {"code", "python"} <= set(meta["tags"])
    assert "| `instruction` | the problem statement shown to the model |" in card.text


def test_source_datasets_are_hub_ids_of_hf_seeds():
    from synthkit.hub.card import source_datasets

    pipe = {"stages": [{"stage": "load_seeds", "source": {"kind": "hf", "path_or_id": "bigcode/the-stack-smol"}},
                       {"stage": "load_seeds", "path": "seeds.jsonl"}]}
    assert source_datasets(pipe) == ["bigcode/the-stack-smol", "original"]


def test_funnel_table_and_chart_state_the_same_numbers(tmp_path):
    out = _run(tmp_path)  # generate: 3 rows in, n=2 answers each: 6 kept, 6 out
    card = (out / "README.md").read_text()
    report = json.loads((out / "report.json").read_text())
    for stage, label in zip(report["stages"], plots.funnel_labels(report["stages"])):
        kept, total, n_in = map(int, re.findall(r"\d+", label))
        row = next(line for line in card.splitlines() if line.startswith(f"| {stage['index']} | {stage['stage']} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert (int(cells[2]), int(cells[3]), int(cells[5])) == (n_in, kept, total)
    assert plots.funnel_labels(report["stages"])[1] == " 6 kept of 6 out (3 in)"


def test_funnel_out_counts_every_answer_of_a_stage_with_n_answers():
    stage = {"index": 1, "stage": "synthesize", "rows_in": 16, "kept": 16, "dropped": {"no_tests": 10, "truncated": 6}}
    assert plots.funnel_labels([stage]) == [" 16 kept of 32 out (16 in)"]


@pytest.mark.parametrize("n", [1, 8, 18, 19, 40])
def test_legend_colours_are_distinct(n):
    colours = plots.palette(n)
    assert len(colours) == n == len(set(colours)) and plots.KEPT_COLOR not in colours


def test_citations_follow_the_stages_used():
    scoder = yaml.safe_load((ROOT / "pipelines" / "scoder.yaml").read_text())
    assert [m for m, _ in citations.methods_used(scoder)] == ["OSS-Instruct", "SCoder"]
    gift = yaml.safe_load((ROOT / "pipelines" / "gift.yaml").read_text())
    assert [m for m, _ in citations.methods_used(gift)] == ["GiFT"]
    less_ib = {"stages": [{"stage": "filter_influence"}], "iterations": {"train": {"ib": {"enabled": True}}}}
    assert [m for m, _ in citations.methods_used(less_ib)] == ["SCoder", "LESS", "IB-FT"]
    assert citations.methods_used({"stages": [{"stage": "generate"}]}) == []
    for method, arxiv in (("SCoder", "2509.07858"), ("GiFT", "2502.11466"), ("LESS", "2402.04333"),
                          ("OSS-Instruct", "2312.02120"), ("IB-FT", "2510.16022")):
        entry = citations.BIBTEX[method]
        assert arxiv in entry and entry.startswith("@") and entry.count("{") == entry.count("}")
    section = "\n".join(citations.card_section(less_ib))
    assert "## Citations" in section and "```bibtex\n@inproceedings{xia2024less," in section


def test_lengths_are_in_tokens_of_the_generating_models_tokenizer(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    out = _run(tmp_path, n=1)
    card = (out / "README.md").read_text()
    assert "Lengths in characters: the dummy backend has no tokenizer." in card
    # the same rows, as if a transformers model had written them: the card counts its tokens
    (out / "pipeline.yaml").write_text(yaml.safe_dump({"name": "card", "llm": {"backend": "transformers",
                                                                               "model": str(tiny_model_dir)}}))
    assert main(["card", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert f"Lengths in tokens of the generating model's tokenizer ({tiny_model_dir})" in card
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    import datasets

    rows = datasets.load_dataset(str(out), split="train")
    want = sorted(len(tok(t, add_special_tokens=False)["input_ids"]) for t in rows["instruction"])
    line = next(x for x in card.splitlines() if x.startswith("| `instruction` (tokens) |"))
    assert line.split("|")[2].strip() == str(len(want)) and line.split("|")[3].strip() == str(want[0])
    assert tokens.generating_tokenizer({"llm": {"backend": "openai", "model": "no/such-model-here"}})[0] is None
