"""Progress bars for a run, and silence for the libraries' own.

- ``whole_bar(total, desc)``: a whole-dataset stage's bar over its input rows.
  (A source stage, with no input, counts its rows up without a total.)
  The stage moves it with ``ctx.advance(n)`` where it can; a thread redraws it
  every second, so the elapsed time moves even while a stage works in one call,
  and it is filled when the stage returns.
- ``quiet_libraries()``: inside it, ``datasets``, ``huggingface_hub`` and
  ``transformers`` show no bars of their own ("Flattening the indices",
  "Loading weights", downloads); the previous settings come back on exit.

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
    """No progress bars of ``datasets``, ``huggingface_hub`` (downloads) or
    ``transformers`` (weight loading) inside; each library's setting comes back after."""
    import sys

    import datasets
    from huggingface_hub import utils as hub

    was = (datasets.is_progress_bar_enabled(), not hub.are_progress_bars_disabled())
    datasets.disable_progress_bars()
    hub.disable_progress_bars()  # transformers reads this when it is first imported ...
    tf = sys.modules.get("transformers.utils.logging")
    tf_was = tf.is_progress_bar_enabled() if tf else False
    if tf:  # ... and has its own switch once it is
        tf.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            datasets.enable_progress_bars()
        if was[1]:
            hub.enable_progress_bars()
        tf = sys.modules.get("transformers.utils.logging")
        if tf and (tf_was or was[1]):
            tf.enable_progress_bar()
