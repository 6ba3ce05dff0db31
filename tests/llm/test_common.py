"""Shared prompt rendering and stop handling (synthkit.llm._common)."""

from __future__ import annotations

import pytest

from synthkit.errors import ConfigError, DataError
from synthkit.llm._common import check_prompt, continuation_ids, cut_at_stop, prompt_ids, render_text


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("a END b\n\nc", ("\n\n", "END")) == ("a ", True)
    assert cut_at_stop("abc", ("x", "")) == ("abc", False)
    assert cut_at_stop("abc", ()) == ("abc", False)
    assert cut_at_stop("xabc", ("x",)) == ("", True)


@pytest.mark.parametrize("bad", [None, 3, [{"role": "user"}], [{"role": "user", "content": 1}], ["hi"]])
def test_check_prompt_rejects_malformed_prompts(bad):
    with pytest.raises(DataError, match="prompt #4"):
        check_prompt(bad, 4)


def test_check_prompt_accepts_strings_and_chats():
    check_prompt("x", 0)
    check_prompt([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], 1)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from synthkit.llm.embedded import embedded_model_dir

    return AutoTokenizer.from_pretrained(embedded_model_dir())


def test_chat_prompts_use_the_template_without_doubled_special_tokens(tokenizer):
    chat = [{"role": "user", "content": "Reverse a string."}]
    text, templated = render_text(tokenizer, chat)
    assert templated and text.endswith("<|im_start|>assistant\n") and "Reverse a string." in text
    ids = prompt_ids(tokenizer, chat)
    assert ids == tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)[
        "input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # system, user, assistant; no extra
    assert prompt_ids(tokenizer, "def f():") == tokenizer("def f():")["input_ids"]
    assert continuation_ids(tokenizer, " pass") == tokenizer(" pass", add_special_tokens=False)["input_ids"]


def test_chat_prompt_without_template_is_a_config_error():
    class NoTemplate:
        chat_template = None

    with pytest.raises(ConfigError, match="no chat template"):
        render_text(NoTemplate(), [{"role": "user", "content": "x"}])
