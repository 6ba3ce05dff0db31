"""Publish a folder that ``save`` wrote: one commit to a Hub dataset repo.

``push(folder, repo_id)`` uploads ``layout.upload_files(folder)`` (the card and
its images, the data files, the run files; never ``save_to_disk/``) through
``huggingface_hub``: ``create_repo(exist_ok=True)``, then a single
``create_commit`` holding every file. The card is uploaded as written, except
that its load line names ``repo_id``. ``upload_folder`` is not used: with
``hf_xet`` installed it may split a large folder into several commits.

What it guarantees:
- One commit or none. Files whose content the repo already has at that
  revision are left out, so pushing the same folder twice adds nothing (the
  second push makes no commit). A failure before the commit leaves the repo as
  it was (at most an empty repo from ``create_repo``, which a retry reuses);
  large files already sent to the Hub's storage are content-addressed, so a
  retry does not duplicate them.
- The token comes from ``--token-env NAME`` when given, else from
  ``huggingface_hub.get_token()`` (``HF_TOKEN``, then what ``hf auth login``
  stored). Without one, it fails before any request.
- Errors are one line (``PushError``): HTTP 401/403 as a permission error, a
  refused or dropped connection as a connection error, anything else the Hub
  answers with its status and message.
What it does not do: check that the repo's existing card or files belong to
this dataset (a push replaces same-named files), or delete files the repo has
and the folder does not.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from synthkit.errors import DataError, SynthkitError
from synthkit.hub import layout
from synthkit.hub.card import load_snippet

log = logging.getLogger(__name__)


class PushError(SynthkitError):
    """A push failed; the message is one line and says what to do."""


@dataclass
class PushResult:
    repo_id: str
    files: list[str]
    url: str = ""
    unchanged: list[str] = field(default_factory=list)
    commit_url: str | None = None
    pr_url: str | None = None
    dry_run: bool = False

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
         dry_run: bool = False) -> PushResult:
    """Upload ``folder`` to the dataset repo ``repo_id`` in one commit (see module doc)."""
    folder = Path(folder)
    files = check_folder(folder)
    if dry_run:
        return PushResult(repo_id, files, dry_run=True)
    token = resolve_token(token_env)
    from huggingface_hub import CommitOperationAdd, HfApi, constants

    endpoint = constants.ENDPOINT
    card = (folder / layout.CARD).read_text().replace(load_snippet(), load_snippet(repo_id)).encode()
    ops = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=card if f == layout.CARD else str(folder / f))
           for f in files]
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private or None, exist_ok=True)
        if revision and not create_pr:
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        info = api.create_commit(repo_id, ops, repo_type="dataset", revision=revision, create_pr=create_pr,
                                 commit_message=message or _default_message(folder, len(files)))
    except Exception as e:  # noqa: BLE001 - every failure becomes one line; see _explain
        raise PushError(_explain(e, repo_id, endpoint)) from e
    unchanged = [op.path_in_repo for op in ops if op._remote_oid is not None and op._remote_oid == op._local_oid]
    return PushResult(repo_id, files, url=str(repo), unchanged=unchanged, commit_url=info.commit_url,
                      pr_url=info.pr_url)


def describe(result: PushResult, folder: Path) -> str:
    """What the CLI prints."""
    if result.dry_run:
        lines = [f"would upload {len(result.files)} files to {result.repo_id} in one commit:"]
        lines += [f"  {f}  ({(Path(folder) / f).stat().st_size} bytes)" for f in result.files]
        return "\n".join(lines)
    if not result.uploaded:
        return f"nothing to push: {result.repo_id} already has these {len(result.files)} files ({result.url})"
    where = result.pr_url or result.commit_url or result.url
    return (f"pushed {len(result.uploaded)} files ({len(result.unchanged)} unchanged) to {result.repo_id} "
            f"in one commit: {where}")


def _default_message(folder: Path, n_files: int) -> str:
    try:
        report = json.loads((folder / layout.REPORT).read_text())
        return f"synthkit: {report.get('name', folder.name)} ({report.get('rows_out', '?')} rows)"
    except (OSError, ValueError):
        return f"synthkit: {folder.name} ({n_files} files)"


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
