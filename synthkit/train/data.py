"""Trainer input: a dataset's ``messages`` column, tokenised with an assistant-only loss mask.

- ``load_source(source, split)`` reads a ``save_to_disk`` folder, a local folder
  ``load_dataset`` reads, else the Hub, and checks for a non-empty ``messages``
  column; ``load_messages`` keeps that column only.
- ``split_by_task(ds, fraction, seed)`` holds out ``fraction`` of the *tasks*
  (``meta.task_id``, else ``instruction``, else the first user turn), those with the
  smallest sha256(seed, task), so no task lands on both sides.
- ``messages`` must be a list of ``{"role", "content"}`` (system/user/assistant,
  string content, at least one assistant turn); else ``DataError`` naming the row.
- ``tokenize_chat`` labels only the assistant turns' tokens (and their end-of-turn
  marker); every other label is -100. Turns are bounded by character offsets of the
  rendered prefixes; a chat template that does not render a prefix of the
  conversation as a prefix of the text is refused with a ``DataError``.
"""

from __future__ import annotations

import hashlib
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
    return load_source(source, split).select_columns(["messages"])


def load_source(source: str, split: str = "train") -> "datasets.Dataset":
    """A saved dataset (disk) or a hub dataset, every column, checked to have ``messages`` rows."""
    import datasets

    path = Path(source).expanduser()
    if path.is_dir() and not _saved_to_disk(path):
        # The Hub layout `save` writes (data/*.parquet + README.md), or any folder load_dataset reads.
        try:
            ds = datasets.load_dataset(str(path), split=split)
        except Exception as e:  # datasets raises many types; all mean "cannot read this folder"
            raise DataError(f"dataset {source}: neither a save_to_disk folder nor one load_dataset reads "
                            f"(split '{split}'): {e}") from None
    elif path.exists():
        try:
            ds = datasets.load_from_disk(str(path))
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
    return ds


def _saved_to_disk(path: Path) -> bool:
    """Whether ``path`` is a ``save_to_disk`` folder (a Dataset's or a DatasetDict's)."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def task_of(row: dict) -> str:
    """The task a row belongs to, for the held-out split."""
    meta = row.get("meta")
    if isinstance(meta, dict) and meta.get("task_id") is not None:
        return f"task_id:{meta['task_id']}"
    if isinstance(row.get("instruction"), str):
        return f"instruction:{row['instruction']}"
    first = next((m.get("content") for m in row.get("messages") or [] if isinstance(m, dict)
                  and m.get("role") == "user"), None)
    return f"user:{first}"


def split_by_task(ds: "datasets.Dataset", fraction: float, seed: int, source: str = ""
                  ) -> tuple["datasets.Dataset", "datasets.Dataset | None"]:
    """(train, held out) ``messages`` datasets; held out is None when ``fraction`` is 0."""
    if fraction <= 0:
        return ds.select_columns(["messages"]), None
    cols = [c for c in ("meta", "instruction", "messages") if c in ds.column_names]
    tasks = [task_of(row) for row in ds.select_columns(cols)]
    distinct = sorted(set(tasks), key=lambda t: hashlib.sha256(f"{seed}:{t}".encode()).hexdigest())
    if len(distinct) < 2:
        raise DataError(f"dataset {source}: eval_fraction needs at least 2 tasks to hold one out; all "
                        f"{len(tasks)} rows belong to one (by meta.task_id, else instruction, else first user turn)")
    n_eval = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    held = set(distinct[:n_eval])
    eval_idx = [i for i, t in enumerate(tasks) if t in held]
    train_idx = [i for i, t in enumerate(tasks) if t not in held]
    log.info("eval_fraction %g: %d of %d tasks (%d of %d rows) held out", fraction, n_eval, len(distinct),
             len(eval_idx), len(tasks))
    msgs = ds.select_columns(["messages"])
    return msgs.select(train_idx), msgs.select(eval_idx)


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
