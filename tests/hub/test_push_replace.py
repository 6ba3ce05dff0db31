"""`synthkit push` replaces: stale shards of an earlier push are deleted in the same commit,
`--config-name` keeps several datasets in one repo, `--dry-run` says what would change.
Against the stand-in Hub (``tests/helpers/hub_server.py``), each push in a subprocess (see test_push.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml
from helpers.hub_server import WRITE, Hub
from test_push import push

from synthkit.cli import main
from synthkit.core.pipeline import Pipeline
from synthkit.hub.layout import upload_files


def saved(tmp: Path, name: str, seeds: int, shard_mb: float) -> Path:
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"Write f{i}."}) + "\n" for i in range(seeds)))
    Pipeline([{"stage": "load_seeds", "path": str(path)},
              {"stage": "generate", "template": "{instruction}", "n": 2},
              {"stage": "save", "path": str(tmp / name), "max_shard_mb": shard_mb}],
             name=name, llm={"backend": "dummy"}, workdir=tmp / "runs").run()
    return tmp / name


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("replace")
    return saved(tmp, "big", 6, 0.002), saved(tmp, "small", 2, 500)     # 12 rows in shards, 4 rows in one


@pytest.fixture
def hub():
    with Hub() as h:
        yield h


def landed(repo, tmp_path: Path, ref: str = "main") -> Path:
    """The repo's files at ``ref``, written to a folder that load_dataset reads as it reads a Hub repo."""
    folder = tmp_path / f"landed-{len(list(tmp_path.glob('landed-*')))}"
    for name, data in repo.refs[ref].items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def hub_rows(repo_id: str, hub: Hub, tmp_path: Path, config: str | None = None) -> list[dict]:
    """``datasets.load_dataset(repo_id)`` from the stand-in Hub, in a subprocess (HF_ENDPOINT is read
    at import), with a fresh cache each time."""
    home = tmp_path / f"hf-{len(list(tmp_path.glob('hf-*')))}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING")) and k != "TRANSFORMERS_OFFLINE"}
    env.update({"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_TOKEN": WRITE, "NO_PROXY": "127.0.0.1",
                "no_proxy": "127.0.0.1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    code = ("import datasets, json, sys; ds = datasets.load_dataset(sys.argv[1], sys.argv[2] or None, "
            "split='train'); print(json.dumps(list(ds['id'])))")
    out = subprocess.run([sys.executable, "-c", code, repo_id, config or ""], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # pushes and loads in subprocesses, ~10 s
def test_push_12_then_4_rows_leaves_4(folders, hub, tmp_path):
    big, small = folders
    assert len([f for f in upload_files(big) if f.startswith("data/")]) > 1
    assert push(big, "me/sft", endpoint=hub.url, tmp_path=tmp_path).returncode == 0
    repo = hub.repos["me/sft"]
    old_data = sorted(f for f in repo.refs["main"] if f.startswith("data/"))
    assert len(datasets.load_dataset(str(landed(repo, tmp_path)), split="train")) == 12
    assert len(hub_rows("me/sft", hub, tmp_path)) == 12

    second = push(small, "me/sft", endpoint=hub.url, tmp_path=tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(repo.commits) == 2                                   # one commit: additions and deletions
    assert repo.commits[1]["deleted"] == [f for f in old_data if f not in upload_files(small)] == old_data
    assert sorted(repo.refs["main"]) == upload_files(small)
    assert f"{len(old_data)} deleted" in second.stdout
    assert datasets.load_dataset(str(landed(repo, tmp_path)), split="train").to_list() == \
        datasets.load_dataset(str(small), split="train").to_list()
    assert hub_rows("me/sft", hub, tmp_path) == list(datasets.load_dataset(str(small), split="train")["id"])  # 4


@pytest.mark.slow  # pushes and loads in subprocesses, ~10 s
def test_config_name_puts_a_second_dataset_in_one_repo(folders, hub, tmp_path):
    big, small = folders
    assert push(big, "me/two", endpoint=hub.url, tmp_path=tmp_path).returncode == 0
    out = push(small, "me/two", "--config-name", "mini", endpoint=hub.url, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    repo = hub.repos["me/two"]
    files = sorted(repo.refs["main"])
    assert [f for f in files if f.startswith("mini/")] and "mini/pipeline.yaml" in files
    assert [f for f in files if f.startswith("data/")] == [f for f in upload_files(big) if f.startswith("data/")]
    card = repo.refs["main"]["README.md"].decode()
    meta = yaml.safe_load(card.split("---")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["default", "mini"]
    assert {i["config_name"] for i in meta["dataset_info"]} == {"default", "mini"}
    assert repo.commits[-1]["summary"] == "synthkit: small (4 rows) as config mini"
    folder = landed(repo, tmp_path)
    assert len(datasets.load_dataset(str(folder), "default", split="train")) == 12
    assert len(datasets.load_dataset(str(folder), "mini", split="train")) == 4
    assert len(hub_rows("me/two", hub, tmp_path, "mini")) == 4 and len(hub_rows("me/two", hub, tmp_path)) == 12
    assert 'load_dataset("me/two", "mini", split="train")' in repo.refs["main"]["mini/README.md"].decode()
    # pushing the default config again keeps the other config listed and its files in place
    again = push(small, "me/two", endpoint=hub.url, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    folder = landed(repo, tmp_path)
    assert len(datasets.load_dataset(str(folder), "default", split="train")) == 4
    assert len(datasets.load_dataset(str(folder), "mini", split="train")) == 4
    assert all(f in repo.refs["main"] for f in files if f.startswith("mini/"))


def test_dry_run_checks_the_repo_id_and_lists_additions_and_deletions(folders, hub, tmp_path, capsys):
    big, small = folders
    assert main(["push", str(small), "not a/valid/repo id", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "repo id 'not a/valid/repo id' is not valid" in err
    assert main(["push", str(small), "x", "--dry-run"]) == 2 and "give the namespace" in capsys.readouterr().err

    assert push(big, "me/dry", endpoint=hub.url, tmp_path=tmp_path).returncode == 0
    before = (len(hub.repos["me/dry"].commits), sorted(hub.repos["me/dry"].refs["main"]))
    hub.requests.clear()
    out = push(small, "me/dry", "--dry-run", "--revision", "main", "-m", "shrink", endpoint=hub.url,
               tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    stale = sorted(f for f in before[1] if f.startswith("data/"))
    assert f"would upload {len(upload_files(small))} files to me/dry in one commit:" in out.stdout
    assert f"and delete {len(stale)} files of an earlier push:" in out.stdout
    assert all(f"  - {f}" in out.stdout for f in stale)
    for line in ("branch: main", "pull request: no", "visibility: kept as it is (the repo exists)",
                 "config: default", "message: shrink"):
        assert line in out.stdout
    assert {m for m, _ in hub.requests} == {"GET"}                     # read only
    assert (len(hub.repos["me/dry"].commits), sorted(hub.repos["me/dry"].refs["main"])) == before
    new = push(small, "me/new-one", "--dry-run", "--private", "--create-pr", endpoint=hub.url, tmp_path=tmp_path)
    assert "and delete 0 files" in new.stdout and "visibility: private" in new.stdout
    assert "pull request: yes" in new.stdout and "me/new-one" not in hub.repos


def test_the_card_shows_the_rerun_command_and_the_pushed_card_the_download(folders, hub, tmp_path):
    big, _ = folders
    card = (big / "README.md").read_text()
    assert "```bash\nsynthkit run path/to/this/folder\n```" in card
    assert push(big, "me/rerunnable", endpoint=hub.url, tmp_path=tmp_path).returncode == 0
    pushed = hub.repos["me/rerunnable"].refs["main"]["README.md"].decode()
    assert ("hf download me/rerunnable --repo-type dataset --local-dir rerunnable && synthkit run rerunnable"
            in pushed)
