"""Pluggable stages: `module:Class` references, `synthkit.stages` entry points,
and in-memory input (`Pipeline.run(dataset=...)`). Plugins are written into
tmp_path at test time; nothing of theirs ships inside synthkit."""

from __future__ import annotations

import json
import logging
import textwrap
import uuid

import datasets
import pytest

from synthkit.cli import main
from synthkit.core.pipeline import Pipeline
from synthkit.core.registry import STAGES
from synthkit.errors import ConfigError, DataError

PLUGIN = '''
from synthkit.core.stage import Stage, StageConfig


class ShoutText(Stage):
    """Upper-case one column."""

    class Config(StageConfig):
        column: str = "text"

    def process(self, batch):
        return [{**r, self.config.column: r[self.config.column].upper()} for r in batch]


def not_a_stage(row):
    return None  # as a filter function: keep every row


class NoConfig(Stage):
    Config = dict
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A fresh module (its own name per test: sys.modules caches imports) on sys.path."""
    name = f"plug_{uuid.uuid4().hex[:12]}"
    folder = tmp_path / "plugin_src"
    folder.mkdir()
    (folder / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    return name


@pytest.fixture
def rescan(monkeypatch):
    """Rescan the entry points now and again after the test (its sys.path entries are gone then)."""
    STAGES.reload()
    yield
    STAGES.reload()


def _pipe(stages, tmp_path, **kw):
    return Pipeline(stages, name="p", workdir=tmp_path / "runs", **kw)


# --- stage: module:Class ------------------------------------------------------------------

def test_class_reference_runs_in_a_pipeline(plugin, tmp_path):
    pipe = _pipe([{"stage": f"{plugin}:ShoutText", "column": "text"}], tmp_path)
    ds = pipe.run(dataset=[{"id": "a", "text": "hi"}, {"id": "b", "text": "yo"}])
    assert ds.to_list() == [{"id": "a", "text": "HI"}, {"id": "b", "text": "YO"}]
    stage_dir = pipe.run_dir / "00_shout_text"  # a folder-safe name, not the reference
    assert (stage_dir / "_SUCCESS").exists()
    assert json.loads((stage_dir / "stats.json").read_text())["stage"] == "shout_text"


def test_class_reference_from_yaml_and_validate(plugin, tmp_path, capsys):
    yml = tmp_path / "p.yaml"
    yml.write_text(f"name: y\nstages:\n  - stage: {plugin}:ShoutText\n    column: body\n")
    assert Pipeline.from_yaml(yml).stage_configs[0].column == "body"
    assert main(["validate", str(yml)]) == 0
    assert "00 shout_text: ok" in capsys.readouterr().out


def test_class_reference_config_is_validated_like_builtins(plugin, tmp_path):
    with pytest.raises(ConfigError, match=r"stages.0.colum: unknown key. Allowed: shard_size, column"):
        _pipe([{"stage": f"{plugin}:ShoutText", "colum": "x"}], tmp_path)


@pytest.mark.parametrize("ref, expected", [
    ("no_such_module_xyz:Stage", r"stages.0.stage: cannot import module 'no_such_module_xyz'.*"
                                 r"No module named 'no_such_module_xyz'.*PYTHONPATH"),
    ("{plugin}:Missing", r"stages.0.stage: module '{plugin}' has no attribute 'Missing'"),
    ("{plugin}:not_a_stage", r"stages.0.stage: '{plugin}:not_a_stage' is not a subclass of "
                             r"synthkit.core.stage.Stage \(it is of type function\)"),
    ("{plugin}:NoConfig", r"stages.0.stage: .*no nested `Config` class that subclasses .*StageConfig"),
    ("{plugin}:", r"stages.0.stage: '{plugin}:' is not a reference: expected `module.path:Name`"),
])
def test_bad_class_reference_is_a_clear_config_error(plugin, tmp_path, ref, expected):
    with pytest.raises(ConfigError, match=expected.format(plugin=plugin)):
        _pipe([{"stage": ref.format(plugin=plugin)}], tmp_path)


def test_import_error_inside_the_module_is_kept(tmp_path, monkeypatch):
    (tmp_path / "plug_needs_dep.py").write_text("import not_installed_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"stages.0.stage: cannot import module 'plug_needs_dep'.*"
                                          r"No module named 'not_installed_dep_xyz'") as e:
        _pipe([{"stage": "plug_needs_dep:Anything"}], tmp_path)
    assert "PYTHONPATH" not in str(e.value)  # the module was found; its dependency was not


# --- entry points ---------------------------------------------------------------------------

def _distribution(root, dist, module, entry_points, source=PLUGIN):
    """A fake installed distribution: <root>/<module>.py plus <dist>-0.1.dist-info/."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[synthkit.stages]\n" + textwrap.dedent(entry_points))
    return root


def test_entry_point_is_found_and_listed_with_its_source(tmp_path, monkeypatch, rescan, caplog, capsys):
    root = _distribution(tmp_path / "site", "synthkit-demo-plugin", "demo_plugin_mod", """
        shout = demo_plugin_mod:ShoutText
        broken = demo_plugin_gone:Nope
        notastage = demo_plugin_mod:not_a_stage
    """)
    monkeypatch.syspath_prepend(str(root))
    STAGES.reload()
    with caplog.at_level(logging.WARNING, logger="synthkit.core.registry"):
        names = STAGES.names()
    assert "shout" in names and "generate" in names
    assert "broken" not in names and "notastage" not in names
    warnings = caplog.text
    assert "broken = demo_plugin_gone:Nope" in warnings and "synthkit-demo-plugin" in warnings
    assert "notastage" in warnings and "not a subclass" in warnings
    assert STAGES.get("shout").name == "shout"
    entry = next(e for e in STAGES.describe() if e.name == "shout")
    assert entry.source == "synthkit-demo-plugin" and entry.file.endswith("demo_plugin_mod.py")

    assert main(["stages"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shout = next(line for line in lines if line.startswith("shout "))
    assert "synthkit-demo-plugin" in shout and "demo_plugin_mod.py:" in shout and "Upper-case" in shout
    gen = next(line for line in lines if line.startswith("generate "))
    assert " builtin " in gen and "synthkit/stages/generate.py:" in gen

    ds = _pipe([{"stage": "shout"}], tmp_path).run(dataset=[{"text": "ep"}])
    assert ds["text"] == ["EP"]


def test_entry_point_clashing_with_a_builtin_names_both(tmp_path, monkeypatch, rescan, capsys):
    root = _distribution(tmp_path / "site", "synthkit-clash", "clash_plugin_mod", """
        generate = clash_plugin_mod:ShoutText
    """)
    monkeypatch.syspath_prepend(str(root))
    STAGES.reload()
    with pytest.raises(ConfigError, match=r"stage 'generate' is defined twice: by builtin "
                                          r"synthkit.stages.generate and by entry point "
                                          r"'generate = clash_plugin_mod:ShoutText' of synthkit-clash"):
        STAGES.get("map")
    assert main(["stages"]) == 2
    assert "defined twice" in capsys.readouterr().err


def test_reload_forgets_uninstalled_plugins(tmp_path, monkeypatch, rescan):
    root = _distribution(tmp_path / "site", "synthkit-gone", "gone_plugin_mod", """
        gone_stage = gone_plugin_mod:ShoutText
    """)
    monkeypatch.syspath_prepend(str(root))
    STAGES.reload()
    assert "gone_stage" in STAGES.names()
    monkeypatch.undo()  # "uninstall": off sys.path again
    STAGES.reload()
    assert "gone_stage" not in STAGES.names() and "generate" in STAGES.names()


# --- in-memory input: run(dataset=...) ------------------------------------------------------

ROWS = [{"text": "alpha"}, {"text": "beta"}, {"text": "alpha"}]


def test_run_with_a_dataset_or_a_list_gives_the_same_rows(plugin, tmp_path):
    stages = [{"stage": f"{plugin}:ShoutText", "shard_size": 2}]
    a = Pipeline(stages, name="a", workdir=tmp_path / "runs").run(dataset=datasets.Dataset.from_list(ROWS))
    b = Pipeline(stages, name="b", workdir=tmp_path / "runs").run(dataset=[dict(r) for r in ROWS])
    assert a.to_list() == b.to_list()
    assert a["text"] == ["ALPHA", "BETA", "ALPHA"]
    ids = a["id"]
    assert len(set(ids)) == 3 and ids[2] == ids[0] + "-1"  # stable ids; an exact duplicate gets -1
    assert (tmp_path / "runs" / "a" / "input" / "_SUCCESS").exists()


def test_given_ids_are_kept_and_missing_ones_filled(plugin, tmp_path):
    rows = [{"id": 7, "text": "x"}, {"text": "y"}]
    ds = _pipe([{"stage": f"{plugin}:ShoutText"}], tmp_path).run(dataset=rows)
    assert ds["id"][0] == "7" and len(ds["id"][1]) == 16
    assert rows == [{"id": 7, "text": "x"}, {"text": "y"}]  # the caller's rows are not touched


def test_rerun_with_same_data_skips_and_changed_data_reruns(plugin, tmp_path):
    stages = [{"stage": f"{plugin}:ShoutText"}, {"stage": "filter", "function": f"{plugin}:not_a_stage"}]
    pipe = _pipe(stages, tmp_path)
    pipe.run(dataset=ROWS)
    dirs = [pipe.run_dir / d for d in ("input", "00_shout_text", "01_filter")]
    marks = [(d / "_SUCCESS").stat().st_mtime_ns for d in dirs]
    assert pipe.run(dataset=datasets.Dataset.from_list(ROWS))["text"] == ["ALPHA", "BETA", "ALPHA"]
    assert [(d / "_SUCCESS").stat().st_mtime_ns for d in dirs] == marks
    ds = pipe.run(dataset=ROWS + [{"text": "gamma"}])
    assert ds["text"] == ["ALPHA", "BETA", "ALPHA", "GAMMA"]
    assert all((d / "_SUCCESS").stat().st_mtime_ns != m for d, m in zip(dirs, marks))


def test_dataset_input_errors(plugin, tmp_path, seeds_file):
    pipe = _pipe([{"stage": f"{plugin}:ShoutText"}], tmp_path)
    with pytest.raises(DataError, match=r"duplicate id 'a' \(row 1\)"):
        pipe.run(dataset=[{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(DataError, match=r"got DatasetDict \(pick a split"):
        pipe.run(dataset=datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}))
    with pytest.raises(DataError, match=r"row 0 is a str"):
        pipe.run(dataset=["text"])
    seeds_first = _pipe([{"stage": "load_seeds", "path": str(seeds_file)}], tmp_path)
    with pytest.raises(ConfigError, match="load_seeds, ignores its input"):
        seeds_first.run(dataset=ROWS)
