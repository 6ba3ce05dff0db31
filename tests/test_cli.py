from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from synthkit.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_help_is_instant_no_torch_import():
    code = ("import sys; from synthkit.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'vllm', 'trl') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_stages_lists_every_stage_with_file_and_line(capsys):
    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    for name in ("load_seeds", "generate", "save"):
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert f"synthkit/stages/{name}.py:" in line


def test_validate_quickstart(capsys):
    assert main(["validate", str(ROOT / "pipelines" / "quickstart.yaml")]) == 0
    assert "valid (4 stages)" in capsys.readouterr().out


def test_every_bundled_pipeline_validates(capsys):
    for path in sorted((ROOT / "pipelines").glob("*.yaml")):
        if path.name.startswith("train"):
            continue  # trainer configs, not pipelines
        assert main(["validate", str(path)]) == 0, path


def test_config_error_is_one_clean_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nstages:\n  - {stage: generat}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Unknown stage 'generat'. Available:" in err and "Traceback" not in err


def test_run_with_override_and_workdir(tmp_path, seeds_file, capsys):
    yml = tmp_path / "p.yaml"
    yml.write_text(f"name: cli\nllm: {{backend: dummy}}\nstages:\n"
                   f"  - {{stage: load_seeds, path: {seeds_file}}}\n"
                   f"  - {{stage: generate, template: '{{instruction}}'}}\n")
    assert main(["run", str(yml), "-o", "stages.1.n=3", "--workdir", str(tmp_path / "w")]) == 0
    report = json.loads((tmp_path / "w" / "cli" / "report.json").read_text())
    assert report["rows_out"] == 30
