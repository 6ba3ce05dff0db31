"""The viewer without a browser: queries against Python's answer, lookups, the CLI's contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.viewer import ROOT, start_viewer, stop

from synthkit.core.record import Rejected
from synthkit.core.rejected import pack
from synthkit.errors import DataError, MissingDependency
from synthkit.viewer import query
from synthkit.viewer.lookup import cluster, find_row, shared_spans
from synthkit.viewer.query import Query
from synthkit.viewer.source import RunSource


def make_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        score = None if i % 11 == 0 else float((i * 37) % 23) / 2    # repeats: ties; some nulls
        rows.append({"id": f"r{i:05d}", "instruction": f"task {i} {'needle' if i % 7 == 0 else 'hay'}",
                     "scores": {"judge": score, "verify": float(i % 2)},
                     "verify": {"passed": i % 3 != 0, "status": "passed" if i % 3 else "failed"},
                     "meta": {"checkpoint": "ckA" if i % 4 else "ckB"}})
    return rows


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A run folder: one stage, 1,000 kept rows in 4 files of 60-row groups, 30 rejected in a dedup stage."""
    root = tmp_path_factory.mktemp("synthetic_run")
    rows = make_rows(1000)
    shards = root / "00_generate" / "shards"
    shards.mkdir(parents=True)
    for k in range(4):
        pq.write_table(pa.Table.from_pylist(rows[k * 250:(k + 1) * 250]), shards / f"p000-s{k:06d}.parquet",
                       row_group_size=60)
    dedup = root / "01_dedup_minhash"
    (dedup / "shards").mkdir(parents=True)
    (dedup / "rejected").mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:10]), dedup / "shards" / "p000-s000000.parquet")
    dropped = [Rejected({**r, "dup_cluster": i % 3, "dup_of": rows[i % 3]["id"]}, "near_duplicate", "cluster")
               for i, r in enumerate(rows[10:40])]      # written as the runner writes them: packed as JSON
    pq.write_table(pack(dropped[:12], "dedup_minhash"), dedup / "rejected" / "p000-s000000.parquet")
    pq.write_table(pack(dropped[12:], "dedup_minhash"), dedup / "rejected" / "p000-s000001.parquet")
    (dedup / "stats.json").write_text(json.dumps({"rows_in": 40, "kept": 10, "dropped": {"near_duplicate": 30}}))
    return root, rows


def ids(source, params) -> tuple[list[str], query.Page]:
    page = query.run(source, Query.parse(params))
    return [r["id"] for r in page.rows], page


def test_pages_without_a_filter_come_from_row_groups(synthetic):
    root, rows = synthetic
    source = RunSource(root)
    got, page = ids(source, {"stage": "00_generate", "page": "7", "size": "45"})
    assert got == [r["id"] for r in rows[270:315]] and page.total == 1000 and page.has_next
    got, page = ids(source, {"stage": "generate", "page": "23", "size": "45"})
    assert got == [r["id"] for r in rows[990:]] and not page.has_next
    assert ids(source, {})[0] == [r["id"] for r in rows[:10]]        # no stage: the final rows (last stage)


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_sorted_pages_match_a_full_sort(synthetic, monkeypatch, order):
    monkeypatch.setattr(query, "BATCH", 37)      # many batches, so the running top-k is pruned often
    root, rows = synthetic
    source = RunSource(root)
    sign = -1 if order == "desc" else 1
    expect = sorted(range(len(rows)), key=lambda i: (rows[i]["scores"]["judge"] is None,
                                                       sign * (rows[i]["scores"]["judge"] or 0), i))
    for p in (1, 4, 20):
        got, page = ids(source, {"stage": "00_generate", "sort": "judge", "order": order, "page": str(p)})
        assert got == [rows[i]["id"] for i in expect[(p - 1) * 50:p * 50]], p
        assert page.total == 1000


def test_filters_match_python(synthetic, monkeypatch):
    monkeypatch.setattr(query, "BATCH", 37)
    root, rows = synthetic
    source = RunSource(root)
    want = [r["id"] for r in rows if "needle" in r["instruction"] and r["scores"]["judge"] is not None
            and 3 <= r["scores"]["judge"] <= 8 and r["meta"]["checkpoint"] == "ckA" and r["verify"]["passed"]]
    params = {"stage": "00_generate", "q": "NEEDLE", "score": "judge", "min": "3", "max": "8", "checkpoint": "ckA",
              "passed": "1", "size": "200"}
    got, page = ids(source, params)
    assert got == want and page.total == len(want) and len(want) > 10
    got, page = ids(source, {**params, "size": "5", "page": "2"})
    assert got == want[5:10] and page.total is None and page.has_next     # stopped early: "more"
    failed = [r["id"] for r in rows if not r["verify"]["passed"]][:50]
    assert ids(source, {"stage": "00_generate", "passed": "0"})[0] == failed


def test_bad_parameters_name_themselves(synthetic):
    source = RunSource(synthetic[0])
    for params, word in [({"min": "x", "score": "judge"}, "min="), ({"colour": "red"}, "colour"),
                         ({"passed": "maybe"}, "passed="), ({"order": "up"}, "order="), ({"min": "1"}, "score=NAME"),
                         ({"page": "0"}, "page")]:
        with pytest.raises(DataError, match=word):
            Query.parse(params)
    with pytest.raises(DataError, match="score 'nope'.*judge, verify"):
        query.run(source, Query.parse({"stage": "00_generate", "sort": "nope"}))
    with pytest.raises(DataError, match="stage 'nope': unknown; stages: 00_generate, 01_dedup_minhash"):
        query.run(source, Query.parse({"stage": "nope"}))
    with pytest.raises(DataError, match="reason='failed' needs stage=NAME.*no stage dropped rows for it"):
        query.run(source, Query.parse({"reason": "failed"}))
    assert Query.parse({"sort": "judge", "min": "5"}).score == "judge"      # the range is over the sort's score
    with pytest.raises(DataError, match="deeper than"):
        query.run(source, Query.parse({"stage": "00_generate", "q": "x", "page": str(query.MAX_OFFSET // 50 + 2)}))


def test_rejected_rows_by_reason_and_clusters(synthetic):
    root, rows = synthetic
    source = RunSource(root)
    got, page = ids(source, {"reason": "dedup_minhash:near_duplicate"})     # reason=STAGE:REASON
    assert got == [r["id"] for r in rows[10:40]] and page.rejected
    assert ids(source, {"reason": "near_duplicate"})[0] == got               # the one stage with that reason
    assert ids(source, {"stage": "01_dedup_minhash", "reason": "other"})[0] == []
    got, page = ids(source, {"stage": "01_dedup_minhash", "reason": "*", "q": "NEEDLE", "sort": "judge"})
    want = sorted((r for r in rows[10:40] if "needle" in r["instruction"]),
                  key=lambda r: (r["scores"]["judge"] is None, -(r["scores"]["judge"] or 0)))
    assert got == [r["id"] for r in want] and page.score_names == ["judge", "verify"]
    assert page.rows[0]["rejected_by"] == "dedup_minhash:near_duplicate" and page.rows[0]["dup_of"]
    kept, members, total = cluster(source, "01_dedup_minhash", 1, limit=4)
    assert kept["id"] == rows[1]["id"] and total == 10 and [m["id"] for m in members] == ["r00011", "r00014",
                                                                                          "r00017", "r00020"]
    found = find_row(source, "r00025")                       # not final: found among the rejected rows
    assert found.rejected and found.stage.key == "01_dedup_minhash" and found.row["dup_of"] == "r00000"
    found = find_row(source, "r00500")
    assert not found.rejected and found.stage.key == "00_generate" and find_row(source, "nope") is None


def test_shared_spans_mark_common_word_ngrams():
    a = "Check if in given list of numbers, are any two numbers closer. Unrelated tail."
    b = "def f():\n    \"\"\" check IF in given list of numbers, are any two numbers closer to each other\"\"\""
    sa, sb = shared_spans(a, b, 5)
    assert [a[s:e] for s, e in sa] == ["Check if in given list of numbers, are any two numbers closer"]
    assert [b[s:e] for s, e in sb] == ["check IF in given list of numbers, are any two numbers closer"]
    assert shared_spans("one two three", "three two one", 2) == ([], [])


def test_a_saved_dataset_folder_is_served_too(viewer_run):
    from starlette.testclient import TestClient

    from synthkit.viewer.app import make_app

    out = RunSource(viewer_run).card_dir()
    client = TestClient(make_app(out))
    home = client.get("/")
    assert home.status_code == 200 and "decontaminate" in home.text and "dataset folder" in home.text
    rows = client.get("/rows")
    assert rows.status_code == 200 and "rows 1–3 of 3" in rows.text
    assert client.get("/rows?stage=judge").status_code == 400        # a saved dataset has final rows only


def test_decontaminate_records_the_benchmark_item_it_matched(viewer_run):
    from synthkit.core.rundir import iter_rows

    (row,) = iter_rows(viewer_run / "05_decontaminate" / "rejected")
    items = row["contamination_items"]
    assert [(i["benchmark"], i["item_id"]) for i in items] == [("humaneval", "HumanEval/0")]
    assert "def has_close_elements" in items[0]["prompt"] and "enumerate(numbers)" in items[0]["solution"]


def test_cli_errors_and_the_warning_off_loopback(viewer_run, tmp_path):
    run = [sys.executable, "-m", "synthkit.cli", "view"]
    bad = subprocess.run(run + [str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "neither a run folder" in bad.stderr
    proc, base = start_viewer(viewer_run, "--host", "127.0.0.2")     # loopback, but not the default
    try:
        assert base.startswith("http://127.0.0.2:")
    finally:
        stop(proc)
    assert "warning: listening on 127.0.0.2" in proc.stderr.read()


def test_without_the_extra_the_command_names_the_pip_install(monkeypatch):
    from synthkit import viewer

    monkeypatch.setitem(sys.modules, "starlette", None)      # as if `pip install synthkit` without [viewer]
    with pytest.raises(MissingDependency, match=r"pip install 'synthkit\[viewer\]'"):
        viewer.require()


GIFT = """name: giftview
seed: 0
llm: {backend: dummy, model: m, dummy_responses: ["```python\\ndef f(x):\\n    return x\\n```", "Return x."]}
stages:
  - stage: load_seeds
    tasks: bundled:train
    limit: 2
  - stage: gibbs_resample
    steps: 2
    k: 2
"""


@pytest.mark.slow
def test_a_gift_row_shows_its_chain_trace(tmp_path):
    """A real GiFT chain (dummy model, real sandbox): a sample's page shows its task's chain, its step marked."""
    from starlette.testclient import TestClient

    from synthkit.core.pipeline import Pipeline
    from synthkit.viewer.app import make_app

    (tmp_path / "gift.yaml").write_text(GIFT)
    pipe = Pipeline.from_yaml(tmp_path / "gift.yaml", workdir=tmp_path / "runs")
    pipe.run()
    source = RunSource(pipe.run_dir)
    sample = query.run(source, Query.parse({"stage": "gibbs_resample", "reason": "*", "size": "200"})).rows
    row = next(r for r in sample if r["meta"].get("step") == 2)
    page = TestClient(make_app(pipe.run_dir)).get(f"/row/{row['id']}", params={"stage": "01_gibbs_resample"})
    assert page.status_code == 200 and f"GiFT chain of task {row['meta']['task_id']}" in page.text
    trace = page.text.split('class="trace"', 1)[1].split("</table>", 1)[0]
    assert trace.count("<tr>") + trace.count('<tr class="current">') == 3      # header + steps 1 and 2
    assert '<tr class="current"><td>2</td>' in trace
    assert "Write a Python function" in trace              # the seed description the chain started from


def test_a_match_without_contamination_items_still_lists_its_matches(tmp_path):
    """Runs made before decontaminate recorded the items: the page names them, without their text."""
    from starlette.testclient import TestClient

    from synthkit.viewer.app import make_app

    stage = tmp_path / "00_decontaminate"
    (stage / "shards").mkdir(parents=True)
    (stage / "rejected").mkdir()
    pq.write_table(pa.table({"id": ["k"], "instruction": ["kept"]}), stage / "shards" / "p000-s000000.parquet")
    row = {"id": "x/1", "instruction": "<b>copied</b>", "contamination": [
        {"benchmark": "humaneval", "item_id": "HumanEval/3", "detector": "substring", "view": "raw",
         "column": "instruction", "span": "below zero"}]}
    pq.write_table(pack([Rejected(row, "contaminated", "humaneval HumanEval/3")], "decontaminate"),
                   stage / "rejected" / "p000-s000000.parquet")
    page = TestClient(make_app(tmp_path)).get("/match/x/1", params={"stage": "decontaminate"})
    assert page.status_code == 200 and "no contamination_items" in page.text
    assert "HumanEval/3" in page.text and "below zero" in page.text and "<b>copied" not in page.text


def test_folders_are_indexed_once_in_the_background(synthetic):
    source = RunSource(synthetic[0])
    source.warm().join(timeout=60)
    built = dict(source._folders)
    assert set(built) == {source.kept_path(None)} | {p for s in source.stages for p in (s.path / "shards",
                                                                                     s.path / "rejected")}
    assert all(source.folder(p) is f for p, f in built.items())     # later requests reuse the index


def write_units(stage, rows, per_unit: int, whole: bool = False) -> None:
    """A stage folder of jobs as the runner writes them: shards/<key>.parquet and stats/<key>.json."""
    import json

    (stage / "shards").mkdir(parents=True)
    (stage / "stats").mkdir()
    for u, lo in enumerate(range(0, len(rows), per_unit)):
        part = rows[lo:lo + per_unit]
        pq.write_table(pa.Table.from_pylist(part), stage / "shards" / f"p000-s{u:06d}.parquet")
        stats = {"rows_in": 0, "kept": 0} if whole and lo + per_unit < len(rows) else \
            {"rows_in": len(rows) if whole else len(part), "kept": len(rows) if whole else len(part)}
        (stage / "stats" / f"p000-s{u:06d}.json").write_text(json.dumps(stats))
    (stage / "stats.json").write_text(json.dumps({"rows_in": len(rows), "kept": len(rows), "dropped": {}}))


@pytest.mark.parametrize("whole", [False, True])
def test_many_unit_files_are_counted_from_their_stats(tmp_path, monkeypatch, whole):
    """A row-local stage's jobs are counted from stats/<key>.json (no footer read until a
    file is read); a whole-dataset stage's jobs (only the last one counts) from footers."""
    from synthkit.viewer import source as source_mod

    monkeypatch.setattr(source_mod, "FOOTERS_UP_TO", 4)
    rows = make_rows(200)
    write_units(tmp_path / "00_generate", rows, 16, whole)
    source = RunSource(tmp_path)
    folder = source.folder(tmp_path / "00_generate" / "shards")
    assert folder.total == 200 and (folder._info[0] is None) is (not whole)
    got, page = ids(source, {"page": "3", "size": "40"})
    assert got == [r["id"] for r in rows[80:120]] and page.total == 200


def test_a_unit_that_disagrees_with_its_stats_is_reported(tmp_path, monkeypatch):
    import json

    from synthkit.viewer import source as source_mod

    monkeypatch.setattr(source_mod, "FOOTERS_UP_TO", 4)
    write_units(tmp_path / "00_generate", make_rows(100), 10)
    stats = tmp_path / "00_generate" / "stats"
    (stats / "p000-s000003.json").write_text(json.dumps({"rows_in": 12, "kept": 12}))
    (stats / "p000-s000004.json").write_text(json.dumps({"rows_in": 8, "kept": 8}))    # the sum still agrees
    with pytest.raises(DataError, match="p000-s000003.parquet: 10 rows, but its stats say 12"):
        ids(RunSource(tmp_path), {"page": "4", "size": "10"})


def test_only_the_last_folders_used_keep_their_index(synthetic, monkeypatch):
    from synthkit.viewer import source as source_mod

    monkeypatch.setattr(source_mod, "MAX_FOLDERS", 2)
    source = RunSource(synthetic[0])
    a, b, c = (source.stages[0].path / "shards", source.stages[1].path / "shards", source.stages[1].path / "rejected")
    first = source.folder(a)
    source.folder(b)
    assert source.folder(a) is first            # used again: now the most recent
    source.folder(c)
    assert list(source._folders) == [a, c]      # b, the least recently used, was dropped


def test_unit_stats_of_a_real_run_agree_with_its_shards(viewer_run, monkeypatch):
    """What the stats-based count assumes of the runner holds on a real run: wherever the jobs'
    stats are used, they give each file its real row count."""
    from synthkit.viewer import source as source_mod
    from synthkit.viewer.source import Folder, job_counts

    monkeypatch.setattr(source_mod, "FOOTERS_UP_TO", 0)
    source, used = RunSource(viewer_run), []
    for stage in source.stages:
        for kind in ("shards", "rejected"):
            folder = source.folder(stage.path / kind)
            truth = Folder(stage.path / kind, None)
            assert folder.rows == truth.rows, (stage.key, kind)
            if job_counts(stage.path, kind) is not None:
                used.append(f"{stage.name}/{kind}")
    assert {"synthesize/shards", "verify_tests/rejected", "judge/shards"} <= set(used)
