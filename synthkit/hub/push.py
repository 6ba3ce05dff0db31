"""Publish a folder that ``save`` wrote: one commit to a Hub dataset repo.

``push(folder, repo_id)`` sends ``layout.upload_files(folder)`` (never
``save_to_disk/``) in one ``create_commit`` after ``create_repo(exist_ok=True)``;
the card's load line names ``repo_id``. Guarantees: one commit or none (files the
repo already has are left out, so a second push of the same folder commits
nothing); the token from ``--token-env`` or ``huggingface_hub.get_token()``, else a
failure before any request; one-line ``PushError`` messages (permission,
connection, the Hub's status); a push replaces: stale files under ``data/`` and
``images/`` (or ``<config>/`` with ``config_name``) are deleted in the same commit.
``dry_run`` only checks and lists. It does not check that the repo's existing files
belong to this dataset, nor delete files outside those folders.
Details: docs/publishing.md.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from synthkit.errors import DataError, SynthkitError
from synthkit.hub import layout

log = logging.getLogger(__name__)


class PushError(SynthkitError):
    """A push failed; the message is one line and says what to do."""


@dataclass
class PushResult:
    repo_id: str
    files: list[str]                 # paths in the repo, as uploaded
    url: str = ""
    unchanged: list[str] = field(default_factory=list)
    commit_url: str | None = None
    pr_url: str | None = None
    dry_run: bool = False
    deleted: list[str] | None = field(default_factory=list)  # None: unknown (dry run without read access)
    sizes: dict[str, int] = field(default_factory=dict)      # dry run: bytes per file
    settings: dict[str, str] = field(default_factory=dict)   # dry run: branch, pr, visibility, message, ...

    @property
    def uploaded(self) -> list[str]:
        return [f for f in self.files if f not in self.unchanged]


def check_folder(folder: Path) -> list[str]:
    """The files to upload, or a ``DataError`` saying why ``folder`` cannot be pushed."""
    folder = Path(folder)
    if not (folder / layout.DATA).is_dir() or not any((folder / layout.DATA).glob("train-*.parquet")):
        raise DataError(f"{folder}: no data/train-*.parquet; pass the folder written by the `save` stage")
    if not (folder / layout.CARD).is_file():
        raise DataError(f"{folder}: no README.md card; write it with `synthkit card {folder}`")
    return layout.upload_files(folder)


def resolve_token(token_env: str | None = None) -> str:
    if token_env:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise PushError(f"no Hub token: the environment variable {token_env} (--token-env) is unset or empty")
        return token
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PushError("no Hub token: run `hf auth login`, set HF_TOKEN, or pass --token-env NAME "
                        "(a variable holding a write token from https://huggingface.co/settings/tokens)")
    return token


def push(folder: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         create_pr: bool = False, message: str | None = None, token_env: str | None = None,
         dry_run: bool = False, config_name: str | None = None) -> PushResult:
    """Upload ``folder`` to the dataset repo ``repo_id`` in one commit that also deletes
    the earlier push's stale files (see module doc)."""
    from synthkit.hub import repo_files

    folder = Path(folder)
    repo_files.check_repo_id(repo_id)
    config = repo_files.check_config(config_name)
    files = check_folder(folder)
    mapping = repo_files.paths_in_repo(files, config)
    message = message or _default_message(folder, len(files), config)
    if dry_run:
        return _dry_run(folder, repo_id, mapping, config, private, revision, create_pr, message, token_env)
    token = resolve_token(token_env)
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants

    endpoint = constants.ENDPOINT
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private or None, exist_ok=True)
        if revision and not create_pr:
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        remote = api.list_repo_files(repo_id, repo_type="dataset", revision=revision if not create_pr else None)
        old_card = repo_files.read_remote(api, repo_id, layout.CARD, revision) if layout.CARD in remote else None
        ours = (folder / layout.CARD).read_text()
        cards = {layout.CARD: repo_files.merged_card(ours, old_card, config, repo_id).encode(),
                 f"{config}/{layout.CARD}": repo_files.card_text(ours, config, repo_id).encode()}
        ops = [CommitOperationAdd(path_in_repo=dest, path_or_fileobj=cards.get(dest, str(folder / src)))
               for src, dest in mapping]
        deleted = repo_files.stale(remote, {dest for _, dest in mapping}, config)
        ops += [CommitOperationDelete(path_in_repo=p) for p in deleted]
        info = api.create_commit(repo_id, ops, repo_type="dataset", revision=revision, create_pr=create_pr,
                                 commit_message=message)
    except Exception as e:  # noqa: BLE001 - every failure becomes one line; see _explain
        raise PushError(_explain(e, repo_id, endpoint)) from e
    adds = [op for op in ops if isinstance(op, CommitOperationAdd)]
    unchanged = [op.path_in_repo for op in adds if op._remote_oid is not None and op._remote_oid == op._local_oid]
    return PushResult(repo_id, [dest for _, dest in mapping], url=str(repo), unchanged=unchanged,
                      commit_url=info.commit_url if info else None, pr_url=info.pr_url if info else None,
                      deleted=deleted)


def _dry_run(folder: Path, repo_id: str, mapping: list[tuple[str, str]], config: str, private: bool,
             revision: str | None, create_pr: bool, message: str, token_env: str | None) -> PushResult:
    """What ``push`` would send; the repo's files are listed (read only) when that works."""
    from synthkit.hub import repo_files

    remote, why = repo_files.try_list(repo_id, revision, token_env)
    deleted = repo_files.stale(remote, {dest for _, dest in mapping}, config) if remote is not None else None
    exists = remote is not None and why != "new"
    settings = {"branch": revision or "main", "pull request": "yes" if create_pr else "no",
                "visibility": ("kept as it is (the repo exists)" if exists else "private" if private else "public"),
                "config": config, "message": message}
    if remote is None:
        settings["deletions"] = f"unknown ({why})"
    return PushResult(repo_id, [dest for _, dest in mapping], dry_run=True, deleted=deleted, settings=settings,
                      sizes={dest: (folder / src).stat().st_size for src, dest in mapping})


def describe(result: PushResult, folder: Path) -> str:
    """What the CLI prints."""
    if result.dry_run:
        lines = [f"would upload {len(result.files)} files to {result.repo_id} in one commit:"]
        lines += [f"  {f}  ({result.sizes.get(f, 0)} bytes)" for f in result.files]
        if result.deleted is not None:
            lines.append(f"and delete {len(result.deleted)} files of an earlier push" + (":" if result.deleted else ""))
            lines += [f"  - {f}" for f in result.deleted]
        lines += [f"{k}: {v}" for k, v in result.settings.items()]
        return "\n".join(lines)
    if not result.uploaded and not result.deleted:
        return f"nothing to push: {result.repo_id} already has these {len(result.files)} files ({result.url})"
    where = result.pr_url or result.commit_url or result.url
    gone = f", {len(result.deleted)} deleted" if result.deleted else ""
    return (f"pushed {len(result.uploaded)} files ({len(result.unchanged)} unchanged{gone}) to {result.repo_id} "
            f"in one commit: {where}")


def _default_message(folder: Path, n_files: int, config: str = "default") -> str:
    where = "" if config == "default" else f" as config {config}"
    try:
        report = json.loads((folder / layout.REPORT).read_text())
        return f"synthkit: {report.get('name', folder.name)} ({report.get('rows_out', '?')} rows){where}"
    except (OSError, ValueError):
        return f"synthkit: {folder.name} ({n_files} files){where}"


def _explain(e: Exception, repo_id: str, endpoint: str) -> str:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    text = " ".join(str(e).split())[:300]
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if getattr(e, "response", None) is not None else None
        said = " ".join((getattr(e, "server_message", None) or text).split())[:200]
        if status in (401, 403):
            return (f"permission denied (HTTP {status}): the Hub refused to write to {repo_id}: {said}. "
                    "Use a token with write access to it (https://huggingface.co/settings/tokens)")
        if status == 404:
            return f"not found (HTTP 404) while pushing to {repo_id}: {said}. Check the repo id and --revision"
        return f"the Hub answered HTTP {status} while pushing to {repo_id}: {said}"
    if isinstance(e, OfflineModeIsEnabled):
        return "cannot push: offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set); unset it and run again"
    if isinstance(e, (OSError, TimeoutError)) or _is_transport_error(e):
        return (f"connection error: could not reach the Hub at {endpoint} ({type(e).__name__}: {text}); "
                "nothing was committed, run the same command again")
    return f"push to {repo_id} failed: {type(e).__name__}: {text}"


def _is_transport_error(e: Exception) -> bool:
    """httpx-style transport errors (the client's HTTP library), by name, to avoid importing it."""
    return any(c.__name__ in ("TransportError", "ConnectError", "TimeoutException", "NetworkError")
               for c in type(e).__mro__)
