"""Sample n solutions per task from any LLM backend, verify them in the sandbox, score pass@k.

``evaluate(llm, tasks, n, ks, m, params, sandbox_kwargs) -> EvalReport``

- ``llm``: any ``synthkit.llm.base.LLM``; ``n``: samples per task; ``ks``: the table's
  k values (k > n left out with a note); ``m``: passes for Pass@k^(m).
- ``params``: ``SamplingParams`` (its ``n`` replaced; default temperature 0.8, 512 tokens).
- ``sandbox_kwargs``: for ``synthkit.sandbox.Sandbox`` (default 2 workers, 5 s, 512 MB).
- ``style``: ``"chat"`` (default) or ``"completion"`` (see ``synthkit.eval.programs``).
- ``chunk_tasks``: tasks per ``generate`` call.

A completion with no code fails with status ``no_code`` without running. Generated
code only ever runs in the sandbox.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Sequence

from synthkit.errors import ConfigError
from synthkit.eval.programs import RAW_STOP, answer_code, assemble, build_program, make_prompt
from synthkit.eval.report import EvalReport, Sample, TaskResult, summarise
from synthkit.eval.tasks import Task
from synthkit.llm.base import LLM, Completion, SamplingParams

log = logging.getLogger(__name__)

DEFAULT_PARAMS = SamplingParams(temperature=0.8, max_tokens=512)
DEFAULT_SANDBOX = {"workers": 2, "timeout_s": 5.0, "memory_mb": 512}
STYLES = ("chat", "completion")
ERROR_TAIL_CHARS = 400


def evaluate(
    llm: LLM,
    tasks: Sequence[Task],
    n: int = 10,
    ks: Sequence[int] = (1, 5, 10),
    m: int = 1,
    params: SamplingParams | None = None,
    sandbox_kwargs: dict[str, Any] | None = None,
    *,
    style: str = "chat",
    chunk_tasks: int = 8,
    progress: bool = True,
    tasks_name: str = "",
    isolation: str = "auto",
) -> EvalReport:
    """Run the evaluation; see the module doc for every argument."""
    _check_args(tasks, n, ks, m, style, chunk_tasks)
    params = dataclasses.replace(params or DEFAULT_PARAMS, n=n)
    if style == "completion" and not params.stop:
        params = dataclasses.replace(params, stop=RAW_STOP)
    sandbox_kwargs = {**DEFAULT_SANDBOX, "isolation": isolation, **(sandbox_kwargs or {})}
    from tqdm.auto import tqdm

    from synthkit.sandbox import Sandbox

    start, results, tokens = time.perf_counter(), [], 0
    with Sandbox(**sandbox_kwargs) as sandbox, tqdm(total=len(tasks), desc="eval", unit="task",
                                                     disable=not progress) as bar:
        for lo in range(0, len(tasks), chunk_tasks):
            chunk = list(tasks[lo: lo + chunk_tasks])
            outs = llm.generate([make_prompt(t, style) for t in chunk], params)
            _check_outputs(outs, chunk, n)
            tokens += sum(c.tokens for comps in outs for c in comps)
            results += _verify(sandbox, chunk, outs, style)
            bar.update(len(chunk))
            bar.set_postfix(solved=sum(r.c > 0 for r in results))
        isolation_used = sandbox.isolation
    table, notes = summarise([r.n for r in results], [r.c for r in results], ks, m)
    config = {"tasks": tasks_name, "model": llm.model_id, "style": style,
              "sampling": params.key(), "sandbox": {**sandbox_kwargs, "isolation_used": isolation_used}}
    report = EvalReport(model_id=llm.model_id, n=n, ks=sorted(set(ks)), m=m, table=table, notes=notes,
                        results=results, config=config, seconds=time.perf_counter() - start, tokens=tokens)
    log.info("evaluated %s on %d tasks in %.1f s", llm.model_id, len(tasks), report.seconds)
    return report


def _check_args(tasks: Sequence[Task], n: int, ks: Sequence[int], m: int, style: str, chunk: int) -> None:
    if not tasks:
        raise ConfigError("tasks: the task list is empty")
    if n < 1:
        raise ConfigError(f"n: need at least 1 sample per task, got {n}")
    if not ks or any(k < 1 for k in ks):
        raise ConfigError(f"k: need one or more positive integers, got {list(ks)}")
    if m < 1:
        raise ConfigError(f"m: need at least 1 passing sample, got {m}")
    if style not in STYLES:
        raise ConfigError(f"style: '{style}' is not one of {', '.join(STYLES)}")
    if chunk < 1:
        raise ConfigError(f"chunk_tasks: need at least 1, got {chunk}")


def _check_outputs(outs: list[list[Completion]], chunk: list[Task], n: int) -> None:
    # the protocol promises this; a backend that breaks it would skew every estimate
    if len(outs) != len(chunk) or any(len(comps) != n for comps in outs):
        got = [len(c) for c in outs]
        raise RuntimeError(f"backend returned {got} completions for {len(chunk)} prompts x n={n}")


def _verify(sandbox: Any, chunk: list[Task], outs: list[list[Completion]], style: str) -> list[TaskResult]:
    """Run every sample of the chunk in one sandbox batch and count passes per task."""
    results = [TaskResult(task_id=t.task_id, n=len(comps), c=0) for t, comps in zip(chunk, outs)]
    programs, slots = [], []
    for ti, (task, comps) in enumerate(zip(chunk, outs)):
        for comp in comps:
            code = answer_code(task, comp.text, style)
            if code is None:
                results[ti].samples.append(Sample(text=comp.text, code=None, status="no_code", passed=False))
                continue
            solution = assemble(task, code)
            programs.append(build_program(task, solution))
            sample = Sample(text=comp.text, code=solution, status="pending", passed=False)
            results[ti].samples.append(sample)
            slots.append((ti, sample))
    outcomes = sandbox.run(programs) if programs else []
    for (ti, sample), res in zip(slots, outcomes):
        sample.status, sample.passed = res.status, bool(res.passed)
        sample.duration_s = float(res.duration_s)
        sample.error = "" if res.passed else (res.stderr or "")[-ERROR_TAIL_CHARS:]
        results[ti].c += int(sample.passed)
    return results
