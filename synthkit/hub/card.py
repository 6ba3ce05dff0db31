"""The data card: ``README.md`` of a saved dataset, rendered with huggingface_hub.

``render(folder)`` reads only what the folder holds (``hub.layout``): the data files,
``report.json``, ``pipeline.yaml`` and ``contamination.json``, so a card re-rendered
later (``synthkit card DIR``) states the same facts.

Metadata (``DatasetCardData``) is written with the ``datasets`` helpers
``push_to_hub`` uses, so ``load_dataset`` and the Hub read it as their own. Body:
loading, splits and columns, the funnel, length histograms, scores, decontamination,
diversity, models, seed sources and licences, an example row, limitations and the
provenance. See docs/publishing.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from synthkit.core.record import COLUMN_DOCS
from synthkit.core.rerun import rerun_command
from synthkit.hub import citations, layout, plots, summary, tokens

log = logging.getLogger(__name__)

SIZE_CATEGORIES = ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
                   (10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
                   (10**11, "10B<n<100B"), (10**12, "100B<n<1T"))
REPO_PLACEHOLDER = "REPO_ID"
MAX_SCORE_PLOTS = 12


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` value for ``n`` rows."""
    return next((name for bound, name in SIZE_CATEGORIES if n < bound), "n>1T")


RERUN_DIR = "path/to/this/folder"  # ``push`` swaps in the download of the repo (hub.repo_files.card_text)


def load_snippet(repo_id: str | None = None) -> str:
    """The card's 'how to load' lines; ``push`` swaps in the repo id."""
    return f'ds = datasets.load_dataset("{repo_id or REPO_PLACEHOLDER}", split="train")'


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def render(folder: Path) -> Path:
    """(Re)write ``folder/README.md`` and ``folder/images/``; returns the card's path."""
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    report = _read_json(folder / layout.REPORT) or {}
    tables = {s: layout.read_split(folder, s) for s in layout.splits_of(folder)}
    if "train" not in tables:
        from synthkit.errors import DataError

        raise DataError(f"{folder}: no data/train-*.parquet; pass the folder written by the `save` stage")
    import pyarrow as pa

    rows = pa.concat_tables(list(tables.values())) if len(tables) > 1 else tables["train"]
    data = dict(report=report, tables=tables, rows=rows, folder=folder,
                pipeline=(folder / layout.PIPELINE).read_text() if (folder / layout.PIPELINE).is_file() else "",
                contamination=_read_json(folder / layout.CONTAMINATION))
    data["lengths"] = _length_data(data)
    images = _images(data)
    text = "---\n" + metadata(data).to_yaml() + "\n---\n\n" + "\n".join(body(data, images)) + "\n"
    card = DatasetCard(text)
    path = folder / layout.CARD
    card.save(path)
    return path


# --- metadata ----------------------------------------------------------------------------
def metadata(data: dict[str, Any]):
    """The ``DatasetCardData`` of the card, ``configs`` and ``dataset_info`` included."""
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    settings = data["report"].get("card", {})
    tables = data["tables"]
    total = sum(t.num_rows for t in tables.values())
    license = settings.get("license", "other")
    other = {}
    if license == "other":  # the Hub asks for a name and a link with `license: other`
        other = {"license_name": settings.get("license_name") or "seed-licenses",
                 "license_link": settings.get("license_link") or "README.md#seed-sources"}
    card_data = DatasetCardData(
        license=license, language=settings.get("language", ["en"]),
        task_categories=["text-generation"], size_categories=[size_category(total)],
        tags=sorted({"code", "python", "synthetic", "synthkit", *settings.get("tags", [])}),
        source_datasets=source_datasets(_pipeline_dict(data)),
        pretty_name=settings.get("pretty_name") or data["report"].get("name") or data["folder"].name, **other)
    MetadataConfigs({"default": {"data_files": [{"split": s, "path": f"{layout.DATA}/{s}-*"}
                                                for s in tables]}}).to_dataset_card_data(card_data)
    splits = datasets.SplitDict()
    download = 0
    for s, t in tables.items():
        splits.add(datasets.SplitInfo(name=s, num_bytes=t.nbytes, num_examples=t.num_rows))
        download += sum(p.stat().st_size for p in (data["folder"] / layout.DATA).glob(f"{s}-*.parquet"))
    info = datasets.DatasetInfo(features=layout.features_of(tables["train"].schema), splits=splits,
                                download_size=download, dataset_size=sum(t.nbytes for t in tables.values()))
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    return card_data


def source_datasets(pipeline: dict[str, Any]) -> list[str]:
    """The Hub ids the rows derive from (``load_seeds`` with an ``hf`` source that
    is not a local folder), and ``original`` for every other seed (files, code)."""
    out: list[str] = []
    for st in pipeline.get("stages") or []:
        if not isinstance(st, dict) or st.get("stage") != "load_seeds":
            continue
        src = st.get("source") if isinstance(st.get("source"), dict) else {}
        name = str(src.get("path_or_id") or "")
        hub = src.get("kind") == "hf" and name and not name.startswith((".", "/", "~")) and not Path(name).exists()
        out.append(name if hub else "original")
    return sorted(set(out)) or ["original"]


# --- body --------------------------------------------------------------------------------
def body(data: dict[str, Any], images: dict[str, str]) -> list[str]:
    report, tables = data["report"], data["tables"]
    name = data["report"].get("card", {}).get("pretty_name") or report.get("name") or data["folder"].name
    total = sum(t.num_rows for t in tables.values())
    counts = ", ".join(f"{s}: {t.num_rows}" for s, t in tables.items())
    lines = [f"# {name}", "",
             f"A synthetic instruction dataset for code models, built with synthkit "
             f"(pipeline `{report.get('name', name)}`): {total} rows ({counts}). The numbers below "
             "cover every split.", ""]
    if images.get("missing"):
        lines += [f"> {images['missing']}", ""]
    for section in (_load, _columns, _funnel, _lengths, _scores, _decontamination, _diversity, _models,
                    _seeds, _example, _limitations, _citations, _provenance):
        lines += section(data, images)
    return lines


def _load(data, images) -> list[str]:
    train = data["tables"]["train"]
    lines = ["## How to load", "", "```python", "import datasets", load_snippet(),
             "# or, from the folder `save` wrote:",
             'ds = datasets.load_dataset("path/to/this/folder", split="train")', "```", ""]
    if train.num_rows == 0:
        lines += ["This run kept no rows. `datasets.load_dataset` cannot load a split without rows, so read the "
                  "(empty, but typed) file with `pyarrow.parquet.read_table(\"data/train-00000-of-00001.parquet\")`; "
                  "the funnel below shows where the rows went.", ""]
    lines += ["The trainer (`synthkit train`) reads the `messages` column only.", ""]
    return lines


def _columns(data, images) -> list[str]:
    tables = data["tables"]
    lines = ["## Splits and columns", "", "| split | rows | files | bytes (Arrow) |", "|---|---|---|---|"]
    for s, t in tables.items():
        files = len(list((data["folder"] / layout.DATA).glob(f"{s}-*.parquet")))
        lines.append(f"| {s} | {t.num_rows} | {files} | {t.nbytes} |")
    lines += ["", "| column | meaning | type |", "|---|---|---|"]
    features = layout.features_of(tables["train"].schema)
    lines += [f"| `{c}` | {COLUMN_DOCS.get(c, '(a column a stage or the seed file added)')} | "
              f"`{summary.short(repr(f), 160)}` |" for c, f in features.items()]
    lines.append("")
    cols = tables["train"].column_names
    if "tests" in cols or "io_tests" in cols:
        lines += ["Tests: `tests` holds an assert block (HumanEval/MBPP style) and `io_tests` a list of "
                  "`{input, output}` stdin/stdout cases; a row has at most one of the two.", ""]
    if split_note := data["report"].get("card", {}).get("split"):
        lines += [split_note, ""]
    notes = {f"{s.get('stage')}: {col}": note for s in data["report"].get("stages", [])
             for col, note in s.get("notes", {}).items()}
    if notes:
        lines += ["Column type notes (values that did not fit one type were kept as JSON text):", ""]
        lines += [f"- `{k}`: {v}" for k, v in notes.items()] + [""]
    return lines


def _funnel(data, images) -> list[str]:
    stages = data["report"].get("stages", [])
    lines = ["## How it was made", ""]
    if "funnel" in images:
        lines += [f"![Where the rows went]({images['funnel']})", ""]
    lines += ["| # | stage | rows in | kept | dropped (reason: rows) | rows out | seconds | prompt tokens | "
              "completion tokens | cache hits |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in stages:
        dropped = ", ".join(f"{k}: {v}" for k, v in s.get("dropped", {}).items()) or "-"
        hits = f"{s.get('cache_hits', 0)} of {s['requests']}" if s.get("requests") else "-"
        lines.append(f"| {s.get('index')} | {s.get('stage')} | {s.get('rows_in')} | {s.get('kept')} | "
                     f"{dropped} | {plots.rows_out(s)} | {s.get('seconds')} | {s.get('prompt_tokens', 0)} | "
                     f"{s.get('completion_tokens', 0)} | {hits} |")
    if not stages:
        lines.append("| - | (no run report) | - | - | - | - | - | - | - | - |")
    lines += ["", "Rows out = kept + dropped: a stage that writes several answers per input row (`n`, checkpoints) "
              "puts out more rows than it took in. Tokens and cache hits count this run's model calls: prompts "
              "answered from the LLM cache cost no tokens.", ""]
    return lines


def _lengths(data, images) -> list[str]:
    lengths, unit, note = data["lengths"]
    if not lengths:
        return []
    lines = ["## Lengths", "", note, ""]
    if "lengths" in images:
        lines += [f"![Length histograms]({images['lengths']})", ""]
    lines += ["| column | rows | min | median | mean | max |", "|---|---|---|---|---|---|"]
    lines += [f"| `{c}` ({unit}) | {summary.stats_row(v)} |" for c, v in lengths.items()]
    return lines + [""]


def _length_data(data) -> tuple[dict[str, list[int]], str, str]:
    """(lengths per column, unit, a sentence saying what was counted)."""
    tokenizer, name = tokens.generating_tokenizer(_pipeline_dict(data))
    if tokenizer is None:
        return summary.text_lengths(data["rows"]), "characters", f"Lengths in characters: {name}."
    n = min(data["rows"].num_rows, tokens.MAX_ROWS)
    return (tokens.token_lengths(data["rows"], tokenizer), "tokens",
            f"Lengths in tokens of the generating model's tokenizer ({name}), without special tokens, "
            f"over {n} rows.")


def _citations(data, images) -> list[str]:
    return citations.card_section(_pipeline_dict(data))


def _scores(data, images) -> list[str]:
    train = data["rows"]
    scores, text_fields = summary.score_values(train)
    lines = ["## Scores", ""]
    if not scores and not text_fields:
        return lines + ["No stage scored the rows (`scores` is empty).", ""]
    if "scores" in images:
        lines += [f"![Score distributions]({images['scores']})", ""]
    lines += ["| score | rows | min | median | mean | max |", "|---|---|---|---|---|---|"]
    lines += [f"| `{k}` | {summary.stats_row(v)} |" for k, v in scores.items()]
    if text_fields:
        lines += ["", "Not numeric, not summarised: " + ", ".join(f"`{k}`" for k in text_fields)]
    if "verify" in train.column_names and summary.is_struct(train.column("verify").type):
        statuses = summary.counts(train, "verify", "status")
        if statuses:
            lines += ["", "verify_tests status: " + ", ".join(f"{k}: {v}" for k, v in statuses.items())]
    return lines + [""]


def _decontamination(data, images) -> list[str]:
    report = data["contamination"]
    lines = ["## Decontamination", ""]
    if not report:
        return lines + ["**This dataset was not decontaminated**: no `decontaminate` stage ran, so rows may "
                        "overlap evaluation benchmarks (HumanEval, MBPP, ...). Check before evaluating a model "
                        "trained on it.", ""]
    s = report.get("summary", report)
    lines += [f"Rows checked: {s.get('rows_checked')}; rows removed: {s.get('rows_removed')}. "
              f"Detectors: {', '.join(s.get('settings', {}).get('detectors', [])) or '-'}; "
              f"columns compared: {', '.join(s.get('columns', [])) or '-'}.", "",
              "| benchmark | items compared | rows removed |", "|---|---|---|"]
    by = s.get("by_benchmark", {})
    for bench in sorted(set(s.get("benchmarks", {})) | set(by)):
        lines.append(f"| {bench} | {s.get('benchmarks', {}).get(bench, '-')} | {by.get(bench, 0)} |")
    if s.get("by_detector"):
        lines += ["", "Rows removed per detector: " + ", ".join(f"{k}: {v}" for k, v in s["by_detector"].items())]
    lines += ["", "<details><summary>Summary as recorded (contamination.json)</summary>", "", "```json",
              json.dumps(s, indent=2), "```", "", "</details>", ""]
    return lines


def _diversity(data, images) -> list[str]:
    found = [(s.get("stage"), s["diversity"]) for s in data["report"].get("stages", []) if s.get("diversity")]
    if not found:
        return []
    lines = ["## Diversity", ""]
    for stage, div in found:
        lines += [f"Reported by `{stage}`:", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in (div.items() if isinstance(div, dict) else [("value", div)])]
        lines.append("")
    return lines


def _models(data, images) -> list[str]:
    train = data["rows"]
    pairs = summary.counts(train, "meta", "model", "checkpoint")
    judges = summary.counts(train, "meta", "judge_model")
    lines = ["## Models", ""]
    if pairs:
        lines += ["| model | checkpoint | rows |", "|---|---|---|"]
        lines += [f"| {m} | {c} | {n} |" for (m, c), n in pairs.items()]
        lines.append("")
    if judges:
        lines += ["Judged by: " + ", ".join(f"{m} ({n} rows)" for m, n in judges.items()), ""]
    llm = _pipeline_dict(data).get("llm") or {}
    if llm:
        lines += ["Pipeline `llm`: " + ", ".join(f"{k} `{llm[k]}`" for k in ("backend", "model") if llm.get(k)), ""]
    if not (pairs or judges or llm):
        lines += ["No model is recorded in the rows' `meta`.", ""]
    return lines


def _seeds(data, images) -> list[str]:
    train = data["rows"]
    lines = ["## Seed sources", ""]
    for i, st in enumerate(_pipeline_dict(data).get("stages", [])):
        if st.get("stage") == "load_seeds":
            where = st.get("path") or json.dumps(st.get("source"), sort_keys=True)
            lines.append(f"- stage {i} `load_seeds`: `{where}`")
    licences = summary.counts(train, "meta", "source", "license")
    if licences:
        lines += ["", "| source | licence | rows |", "|---|---|---|"]
        lines += [f"| {s} | {lic} | {n} |" for (s, lic), n in licences.items()]
    else:
        lines += ["", "The rows record no licence for their seeds; check the licence of the seed file above "
                      "before publishing."]
    return lines + [""]


def _example(data, images) -> list[str]:
    train = data["rows"]
    if train.num_rows == 0:
        return []
    row = {k: summary.clip(v) for k, v in train.slice(0, 1).to_pylist()[0].items()}
    return ["## Example row", "", "```json", json.dumps(row, indent=2, ensure_ascii=False, default=str), "```", ""]


def _limitations(data, images) -> list[str]:
    names = {s.get("stage") for s in data["report"].get("stages", [])}
    lines = ["## Limitations", "",
             "- Every instruction and answer was written by a language model; answers can be wrong even when "
             "they look right."]
    lines.append("- Code was run against its tests in the synthkit sandbox (`verify_tests`); passing a model's "
                 "own tests does not prove correctness." if "verify_tests" in names else
                 "- No stage ran the code: answers are unverified.")
    if "judge" not in names:
        lines.append("- No LLM judge scored the rows.")
    if "dedup_minhash" not in names:
        lines.append("- Near-duplicates were not removed (no `dedup_minhash` stage).")
    if not data["contamination"]:
        lines.append("- Not decontaminated against evaluation benchmarks.")
    return lines + [""]


def _provenance(data, images) -> list[str]:
    p = data["report"].get("provenance")
    lines = ["## Provenance", ""]
    if not p:
        lines += ["Not recorded (this folder was not written by a synthkit `save` stage that records it).", ""]
    else:
        rev = p.get("git_revision") or "unknown"
        lines += [f"Recorded when the data was made ({p.get('created_at')}):", "",
                  f"- synthkit {p.get('synthkit')}, git revision {rev}"
                  + (" (with uncommitted changes)" if p.get("git_dirty") else ""),
                  f"- seed: {p.get('seed')}", f"- command: `{p.get('command')}`",
                  f"- Python {p.get('python')} on {p.get('platform')}",
                  "- packages: " + ", ".join(f"{k} {v}" for k, v in p.get("packages", {}).items()), ""]
    if data["pipeline"]:
        lines += ["Pipeline config (`pipeline.yaml`):", "", "```yaml", data["pipeline"].strip(), "```", "",
                  "To rerun it (the same rows on a deterministic backend; each seed file is checked against "
                  "its recorded sha256 first, see docs/runs.md):", "", "```bash", rerun_command(RERUN_DIR), "```", ""]
    return lines


# --- numbers -----------------------------------------------------------------------------
def _images(data: dict[str, Any]) -> dict[str, str]:
    """Draw the plots under ``images/``; returns name -> relative path, or
    ``{"missing": why}`` without matplotlib."""
    folder = data["folder"]
    out_dir = folder / layout.IMAGES
    for old in out_dir.glob("*.png") if out_dir.is_dir() else []:
        old.unlink()
    if not plots.available():
        return {"missing": "Plots are not included: matplotlib is not installed (`pip install 'synthkit[card]'`, "
                           "then `synthkit card DIR`). The tables carry the same numbers."}
    images = {}
    stages = data["report"].get("stages", [])
    if stages:
        images["funnel"] = plots.funnel(stages, out_dir / "funnel.png")
    train = data["rows"]
    lengths, unit, _ = data["lengths"]
    if lengths:
        images["lengths"] = plots.histograms(lengths, out_dir / "lengths.png", "Lengths", unit)
    scores, _ = summary.score_values(train)
    if scores:
        shown = dict(list(scores.items())[:MAX_SCORE_PLOTS])
        images["scores"] = plots.histograms(shown, out_dir / "scores.png", "Scores", "", columns=3)
    return {k: Path(v).relative_to(folder).as_posix() for k, v in images.items()}


def _pipeline_dict(data) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(data["pipeline"]) if data["pipeline"] else {}
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
