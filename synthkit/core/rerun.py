"""What a saved dataset needs to rerun itself: its ``pipeline.yaml`` record and its checks.

``record(pipe, stages)`` is the config ``save`` writes as ``pipeline.yaml``: what the
user set (with ``name`` and ``seed``), every key of the chosen ``llm`` backend with
its default pinned, every path absolute (a packaged file as ``synthkit:<path>``), and
``inputs``: each seed input by ``sha256`` (local), name (bundled) or id and revision (Hub).

``verify_inputs(inputs)`` runs first when such a file is run: a moved or changed
file fails with one line naming it and its recorded hash. ``rerun_overrides(dataset_dir,
out)`` sends a rerun's run folders and ``save`` paths under ``out``.

Limit: the model is recorded as configured; its weights are not hashed.
Details: docs/runs.md, "Rerunning a saved dataset".
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthkit.core.stage import PACKAGE_DIR, PACKAGE_REF
from synthkit.errors import ConfigError, DataError
from synthkit.llm.base import BACKEND_KEYS

if TYPE_CHECKING:
    from synthkit.core.pipeline import Pipeline
    from synthkit.core.stage import Stage

PATH_KEYS = ("path", "template_file", "summary_template_file", "cache_dir", "file")
MAYBE_PATH_KEYS = ("tasks", "path_or_id")   # a name (bundled, a Hub id) or a local path


def sha256_of(path: Path) -> str:
    """sha256 of a file's bytes; of a folder: of each file's relative path and sha256, sorted."""
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\0{sha256_of(f)}\n".encode())
        return h.hexdigest()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_input(path: Path, stage: int, key: str) -> dict[str, Any]:
    """The ``inputs`` entry of a local file or folder (a file shipped in synthkit: ``synthkit:<file>``)."""
    return {"stage": stage, "key": key, "file": _portable(path.resolve()), "sha256": sha256_of(path)}


def _portable(path: Path) -> str:
    """``path``, or ``synthkit:<relative path>`` for a file inside the installed package,
    so a dataset made from a bundled seed file reruns on another install."""
    try:
        return PACKAGE_REF + path.relative_to(PACKAGE_DIR).as_posix()
    except ValueError:
        return str(path)


def verify_inputs(inputs: list[dict[str, Any]] | None) -> None:
    """Every recorded local input still exists with the same content, else one-line ``DataError``."""
    for item in inputs or []:
        if "file" not in item:
            continue
        ref = str(item["file"])
        path = PACKAGE_DIR / ref[len(PACKAGE_REF):] if ref.startswith(PACKAGE_REF) else Path(ref)
        want = item.get("sha256")
        if not path.exists():
            raise DataError(f"seed input {path} (recorded sha256 {want}) is missing: it was moved or deleted; "
                            f"put it back, or point stages.{item.get('stage')}.{item.get('key', 'path')} and its "
                            "`inputs:` entry at the new place")
        got = sha256_of(path)
        if want and got != want:
            raise DataError(f"seed input {path} changed: recorded sha256 {want}, now {got}; "
                            "restore it, or remove its entry from `inputs:` to run on the new content")


def llm_record(llm: Any) -> dict[str, Any]:
    """The LLM config with every key its backend reads and none that only others read."""
    return {k: v for k, v in llm.model_dump().items() if llm.backend in BACKEND_KEYS.get(k, {llm.backend})}


def absolute(node: Any, base: Path) -> Any:
    """A copy of a stage config with its path-valued keys made absolute against ``base``."""
    if isinstance(node, list):
        return [absolute(v, base) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if isinstance(v, str) and (k in PATH_KEYS or (k in MAYBE_PATH_KEYS and _is_local(v, base))):
            v = _portable(_resolve(v, base))
        out[k] = absolute(v, base)
    return out


def _resolve(value: str, base: Path) -> Path:
    if value.startswith(PACKAGE_REF):
        return PACKAGE_DIR / value[len(PACKAGE_REF):]
    p = Path(value).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _is_local(value: str, base: Path) -> bool:
    return ":" not in value.split("/", 1)[0] and _resolve(value, base).exists()


def record(pipe: "Pipeline", stages: "list[Stage]") -> dict[str, Any]:
    """The ``pipeline.yaml`` of a saved dataset (see the module doc)."""
    cfg = pipe.config
    out: dict[str, Any] = {"name": cfg.name, "seed": cfg.seed, "workdir": str(pipe.workdir),
                           "llm": llm_record(cfg.llm)}
    user = cfg.model_dump(exclude_unset=True, exclude={"name", "seed", "workdir", "llm", "stages", "inputs"})
    out.update({k: v for k, v in user.items() if v != type(cfg).model_fields[k].get_default(call_default_factory=True)
                and not (k == "ray" and not v)})
    out["stages"] = [absolute(dict(s), pipe.base_dir) for s in cfg.stages]
    if cfg.iterations is not None:   # rounds: a bootstrap `file`, an eval `tasks` file
        out["iterations"] = absolute(cfg.iterations, pipe.base_dir)
    inputs = [item for stage in stages for item in stage.inputs()]
    if inputs:
        out["inputs"] = inputs
    return out


def dataset_pipeline(target: str | Path) -> Path | None:
    """The ``pipeline.yaml`` when ``target`` is a saved dataset folder (or that file), else None."""
    p = Path(target)
    folder = p if p.is_dir() else p.parent
    if (folder / "pipeline.yaml").is_file() and (folder / "report.json").is_file() and (folder / "data").is_dir():
        return folder / "pipeline.yaml"
    if p.is_dir():
        raise ConfigError(f"{p}: a folder, but not a saved dataset (no pipeline.yaml, report.json and data/); "
                          "give a pipeline file or the folder the `save` stage wrote")
    return None


def rerun_overrides(raw: dict[str, Any], dataset: Path, out: Path) -> list[str]:
    """``-o`` overrides sending a rerun's run folders to ``out/runs`` and each save stage's
    dataset to ``out/<its folder name>`` (``out/dataset`` for a save to the dataset itself)."""
    out = out.resolve()
    overrides = [f"workdir={out / 'runs'}"]
    for i, stage in enumerate(raw.get("stages") or []):
        if isinstance(stage, dict) and stage.get("stage") == "save" and isinstance(stage.get("path"), str):
            overrides.append(f"stages.{i}.path={out / (Path(stage['path']).name or 'dataset')}")
    return overrides


def rerun_command(where: str = "DATASET_DIR", repo_id: str | None = None) -> str:
    """The shell command that reruns a saved dataset (from the Hub when ``repo_id`` is given)."""
    if repo_id:
        return (f"hf download {repo_id} --repo-type dataset --local-dir {where} && "
                f"synthkit run {where}")
    return f"synthkit run {where}"


def attach(pipe: "Pipeline", stages: "list[Stage]") -> None:
    """Check the pipeline's recorded ``inputs`` and give every stage's context the
    record (computed when asked: hashing seed files is ``save``'s cost only)."""
    verify_inputs(pipe.config.inputs)
    for stage in stages:
        stage.ctx.rerun = lambda: record(pipe, stages)


def plan(target: str | Path, out: str | Path | None = None) -> tuple[Path, list[str], Path | None]:
    """What ``synthkit run TARGET`` runs: (pipeline file, extra overrides, rerun output
    folder). For a saved dataset (its folder or its pipeline.yaml) the outputs go
    under ``out`` (default: ``<DATASET_DIR>-rerun`` beside it); otherwise unchanged."""
    from synthkit.core.config import load_raw

    saved = dataset_pipeline(target)
    if saved is None:
        return Path(target), [], None
    folder = saved.parent.resolve()
    dest = Path(out) if out else folder.with_name(f"{folder.name}-rerun")
    return saved, rerun_overrides(load_raw(saved), folder, dest), dest.resolve()
