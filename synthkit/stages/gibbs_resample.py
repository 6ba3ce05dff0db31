"""gibbs_resample: GiFT's chain (arXiv 2502.11466), description -> code -> description, per task.

Input: task rows (``load_seeds`` with ``tasks:``: ``instruction``, ``tests``,
``entry_point``, ``code``, ``meta.task_id``). Per task, ``steps`` times: sample ``k``
codes from the current description (the prompt ends in the task's function header,
``prompts.gift.task_header``), run them in the sandbox, keep one passing code at
random (else the last kept code, else the seed solution), and summarise it into the
next description. Output: one row per pooled code (``pool: kept`` or
``all_passing``), id ``<task>/<checkpoint>-<step>-<sample>``, paired with the
**seed** description, ``meta`` recording the step, prompt and header; with
``include_seed`` each task's seed pair, ``<task>/seed``. Rejected: failing samples
(sandbox status), ``not_kept``, ``no_description``, ``no_tests``. One batched call
per step for all live chains; finished steps are saved under ``chain/`` and a killed
run continues at the first missing one. Writes ``trace.jsonl`` and ``diversity.json``.
Details: docs/methods/gift.md.
"""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from synthkit.core import rundir
from synthkit.core.record import Rejected, Row, child
from synthkit.core.registry import register_stage
from synthkit.core.sampling import CheckpointSampler, SamplingConfig, derive_seed
from synthkit.core.stage import WholeStage, read_template
from synthkit.llm.base import SamplingParams

log = logging.getLogger(__name__)


class CodeSamplingConfig(SamplingConfig):
    """Keys ``gibbs_resample`` and ``rft_sample`` share (+ checkpoints, use_last_checkpoints, llm)."""

    temperature: float = Field(1.0, ge=0, description="sampling temperature of the codes")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling of the codes")
    max_tokens: int = Field(512, ge=16, description="new tokens per code")
    summary_temperature: float = Field(1.0, ge=0, description="description sampling (one summary per code)")
    summary_top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling of the summaries")
    summary_max_tokens: int = Field(256, ge=8, description="new tokens per summary")
    style: Literal["chat", "completion"] = Field("chat", description=(
        "completion: one-shot documents for small/base models"))
    template: str | None = Field(None, description=(
        "code prompt: {header} (the function header), {description}, {entry_point}, {instruction}"))
    template_file: str | None = Field(None, description="or a file holding it (relative to the YAML's folder)")
    summary_template: str | None = Field(None, description="summary prompt: {code}, {entry_point}")
    summary_template_file: str | None = Field(None, description="or a file holding it (relative to the YAML's folder)")
    include_seed: bool = Field(True, description="also emit each task's seed pair (meta.origin: seed)")
    timeout_s: float = Field(5.0, gt=0, description="sandbox: wall clock per program, seconds")
    memory_mb: int = Field(512, ge=64, description="sandbox: address space per program, MiB")
    workers: int = Field(2, ge=1, description="sandbox: programs run in parallel")
    isolation: Literal["auto", "full", "basic"] = Field("auto", description=(
        "sandbox: full refuses to run without namespaces; auto falls back to basic with a warning"))

    @model_validator(mode="after")
    def _one_template_each(self):
        for inline, path in (("template", "template_file"), ("summary_template", "summary_template_file")):
            if getattr(self, inline) is not None and getattr(self, path) is not None:
                raise ValueError(f"set `{inline}` (inline) or `{path}` (a path), not both")
        if self.summary_template is not None and "{code}" not in self.summary_template:
            raise ValueError("summary_template: the prompt needs a {code} placeholder")
        return self


class CodeSampler:
    """What both stages do with a model: prompts, seeds, sandbox runs, seed rows."""

    def __init__(self, stage: Any) -> None:
        from synthkit.prompts.gift import code_template, summary_template

        cfg, ctx = stage.config, stage.ctx
        self.stage, self.cfg = stage, cfg
        self.code_template = (read_template(cfg.template_file, ctx) or cfg.template or code_template(cfg.style))
        self.summary_template = (read_template(cfg.summary_template_file, ctx, "{code}") or cfg.summary_template
                                 or summary_template(cfg.style))
        if "{description}" not in self.code_template and "{header}" not in self.code_template:
            log.warning("%s: the code prompt has no {description} or {header}: every sample ignores the "
                        "resampled descriptions", stage.name)
        self.sampler = CheckpointSampler(stage.name, ctx, cfg.checkpoints, cfg.use_last_checkpoints)
        self.sandbox = None

    def open_sandbox(self) -> None:
        """Start the sandbox (at the first code to run: a step whose answers hold none needs none)."""
        from synthkit.sandbox import Sandbox

        if self.sandbox is None:
            c = self.cfg
            self.sandbox = Sandbox(workers=c.workers, timeout_s=c.timeout_s, memory_mb=c.memory_mb,
                                   isolation=c.isolation)

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
        self.sampler.close()

    def seed(self, kind: str, step: int | str, rows: list[Row]) -> int:
        ids = hashlib.sha256("\n".join(r["id"] for r in rows).encode()).hexdigest()[:16]
        return self.sampler.seed([{"id": f"{kind}/step-{step}/{ids}"}])

    def code_params(self, seed: int, n: int) -> SamplingParams:
        from synthkit.prompts.gift import CODE_STOP

        c = self.cfg
        return SamplingParams(n=n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                              stop=CODE_STOP if c.style == "completion" else (), seed=seed)

    def code_prompt(self, task: Row, description: str) -> tuple[Any, str]:
        """(the prompt, its function header) for sampling ``task``'s code from ``description``."""
        from synthkit.prompts.gift import as_prompt, render_code, task_header

        header = task_header(task, description)
        text = render_code(self.code_template, description, task.get("entry_point"), task["instruction"], header)
        return as_prompt(text, self.cfg.style), header

    def summarise(self, items: list[tuple[Row, str]], seed: int) -> list[tuple[str | None, str]]:
        """One batched call: (new description or None, why not) per (task, code)."""
        from synthkit.prompts.answers import ParseError
        from synthkit.prompts.gift import SUMMARY_STOP, as_prompt, parse_summary, render_summary

        if not items:
            return []
        c = self.cfg
        prompts = [as_prompt(render_summary(self.summary_template, code, task.get("entry_point")), c.style)
                   for task, code in items]
        params = SamplingParams(n=1, temperature=c.summary_temperature, top_p=c.summary_top_p,
                                max_tokens=c.summary_max_tokens, seed=seed,
                                stop=SUMMARY_STOP if c.style == "completion" else ())
        out = []
        for comps in self.sampler.llm.generate(prompts, params):
            self.stage.ctx.tokens_generated += comps[0].tokens
            parsed = parse_summary(comps[0].text)
            out.append((None, parsed.reason) if isinstance(parsed, ParseError) else (parsed, ""))
        return out

    def sample_row(self, task: Row, suffix: str, comp, prompt, header: str, description: str,
                   params: SamplingParams, **meta: Any) -> Row | Rejected:
        """The row of one sampled code (``code`` parsed from the answer, ``body``: its part after the
        header, which ``perplexity_select`` scores given ``meta.header``), or ``no_code``."""
        from synthkit.prompts.answers import ParseError
        from synthkit.prompts.gift import code_body, opened_code, parse_code

        self.stage.ctx.tokens_generated += comp.tokens
        code = parse_code(comp.text, self.cfg.style, task.get("entry_point"), opened_code(prompt))
        ok = not isinstance(code, ParseError)
        row = child(task, suffix, code=code if ok else None, body=code_body(code, task.get("entry_point")) if ok
                    else None, response=comp.text,
                    meta=self.sampler.meta(task, task_id=task_id(task), description=description, prompt=prompt,
                                           header=header, seed=params.seed, temperature=params.temperature, top_p=params.top_p,
                                           finish_reason=comp.finish_reason, tokens=comp.tokens, origin="sample",
                                           **meta))
        return Rejected(row, code.reason, code.detail) if isinstance(code, ParseError) else row

    def verify(self, rows: list[Row]) -> list[tuple[Row, bool] | Rejected]:
        """ONE sandbox run for ``rows``: (row with verify/scores/messages, passed) or Rejected."""
        from synthkit.eval.programs import run_rows

        if not rows:
            return []
        self.open_sandbox()
        out: list[tuple[Row, bool] | Rejected] = []
        for item in run_rows(self.sandbox, rows):
            if isinstance(item, Rejected):
                out.append(item)
                continue
            row, verify = item
            detail = verify.pop("detail")
            row = sft_row({**row, "verify": verify, "scores": {**(row.get("scores") or {}),
                                                               "verify": verify["pass_rate"]}})
            out.append((row, True) if verify["passed"] else
                       Rejected(row, verify["status"] if verify["status"] != "passed" else "failed", detail))
        return out


def task_id(row: Row) -> str:
    return str((row.get("meta") or {}).get("task_id") or row["id"])


def fence(code: str) -> str:
    return f"```python\n{code.strip(chr(10))}\n```"


def sft_row(row: Row, instruction: str | None = None) -> Row:
    """``row`` with ``messages``: the (seed) instruction, then the code without its docstrings (as the
    reference trains: a docstring would hold the description the code was sampled from) in a fence."""
    from synthkit.prompts.gift import strip_docstrings

    instruction = instruction if instruction is not None else row["instruction"]
    return {**row, "messages": [{"role": "user", "content": instruction},
                                {"role": "assistant", "content": fence(strip_docstrings(row["code"]))}]}


def seed_row(task: Row, sampler: CheckpointSampler) -> Row | None:
    """The task's seed pair (seed description, seed solution), or None without a seed solution."""
    if not (isinstance(task.get("code"), str) and task["code"].strip()):
        return None
    meta = {**(task.get("meta") or {}), "task_id": task_id(task), "origin": "seed", "stage": sampler.stage_name}
    return sft_row(child(task, "seed", response=fence(task["code"]), meta=meta))


def split_tasks(rows: list[Row]) -> tuple[list[Row], list[Rejected]]:
    """Tasks the chain can run, and the rest with a reason."""
    from synthkit.eval.programs import row_program

    tasks, rejected = [], []
    for row in rows:
        if not (isinstance(row.get("instruction"), str) and row["instruction"].strip()):
            rejected.append(Rejected(row, "no_description", "a task needs its description in `instruction`"))
        elif isinstance(bad := row_program({**row, "code": "pass\n"}), Rejected):
            rejected.append(Rejected(row, bad.reason, bad.detail))
        else:
            tasks.append(row)
    return tasks, rejected


@register_stage("gibbs_resample")
class GibbsResample(WholeStage):
    """GiFT: per task, T steps of description -> k codes -> keep one passing -> summarise; pool the kept codes."""

    reads = ("instruction", ("tests", "io_tests"))
    writes = ("id", "code", "body", "response", "messages", "verify", "scores", "meta")

    class Config(CodeSamplingConfig):  # + the shared sampling, prompt and sandbox keys
        steps: int = Field(20, ge=1, description="T: chain steps per task")
        k: int = Field(3, ge=1, description="codes sampled per step")
        pool: Literal["kept", "all_passing"] = Field("kept", description=(
            "kept: one code per step; all_passing: every passing one"))

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self.codes = CodeSampler(self)
        self.sampler = self.codes.sampler
        self.diversity: dict[str, Any] = {}

    def teardown(self) -> None:
        self.codes.close()

    def extra_stats(self) -> dict[str, Any]:
        from synthkit.eval.diversity import summary

        return {"diversity": summary(self.diversity)} if self.diversity else {}

    def process_all(self, dataset) -> tuple[list[Row], list[Rejected]]:
        from synthkit.eval.diversity import diversity_report

        rows = dataset.to_list()
        tasks, rejected = split_tasks(rows)
        kept: list[Row] = []
        if self.config.include_seed:
            kept += [r for r in (seed_row(t, self.sampler) for t in tasks) if r is not None]
        trace: list[dict[str, Any]] = []
        for ci, name in enumerate(self.sampler.passes()):
            pooled, dropped, steps = self._chains(ci, name, tasks)
            kept += pooled
            rejected += dropped
            trace += steps
        _write_jsonl(self.ctx.stage_dir / "trace.jsonl", trace)
        self.diversity = {"stage": self.name, "pool": self.config.pool, "steps": self.config.steps,
                          "k": self.config.k, **diversity_report(kept, [task_id(t) for t in tasks],
                                             sampled_from=[(t["task_id"], t["description"]) for t in trace])}
        rundir.write_json(self.ctx.stage_dir / "diversity.json", self.diversity)
        log.info("gibbs_resample: %s", {k: v for k, v in self.diversity.items() if k != "per_task"})
        return kept, rejected

    # --- the chains of one checkpoint ---------------------------------------------
    def _chains(self, ci: int, name: str, tasks: list[Row]) -> tuple[list[Row], list[Rejected], list[dict]]:
        folder = self.ctx.stage_dir / "chain" / f"c{ci:02d}"
        state = {task_id(t): {"description": t["instruction"], "kept": t.get("code") or None, "kept_step": 0}
                 for t in tasks}
        pooled, dropped, trace = [], [], []
        first = 1
        for step in range(1, self.config.steps + 1):   # finished steps of a killed run
            record = _read_step(folder, step)
            if record is None:
                break
            state, first = record["state"], step + 1
            self._collect(record, pooled, dropped, trace)
        if first <= self.config.steps and tasks:
            log.info("gibbs_resample: checkpoint %s, steps %d..%d of %d for %d tasks", name, first,
                     self.config.steps, self.config.steps, len(tasks))
            self.sampler.open(name)   # one load for every step left
            try:
                for step in range(first, self.config.steps + 1):
                    record = self._step(step, tasks, state)
                    rundir.write_json(folder / f"step-{step:04d}.json", record)
                    state = record["state"]
                    self._collect(record, pooled, dropped, trace)
            finally:
                self.sampler.close()
        return pooled, dropped, trace

    @staticmethod
    def _collect(record: dict, pooled: list, dropped: list, trace: list) -> None:
        pooled += record["rows"]
        dropped += [Rejected(r["row"], r["reason"], r["detail"]) for r in record["rejected"]]
        trace += record["trace"]

    def _step(self, step: int, tasks: list[Row], state: dict[str, dict]) -> dict[str, Any]:
        cfg, codes, ci = self.config, self.codes, self.sampler.index
        live = [t for t in tasks if state[task_id(t)]["description"]]
        prompts = [codes.code_prompt(t, state[task_id(t)]["description"]) for t in live]
        params = codes.code_params(codes.seed("code", step, live), cfg.k)
        samples, rejected = [], []
        answers = self.sampler.llm.generate([p for p, _ in prompts], params)
        for task, (prompt, header), comps in zip(live, prompts, answers):
            for j, comp in enumerate(comps):
                item = codes.sample_row(task, f"{ci}-{step}-{j}", comp, prompt, header,
                                        state[task_id(task)]["description"], params, step=step, sample=j)
                (rejected if isinstance(item, Rejected) else samples).append(item)
        passing: dict[str, list[Row]] = {task_id(t): [] for t in live}
        for item in codes.verify(samples):
            if isinstance(item, Rejected):
                rejected.append(item)
            else:
                passing[task_id(item[0])].append(item[0])
        rows, trace, new_state = [], [], {k: dict(v) for k, v in state.items()}
        for task in live:
            tid = task_id(task)
            good, st = passing[tid], new_state[tid]
            rng = random.Random(derive_seed(self.ctx.seed, self.ctx.index, ci, "keep", step, tid))
            chosen = good[rng.randrange(len(good))] if good else None
            fallback = None if chosen else ("last_kept" if st["kept_step"] else "seed" if st["kept"] else "none")
            if chosen:
                st.update(kept=chosen["code"], kept_step=step)
            pool = good if cfg.pool == "all_passing" else [chosen] if chosen else []
            rows += pool
            pooled_ids = {r["id"] for r in pool}
            rejected += [Rejected(r, "not_kept", f"step {step}: another passing sample was kept") for r in good
                         if r["id"] not in pooled_ids]
            trace.append({"checkpoint": ci, "task_id": tid, "step": step, "description": st["description"],
                          "samples": cfg.k, "passing": len(good),
                          "kept_sample": chosen["meta"]["sample"] if chosen else None, "fallback": fallback,
                          "next_description": None, "summary_error": None})
        if step < cfg.steps:   # the last step's description would be unused
            todo = [(t, new_state[task_id(t)]["kept"]) for t in live if new_state[task_id(t)]["kept"]]
            by_task = {tr["task_id"]: tr for tr in trace}
            for (task, _), (desc, why) in zip(todo, codes.summarise(todo, codes.seed("summary", step, live))):
                tr = by_task[task_id(task)]
                if desc:
                    new_state[task_id(task)]["description"] = tr["next_description"] = desc
                else:
                    tr["summary_error"] = why   # the chain keeps the description it had
        return {"step": step, "code_seed": params.seed, "state": new_state, "trace": trace, "rows": rows,
                "rejected": [{"row": r.row, "reason": r.reason, "detail": r.detail} for r in rejected]}


def _read_step(folder: Path, step: int) -> dict[str, Any] | None:
    path = folder / f"step-{step:04d}.json"
    return rundir.read_json(path) if path.exists() else None


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))
    tmp.replace(path)
