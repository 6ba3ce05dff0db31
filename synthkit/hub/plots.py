"""The data card's plots, as PNG files. matplotlib is optional (``pip install
'synthkit[card]'``): ``available()`` says whether it is installed, and without
it the card keeps its tables and says the plots are missing.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot), so no global
backend or state is touched, with fixed margins (a layout engine doubles the
time). The same numbers give the same bytes: the PNG metadata carries no date.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

PNG_META = {"Software": None}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata=PNG_META)
    return path


def funnel(stages: Sequence[dict[str, Any]], path: Path) -> Path:
    """Rows in and kept per stage, dropped rows stacked by reason."""
    height = 0.5 * len(stages) + 1.6
    labels = [f"{s.get('index', i):>02} {s.get('stage')}" for i, s in enumerate(stages)][::-1]
    fig = _figure(8.0, height)
    fig.subplots_adjust(left=min(0.5, (0.3 + 0.085 * max(map(len, labels), default=4)) / 8.0), right=0.97,
                        bottom=0.75 / height, top=1 - 0.45 / height)
    ax = fig.subplots()
    kept = [s.get("kept", 0) for s in stages][::-1]
    ax.barh(labels, kept, color="#3b7dd8", label="kept")
    left = list(kept)
    reasons = sorted({r for s in stages for r in s.get("dropped", {})})
    for j, reason in enumerate(reasons):
        vals = [s.get("dropped", {}).get(reason, 0) for s in stages][::-1]
        ax.barh(labels, vals, left=left, color=_palette(j), label=f"dropped: {reason}")
        left = [a + b for a, b in zip(left, vals)]
    for y, (k, total) in enumerate(zip(kept, left)):
        ax.text(total, y, f" {k} of {total}", va="center", fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title("Where the rows went")
    ax.set_xlim(0, max(left + [1]) * 1.25)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def histograms(series: dict[str, Sequence[float]], path: Path, title: str, xlabel: str = "",
               columns: int = 2) -> Path:
    """One histogram per named series, in a grid."""
    names = list(series)
    cols = min(columns, max(len(names), 1))
    rows = max(1, math.ceil(len(names) / cols))
    fig = _figure(4.0 * cols, 2.6 * rows + 0.4)
    fig.subplots_adjust(left=0.6 / (4.0 * cols), right=0.98, bottom=0.5 / (2.6 * rows + 0.4),
                        top=1 - 0.75 / (2.6 * rows + 0.4), wspace=0.3, hspace=0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip([a for row in axes for a in row], names):
        values = [v for v in series[name] if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if values:
            ax.hist(values, bins=min(30, max(5, len(set(values)))), color="#3b7dd8", edgecolor="white")
        ax.set_title(f"{name} (n={len(values)})", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in [a for row in axes for a in row][len(names):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _palette(j: int) -> str:
    colors = ("#e4572e", "#f3a712", "#a8c686", "#669bbc", "#8e6c8a", "#c9cba3", "#ffb5a7", "#76c893")
    return colors[j % len(colors)]
