"""The runner's hooks around a stage: check() before anything runs, extra_stats() into
stats.json, finish_run(report) once the run is done."""

from __future__ import annotations

import json

import pytest

from synthkit.core.pipeline import Pipeline
from synthkit.errors import ConfigError

PLUGIN = '''
from synthkit.core.stage import Stage, StageConfig
from synthkit.errors import ConfigError

class Counted(Stage):
    class Config(StageConfig):
        fail_check: bool = False

    reports = []

    def check(self):
        if self.config.fail_check:
            raise ConfigError("stages.0.fail_check: refused before any stage ran")

    def process(self, batch):
        self.seen = getattr(self, "seen", 0) + len(batch)
        return batch

    def extra_stats(self):
        return {"seen": self.seen, "kept": -1}   # a funnel key cannot be overridden

    def finish_run(self, report):
        Counted.reports.append(report)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "hooks_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import hooks_plugin
    return importlib.reload(hooks_plugin)


def test_extra_stats_and_finish_run(tmp_path, plugin):
    rows = [{"id": str(i), "text": "x"} for i in range(5)]
    pipe = Pipeline([{"stage": "hooks_plugin:Counted", "shard_size": 2}], name="h", workdir=tmp_path)
    pipe.run(dataset=rows)
    stats = json.loads((pipe.run_dir / "00_counted" / "stats.json").read_text())
    assert stats["seen"] == 5 and stats["kept"] == 5
    assert len(plugin.Counted.reports) == 1 and plugin.Counted.reports[0]["rows_out"] == 5


def test_a_failing_check_stops_the_run_before_any_stage(tmp_path, plugin):
    pipe = Pipeline([{"stage": "hooks_plugin:Counted"}, {"stage": "hooks_plugin:Counted", "fail_check": True}],
                    name="c", workdir=tmp_path)
    with pytest.raises(ConfigError, match="refused before any stage ran"):
        pipe.run(dataset=[{"id": "a"}])
    assert not (pipe.run_dir / "00_counted" / "_SUCCESS").exists()
