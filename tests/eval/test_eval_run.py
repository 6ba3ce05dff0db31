"""The evaluation runner end to end: DummyLLM answers -> code extraction -> sandbox -> c and pass@k.

Every program here runs in synthkit.sandbox, never in the test process.
"""

from __future__ import annotations

import argparse
import json
import textwrap

import pytest

from synthkit.errors import ConfigError
from synthkit.eval import programs
from synthkit.eval.passk import pass_at_k
from synthkit.eval.tasks import Task, normalise
from synthkit.llm.base import LLMConfig, SamplingParams
from synthkit.llm.factory import make_llm

SANDBOX = {"workers": 2, "timeout_s": 5.0, "memory_mb": 512}
PARAMS = SamplingParams(temperature=0.0, max_tokens=10_000)   # dummy truncates by words: never here

CIRCLE = Task(task_id="T/0", prompt='import math\n\n\ndef area(r):\n    """Area of a circle."""\n',
              entry_point="area", tests="def check(candidate):\n    assert abs(candidate(2.0) - 12.566) < 1e-3\n")
MBPP_LIKE = Task(task_id="T/1", prompt="Write a function sq(x) returning x squared.\n", entry_point="sq",
                 tests="assert sq(3) == 9\nassert sq(-2) == 4\n")


def _fence(code: str) -> str:
    return f"Here you go:\n```python\n{code.rstrip()}\n```\n"


# --- program assembly (pure string work, nothing runs) ---------------------------------------

def test_body_only_answer_gets_the_prompt_signature_and_imports():
    src = programs.assemble(CIRCLE, "return math.pi * r * r")
    assert src == CIRCLE.prompt + "    return math.pi * r * r"
    compile(src, "<t>", "exec")


def test_full_function_answer_gets_the_prompt_imports_once():
    src = programs.assemble(CIRCLE, "def area(r):\n    return math.pi * r ** 2\n")
    assert src.startswith("import math\n") and src.count("def area") == 1


def test_description_task_code_runs_as_is():
    assert programs.assemble(MBPP_LIKE, "def sq(x):\n    return x * x\n") == "def sq(x):\n    return x * x\n"


def test_prompts_for_each_style():
    chat = programs.make_prompt(CIRCLE, "chat")
    assert chat[0]["role"] == "user" and "Complete the following Python function" in chat[0]["content"]
    assert CIRCLE.prompt in chat[0]["content"]
    assert "Solve the following problem" in programs.make_prompt(MBPP_LIKE, "chat")[0]["content"]
    assert programs.make_prompt(CIRCLE, "completion") == CIRCLE.prompt


def test_check_function_is_called_on_the_entry_point():
    prog = programs.build_program(CIRCLE, "x")
    assert prog.tests.rstrip().endswith("check(area)") and prog.entry_point == "area"
    assert programs.build_program(MBPP_LIKE, "x").tests == MBPP_LIKE.tests


# --- end to end through the sandbox ----------------------------------------------------------

@pytest.fixture(scope="module")
def two_bundled_tasks():
    from synthkit.eval.tasks import load_tasks

    tasks = [t for t in load_tasks("bundled:test") if t.prompt_is_code and t.canonical_solution][:2]
    assert len(tasks) == 2
    return tasks


def _full_function(task: Task) -> str:
    sol = task.canonical_solution
    return sol if f"def {task.entry_point}" in sol else task.prompt + sol


def _evaluate(tasks, responses, **kw):
    from synthkit.eval.run import evaluate

    llm = make_llm(LLMConfig(backend="dummy", dummy_responses=responses))
    n = kw.pop("n", len(responses))   # n == len(responses): each response exactly once per task
    return evaluate(llm, tasks, n=n, params=PARAMS, sandbox_kwargs=SANDBOX, progress=False, **kw)


def test_counts_passes_and_scores_bundled_tasks(two_bundled_tasks, tmp_path):
    a, b = two_bundled_tasks
    body_a = textwrap.dedent(_full_function(a).split(f"def {a.entry_point}", 1)[1].split("\n", 1)[1])
    responses = [
        _fence(_full_function(a)),                  # right for a
        _fence(body_a),                             # right for a, body only: signature comes from the prompt
        _fence(_full_function(b)),                  # right for b
        _fence("def unrelated():\n    return None\n"),  # wrong for both
        "I am not able to write that.",             # no code at all
        _fence("import sys\nsys.exit(0)\n"),        # exits early with status 0: must not pass
    ]
    report = _evaluate([a, b], responses, ks=[1, 2, 6, 10], m=2)
    ra, rb = report.results
    assert (ra.n, ra.c, rb.n, rb.c) == (6, 2, 6, 1)
    assert [s.status for s in ra.samples].count("no_code") == 1
    assert not any(s.passed for s in ra.samples if "sys.exit" in s.text)

    rows = {row["k"]: row for row in report.table}
    assert sorted(rows) == [1, 2, 6]
    assert rows[1]["pass_at_k"] == pytest.approx((2 / 6 + 1 / 6) / 2)
    assert rows[2]["pass_at_k"] == pytest.approx((pass_at_k(6, 2, 2) + pass_at_k(6, 1, 2)) / 2)
    assert rows[1]["pass_at_k_m"] is None                     # m=2 > k=1
    assert rows[2]["pass_at_k_m"] == pytest.approx((1 / 15 + 0) / 2)   # C(2,2)/C(6,2) for a, 0 for b
    assert rows[6] == {"k": 6, "pass_at_k": 1.0, "pass_at_k_m": pytest.approx(0.5)}
    assert any("k=10 skipped" in note for note in report.notes)
    assert any("k=1 undefined" in note for note in report.notes)

    paths = report.save(tmp_path / "out")
    saved = json.loads(paths["json"].read_text())
    assert [r["c"] for r in saved["results"]] == [2, 1]
    assert len(saved["results"][0]["samples"]) == 6 and saved["table"][0]["k"] == 1
    md = paths["markdown"].read_text()
    assert "| 2 | 46.7% | 3.3% |" in md and "| 1 | 25.0% | - |" in md


def test_check_and_assert_tests_and_raw_style():
    wrong = "def area(r):\n    return 0.0\n"
    report = _evaluate([CIRCLE, MBPP_LIKE], [_fence("def area(r):\n    return math.pi * r * r\n"),
                                             _fence("def sq(x):\n    return x ** 2\n"), _fence(wrong)], ks=[1])
    assert [r.c for r in report.results] == [1, 1]

    # a base model continues the prompt; RAW_STOP cuts at the next top-level def
    report = _evaluate([CIRCLE], ["    return math.pi * r * r\n\ndef junk(:\n"], ks=[1], style="completion")
    assert report.results[0].c == 1 and report.config["sampling"]["stop"]
    assert report.config["style"] == "completion" and report.config["sandbox"]["isolation_used"]
    with pytest.raises(ConfigError, match="style: 'raw' is not one of chat, completion"):
        _evaluate([CIRCLE], ["    return 1\n"], ks=[1], style="raw")


def test_apps_stdin_and_call_based_tasks(tmp_path):
    rows = [
        {"problem_id": 1, "question": "Print the sum of two integers.", "solutions": "[]", "starter_code": "",
         "input_output": json.dumps({"inputs": ["1 2\n", "10 -3\n"], "outputs": ["3\n", "7\n"]})},
        {"problem_id": 2, "question": "Return the larger number.", "solutions": "[]",
         "starter_code": "class Solution:\n    def bigger(self, a, b):\n",
         "input_output": json.dumps({"fn_name": "bigger", "inputs": [[1, 2], [7, 3]], "outputs": [[2], [7]]})},
    ]
    stdin_task, call_task = normalise(rows, "fixture")
    good_stdin = _fence("a, b = map(int, input().split())\nprint(a + b)\n")
    bad_stdin = _fence("a, b = map(int, input().split())\nprint(a - b)\n")
    good_call = _fence("class Solution:\n    def bigger(self, a, b):\n        return max(a, b)\n")
    report = _evaluate([stdin_task, call_task], [good_stdin, bad_stdin, good_call], ks=[1, 3])
    assert [r.c for r in report.results] == [1, 1]


def test_bad_arguments_raise_config_error():
    from synthkit.eval.run import evaluate

    llm = make_llm(LLMConfig(backend="dummy"))
    with pytest.raises(ConfigError, match="style: 'fancy'"):
        evaluate(llm, [CIRCLE], n=1, ks=[1], style="fancy")
    with pytest.raises(ConfigError, match="n:"):
        evaluate(llm, [CIRCLE], n=0, ks=[1])
    with pytest.raises(ConfigError, match="tasks"):
        evaluate(llm, [], n=1, ks=[1])


def test_command_glue(tmp_path, capsys):
    from synthkit.eval import command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--backend", "dummy", "--model", "canned", "--tasks", "bundled:test",
                              "--n", "2", "--k", "1,2,5", "--m", "2", "--limit", "2",
                              "--out", str(tmp_path / "o")])
    assert command.run(args) == 0
    out = capsys.readouterr().out
    assert "| k | pass@k | Pass@k^(m=2) |" in out and "| 1 | 0.0% | - |" in out and "k=5 skipped" in out
    saved = json.loads((tmp_path / "o" / "report.json").read_text())
    assert len(saved["results"]) == 2 and saved["config"]["tasks"] == "bundled:test"
    with pytest.raises(ConfigError, match="--k"):
        command.parse_ks("1,x")
    base = ["--backend", "dummy", "--tasks", "bundled:test", "--n", "1", "--k", "1", "--limit", "1",
            "--out", str(tmp_path / "o2")]
    assert command.run(parser.parse_args(base + ["--style", "completion"])) == 0
    assert json.loads((tmp_path / "o2" / "report.json").read_text())["config"]["style"] == "completion"


@pytest.mark.slow
def test_embedded_model_end_to_end(tmp_path):
    from synthkit.eval.run import evaluate
    from synthkit.eval.tasks import load_tasks

    tasks = load_tasks("bundled:test", limit=3)
    llm = make_llm(LLMConfig(backend="transformers", model="embedded", device="cpu"))
    try:
        report = evaluate(llm, tasks, n=2, ks=[1, 2], m=2, sandbox_kwargs=SANDBOX, progress=False,
                          params=SamplingParams(temperature=0.8, max_tokens=128, seed=0))
    finally:
        llm.close()
    assert [r["k"] for r in report.table] == [1, 2]
    assert report.table[0]["pass_at_k_m"] is None and 0.0 <= report.table[1]["pass_at_k_m"] <= 1.0
    assert all(0.0 <= row["pass_at_k"] <= 1.0 for row in report.table)
    assert all(r.n == 2 and len(r.samples) == 2 and 0 <= r.c <= 2 for r in report.results)
    assert all(s.status for r in report.results for s in r.samples) and report.tokens > 0
    assert report.to_markdown().count("\n| ") == 3   # header + two k rows
