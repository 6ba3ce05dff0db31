"""Data cards: a README.md for a dataset, with the provenance a user needs.

The card records what the dataset is (rows, columns, an example), how it was
made (the pipeline config, the per-stage funnel with drop reasons, the
contamination summary when a `decontaminate` stage ran), and what made it
(package versions, git revision, seed). Rendering is pure: ``render_card``
takes plain dicts and returns markdown, so it is testable without a run.
"""

from __future__ import annotations

import json
import logging
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

PACKAGES = ("synthkit", "datasets", "transformers", "torch", "trl", "peft", "vllm")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision(path: Path | None = None) -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def stage_stats(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished stage's stats.json under ``run_dir``, in pipeline order."""
    found = []
    for p in sorted(run_dir.glob("[0-9][0-9]_*/stats.json")):
        found.append(json.loads(p.read_text()))
    return found


def contamination_summary(run_dir: Path) -> dict[str, Any] | None:
    """The ``summary`` of the run's (first) decontaminate stage report, if one ran."""
    for p in sorted(run_dir.glob("[0-9][0-9]_decontaminate/contamination.json")):
        return json.loads(p.read_text()).get("summary")
    return None


def render_card(*, name: str, num_rows: int, columns: list[str], pipeline: dict[str, Any],
                stages: list[dict[str, Any]], example: dict[str, Any] | None = None,
                contamination: dict[str, Any] | None = None, license: str = "other") -> str:
    front = {"license": license, "task_categories": ["text-generation"],
             "tags": ["code", "synthetic", "synthkit"], "pretty_name": name}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {name}", "",
             f"A synthetic instruction dataset for code models, built with synthkit. {num_rows} rows.", "",
             "## Columns", "", ", ".join(f"`{c}`" for c in columns), "",
             "The trainer (`synthkit train`) reads the `messages` column only.", "", "## How it was made", "",
             "| # | stage | rows in | kept | dropped (reason: rows) | seconds | tokens/s |",
             "|---|---|---|---|---|---|---|"]
    for s in stages:
        dropped = ", ".join(f"{k}: {v}" for k, v in s.get("dropped", {}).items()) or "-"
        lines.append(f"| {s.get('index')} | {s.get('stage')} | {s.get('rows_in')} | {s.get('kept')} | "
                     f"{dropped} | {s.get('seconds')} | {s.get('tokens_per_s')} |")
    if contamination:
        lines += ["", "## Decontamination", "", "```json", json.dumps(contamination, indent=2), "```"]
    if example:
        lines += ["", "## Example row", "", "```json",
                  json.dumps(example, indent=2, ensure_ascii=False, default=str)[:4000], "```"]
    lines += ["", "## Provenance", "", f"- git revision: {git_revision() or 'unknown'}",
              *[f"- {k} {v}" for k, v in package_versions().items()],
              "", "Pipeline config:", "", "```yaml", yaml.safe_dump(pipeline, sort_keys=False).strip(), "```", ""]
    return "\n".join(lines)
