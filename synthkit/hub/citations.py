"""BibTeX of the methods a pipeline used, for its data card.

``methods_used(pipeline)`` reads a pipeline config (the dict of its
``pipeline.yaml``) and returns ``[(method, why)]`` in a fixed order: which
stage (or training setting) makes the data owe that paper. ``BIBTEX[method]``
is the entry. The mapping:

- ``synthesize``: OSS-Instruct (seed snippet -> problem, solution, tests) and
  SCoder (its multi-checkpoint sampling).
- ``judge`` with ``mode: per_aspect``: SCoder's multi-aspect scoring.
- ``filter_influence``: LESS (gradient influence) and SCoder (which uses it).
- ``gibbs_resample``, ``perplexity_select``, ``rft_sample``: GiFT (RFT is its
  baseline, as the GiFT paper defines it).
- ``ib.enabled`` in the rounds' ``iterations.train``: IB-FT.
"""

from __future__ import annotations

from typing import Any

BIBTEX = {
    "OSS-Instruct": """@article{wei2023magicoder,
  title   = {Magicoder: Source Code Is All You Need},
  author  = {Wei, Yuxiang and Wang, Zhe and Liu, Jiawei and Ding, Yifeng and Zhang, Lingming},
  journal = {arXiv preprint arXiv:2312.02120},
  year    = {2023}
}""",
    "SCoder": """@article{zhang2025scoder,
  title   = {{SCoder}: Iterative Self-Distillation for Bootstrapping Small-Scale Data Synthesizers to Empower Code {LLMs}},
  author  = {Zhang, Xinyu and Zhou, Changzhi and Hu, Linmei and Zhang, Luhao and Chen, Xiancai and Fu, Haomin and
             Yang, Yang and Zhang, Mengdi},
  journal = {arXiv preprint arXiv:2509.07858},
  year    = {2025}
}""",
    "GiFT": """@inproceedings{li2025gift,
  title     = {{GiFT}: {G}ibbs Fine-Tuning for Code Generation},
  author    = {Li, Haochen and Feng, Wanjin and Zhou, Xin and Shen, Zhiqi},
  booktitle = {Proceedings of the 63rd Annual Meeting of the Association for Computational Linguistics
               (Volume 1: Long Papers)},
  pages     = {12271--12284},
  year      = {2025},
  note      = {arXiv:2502.11466}
}""",
    "LESS": """@inproceedings{xia2024less,
  title     = {{LESS}: Selecting Influential Data for Targeted Instruction Tuning},
  author    = {Xia, Mengzhou and Malladi, Sadhika and Gururangan, Suchin and Arora, Sanjeev and Chen, Danqi},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2024},
  note      = {arXiv:2402.04333}
}""",
    "IB-FT": """@article{wang2025breaking,
  title   = {Breaking Memorization Barriers in {LLM} Code Fine-Tuning via Information Bottleneck for Improved
             Generalization},
  author  = {Wang, Changsheng and Chen, Xin and Liu, Sijia and Ding, Ke},
  journal = {arXiv preprint arXiv:2510.16022},
  year    = {2025}
}""",
}

_BY_STAGE = {"synthesize": ("OSS-Instruct", "SCoder"), "filter_influence": ("LESS", "SCoder"),
             "gibbs_resample": ("GiFT",), "perplexity_select": ("GiFT",), "rft_sample": ("GiFT",)}


def methods_used(pipeline: dict[str, Any]) -> list[tuple[str, str]]:
    """``[(method, why)]``, each method once, in ``BIBTEX`` order; ``why`` names the stages."""
    found: dict[str, list[str]] = {}
    for i, st in enumerate(pipeline.get("stages") or []):
        if not isinstance(st, dict):
            continue
        name = st.get("stage")
        methods = _BY_STAGE.get(name, ())
        if name == "judge" and st.get("mode") == "per_aspect":
            methods = ("SCoder",)
        for m in methods:
            found.setdefault(m, []).append(f"stage {i} `{name}`")
    train = (pipeline.get("iterations") or {}).get("train") if isinstance(pipeline.get("iterations"), dict) else None
    if isinstance(train, dict) and isinstance(train.get("ib"), dict) and train["ib"].get("enabled"):
        found.setdefault("IB-FT", []).append("`iterations.train.ib.enabled`")
    return [(m, ", ".join(found[m])) for m in BIBTEX if m in found]


def card_section(pipeline: dict[str, Any]) -> list[str]:
    """The card's ``## Citations`` lines (none when no method is recognised)."""
    used = methods_used(pipeline)
    if not used:
        return []
    lines = ["## Citations", "", "The pipeline used these methods; please cite them with this dataset:", ""]
    for method, why in used:
        lines += [f"**{method}** ({why}):", "", "```bibtex", BIBTEX[method], "```", ""]
    return lines
