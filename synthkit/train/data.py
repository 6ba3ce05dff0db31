"""Trainer input: a synthkit dataset's ``messages`` column, tokenised with an
assistant-only loss mask.

Contract:
- ``load_messages(source, split)`` reads a ``datasets.save_to_disk`` folder when
  ``source`` is an existing path, else the Hub (``load_dataset(source, split)``),
  and keeps the ``messages`` column only.
- Each row's ``messages`` must be a list of ``{"role", "content"}`` mappings,
  roles in system/user/assistant, content a string, with at least one
  assistant turn. Anything else raises ``DataError`` naming the dataset, the
  row and what was expected.
- ``tokenize_chat`` renders the conversation with the tokenizer's chat template
  and labels only the tokens of the assistant turns (their content and the
  template's end-of-turn marker, so the model learns to stop); every other
  token's label is -100. The mask is found by character offsets: the text the
  template renders up to each assistant turn's generation prompt, and up to the
  end of that turn, bound the turn. That works for any template that renders a
  prefix of the conversation as a prefix of the text (ChatML, Llama 3, ...),
  with or without ``{% generation %}`` markers; a template that does not is
  refused with a DataError rather than trained on a wrong mask.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthkit.errors import DataError

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")


def load_messages(source: str, split: str = "train") -> "datasets.Dataset":
    """The ``messages`` column of a saved dataset (disk) or a hub dataset."""
    import datasets

    if Path(source).expanduser().exists():
        try:
            ds = datasets.load_from_disk(str(Path(source).expanduser()))
        except (FileNotFoundError, ValueError) as e:
            raise DataError(f"dataset {source}: not a dataset saved with save_to_disk ({e})") from None
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataError(f"dataset {source}: no split '{split}'. Available: {', '.join(ds)}")
            ds = ds[split]
    else:
        try:
            ds = datasets.load_dataset(source, split=split)
        except Exception as e:  # the hub raises many types; all mean "cannot read this source"
            raise DataError(f"dataset {source}: not a local folder, and the hub load failed: {e}") from None
    if "messages" not in ds.column_names:
        raise DataError(f"dataset {source}: no `messages` column (columns: {', '.join(ds.column_names)}). "
                        "The trainer reads a list of {role, content} per row from `messages`")
    if len(ds) == 0:
        raise DataError(f"dataset {source}: no rows")
    return ds.select_columns(["messages"])


def check_messages(messages: Any, source: str, row: int) -> None:
    """Raise DataError unless ``messages`` is a valid conversation."""
    where = f"dataset {source}, row {row}: messages"
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where} is {type(messages).__name__}; expected a non-empty list of {{role, content}}")
    for j, m in enumerate(messages):
        if not isinstance(m, dict) or not {"role", "content"} <= set(m):
            raise DataError(f"{where}[{j}] is {m!r:.80}; expected a mapping with `role` and `content`")
        if m["role"] not in ROLES:
            raise DataError(f"{where}[{j}].role is {m['role']!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(m["content"], str):
            raise DataError(f"{where}[{j}].content is {type(m['content']).__name__}; expected a string")
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where} has no assistant turn; expected at least one (the loss is on assistant tokens)")


def assistant_spans(tokenizer: Any, messages: list[dict], source: str = "", row: int = 0
                    ) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the [start, end) character spans of its
    assistant turns (content plus end-of-turn marker)."""
    def render(msgs: list[dict], gen: bool) -> str:
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    text = render(messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before, through = render(messages[:i], True), render(messages[: i + 1], False)
        start, end = len(before), len(through)
        if not (text.startswith(before) and text.startswith(through) and start <= end):
            raise DataError(f"dataset {source}, row {row}: the chat template does not render a conversation's "
                            "prefix as a prefix of its text, so the assistant tokens cannot be located")
        spans.append((start, end))
    return text, spans


def tokenize_chat(tokenizer: Any, messages: list[dict], source: str = "", row: int = 0) -> dict[str, list[int]]:
    """``input_ids`` of the rendered chat and ``labels`` (-100 off the assistant turns)."""
    text, spans = assistant_spans(tokenizer, messages, source, row)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for tok, (a, _b) in zip(enc["input_ids"], enc["offset_mapping"]):
        # A token belongs to the turn its first character falls in.
        inside = any(s <= a < e for s, e in spans)
        labels.append(tok if inside else -100)
    return {"input_ids": list(enc["input_ids"]), "labels": labels}


def prepare_dataset(ds: "datasets.Dataset", tokenizer: Any, source: str) -> "datasets.Dataset":
    """Validate and tokenise every row; returns columns ``input_ids`` and ``labels``.
    Kept in memory so nothing is written next to the user's dataset."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(f"dataset {source}: the model's tokenizer has no chat template to render `messages` with")

    def one(example: dict, idx: int) -> dict:
        check_messages(example["messages"], source, idx)
        return tokenize_chat(tokenizer, example["messages"], source, idx)

    return ds.map(one, with_indices=True, remove_columns=ds.column_names, keep_in_memory=True,
                  desc="Tokenising messages")
