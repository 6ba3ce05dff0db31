"""`synthkit` command line: a thin parser over the Python API.

Commands: ``run``, ``validate``, ``stages``, ``schema``, ``eval``, ``train``,
``influence score``, ``judge fit``, ``card``, ``push``, ``view``, ``show``,
``export``; ``synthkit COMMAND --help`` lists each one's options, and the docs
pages describe them.

Heavy imports live inside the command functions, so ``--help`` is instant.
User errors (bad config, missing file) print one clean message and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from synthkit import rounds
    from synthkit.core import rerun
    from synthkit.core.pipeline import Pipeline

    path, redirect, out = rerun.plan(args.pipeline, args.out)  # a saved dataset reruns into `out`
    overrides = redirect + list(args.override) + ([f"executor={args.executor}"] if args.executor else [])
    if out:
        print(f"rerunning {path} into {out}")
    pipe = Pipeline.from_yaml(path, overrides, workdir=args.workdir)
    dataset = rounds.run(pipe)
    _print_summary(pipe.run_dir)
    print(f"done: {len(dataset)} rows; run folder {pipe.run_dir} (report.json inside)")
    return 0


def _print_summary(run_dir: Path) -> None:
    """The end-of-run table (rows, drops by reason, tokens, cache hits, seconds per stage);
    for a pipeline with iterations, one per round (``round_NN/report.json``)."""
    import json

    from synthkit.core.report import summary_table

    reports = [run_dir / "report.json"] if (run_dir / "report.json").is_file() else \
        sorted(run_dir.glob("round_*/report.json"))
    for report in reports:
        if report.parent != run_dir:
            print(f"{report.parent.name}:")
        print(summary_table(json.loads(report.read_text())))


def _cmd_validate(args: argparse.Namespace) -> int:
    from synthkit.core.pipeline import Pipeline, check
    from synthkit.core.rerun import plan
    from synthkit.rounds import parse_iterations

    pipe = Pipeline.from_yaml(plan(args.pipeline)[0], args.override)
    if pipe.config.iterations is not None:
        parse_iterations(pipe.config.iterations)
    stages = pipe.build()
    check(stages)
    for s in stages:
        print(f"{s.ctx.index:02d} {s.name}: ok")
    print(f"{args.pipeline}: valid ({len(stages)} stages)")
    return 0


def _cmd_stages(args: argparse.Namespace) -> int:
    from synthkit.core.registry import STAGES

    if args.name:
        from synthkit.reference import stage_text

        print(stage_text(args.name))
        return 0
    for name, source, file, line, doc in STAGES.describe():  # source: builtin, a distribution, local
        try:
            file = str(Path(file).relative_to(Path.cwd()))
        except ValueError:
            pass
        print(f"{name:<16} {source:<12} {file}:{line}  {doc}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from synthkit.reference import pipeline_schema

    print(json.dumps(pipeline_schema(), indent=2, ensure_ascii=False))
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from synthkit.errors import ConfigError

    if args.gallery is not None:
        from synthkit.hub.gallery import DEFAULT_PIPELINES, make_gallery

        for card in make_gallery(args.gallery or DEFAULT_PIPELINES, args.out):
            print(card)
        return 0
    if not args.dataset:
        raise ConfigError("card: give DATASET_DIR (a folder the save stage wrote) or --gallery")
    from synthkit.hub.card import render

    print(render(Path(args.dataset)))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from itertools import islice

    from synthkit.core import inspect

    found = 0
    for found, row in enumerate(islice(inspect.rows(Path(args.run_dir), args.stage, args.rejected is not None,
                                                    args.rejected), args.n), 1):
        print(f"--- {found} " + "-" * 60)
        print(inspect.render(row, args.width))
    where = "rejected" if args.rejected is not None else f"kept by {inspect.pick(Path(args.run_dir), args.stage).name}"
    print(f"({found} {where} rows shown{'; -n for more' if found == args.n else ''})")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from synthkit.core import inspect

    run_dir = Path(args.run_dir)
    name = inspect.pick(run_dir, args.stage).name if args.stage or args.rejected is None else "all"
    out = Path(args.output or f"{name}{'-rejected' if args.rejected is not None else ''}.{args.format}")
    n = inspect.export(inspect.rows(run_dir, args.stage, args.rejected is not None, args.rejected), out, args.format)
    print(f"wrote {n} rows to {out}")
    return 0


def _add_rows_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder (runs/<name>/) or one of its NN_<stage>/ folders")
    p.add_argument("--stage", default=None, help="stage name, number or folder (default: the last stage; "
                   "with --rejected: every stage)")
    p.add_argument("--rejected", nargs="?", const="", default=None, metavar="REASON",
                   help="dropped rows instead of kept ones; REASON keeps those dropped for it")


def _cmd_push(args: argparse.Namespace) -> int:
    from synthkit.hub.push import describe, push

    if not args.verbose:  # the result (or the error) is printed as one line; no per-request log
        for name, level in (("httpx", logging.WARNING), ("httpx2", logging.WARNING), ("huggingface_hub", logging.ERROR)):
            logging.getLogger(name).setLevel(level)
    result = push(Path(args.dataset), args.repo_id, private=args.private, revision=args.revision,
                  create_pr=args.create_pr, message=args.message, token_env=args.token_env, dry_run=args.dry_run,
                  config_name=args.config_name)
    print(describe(result, Path(args.dataset)))
    return 0


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", help="pipeline YAML file, or a saved dataset folder (its pipeline.yaml reruns it)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config key, e.g. -o stages.2.n=8 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthkit", description="Build instruction datasets for code models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"synthkit {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a pipeline (resumes where a killed run stopped)")
    _add_pipeline_args(p)
    p.add_argument("--workdir", default=None, help="where run folders go (default: the YAML's workdir, 'runs')")
    p.add_argument("--executor", choices=["local", "ray"], default=None,
                   help="where jobs run (default: the YAML's `executor:`, local); ray joins ray.address or "
                        "$RAY_ADDRESS, else starts a local Ray instance (docs/scaling.md)")
    p.add_argument("--out", default=None, help="rerunning a saved dataset (PIPELINE = its folder or pipeline.yaml): "
                   "where the new run and dataset go (default: DATASET_DIR-rerun)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="build every stage of a pipeline without running it")
    _add_pipeline_args(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("stages", help="list every stage with its file and one line of doc; NAME: its options")
    p.add_argument("name", nargs="?", help="a stage: print its options (name, type, default, description)")
    p.set_defaults(func=_cmd_stages)

    p = sub.add_parser("schema", help="print the JSON Schema of a pipeline file (for editors: yaml-language-server)")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("eval", help="sample solutions for a task set and report pass@k and Pass@k^(m)")
    _lazy_subcommand(p, "synthkit.eval.command")

    p = sub.add_parser("train", help="fine-tune a model on a synthkit dataset (LoRA/full, optional IB-FT)")
    _lazy_subcommand(p, "synthkit.train.command")

    p = sub.add_parser("influence", help="LESS gradient influence of training rows on a validation set")
    _lazy_subcommand(p, "synthkit.influence.command")

    p = sub.add_parser("judge", help="judge tools: `judge fit RUN_DIR --label pass_rate|FILE` fits the aspect weights")
    _lazy_subcommand(p, "synthkit.eval.judge_fit")

    p = sub.add_parser("card", help="(re)write the README.md data card of a saved dataset, or the data_cards/ gallery")
    p.add_argument("dataset", nargs="?", help="folder written by the `save` stage")
    p.add_argument("--gallery", nargs="*", metavar="PIPELINE.yaml", default=None,
                   help="run these pipelines (default: pipelines/quickstart.yaml and pipelines/scoder.yaml) "
                        "and copy their cards with images to --out")
    p.add_argument("--out", default="data_cards", help="gallery folder (default: data_cards)")
    p.set_defaults(func=_cmd_card)

    p = sub.add_parser("show", help="print rows of a run (kept or rejected) readably")
    _add_rows_args(p)
    p.add_argument("-n", type=int, default=5, help="rows to show (default: 5)")
    p.add_argument("--width", type=int, default=2000, help="characters shown of one value (default: 2000)")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("export", help="write rows of a run (kept or rejected) as jsonl or parquet")
    _add_rows_args(p)
    p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    p.add_argument("-o", "--output", default=None, help="file to write (default: <NN_stage>[-rejected].<format>)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("push", help="upload a saved dataset (data, card, images, run files) to the Hub in one commit")
    p.add_argument("dataset", help="folder written by the `save` stage")
    p.add_argument("repo_id", help="e.g. my-org/my-code-sft")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its setting)")
    p.add_argument("--revision", default=None, help="branch to commit to (created if missing; default: main)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing to the branch")
    p.add_argument("-m", "--message", default=None, help="commit message (default: synthkit: NAME (N rows))")
    p.add_argument("--token-env", default=None, metavar="NAME",
                   help="environment variable holding the token (default: HF_TOKEN, then `hf auth login`'s)")
    p.add_argument("--config-name", default=None, metavar="NAME",
                   help="push as config NAME beside the repo's others (files under NAME/; default: the default config)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the repo id; print branch, PR, visibility, message, additions and deletions; send nothing")
    p.set_defaults(func=_cmd_push)

    p = sub.add_parser("view", help="browse a run folder (funnel, rows, drops, matches) in a local web page")
    _lazy_subcommand(p, "synthkit.viewer.command")
    return parser


def _version() -> str:
    """The installed distribution's version (the package's own when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synthkit")
    except PackageNotFoundError:
        from synthkit import __version__

        return __version__


def _lazy_subcommand(p: argparse.ArgumentParser, module: str) -> None:
    """Subcommands whose modules are light to import declare their own arguments."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        p.set_defaults(func=lambda a: _missing(module))
        return
    mod.add_arguments(p)
    p.set_defaults(func=mod.run)


def _missing(module: str) -> int:
    print(f"synthkit: {module} is not available in this install", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from synthkit.errors import SynthkitError

    _one_line_warnings()
    try:
        return int(args.func(args) or 0)
    except SynthkitError as e:
        print(f"synthkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synthkit: interrupted; finished shards are kept, run the same command to resume",
              file=sys.stderr)
        return 130


def _one_line_warnings() -> None:
    """Deprecations (FutureWarning) print as one clean line, not a source excerpt."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"synthkit: {category.__name__}: {message}", file=sys.stderr)

    warnings.showwarning = show


if __name__ == "__main__":
    sys.exit(main())
