"""Helpers shared by the backends: prompt rendering and stop-string handling.

A prompt is a plain string (tokenised as-is, with the tokenizer's own special
tokens such as BOS) or a chat (rendered with the model's chat template and the
generation prompt appended, then tokenised WITHOUT adding special tokens again,
since the template already holds them). The transformers and vLLM backends
both go through ``prompt_ids`` so the same prompt means the same tokens.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from synthkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def check_prompt(prompt: Any, index: int) -> None:
    """Raise DataError unless ``prompt`` is a string or a list of role/content dicts."""
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in prompt
    ):
        return
    raise DataError(
        f"prompt #{index} must be a string or a list of {{'role', 'content'}} dicts, got {type(prompt).__name__}: "
        f"{str(prompt)[:80]!r}"
    )


def render_text(tokenizer: Any, prompt: Any) -> tuple[str, bool]:
    """Return (text, is_templated): chats go through the chat template."""
    if isinstance(prompt, str):
        return prompt, False
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "llm.model has no chat template, so chat prompts cannot be rendered; use plain string prompts "
            "or a chat model"
        )
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return text, True


def prompt_ids(tokenizer: Any, prompt: Any) -> list[int]:
    """Token ids of a prompt (see the module docstring for the special-token rule)."""
    text, templated = render_text(tokenizer, prompt)
    return list(tokenizer(text, add_special_tokens=not templated)["input_ids"])


def continuation_ids(tokenizer: Any, continuation: str) -> list[int]:
    """Continuation tokens, tokenised on their own (no special tokens), as
    lm-evaluation-harness does; the model scores them right after the prompt."""
    return list(tokenizer(continuation, add_special_tokens=False)["input_ids"])


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Truncate ``text`` before the earliest stop string; report whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
