"""GiFT against RFT end to end, through a real HTTP server on 127.0.0.1.

The server is an OpenAI-compatible stub written for this test. It plays a model
whose answers depend on the description it is given: each description leads
to a family of two solutions (which one depends on the seed and the sample),
and a summary of a code is a new description that depends on the code and
the seed. So sampling more from one description cannot find more than two
distinct codes, and only a chain that samples from new descriptions can. At
an equal budget (RFT's n = GiFT's k x steps), ``gibbs_resample`` must find
more distinct passing codes per task than ``rft_sample``, and a chain whose
code prompt ignores the new description (it uses the seed ``{instruction}``)
must not. The chain's output then goes through ``perplexity_select``, scored
by the server's echo + logprobs.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from helpers.json_server import JsonServer

from synthkit.core.pipeline import Pipeline
from synthkit.prompts.gift import CODE_COMPLETION

TASKS, STEPS, K = 3, 5, 2


def _h(*parts) -> int:
    return int.from_bytes(hashlib.sha256(json.dumps(parts).encode()).digest()[:8], "big")


def answer(prompt: str, seed: int, i: int) -> str:
    """What the stub model writes after ``prompt`` (completion style)."""
    if prompt.endswith('    """\n'):   # the code prompt ends in the function header: write the body
        description = re.findall(r'"""(.*?)\n    """\n', prompt, re.S)[-1]
        if _h("fail", description, seed, i) % 5 == 0:
            return "    return a - b\n```"
        variant = 2 * (_h("family", description) % 10_000) + _h("pick", description, seed, i) % 2
        return f"    offset = {variant}\n    return a + b + offset - {variant}\n```"
    if prompt.endswith("### Description\n"):
        code = prompt.rsplit("### Code\n```python\n", 1)[1]
        entry = re.findall(r"def (\w+)", code)[-1]
        return f"Return the sum of a and b from {entry}(a, b) (case {_h('summary', code, seed) % 1_000_000}).\n"
    return "I do not know."


def token_logprobs(text: str) -> dict:
    toks = [m for m in re.finditer(r"\S+|\s+", text)]
    return {"tokens": [m.group() for m in toks], "text_offset": [m.start() for m in toks],
            "token_logprobs": [None] + [-0.1 - (_h("lp", m.group()) % 1000) / 400 for m in toks[1:]]}


class Stub(JsonServer):
    """An OpenAI-compatible server on 127.0.0.1 playing the description-dependent model."""

    echo_logprobs = True   # False: a server without prompt logprobs (``transformers serve``)

    def respond(self, path: str, body: dict) -> dict:
        prompt, n, seed = body.get("prompt", ""), body.get("n", 1), body.get("seed") or 0
        if body.get("echo"):
            choices = [{"index": 0, "text": prompt, "finish_reason": "length",
                        "logprobs": token_logprobs(prompt) if self.echo_logprobs else None}]
        else:
            choices = [{"index": i, "text": answer(prompt, seed, i), "finish_reason": "stop"} for i in range(n)]
        return {"choices": choices, "usage": {"completion_tokens": 20 * len(choices),
                                              "prompt_tokens": len(prompt.split())}}


def tasks_file(tmp_path: Path) -> Path:
    rows = [{"task_id": f"toy/{i}", "entry_point": f"add{i}", "prompt": f"def add{i}(a, b):\n",
             "description": f"Write add{i}(a, b) that returns a + b.",
             "tests": f"assert add{i}(1, 2) == 3\nassert add{i}(-4, 4) == 0\n",
             "canonical_solution": f"def add{i}(a, b):\n    return a + b\n"} for i in range(TASKS)]
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(tmp_path, url, name, stages) -> dict:
    llm = {"backend": "openai", "base_url": url, "model": "stub", "cache": False, "max_retries": 0}
    out = Pipeline([{"stage": "load_seeds", "tasks": str(tasks_file(tmp_path))}, *stages], name=name, llm=llm,
                   workdir=tmp_path / "runs").run()
    sampled = next(p for p in sorted((tmp_path / "runs" / name).glob("01_*")))
    return {"rows": out.to_list(), "diversity": json.loads((sampled / "diversity.json").read_text()),
            "dir": sampled}


@pytest.mark.slow  # three pipeline runs with the sandbox: ~8 s of CPU on 2 vCPUs, more wall time under load
def test_gibbs_finds_more_distinct_passing_codes_than_rft_at_an_equal_budget(tmp_path):
    common = {"style": "completion", "workers": 2, "max_tokens": 64}
    with Stub() as url:
        gift = run(tmp_path, url, "gift", [{"stage": "gibbs_resample", "steps": STEPS, "k": K, **common},
                                           {"stage": "perplexity_select", "draws": 4}])
        rft = run(tmp_path, url, "rft", [{"stage": "rft_sample", "budget": {"steps": STEPS, "k": K}, **common}])
        blind = run(tmp_path, url, "blind", [{
            "stage": "gibbs_resample", "steps": STEPS, "k": K, **common,
            "template": CODE_COMPLETION.replace("{header}", 'def {entry_point}(a, b):\n    """{instruction}\n    """\n')}])

    g, r, b = (x["diversity"] for x in (gift, rft, blind))
    assert g["tasks"] == r["tasks"] == b["tasks"] == TASKS
    assert g["coverage"] == r["coverage"] == 1.0
    # one description gives at most two codes, however many samples; the chain's new descriptions give more
    assert all(t["distinct_codes"] <= 2 for t in r["per_task"].values())
    assert r["passing_codes"] > 2 * TASKS                    # RFT did spend its budget: many passes, few codes
    assert g["distinct_codes_per_task"] > r["distinct_codes_per_task"] + 1
    assert all(g["per_task"][t]["distinct_codes"] > r["per_task"][t]["distinct_codes"] for t in r["per_task"])
    assert g["distinct_descriptions_per_task"] > r["distinct_descriptions_per_task"] == 1.0
    assert g["sampled_descriptions_per_task"] == STEPS and r["sampled_descriptions_per_task"] == 1.0
    # a chain that ignores its resampled descriptions is no better than RFT
    assert b["distinct_codes_per_task"] <= r["distinct_codes_per_task"]
    assert all(t["distinct_codes"] <= 2 for t in b["per_task"].values())

    trace = [json.loads(line) for line in (gift["dir"] / "trace.jsonl").read_text().splitlines()]
    assert len(trace) == TASKS * STEPS and all(t["next_description"] for t in trace if t["step"] < STEPS)
    # perplexity_select: seed pairs + 4 draws per task, each scored by the server's logprobs
    drawn = [row for row in gift["rows"] if row["meta"]["origin"] == "draw"]
    assert len(drawn) == 4 * TASKS and len(gift["rows"]) == 5 * TASKS
    assert all(row["scores"]["perplexity"] > 1.0 and row["messages"][0]["content"].startswith("Write add")
               for row in drawn)


def test_perplexity_select_fails_at_check_when_the_server_gives_no_logprobs(tmp_path):
    from synthkit.core.pipeline import check
    from synthkit.errors import ConfigError

    def pipe(url):
        return Pipeline([{"stage": "load_seeds", "tasks": "bundled:train"}, {"stage": "gibbs_resample"},
                         {"stage": "perplexity_select"}],
                        name="p", workdir=tmp_path, llm={"backend": "openai", "base_url": url, "cache": False,
                                                         "max_retries": 0})

    with Stub() as url:
        check(pipe(url).build())                             # the stub echoes logprobs: fine
    stub = Stub()
    stub.echo_logprobs = False
    with stub as url, pytest.raises(ConfigError, match="stages.2.llm: perplexity needs prompt logprobs"):
        check(pipe(url).build())
