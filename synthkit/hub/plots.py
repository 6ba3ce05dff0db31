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


KEPT_COLOR = "#1f77b4"
# tab20 without its two blues (kept is blue): 18 colours that tell apart; more are drawn around the hue circle
DROP_COLORS = ("#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
               "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5")


def rows_out(stage: dict[str, Any]) -> int:
    """Rows a stage put out: kept plus dropped (more than rows in when it writes n answers per row)."""
    return int(stage.get("kept", 0) or 0) + sum((stage.get("dropped") or {}).values())


def palette(n: int) -> list[str]:
    """``n`` distinct colours for the dropped reasons, none of them ``KEPT_COLOR``."""
    import colorsys

    out = list(DROP_COLORS[:n])
    k = 0
    while len(out) < n:  # golden-ratio hue steps, two lightness levels: distinct and never repeating
        h, light = (k * 0.618033988749895) % 1.0, 0.45 if k % 2 else 0.65
        color = "#%02x%02x%02x" % tuple(round(c * 255) for c in colorsys.hls_to_rgb(h, light, 0.6))
        if color not in out and color != KEPT_COLOR:
            out.append(color)
        k += 1
    return out


def funnel_labels(stages: Sequence[dict[str, Any]]) -> list[str]:
    """The text beside each stage's bar: the numbers of the card's funnel table."""
    return [f" {s.get('kept', 0)} kept of {rows_out(s)} out ({s.get('rows_in', 0)} in)" for s in stages]


def funnel(stages: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per stage, the rows it put out (the bar: kept, then dropped stacked by
    reason) and the rows it took in, as the card's funnel table states them."""
    height = 0.5 * len(stages) + 1.6
    labels = [f"{s.get('index', i):>02} {s.get('stage')}" for i, s in enumerate(stages)][::-1]
    fig = _figure(8.0, height)
    fig.subplots_adjust(left=min(0.5, (0.3 + 0.085 * max(map(len, labels), default=4)) / 8.0), right=0.97,
                        bottom=0.75 / height, top=1 - 0.45 / height)
    ax = fig.subplots()
    kept = [s.get("kept", 0) for s in stages][::-1]
    ax.barh(labels, kept, color=KEPT_COLOR, label="kept")
    left = list(kept)
    reasons = sorted({r for s in stages for r in s.get("dropped", {})})
    for reason, color in zip(reasons, palette(len(reasons))):
        vals = [s.get("dropped", {}).get(reason, 0) for s in stages][::-1]
        ax.barh(labels, vals, left=left, color=color, label=f"dropped: {reason}")
        left = [a + b for a, b in zip(left, vals)]
    for y, (total, text) in enumerate(zip(left, funnel_labels(stages)[::-1])):
        ax.text(total, y, text, va="center", fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title("Where the rows went")
    ax.set_xlim(0, max(left + [1]) * 1.45)
    ax.legend(fontsize=7, loc="lower right", ncol=1 + len(reasons) // 12)
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
