"""The final step: the dataset from the last synthesizer, a code model trained on it, base vs trained.

``iterations.final`` (``FinalConfig``) runs after the last round, in ``runs/<name>/final/``:

1. the stages once more, sampling from the registered checkpoints: the dataset;
2. ``code_data/`` and ``code_model/``: ``final.model`` (default ``llm.model``)
   trained on its ``messages`` with ``final.train``;
3. ``eval_base/`` and ``eval_trained/``: pass@k and Pass@k^(m) of both on the
   held-out tasks (``final.eval``), same samples, seed and sandbox.

Writes ``runs/<name>/method_report.json`` and ``method_report.md`` (both tables, the
dataset's size, the checkpoints, the delta per k). Unchanged steps are skipped on a rerun.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline, fingerprint
from synthkit.errors import DataError
from synthkit.rounds.config import EvalSpec, FinalConfig
from synthkit.rounds.samples import training_rows
from synthkit.rounds.steps import LoopState, done, train_model, write_data

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)


def run_final(pipe: Pipeline, f: FinalConfig, state: LoopState) -> "datasets.Dataset":
    """Steps 1-3 of the module doc; the final dataset."""
    folder = pipe.run_dir / "final"
    log.info("final: synthesizing the dataset with %s", state.checkpoints[-1:] or state.base)
    ds = pipe.run_stages(folder, state.checkpoints, upstream=state.upstream)
    data_fp = fingerprint({"stages": rundir.read_json(folder / "report.json")["fingerprint"]})
    data_dir = folder / "code_data"
    if not done(data_dir / "_SUCCESS", data_fp):
        if len(ds) == 0:
            raise DataError(f"final: the last synthesizer's run kept no rows ({folder}/*/stats.json), so the code "
                            "model has nothing to train on; loosen the filters or sample more seeds")
        write_data(data_dir, training_rows(ds, "instruction", "final"), data_fp)
    base = f.model or pipe.config.llm.model
    train_fp = fingerprint({"train": f.train, "base": base, "data": data_fp})
    trained = train_model(f.train, folder / "code_model", data_dir, base, train_fp, "iterations.final.train")[-1]
    llm = pipe.config.llm.with_override(f.llm or {})
    results = {}
    for side, model, fp in (("base", base, "base"), ("trained", trained, train_fp)):
        results[side] = evaluate_model(llm.model_copy(update={"model": model}), f.eval, folder / f"eval_{side}",
                                       fingerprint({"eval": f.eval.model_dump(), "llm": llm.fingerprint(model),
                                                    "model": fp}), pipe.config.seed)
    report = {"name": pipe.config.name, "dataset_rows": len(ds), "code_model_base": base, "code_model": trained,
              "synthesizer_checkpoints": state.checkpoints, "eval": f.eval.model_dump(),
              "base": results["base"], "trained": results["trained"], "delta": _delta(results)}
    rundir.write_json(pipe.run_dir / "method_report.json", report)
    (pipe.run_dir / "method_report.md").write_text(to_markdown(report))
    log.info("final: report in %s", pipe.run_dir / "method_report.md")
    return ds


def evaluate_model(llm_config: Any, spec: EvalSpec, out: Path, fp: str, seed: int) -> dict[str, Any]:
    """``{model, table, solved, tasks}`` of one model on ``spec``'s tasks (kept in ``out/`` under ``fp``)."""
    from synthkit.eval.run import evaluate
    from synthkit.eval.tasks import load_tasks
    from synthkit.llm.base import SamplingParams
    from synthkit.llm.factory import make_llm

    record = done(out / "_SUCCESS", fp)
    if record:
        return record["summary"]
    tasks = load_tasks(spec.tasks, limit=spec.limit)
    llm = make_llm(llm_config)
    try:
        report = evaluate(llm, tasks, n=spec.n, ks=spec.k, m=spec.m, progress=False, tasks_name=spec.tasks,
                          params=SamplingParams(temperature=spec.temperature, max_tokens=spec.max_tokens, seed=seed),
                          sandbox_kwargs={"workers": 2, "timeout_s": spec.timeout_s, "memory_mb": 512},
                          style=spec.style)
    finally:
        llm.close()
    report.save(out)
    summary = {"model": llm_config.model, "table": report.table, "notes": report.notes,
               "tasks": len(report.results), "solved": sum(1 for r in report.results if r.c > 0)}
    rundir.write_json(out / "_SUCCESS", {"fingerprint": fp, "summary": summary})
    return summary


def _delta(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for b, t in zip(results["base"]["table"], results["trained"]["table"]):
        out.append({"k": b["k"], **{key: None if b[key] is None or t[key] is None else round(t[key] - b[key], 4)
                                    for key in ("pass_at_k", "pass_at_k_m")}})
    return out


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a table: pass@k and Pass@k^(m) of the base and the trained code model per k."""
    m = report["eval"]["m"]
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines = [f"# {report['name']}: code model trained on {report['dataset_rows']} synthesized rows",
             "", f"Tasks: {report['eval']['tasks']} ({report['base']['tasks']}), "
             f"n={report['eval']['n']} samples each.",
             f"Base: `{report['code_model_base']}`; trained: `{report['code_model']}`.", "",
             f"| k | pass@k base | pass@k trained | Pass@k^(m={m}) base | Pass@k^(m={m}) trained |",
             "|---|---|---|---|---|"]
    for b, t in zip(report["base"]["table"], report["trained"]["table"]):
        lines.append(f"| {b['k']} | {pct(b['pass_at_k'])} | {pct(t['pass_at_k'])} | {pct(b['pass_at_k_m'])} "
                     f"| {pct(t['pass_at_k_m'])} |")
    lines += ["", "Synthesizer checkpoints: " + json.dumps(report["synthesizer_checkpoints"])]
    return "\n".join(lines) + "\n"
