"""The trainer's input contract: `messages` only, strict checks, assistant-only labels."""

from __future__ import annotations

import pytest

from synthkit.errors import DataError
from synthkit.train.data import (
    check_messages,
    load_messages,
    load_source,
    prepare_dataset,
    split_by_task,
    tokenize_chat,
)


def labelled_text(tok, enc) -> str:
    return tok.decode([t for t, y in zip(enc["input_ids"], enc["labels"]) if y != -100])


def test_labels_cover_exactly_the_assistant_turn(tiny_tokenizer, make_chat):
    msgs = make_chat(3)
    enc = tokenize_chat(tiny_tokenizer, msgs)
    assert enc["input_ids"] == tiny_tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    # The answer and its end-of-turn marker are trained; system, user and the role header are not.
    assert labelled_text(tiny_tokenizer, enc) == msgs[2]["content"] + "<|im_end|>\n"
    labels = [y for y in enc["labels"] if y != -100]
    assert labels == [t for t, y in zip(enc["input_ids"], enc["labels"]) if y != -100]


def test_labels_cover_every_assistant_turn_of_a_multi_turn_chat(tiny_tokenizer, make_chat):
    msgs = make_chat(1, turns=2)
    enc = tokenize_chat(tiny_tokenizer, msgs)
    expected = "".join(m["content"] + "<|im_end|>\n" for m in msgs if m["role"] == "assistant")
    assert labelled_text(tiny_tokenizer, enc) == expected
    # The second user turn sits between the two labelled spans, unlabelled.
    text = tiny_tokenizer.decode(enc["input_ids"])
    assert msgs[3]["content"] in text and msgs[3]["content"] not in labelled_text(tiny_tokenizer, enc)


def test_load_and_prepare_keeps_only_messages(tiny_tokenizer, chat_dataset):
    ds = load_messages(str(chat_dataset))
    assert ds.column_names == ["messages"] and len(ds) == 8
    prepared = prepare_dataset(ds, tiny_tokenizer, str(chat_dataset))
    assert prepared.column_names == ["input_ids", "labels"]
    assert all(any(y != -100 for y in row) for row in prepared["labels"])


def test_missing_messages_column_names_the_dataset(tmp_path, save_rows):
    path = save_rows(tmp_path / "nomsg", [{"instruction": "x", "response": "y"}])
    with pytest.raises(DataError, match=r"nomsg.*no `messages` column \(columns: instruction, response\)"):
        load_messages(str(path))


def test_dataset_dict_split(tmp_path, make_chat):
    import datasets

    d = datasets.DatasetDict({"validation": datasets.Dataset.from_list([{"messages": make_chat(0)}])})
    d.save_to_disk(str(tmp_path / "dd"))
    assert len(load_messages(str(tmp_path / "dd"), split="validation")) == 1
    with pytest.raises(DataError, match="no split 'train'. Available: validation"):
        load_messages(str(tmp_path / "dd"))


@pytest.mark.parametrize("messages, match", [
    ("just text", r"row 5: messages is str; expected a non-empty list"),
    ([], r"row 5: messages is list; expected a non-empty list"),
    ([{"role": "user"}], r"row 5: messages\[0\] .*expected a mapping with `role` and `content`"),
    ([{"role": "bot", "content": "hi"}], r"row 5: messages\[0\].role is 'bot'; expected one of system, user, assistant"),
    ([{"role": "user", "content": 3}], r"row 5: messages\[0\].content is int; expected a string"),
    ([{"role": "user", "content": "hi"}], r"row 5: messages has no assistant turn"),
])
def test_bad_rows_are_refused_with_row_and_expectation(messages, match):
    with pytest.raises(DataError, match=match):
        check_messages(messages, "some/ds", 5)


def test_bad_row_inside_a_dataset_names_path_and_row(tmp_path, tiny_tokenizer, make_chat, save_rows):
    rows = [{"messages": make_chat(i)} for i in range(3)]
    rows[2]["messages"][2]["role"] = "robot"
    path = save_rows(tmp_path / "badrole", rows)
    with pytest.raises(DataError, match=r"dataset .*badrole, row 2: messages\[2\].role is 'robot'"):
        prepare_dataset(load_messages(str(path)), tiny_tokenizer, str(path))


def test_tokenizer_without_chat_template_is_refused(tiny_tokenizer, chat_dataset):
    tok = tiny_tokenizer.__class__(tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<|im_end|>")
    tok.chat_template = None
    with pytest.raises(DataError, match="no chat template"):
        prepare_dataset(load_messages(str(chat_dataset)), tok, str(chat_dataset))


def _first_user(ds) -> list[str]:
    return [m[1]["content"] for m in ds["messages"]]


def test_split_by_task_keeps_each_task_on_one_side(tmp_path, save_rows, make_chat):
    # Three answers per task; tasks named by meta.task_id on half the rows, by instruction on the others.
    rows = []
    for i in range(30):
        task = i // 3
        row = {"instruction": f"task {task}", "messages": make_chat(task), "meta": {"task_id": None}}
        if task % 2:
            row["meta"] = {"task_id": f"t{task}"}
        rows.append(row)
    ds = load_source(str(save_rows(tmp_path / "ds", rows)))
    train, held = split_by_task(ds, 0.2, seed=0, source="ds")
    assert train.column_names == held.column_names == ["messages"]
    assert len(train) + len(held) == 30 and len(held) == 6          # 2 of 10 tasks, 3 rows each
    assert not set(_first_user(train)) & set(_first_user(held))      # no task on both sides
    _, held2 = split_by_task(ds.shuffle(seed=3), 0.2, seed=0)
    assert sorted(_first_user(held2)) == sorted(_first_user(held))   # row order does not matter; the seed does
    assert split_by_task(ds, 0.0, seed=0)[1] is None


def test_split_by_task_falls_back_to_the_first_user_turn(tmp_path, save_rows, make_chat):
    ds = load_source(str(save_rows(tmp_path / "ds", [{"messages": make_chat(i % 4)} for i in range(8)])))
    train, held = split_by_task(ds, 0.25, seed=1)
    assert len(held) == 2 and not set(_first_user(train)) & set(_first_user(held))
    one = load_source(str(save_rows(tmp_path / "one", [{"messages": make_chat(0)}] * 3)))
    with pytest.raises(DataError, match="eval_fraction needs at least 2 tasks"):
        split_by_task(one, 0.5, seed=0)


def test_a_hub_layout_folder_loads_like_a_saved_one(tmp_path, make_chat):
    # What the `save` stage writes: data/<split>-*.parquet (+ README.md), read with load_dataset, not load_from_disk.
    import datasets

    (tmp_path / "hub" / "data").mkdir(parents=True)
    rows = [{"id": str(i), "messages": make_chat(i)} for i in range(3)]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet"))
    ds = load_source(str(tmp_path / "hub"))
    assert len(ds) == 3 and ds[0]["messages"] == make_chat(0)
    assert load_source(str(tmp_path / "hub"))._fingerprint == ds._fingerprint    # stable: a rerun resumes
    with pytest.raises(DataError, match="hub.*neither a save_to_disk folder nor one load_dataset reads"):
        load_source(str(tmp_path / "hub"), split="validation")
