"""Lengths in tokens of the model that generated a dataset, for its data card.

``generating_tokenizer(pipeline)`` loads the tokenizer of the pipeline's
``llm.model`` (``embedded``: the packaged SmolLM2's; a local folder or a LoRA
checkpoint: the one saved there; a Hub id: only if it is in the local Hub cache,
since a card is rendered offline). It returns ``(tokenizer, model name)`` or
``(None, why not)``: the dummy backend has no tokenizer, nor has a model that
cannot be found, and the card then counts characters and says why.

``token_lengths(table, tokenizer)`` counts the tokens (no special tokens) of
``instruction`` and ``response``, over the first ``MAX_ROWS`` rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_ROWS = 20_000  # rows tokenised for the card's length table and histograms
COLUMNS = ("instruction", "response")


def generating_tokenizer(pipeline: dict[str, Any]) -> tuple[Any, str]:
    llm = pipeline.get("llm") if isinstance(pipeline.get("llm"), dict) else {}
    backend, model = llm.get("backend", "transformers"), str(llm.get("model", "embedded"))
    if backend == "dummy":
        return None, "the dummy backend has no tokenizer"
    try:
        from transformers import AutoTokenizer

        if model == "embedded":
            from synthkit.llm.embedded import embedded_model_dir

            return AutoTokenizer.from_pretrained(embedded_model_dir()), "embedded (SmolLM2-135M-Instruct)"
        local = Path(model).expanduser().is_dir()
        return AutoTokenizer.from_pretrained(model, local_files_only=not local), model
    except Exception as e:  # noqa: BLE001 - any failure means: count characters instead
        log.info("card: no tokenizer for %s (%s); lengths in characters", model, e)
        return None, f"the tokenizer of `{model}` could not be loaded here"


def token_lengths(table, tokenizer: Any) -> dict[str, list[int]]:
    """Tokens per row of each text column present, over the first ``MAX_ROWS`` rows."""
    from synthkit.hub.summary import is_text

    out = {}
    head = table.slice(0, MAX_ROWS)
    for col in COLUMNS:
        if col in head.column_names and is_text(head.column(col).type):
            texts = [t for t in head.column(col).to_pylist() if t is not None]
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
            out[col] = [len(x) for x in ids]
    return out
