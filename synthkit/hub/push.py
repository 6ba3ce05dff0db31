"""Publish a saved synthkit dataset: rewrite its card, push it to the Hub.

``write_card(folder)`` re-renders ``folder/README.md`` from the dataset itself
and, when the folder was written by a pipeline's ``save`` stage, from that
run's stats (it looks for ``_synthkit_run.json``, which ``save`` leaves).

``push(folder, repo_id)`` uploads the dataset (as parquet, through
``Dataset.push_to_hub``) and then the card. It needs a token in the named
environment variable and network access to the Hub; without either it fails
before uploading anything, with a message that says which.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from synthkit.errors import DataError, SynthkitError
from synthkit.hub.card import contamination_summary, render_card, stage_stats

log = logging.getLogger(__name__)

RUN_POINTER = "_synthkit_run.json"  # written by `save`: where the run folder and pipeline config are


def _load(folder: Path):
    import datasets

    if not (folder / "dataset_info.json").exists() and not (folder / "state.json").exists():
        raise DataError(f"{folder}: not a dataset saved with save_to_disk (no state.json); "
                        "pass the folder written by the `save` stage")
    return datasets.load_from_disk(str(folder))


def write_card(folder: Path) -> Path:
    """(Re)write ``folder/README.md``; returns its path."""
    ds = _load(folder)
    pointer = folder / RUN_POINTER
    info = json.loads(pointer.read_text()) if pointer.exists() else {}
    run_dir = Path(info["run_dir"]) if info.get("run_dir") else None
    card = render_card(name=info.get("name", folder.name), num_rows=len(ds), columns=ds.column_names,
                       pipeline=info.get("pipeline", {}),
                       stages=stage_stats(run_dir) if run_dir and run_dir.exists() else info.get("stages", []),
                       example=ds[0] if len(ds) else None,
                       contamination=contamination_summary(run_dir) if run_dir and run_dir.exists() else None,
                       license=info.get("license", "other"))
    path = folder / "README.md"
    path.write_text(card)
    return path


def push(folder: Path, repo_id: str, private: bool = False, token_env: str = "HF_TOKEN") -> str:
    token = os.environ.get(token_env)
    if not token:
        raise SynthkitError(f"no Hub token: set the environment variable {token_env} (a write token from "
                            "https://huggingface.co/settings/tokens) or pass --token-env NAME")
    ds = _load(folder)
    card = folder / "README.md" if (folder / "README.md").exists() else write_card(folder)
    from huggingface_hub import HfApi

    try:
        ds.push_to_hub(repo_id, private=private, token=token)
        HfApi(token=token).upload_file(path_or_fileobj=str(card), path_in_repo="README.md",
                                       repo_id=repo_id, repo_type="dataset")
    except OSError as e:  # connection errors from requests/httpx subclass OSError
        raise SynthkitError(f"could not reach the Hub to push {repo_id}: {e}") from e
    return f"https://huggingface.co/datasets/{repo_id}"
