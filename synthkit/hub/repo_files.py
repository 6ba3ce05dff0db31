"""Where a saved dataset's files go in a Hub repo, which old files a push deletes, and
the repo card that lists every config. ``push`` calls these; see its module doc.

Layout in the repo, as ``datasets``' ``push_to_hub`` lays it out:

    default config   README.md, images/, data/<split>-*.parquet, pipeline.yaml, report.json, ...
    config NAME      NAME/<split>-*.parquet, and NAME/README.md, NAME/images/, NAME/pipeline.yaml, ...

The root README.md's metadata lists every config (``configs``, ``dataset_info``
with ``config_name``); pushing one config keeps the others' entries. Stale
files: under ``data/`` and ``images/`` for the default config, under ``NAME/``
for config NAME, every file the repo has there that this push does not upload.
"""

from __future__ import annotations

import re
from typing import Any

from synthkit.core.rerun import rerun_command
from synthkit.errors import ConfigError
from synthkit.hub import layout
from synthkit.hub.card import RERUN_DIR, load_snippet

DEFAULT = "default"
CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_repo_id(repo_id: str) -> None:
    """``namespace/name`` as the Hub spells repo ids, else a one-line ``ConfigError``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ConfigError(f"repo id '{repo_id}' is not valid: expected namespace/name (letters, digits, "
                          "'-', '_', '.'; at most 96 characters), e.g. my-org/code-sft") from None
    if "/" not in repo_id:
        raise ConfigError(f"repo id '{repo_id}': give the namespace too (your user or org), e.g. my-org/{repo_id}")


def check_config(name: str | None) -> str:
    if name is None or name == DEFAULT:
        return DEFAULT
    if not CONFIG_NAME.fullmatch(name) or name in (layout.DATA, layout.IMAGES):
        raise ConfigError(f"--config-name '{name}': expected letters, digits, '_', '-' or '.', not "
                          f"'{layout.DATA}' or '{layout.IMAGES}'")
    return name


def paths_in_repo(files: list[str], config: str) -> list[tuple[str, str]]:
    """(local file relative to the folder, its path in the repo) pairs; a config's card
    goes to the root (merged, ``merged_card``) and, as written, to ``<config>/README.md``."""
    if config == DEFAULT:
        return [(f, f) for f in files]
    out = []
    for f in files:
        if f == layout.CARD:
            out += [(f, layout.CARD), (f, f"{config}/{layout.CARD}")]
        elif f.startswith(f"{layout.DATA}/"):
            out.append((f, f"{config}/{f.split('/', 1)[1]}"))
        else:
            out.append((f, f"{config}/{f}"))
    return out


def card_text(ours: str, config: str, repo_id: str) -> str:
    """The card as written, its load line naming the repo (and the config)."""
    snippet = load_snippet(repo_id)
    if config != DEFAULT:
        snippet = snippet.replace(f'"{repo_id}",', f'"{repo_id}", "{config}",')
    rerun = rerun_command(repo_id.split("/")[-1], repo_id)
    return ours.replace(load_snippet(), snippet).replace(rerun_command(RERUN_DIR), rerun)


def stale(remote: list[str], uploading: set[str], config: str) -> list[str]:
    """The files an earlier push of this config left that this one does not upload."""
    roots = (f"{layout.DATA}/", f"{layout.IMAGES}/") if config == DEFAULT else (f"{config}/",)
    return sorted(p for p in remote if p.startswith(roots) and p not in uploading)


def _config_entries(meta: dict[str, Any], config: str | None = None) -> tuple[list[dict], list[dict]]:
    """(configs, dataset_info entries) of card metadata, each named (``config`` renames the default)."""
    configs = [dict(c) for c in meta.get("configs") or []]
    infos = meta.get("dataset_info") or []
    infos = [dict(i) for i in (infos if isinstance(infos, list) else [infos])]
    for entry in configs + infos:
        entry.setdefault("config_name", DEFAULT)
        if config is not None:
            entry["config_name"] = config
    return configs, infos


def merged_card(ours: str, remote: str | None, config: str, repo_id: str) -> str:
    """The repo's README.md: this card (default config, or no card yet) or the repo's own
    body, with ``configs`` and ``dataset_info`` holding every config, this one replaced."""
    from huggingface_hub import DatasetCard, DatasetCardData

    text = card_text(ours, config, repo_id)
    old = DatasetCard(remote) if remote else None
    others = [c for c in _config_entries(old.data.to_dict())[0] if c["config_name"] != config] if old else []
    if config == DEFAULT and not others:
        return text   # this card as written: nothing else to list
    card = DatasetCard(text)
    meta = card.data.to_dict()
    configs, infos = _config_entries(meta, config)
    for c in configs:
        for df in c.get("data_files") or []:
            if config != DEFAULT and str(df.get("path", "")).startswith(f"{layout.DATA}/"):
                df["path"] = f"{config}/{df['path'].split('/', 1)[1]}"
    if old is not None:
        old_configs, old_infos = _config_entries(old.data.to_dict())
        configs = [c for c in old_configs if c["config_name"] != config] + configs
        infos = [i for i in old_infos if i["config_name"] != config] + infos
        if config != DEFAULT:   # the repo's page stays the page; only its metadata learns this config
            card, meta = old, old.data.to_dict()
    configs.sort(key=lambda c: c["config_name"] != DEFAULT)
    meta["configs"] = configs
    meta["dataset_info"] = infos
    card.data = DatasetCardData(**meta)
    return str(card)


def read_remote(api: Any, repo_id: str, path: str, revision: str | None) -> str | None:
    """A text file of the repo at ``revision`` (None when it has none)."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(repo_id, path, repo_type="dataset", revision=revision, endpoint=api.endpoint)
    response = get_session().get(url, headers=build_hf_headers(token=api.token), follow_redirects=True)
    if response.status_code == 404:
        return None
    hf_raise_for_status(response)
    return response.content.decode()


def try_list(repo_id: str, revision: str | None, token_env: str | None) -> tuple[list[str] | None, str]:
    """(the repo's files, "") when they can be listed read-only; ([], "new") when the repo or
    branch does not exist; (None, why) otherwise. Never writes."""
    import os

    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    token = (os.environ.get(token_env) if token_env else get_token()) or None
    try:
        return HfApi(token=token).list_repo_files(repo_id, repo_type="dataset", revision=revision), ""
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return [], "new"
    except Exception as e:  # noqa: BLE001 - offline, no access: the dry run says it could not tell
        return None, f"could not list {repo_id}: {type(e).__name__}: {' '.join(str(e).split())[:120]}"
