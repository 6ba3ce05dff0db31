"""`synthkit push` against a stand-in Hub on 127.0.0.1 (``tests/helpers/hub_server.py``).

Each push runs in a subprocess, so ``HF_ENDPOINT`` is set before
``huggingface_hub`` is imported (it reads the endpoint at import time)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from helpers.hub_server import READ, WRITE, Hub

from synthkit.cli import main
from synthkit.core.pipeline import Pipeline
from synthkit.hub.layout import upload_files

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A small dataset folder written by the save stage (dummy backend)."""
    tmp = tmp_path_factory.mktemp("push")
    seeds = tmp / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"Write f{i}."}) + "\n" for i in range(6)))
    Pipeline([{"stage": "load_seeds", "path": str(seeds)},
              {"stage": "generate", "template": "{instruction}", "n": 2},
              {"stage": "save", "path": str(tmp / "out"), "max_shard_mb": 0.002}],
             name="pushme", llm={"backend": "dummy"}, workdir=tmp / "runs").run()
    return tmp / "out"


@pytest.fixture
def hub():
    with Hub() as h:
        yield h


def push(folder: Path, *args: str, endpoint: str, tmp_path: Path, token: str | None = WRITE,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING")) and k != "TRANSFORMERS_OFFLINE"}
    clean.update({"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf_home"), "NO_PROXY": "127.0.0.1,localhost",
                  "no_proxy": "127.0.0.1,localhost", "HF_HUB_DISABLE_TELEMETRY": "1", **(env or {})})
    if token:
        clean["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "synthkit.cli", "push", str(folder), *args],
                          capture_output=True, text=True, env=clean, cwd=ROOT, timeout=120)


def test_one_commit_with_every_file_then_a_second_push_adds_nothing(saved, hub, tmp_path):
    expected = upload_files(saved)
    assert "README.md" in expected and "report.json" in expected and "pipeline.yaml" in expected
    assert any(f.startswith("images/") for f in expected)
    assert len([f for f in expected if f.startswith("data/train-")]) > 1     # sharded by size

    first = push(saved, "me/code-sft", endpoint=hub.url, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    repo = hub.repos["me/code-sft"]
    assert len(repo.commits) == 1 and repo.commits[0]["paths"] == expected
    assert sorted(repo.refs["main"]) == expected
    assert repo.commits[0]["summary"] == "synthkit: pushme (12 rows)"
    card = repo.refs["main"]["README.md"].decode()
    assert 'load_dataset("me/code-sft", split="train")' in card and "REPO_ID" not in card
    assert f"pushed {len(expected)} files (0 unchanged) to me/code-sft in one commit" in first.stdout

    # what reached the server loads as the dataset the run saved
    landed = tmp_path / "landed"
    for name, data in repo.refs["main"].items():
        (landed / name).parent.mkdir(parents=True, exist_ok=True)
        (landed / name).write_bytes(data)
    got = datasets.load_dataset(str(landed), split="train")
    want = datasets.load_dataset(str(saved), split="train")
    assert got.to_list() == want.to_list() and got.features == want.features and len(got) == 12

    second = push(saved, "me/code-sft", endpoint=hub.url, tmp_path=tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(repo.commits) == 1 and sorted(repo.refs["main"]) == expected
    assert "nothing to push" in second.stdout


def test_missing_token_fails_in_one_line_before_any_request(saved, hub, tmp_path):
    out = push(saved, "me/x", endpoint=hub.url, tmp_path=tmp_path, token=None)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("synthkit: error: no Hub token")
    assert "hf auth login" in out.stderr
    named = push(saved, "me/x", "--token-env", "MY_HUB_TOKEN", endpoint=hub.url, tmp_path=tmp_path)
    assert named.returncode == 2 and named.stderr.count("\n") == 1 and "MY_HUB_TOKEN" in named.stderr
    assert hub.requests == []


def test_permission_and_connection_errors_are_one_line_and_commit_nothing(saved, hub, tmp_path):
    denied = push(saved, "me/x", endpoint=hub.url, tmp_path=tmp_path, token=READ)
    assert denied.returncode == 2 and denied.stderr.count("\n") == 1, denied.stderr
    assert denied.stderr.startswith("synthkit: error: permission denied (HTTP 403)")
    assert "Traceback" not in denied.stderr and hub.repos == {}

    with socket.socket() as s:       # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = push(saved, "me/x", endpoint=closed, tmp_path=tmp_path)
    assert down.returncode == 2 and down.stderr.count("\n") == 1, down.stderr
    assert down.stderr.startswith("synthkit: error: connection error") and "Traceback" not in down.stderr


def test_revision_message_token_env_and_pull_request(saved, hub, tmp_path):
    out = push(saved, "me/y", "--revision", "v1", "-m", "first cut", "--token-env", "MY_TOKEN",
               endpoint=hub.url, tmp_path=tmp_path, token=None, env={"MY_TOKEN": WRITE})
    assert out.returncode == 0, out.stderr
    repo = hub.repos["me/y"]
    assert [(c["revision"], c["summary"]) for c in repo.commits] == [("v1", "first cut")]
    assert repo.refs["main"] == {} and sorted(repo.refs["v1"]) == upload_files(saved)
    pr = push(saved, "me/y", "--create-pr", endpoint=hub.url, tmp_path=tmp_path)
    assert pr.returncode == 0, pr.stderr
    assert repo.commits[-1]["revision"] == "refs/pr/1" and "/discussions/1" in pr.stdout


def test_dry_run_lists_the_files_and_sends_nothing(saved, hub, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["push", str(saved), "me/z", "--dry-run"]) == 0
    out = capsys.readouterr().out
    files = upload_files(saved)
    assert out.startswith(f"would upload {len(files)} files to me/z in one commit:")
    assert all(f"  {f}  (" in out for f in files) and "save_to_disk" not in out
    assert hub.requests == []


def test_a_folder_without_data_is_refused_in_one_line(tmp_path, capsys):
    assert main(["push", str(tmp_path), "me/z", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no data/train-*.parquet" in err
