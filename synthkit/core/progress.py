"""Progress bars for a run, and silence for the libraries' own.

- ``whole_bar(total, desc)``: a whole-dataset stage's bar over its input rows.
  (A source stage, with no input, counts its rows up without a total.)
  The stage moves it with ``ctx.advance(n)`` where it can; a thread redraws it
  every second, so the elapsed time moves even while a stage works in one call,
  and it is filled when the stage returns.
- ``quiet_libraries()``: inside it, ``datasets`` shows no bars of its own
  ("Flattening the indices", "Saving the dataset", ...); the previous setting
  comes back on exit.

Bars go to stderr through ``tqdm.auto``; ``TQDM_DISABLE=1`` turns them off.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator


@contextlib.contextmanager
def whole_bar(total: int, desc: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; the bar is filled and closed on a normal exit."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total or None, desc=desc, unit="row", mininterval=1.0, dynamic_ncols=True)
    lock, stop = threading.Lock(), threading.Event()

    def advance(n: int) -> None:  # a source stage (no input rows) counts up without a total
        with lock:
            bar.update(max(0, n if bar.total is None else min(n, bar.total - bar.n)))

    def redraw() -> None:
        while not stop.wait(1.0):
            with lock:
                bar.refresh()

    thread = threading.Thread(target=redraw, name="synthkit-progress", daemon=True)
    thread.start()
    ok = False
    try:
        yield advance
        ok = True
    finally:
        stop.set()
        thread.join()
        if ok and bar.total is not None:
            advance(bar.total)
        bar.close()


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """No ``datasets`` progress bars inside; the caller's setting restored after."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        yield
        return
    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()
