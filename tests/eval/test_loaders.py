"""Task loaders: every supported format, from local fixtures written here (no real benchmark items)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from synthkit.data.tasksets import detect_format
from synthkit.errors import ConfigError, DataError
from synthkit.eval.tasks import Task, load_tasks

HUMANEVAL_ROWS = [
    {"task_id": "Fix/0", "prompt": "import math\n\n\ndef circle_area(r):\n    \"\"\"Area of a circle of radius r.\"\"\"\n",
     "canonical_solution": "    return math.pi * r * r\n",
     "test": "def check(candidate):\n    assert abs(candidate(1.0) - 3.14159) < 1e-4\n", "entry_point": "circle_area"},
    {"task_id": "Fix/1", "prompt": "def twice(s):\n    \"\"\"Repeat s two times.\"\"\"\n",
     "canonical_solution": "    return s * 2\n",
     "test": "def check(candidate):\n    assert candidate('ab') == 'abab'\n", "entry_point": "twice"},
]

MBPP_ROWS = [
    {"task_id": 901, "text": "Write a function that reverses the order of words in a sentence.",
     "code": "def flip_words(s):\n    return ' '.join(s.split()[::-1])",
     "test_list": ["assert flip_words('a b c') == 'c b a'", "assert flip_words('x') == 'x'"],
     "test_setup_code": "", "challenge_test_list": []},
]

MBPP_SANITIZED_ROWS = [
    {"task_id": 902, "prompt": "Write a function returning the hypotenuse of a right triangle.",
     "code": "import math\ndef _helper(a):\n    return a * a\ndef hyp(a, b):\n    return math.sqrt(_helper(a) + _helper(b))",
     "test_imports": ["import math"], "test_list": ["assert math.isclose(hyp(3, 4), 5.0)"], "source_file": "x"},
]

APPS_ROWS = [
    {"problem_id": 11, "question": "Read two integers and print their sum.",
     "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a + b)\n"]),
     "input_output": json.dumps({"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]}),
     "difficulty": "introductory", "url": "local", "starter_code": ""},
    {"problem_id": 12, "question": "Return the larger of two numbers.",
     "solutions": json.dumps(["class Solution:\n    def bigger(self, a, b):\n        return max(a, b)\n"]),
     "input_output": json.dumps({"fn_name": "bigger", "inputs": [[1, 2], [7, 3]], "outputs": [[2], [7]]}),
     "difficulty": "interview", "url": "local", "starter_code": "class Solution:\n    def bigger(self, a, b):\n"},
    {"problem_id": 13, "question": "No tests here.", "solutions": "[]", "input_output": "",
     "difficulty": "interview", "url": "local", "starter_code": ""},
]


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_humaneval_jsonl(tmp_path):
    tasks = load_tasks(str(_jsonl(tmp_path / "he.jsonl", HUMANEVAL_ROWS)))
    assert [t.task_id for t in tasks] == ["Fix/0", "Fix/1"]
    t = tasks[0]
    assert t.source == "humaneval" and t.entry_point == "circle_area" and t.prompt_is_code
    assert "def check(candidate)" in t.tests and t.io_tests is None
    assert t.canonical_solution == "    return math.pi * r * r\n"


def test_humaneval_jsonl_gz_and_limit(tmp_path):
    path = tmp_path / "he.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in HUMANEVAL_ROWS)
    tasks = load_tasks(str(path), limit=1)
    assert [t.task_id for t in tasks] == ["Fix/0"]


def test_humaneval_from_installed_package():
    tasks = load_tasks("humaneval")
    assert len(tasks) == 164
    assert all(t.source == "humaneval" and t.entry_point and "def check" in t.tests for t in tasks)
    assert all(t.prompt_is_code for t in tasks)


def test_mbpp_original_format(tmp_path):
    (t,) = load_tasks(str(_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)))
    assert t.source == "mbpp" and t.task_id == "MBPP/901" and t.entry_point == "flip_words"
    assert t.prompt.startswith("Write a function that reverses")
    assert "assert flip_words('a b c') == 'c b a'" in t.prompt   # the asserts name the function
    assert t.tests.splitlines() == MBPP_ROWS[0]["test_list"]
    assert not t.prompt_is_code


def test_mbpp_sanitized_format_as_json_list(tmp_path):
    path = tmp_path / "mbpp.json"
    path.write_text(json.dumps(MBPP_SANITIZED_ROWS))
    (t,) = load_tasks(str(path))
    assert t.entry_point == "hyp"          # the helper defined first is not what the tests call
    assert t.tests.startswith("import math\n")


def test_apps_stdin_and_call_based_and_skip_empty(tmp_path, caplog):
    tasks = load_tasks(str(_jsonl(tmp_path / "apps.jsonl", APPS_ROWS)))
    assert [t.task_id for t in tasks] == ["APPS/11", "APPS/12"]
    stdin, call = tasks
    assert stdin.entry_point is None and stdin.io_tests["inputs"] == ["1 2\n", "5 5\n"]
    assert "standard input" in stdin.prompt and stdin.canonical_solution.startswith("a, b")
    assert call.entry_point == "bigger" and call.io_tests["fn_name"] == "bigger"
    assert "class Solution" in call.prompt and call.meta["difficulty"] == "interview"
    assert "skipped 1 apps rows" in caplog.text


def test_apps_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "apps.parquet"
    pq.write_table(pa.Table.from_pylist(APPS_ROWS[:2]), path)
    tasks = load_tasks(str(path))
    assert [t.source for t in tasks] == ["apps", "apps"]
    assert tasks[1].io_tests["outputs"] == [[2], [7]]


def test_unknown_format_names_file_and_expected_fields(tmp_path):
    path = _jsonl(tmp_path / "odd.jsonl", [{"question_text": "q", "answer": "a"}])
    with pytest.raises(DataError) as e:
        load_tasks(str(path))
    msg = str(e.value)
    assert "odd.jsonl" in msg and "answer" in msg
    assert "test_list" in msg and "input_output" in msg and "entry_point" in msg


def test_bad_row_names_row_and_format(tmp_path):
    rows = [MBPP_ROWS[0], {"task_id": 2, "text": "x", "code": "def f(): pass", "test_list": []}]
    with pytest.raises(DataError, match=r"mbpp.jsonl: row 1 is not valid mbpp"):
        load_tasks(str(_jsonl(tmp_path / "mbpp.jsonl", rows)))


def test_bad_json_line_and_missing_file_and_suffix(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(HUMANEVAL_ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"broken.jsonl:2"):
        load_tasks(str(path))
    with pytest.raises(DataError, match="missing.jsonl does not exist"):
        load_tasks(str(tmp_path / "missing.jsonl"))
    (tmp_path / "t.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unknown file type"):
        load_tasks(str(tmp_path / "t.csv"))


def test_detect_format_on_non_dict():
    with pytest.raises(DataError, match="cannot tell"):
        detect_format(["not", "a", "dict"], "somewhere")


def test_hub_spec_from_save_to_disk(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(HUMANEVAL_ROWS)
    ds.save_to_disk(str(tmp_path / "single"))
    tasks = load_tasks(f"hub:{tmp_path / 'single'}")
    assert [t.task_id for t in tasks] == ["Fix/0", "Fix/1"]

    datasets.DatasetDict({"train": ds.select([0]), "test": ds.select([1])}).save_to_disk(str(tmp_path / "dd"))
    assert [t.task_id for t in load_tasks(f"hub:{tmp_path / 'dd'}")] == ["Fix/1"]          # test by default
    assert [t.task_id for t in load_tasks(f"hub:{tmp_path / 'dd'}:train")] == ["Fix/0"]
    with pytest.raises(DataError, match="no split 'valid'. Available: train, test"):
        load_tasks(f"hub:{tmp_path / 'dd'}:valid")


def test_hub_spec_through_load_dataset_on_local_files(tmp_path):
    # a directory of data files goes through datasets.load_dataset, as a Hub id would
    repo = tmp_path / "repo"
    repo.mkdir()
    _jsonl(repo / "train.jsonl", MBPP_ROWS)
    _jsonl(repo / "test.jsonl", [dict(MBPP_ROWS[0], task_id=903)])
    tasks = load_tasks(f"hub:{repo}:train")
    assert [(t.task_id, t.source) for t in tasks] == [("MBPP/901", "mbpp")]
    assert [t.task_id for t in load_tasks(f"hub:{repo}")] == ["MBPP/903"]


def test_bundled_specs():
    all_tasks = load_tasks("bundled")
    test, train = load_tasks("bundled:test"), load_tasks("bundled:train")
    assert len(test) + len(train) == len(all_tasks) and test and train
    assert all(isinstance(t, Task) and t.source == "synthkit" and t.entry_point and t.tests for t in test)
    assert {t.meta["split"] for t in test} == {"test"}
    with pytest.raises(ConfigError, match="Unknown task set 'bundled:dev'. Available: .*bundled:test, bundled:train"):
        load_tasks("bundled:dev")


def test_json_list_and_json_lines_read_alike(tmp_path):
    """The one reader: a .json list, a .json file of JSON lines and a .jsonl give the same tasks."""
    (tmp_path / "list.json").write_text(json.dumps(MBPP_ROWS + MBPP_SANITIZED_ROWS, indent=2))
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in MBPP_ROWS + MBPP_SANITIZED_ROWS))
    _jsonl(tmp_path / "t.jsonl", MBPP_ROWS + MBPP_SANITIZED_ROWS)
    got = [load_tasks(str(tmp_path / f)) for f in ("list.json", "lines.json", "t.jsonl")]
    assert got[0] == got[1] == got[2] and [t.task_id for t in got[0]] == ["MBPP/901", "MBPP/902"]


def test_bad_json_list_names_the_problem(tmp_path):
    (tmp_path / "l.json").write_text(json.dumps([MBPP_ROWS[0], ["not", "an", "object"]]))
    with pytest.raises(DataError, match=r"l.json: item 1 of the JSON list is list, expected an object"):
        load_tasks(str(tmp_path / "l.json"))
    (tmp_path / "bad.json").write_text('[\n  {"task_id": 1},\n  {oops}\n]')
    with pytest.raises(DataError, match=r"bad.json:3: not a valid JSON list"):
        load_tasks(str(tmp_path / "bad.json"))
    (tmp_path / "obj.json").write_text('{\n  "task_id": 1\n}\n')   # one pretty-printed object
    with pytest.raises(DataError, match=r"obj.json:1: not valid JSON .*expected one JSON object per line"):
        load_tasks(str(tmp_path / "obj.json"))


def test_unknown_name_lists_every_spec():
    with pytest.raises(ConfigError, match="Unknown task set 'humaneval_plus'. Available: humaneval, mbpp, "
                       "apps, ds1000, bundled, bundled:test, bundled:train, hub:<dataset id>"):
        load_tasks("humaneval_plus")


DS1000_ROWS = [{"prompt": "Problem:\nSum a column.\n<code>\nimport pandas as pd\n</code>\n",
                "reference_code": "result = df['a'].sum()\n",
                "metadata": {"problem_id": 7, "library": "Pandas"}, "code_context": "def test_execution(s): ..."}]


def test_ds1000_cannot_be_evaluated_and_says_why(tmp_path):
    with pytest.raises(DataError, match="ds1000.jsonl: ds1000 rows cannot be evaluated: DS-1000 problems "
                       "have no plain assert tests"):
        load_tasks(str(_jsonl(tmp_path / "ds1000.jsonl", DS1000_ROWS)))
    assert detect_format(DS1000_ROWS[0], "x") == "ds1000"


def test_hub_name_without_network_says_to_pass_a_local_copy(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="mbpp: could not load .*pass a local copy.*--tasks /path/to/mbpp.jsonl"):
        load_tasks("mbpp")
