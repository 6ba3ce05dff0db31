"""A real run for the viewer tests, and `synthkit view` serving it on 127.0.0.1.

The run is pipelines/scoder.yaml on the dummy backend (the real stages, seeds,
sandbox, dedup and decontamination): synthesize drops answers without tests,
verify_tests drops the one whose own test fails (in the sandbox), judge drops
low scores, dedup_minhash drops copies, decontaminate drops HumanEval/0. One
answer carries markup and script in its text (``PLANTED``) and is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.scoder_answers import ANSWERS
from helpers.viewer import start_viewer, stop

ROOT = Path(__file__).resolve().parents[2]

PLANTED = """[Problem]
Write `triple(x)` <img src=x onerror="window.__xss='img'"> <script>window.__xss='script'</script>
<a href="javascript:window.__xss='link'">click me</a> and [also](javascript:window.__xss='md').

[Entry Point]
triple

[Solution]
```python
def triple(x):
    # </code></pre><script>window.__xss='code'</script>
    return 3 * x
```

[Tests]
```python
assert triple(2) == 6
assert triple(0) == 0
```"""


@pytest.fixture(scope="session")
def viewer_run(tmp_path_factory) -> Path:
    """The run folder of a real pipeline run (see the module doc)."""
    from synthkit.core.pipeline import Pipeline

    tmp = tmp_path_factory.mktemp("viewer_run")
    answers = json.dumps(ANSWERS + [PLANTED])
    import yaml

    raw = yaml.safe_load((ROOT / "pipelines" / "scoder.yaml").read_text())
    del raw["stages"][1]   # the snippet pool's decontamination: the tests name the folders numbered without it
    (tmp / "scoder.yaml").write_text(yaml.safe_dump(raw))
    pipe = Pipeline.from_yaml(tmp / "scoder.yaml", overrides=[
        "llm.backend=dummy", f"llm.dummy_responses={answers}", "stages.0.limit=6",
        "stages.1.style=chat", "stages.1.n=6", "stages.1.checkpoints=[ckA, ckB]",
        "stages.3.style=chat", "stages.3.llm={dummy_responses: ['2', '5', '8', '9']}", "stages.3.min_score=5.5",
        f"stages.6.path={tmp / 'out'}"], workdir=tmp / "runs")
    pipe.run()
    return pipe.run_dir


@pytest.fixture(scope="session")
def viewer_url(viewer_run):
    proc, base = start_viewer(viewer_run)
    yield base
    stop(proc)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Screenshots go to $SYNTHKIT_TEST_ARTIFACTS/viewer when set (CI keeps that folder), else a tmp folder."""
    root = os.environ.get("SYNTHKIT_TEST_ARTIFACTS")
    path = Path(root) / "viewer" if root else tmp_path_factory.mktemp("viewer_screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
