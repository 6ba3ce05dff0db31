"""Build the bundled task JSONL files from their markdown sources.

Run from the repository root after editing ``source/<tier>.md``::

    python synthkit/data/tasks/build.py          # rewrite easy/medium/hard.jsonl
    python synthkit/data/tasks/build.py --check  # exit 1 if the JSONL is stale

Source: each ``## <entry_point>`` section holds a ``python`` block (the reference, its
docstring ending in doctest examples; helpers nested) and a ``python tests`` block.
Derived: ``task_id`` in file order (only append), ``prompt`` (code up to the docstring's
end), ``description``, and ``split`` (round(30%) of each tier in ``test``: lowest
sha256(task_id)). Static checks only; references run in the sandbox in
tests/eval/test_bundled_tasks.py.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from pathlib import Path

TIERS = ("easy", "medium", "hard")
TEST_FRACTION = 0.3
MIN_ASSERTS, MAX_ASSERTS = 4, 8
FIELDS = ("task_id", "tier", "split", "entry_point", "description", "prompt",
          "canonical_solution", "tests")
HERE = Path(__file__).resolve().parent
_FENCE = re.compile(r"^```(python(?: tests)?)\n(.*?)^```$", re.S | re.M)


class SourceError(ValueError):
    """A task section in a source file is malformed; the message names it."""


def parse_source(text: str, name: str = "<source>") -> list[dict]:
    """Split a markdown source into [{'entry_point', 'code', 'tests'}] in file order."""
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    tasks = []
    for section in sections:
        heading, _, body = section.partition("\n")
        entry = heading.strip()
        blocks = {kind: content for kind, content in _FENCE.findall(body)}
        if set(blocks) != {"python", "python tests"}:
            raise SourceError(f"{name}: task '{entry}' needs one python block and one python tests block")
        tasks.append({"entry_point": entry, "code": blocks["python"].strip() + "\n",
                      "tests": blocks["python tests"].strip() + "\n"})
    return tasks


def _entry_function(code: str, entry: str, where: str) -> ast.FunctionDef:
    try:
        module = ast.parse(code)
    except SyntaxError as e:
        raise SourceError(f"{where}: reference does not parse: {e}") from e
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            body0 = node.body[0]
            if not (isinstance(body0, ast.Expr) and isinstance(body0.value, ast.Constant)
                    and isinstance(body0.value.value, str)):
                raise SourceError(f"{where}: '{entry}' has no docstring")
            return node
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            raise SourceError(f"{where}: only imports may precede '{entry}'; nest helpers")
    raise SourceError(f"{where}: no top-level function named '{entry}'")


def _check_tests(tests: str, entry: str, where: str) -> None:
    try:
        module = ast.parse(tests)
    except SyntaxError as e:
        raise SourceError(f"{where}: tests do not parse: {e}") from e
    if not all(isinstance(node, ast.Assert) for node in module.body):
        raise SourceError(f"{where}: tests must be assert statements only")
    if not MIN_ASSERTS <= len(module.body) <= MAX_ASSERTS:
        raise SourceError(f"{where}: {len(module.body)} asserts, expected {MIN_ASSERTS}-{MAX_ASSERTS}")
    for node in module.body:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if entry not in names:
            raise SourceError(f"{where}: an assert does not call '{entry}': {ast.unparse(node)}")


def _description(fn: ast.FunctionDef, code: str) -> str:
    """Signature sentence plus the docstring prose, examples and RST markup removed."""
    signature = ast.get_source_segment(code, fn).split("\n", 1)[0]
    signature = signature.removeprefix("def ").rstrip(":")
    doc = ast.get_docstring(fn) or ""
    prose = doc.split(">>>", 1)[0].strip()
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", prose)]
    text = "\n\n".join(paragraphs).replace("``", "`")
    return f"Write a Python function `{signature}`.\n\n{text}"


def build_tier(tier: str, text: str) -> list[dict]:
    """Turn one tier's markdown source into finished task dicts, sorted by task_id."""
    tasks = []
    seen: set[str] = set()
    for n, raw in enumerate(parse_source(text, f"source/{tier}.md"), start=1):
        entry = raw["entry_point"]
        where = f"source/{tier}.md task '{entry}'"
        if entry in seen:
            raise SourceError(f"{where}: duplicate entry point")
        seen.add(entry)
        fn = _entry_function(raw["code"], entry, where)
        _check_tests(raw["tests"], entry, where)
        doc_end = fn.body[0].end_lineno
        prompt = "\n".join(raw["code"].splitlines()[:doc_end]) + "\n"
        tasks.append({
            "task_id": f"synthkit/{tier}/{n:03d}", "tier": tier, "split": "train",
            "entry_point": entry, "description": _description(fn, raw["code"]),
            "prompt": prompt, "canonical_solution": raw["code"], "tests": raw["tests"],
        })
    n_test = round(TEST_FRACTION * len(tasks))
    by_hash = sorted(tasks, key=lambda t: hashlib.sha256(t["task_id"].encode()).hexdigest())
    for task in by_hash[:n_test]:
        task["split"] = "test"
    return [{k: t[k] for k in FIELDS} for t in tasks]


def render_jsonl(tasks: list[dict]) -> str:
    return "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tasks)


def build_all(root: Path = HERE) -> dict[str, str]:
    """Return {jsonl file name: expected content} for every tier source under ``root``."""
    out = {}
    for tier in TIERS:
        text = (root / "source" / f"{tier}.md").read_text(encoding="utf-8")
        out[f"{tier}.jsonl"] = render_jsonl(build_tier(tier, text))
    return out


def main(argv: list[str]) -> int:
    expected = build_all()
    if "--check" in argv:
        stale = [name for name, content in expected.items()
                 if not (HERE / name).exists()
                 or (HERE / name).read_text(encoding="utf-8") != content]
        for name in stale:
            print(f"stale: {HERE / name} (run python {Path(__file__).name})")
        return 1 if stale else 0
    for name, content in expected.items():
        (HERE / name).write_text(content, encoding="utf-8")
        print(f"wrote {HERE / name}: {content.count(chr(10))} tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
