from __future__ import annotations

import json

import pytest
from helpers.json_server import JsonServer

from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline
from synthkit.core.record import Rejected
from synthkit.errors import ConfigError
from synthkit.llm.base import Completion
from synthkit.stages.judge import Judge

JOINT = '{"consistency": 9, "relevance": 3, "difficulty": 3, "clarity": 9, "test_quality": 9}'


def make(tmp_path, responses, **cfg):
    """The judge as the runner builds it (the stage's `llm:` laid over the pipeline's)."""
    pipe = Pipeline([{"stage": "load_seeds", "path": "x.jsonl"}, {"stage": "judge", **cfg}], name="j",
                    llm={"backend": "dummy", "dummy_responses": responses}, workdir=tmp_path)
    judge = pipe.build()[1]
    assert isinstance(judge, Judge)
    return judge


def rows(n=4):
    return [{"id": f"r{i}", "seed": "def f(): pass", "instruction": f"Write add{i}(a, b).",
             "code": f"def add{i}(a, b):\n    return a + b", "tests": f"assert add{i}(1, 2) == 3",
             "scores": {"verify": 1.0}, "meta": {"stage": "verify_tests"}} for i in range(n)]


def split(out):
    kept = [r for r in out if not isinstance(r, Rejected)]
    return kept, [r for r in out if isinstance(r, Rejected)]


def test_per_aspect_scores_every_aspect_and_combines(tmp_path):
    j = make(tmp_path, ["Score: 6"])
    kept, rej = split(j.process(rows()))
    assert len(kept) == 4 and not rej
    s = kept[0]["scores"]
    assert s["judge"] == 6.0 and s["verify"] == 1.0
    assert {k for k in s if k.startswith("judge/")} == {"judge/consistency", "judge/relevance",
                                                        "judge/difficulty", "judge/clarity", "judge/test_quality"}
    assert kept[0]["meta"]["judge_model"] == "dummy:embedded" and j.ctx.tokens_generated == 4 * 5 * 2


def test_joint_mode_weights_are_normalised(tmp_path):
    kept, _ = split(make(tmp_path, [JOINT], mode="joint").process(rows(2)))
    assert kept[0]["scores"]["judge"] == pytest.approx(0.3 * 9 + 0.15 * 3 + 0.15 * 3 + 0.2 * 9 + 0.2 * 9)
    j = make(tmp_path, ['{"correctness": 8, "clarity": 2}'], mode="joint",
             aspects={"correctness": 3, "clarity": 1})
    kept, _ = split(j.process(rows(1)))
    assert kept[0]["scores"]["judge"] == pytest.approx(6.5)


def test_min_score_rejects_low_rows(tmp_path):
    kept, rej = split(make(tmp_path, ["Score: 2", "Score: 7"], min_score=5).process(rows(8)))
    assert kept and all(r["scores"]["judge"] >= 5 for r in kept)
    assert rej and {r.reason for r in rej} == {"below_threshold"}
    assert all(r.detail.endswith("< min_score 5.0") for r in rej)


def test_old_judge_keys_fail_naming_what_replaced_them(tmp_path):
    with pytest.raises(ConfigError, match=r"stages\.1\.threshold: unknown key \(now: min_score\)\. Allowed: .*min_score"):
        make(tmp_path, ["Score: 2"], threshold=5)
    with pytest.raises(ConfigError, match=r"stages\.1\.top_fraction: unknown key \(now: a select_top stage"):
        make(tmp_path, ["Score: 2"], top_fraction=0.3)


@pytest.mark.parametrize("answer,mode", [("I like it a lot.", "per_aspect"), ("Score: 10", "per_aspect"),
                                         ("Score: -3", "per_aspect"), ("", "per_aspect"),
                                         ('{"consistency": "9"}', "joint"), ("[1, 2, 3]", "joint"),
                                         (JOINT.replace("9", "true"), "joint"), (JOINT.replace("3", "30"), "joint")])
def test_unreadable_answers_are_rejected_with_reason(tmp_path, answer, mode):
    kept, rej = split(make(tmp_path, [answer], mode=mode, max_retries=1).process(rows(2)))
    assert not kept and [r.reason for r in rej] == ["judge_unparseable"] * 2
    assert rej[0].detail


def test_retries_rescue_some_unreadable_answers(tmp_path):
    answers = ["no idea", "Score: 8"]
    kept0, _ = split(make(tmp_path, answers, max_retries=0).process(rows(6)))
    kept6, rej6 = split(make(tmp_path, answers, max_retries=6).process(rows(6)))
    assert len(kept6) > len(kept0)
    assert all(r["scores"]["judge"] == 8.0 for r in kept6)
    assert all(r.reason == "judge_unparseable" for r in rej6)


def test_expected_mode_reads_logprobs(tmp_path):
    kept, _ = split(make(tmp_path, ["Score: 7"], scoring="expected").process(rows(2)))
    assert kept[0]["scores"]["judge"] == 7.0
    spaced = '{"consistency": 9 , "relevance": 3 , "difficulty": 3 , "clarity": 9 , "test_quality": 9 }'
    kept, _ = split(make(tmp_path, [spaced], scoring="expected", mode="joint").process(rows(1)))
    assert kept[0]["scores"]["judge"] == pytest.approx(7.2)


class _NoLogprobs:
    model_id = "nolp"

    def generate(self, prompts, params):
        return [[Completion("Score: 5", 2, "stop")] for _ in prompts]

    def close(self):
        pass


def test_expected_mode_without_logprobs_is_a_config_error(tmp_path):
    j = make(tmp_path, [], scoring="expected")
    j.llm = _NoLogprobs()
    with pytest.raises(ConfigError, match="logprobs"):
        j.process(rows(1))


def test_judge_then_select_top_keeps_the_best_rows(tmp_path):
    assert not Judge.whole_dataset  # the judge saves each shard; the cut is select_top's
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(10)))
    stages = [{"stage": "load_seeds", "path": str(tmp_path / "rows.jsonl")},
              {"stage": "judge", "shard_size": 3},
              {"stage": "select_top", "by": "scores.judge", "fraction": 0.3}]
    pipe = Pipeline(stages, name="t", llm={"backend": "dummy",
                                           "dummy_responses": [f"Score: {d}" for d in range(10)]},
                    workdir=tmp_path / "runs")
    kept = pipe.run()
    assert len(kept) == 3
    select = rundir.load_dataset(pipe.run_dir / "02_select_top" / "rejected")  # unpacked rows
    assert len(select) == 7 and set(select["rejected_by"]) == {"select_top:below_top"}
    assert min(s["judge"] for s in kept["scores"]) >= max(s["judge"] for s in select["scores"])
    assert len(list((pipe.run_dir / "01_judge" / "shards").glob("*.parquet"))) == 4  # saved per shard


def test_missing_fields_and_llm_override(tmp_path):
    bad = {"id": "x", "seed": "s"}
    j = make(tmp_path, ["Score: 8"], llm={"dummy_responses": ["Score: 3"], "model": "judge-model"})
    kept, rej = split(j.process(rows(1) + [bad]))
    assert kept[0]["scores"]["judge"] == 3.0 and kept[0]["meta"]["judge_model"] == "dummy:judge-model"
    assert [r.reason for r in rej] == ["missing_fields"]


def test_config_validation(tmp_path):
    with pytest.raises(Exception, match="no built-in rubric"):
        Judge.Config(stage="judge", aspects={"elegance": 1.0})
    ok = Judge.Config(stage="judge", aspects={"elegance": {"weight": 1, "rubric": "Is it elegant?"}})
    assert ok.aspects["elegance"].rubric == "Is it elegant?"
    with pytest.raises(Exception):
        Judge.Config(stage="judge", mode="pairwise")
    with pytest.raises(Exception, match="sum to 0"):
        Judge.Config(stage="judge", aspects={"clarity": 0})


def test_completion_style_parses_the_continuation(tmp_path):
    kept, _ = split(make(tmp_path, [" 4.\n\nThe problem"], style="completion").process(rows(1)))
    assert kept[0]["scores"]["judge"] == 4.0
    kept, _ = split(make(tmp_path, [" 4 ."], style="completion", scoring="expected").process(rows(1)))
    assert kept[0]["scores"]["judge"] == 4.0
    body = JOINT[1:]   # the prompt ended with "{"
    kept, _ = split(make(tmp_path, [body], style="completion", mode="joint").process(rows(1)))
    assert kept[0]["scores"]["judge"] == pytest.approx(7.2)


class _NoLogprobsServer(JsonServer):
    """A minimal OpenAI-compatible server on 127.0.0.1 that answers without logprobs."""

    def respond(self, path: str, body: dict) -> dict:
        return {"choices": [{"index": 0, "text": "5", "finish_reason": "length"}], "usage": {"completion_tokens": 1}}


def test_expected_scoring_fails_at_validate_when_the_server_returns_no_logprobs(tmp_path):
    from synthkit.core.pipeline import check

    seeds = tmp_path / "x.jsonl"
    seeds.write_text('{"id": "a", "instruction": "Add.", "response": "def add(a, b):\\n    return a + b"}\n')
    with _NoLogprobsServer() as url:
        pipe = Pipeline([{"stage": "load_seeds", "path": str(seeds)},
                         {"stage": "judge", "scoring": "expected", "style": "completion"}], name="j",
                        llm={"backend": "openai", "base_url": url, "cache": False, "max_retries": 0},
                        workdir=tmp_path)
        with pytest.raises(ConfigError, match=r"stages.1.scoring: 'expected' needs token logprobs"):
            check(pipe.build())
        sample = Pipeline([{"stage": "load_seeds", "path": str(seeds)}, {"stage": "judge", "style": "completion"}],
                          name="j", llm={"backend": "openai", "base_url": url, "cache": False}, workdir=tmp_path)
        check(sample.build())  # scoring: sample needs no logprobs: nothing is asked
