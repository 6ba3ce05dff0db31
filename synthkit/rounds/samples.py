"""What a round trains on: synthesis samples (SCoder) or instruction rows (GiFT, RFT).

A synthesis sample is the ``synthesis`` column ``synthesize`` writes:
``{style, prompt, answer}``, the prompt as chat turns (system turn included;
a completion-style prompt is one user turn holding the whole document) and the
raw answer. Its training conversation is ``prompt + [assistant: answer]``: the
user turn holds the seed snippet, the assistant turn the whole answer
(problem, solution, tests). Instruction rows train on their ``messages``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthkit.errors import DataError

if TYPE_CHECKING:
    import datasets


def sample_messages(sample: Any, where: str) -> list[dict[str, str]]:
    """The training conversation of one synthesis sample ``{prompt, answer}``."""
    if not isinstance(sample, dict) or "prompt" not in sample or "answer" not in sample:
        raise DataError(f"{where}: expected a synthesis sample {{prompt, answer}}, got {str(sample)[:120]!r}")
    prompt, answer = sample["prompt"], sample["answer"]
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    ok = isinstance(turns, list) and turns and all(
        isinstance(t, dict) and t.get("role") in ("system", "user") and isinstance(t.get("content"), str)
        for t in turns)
    if not ok or not isinstance(answer, str) or not answer.strip():
        raise DataError(f"{where}: `prompt` must be text or a list of system/user turns and `answer` a "
                        "non-empty string")
    return [{"role": t["role"], "content": t["content"]} for t in turns] + [{"role": "assistant", "content": answer}]


def training_rows(ds: "datasets.Dataset", train_on: str, where: str) -> "datasets.Dataset":
    """``ds`` as the trainer's input: ``id`` (the kept row's, so a training row leads back to its seed)
    and ``messages``."""
    import datasets

    if train_on == "instruction":
        if "id" not in ds.column_names:
            ds = ds.add_column("id", [str(i) for i in range(len(ds))])
        return ds.select_columns(["id", "messages"])
    if len(ds) and "synthesis" not in ds.column_names:
        raise DataError(f"{where}: `iterations.train_on: synthesis` needs the `synthesis` column synthesize writes, "
                        f"but the rows have only {', '.join(ds.column_names)} (does `save: columns:` drop it?); "
                        "set `iterations.train_on: instruction` to train on `messages`")
    ids = ds["id"] if "id" in ds.column_names else [str(i) for i in range(len(ds))]
    rows = [{"id": i, "messages": sample_messages(s, f"{where}, row {i}")}
            for i, s in zip(ids, ds["synthesis"] if len(ds) else [])]
    return datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({"id": [], "messages": []})


def load_sample_file(path: Path) -> "datasets.Dataset":
    """A file of teacher synthesis samples as ``id, messages`` rows."""
    import datasets

    if not path.is_file():
        raise DataError(f"iterations.bootstrap.file: {path} does not exist")
    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
    if kind is None:
        raise DataError(f"iterations.bootstrap.file: {path}: expected a .jsonl, .json or .parquet file")
    ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    out = []
    for i, row in enumerate(ds):
        sample = row.get("synthesis") or {"prompt": row.get("prompt"), "answer": row.get("answer")}
        out.append({"id": str(row.get("id") or f"teacher-{i}"),
                    "messages": sample_messages(sample, f"iterations.bootstrap.file {path}, row {i}")})
    if not out:
        raise DataError(f"iterations.bootstrap.file: {path} holds no samples")
    return datasets.Dataset.from_list(out)
