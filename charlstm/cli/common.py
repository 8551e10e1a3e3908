"""What every command shares at run time: the error policy, signal handling, corpus progress bars
and the rendering of a training run. The options themselves are in options.py.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

import typer

from ..config import parse_duration
from ..errors import CharLSTMError

DEBUG = {"on": False}


@contextmanager
def user_errors():
    """One error policy: CharLSTMError -> one red line on stderr, exit 1."""
    from .render import error_line, stderr_console
    try:
        yield
    except CharLSTMError as e:
        if DEBUG["on"]:
            raise
        error_line(stderr_console(), str(e))
        raise typer.Exit(1) from None


class StopFlag:
    """First Ctrl-C / SIGTERM: ask the loop to save and stop at the next step boundary.
    Second one: leave at once (committed checkpoints are never half-written, see checkpoint.save)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            os._exit(128 + signum)
        self.signum = signum
        sys.stderr.write(f"\n{signal.Signals(signum).name}: saving at the next step boundary "
                         "(press Ctrl-C again to quit at once)\n")

    @contextmanager
    def installed(self):
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def save_every_options(values: list[str] | None) -> dict:
    if not values:
        return {}
    out: dict = {"save_every": None, "save_every_time": None}
    for v in values:
        if v.strip().isdigit():
            out["save_every"] = int(v)
        else:
            out["save_every_time"] = parse_duration(v)
    return out


def budget_options(steps, epochs, time) -> dict:
    return {"steps": steps, "epochs": epochs, "time": parse_duration(time) if time else None}


def progress_factory(quiet: bool):
    """tqdm bars for corpus scanning and encoding, shown only for corpora worth waiting for."""
    from tqdm import tqdm

    def make(desc: str, total: int):
        if quiet or total < 32 << 20:
            return None
        bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()
        return update
    return make


def run_training(events, quiet: bool, plain: bool, as_json: bool, flag: StopFlag) -> None:
    from ..events import Stopped
    from .render import TrainView, stderr_console

    console = stderr_console()
    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun only rank 0 reports
        for _ in events:
            pass
        return
    mode = "json" if as_json else "plain" if plain or not console.is_terminal else "live"
    last = None
    with TrainView(console, mode, quiet) as view:
        for ev in events:
            view.show(ev)
            last = ev
    if isinstance(last, Stopped) and last.reason == "interrupted":
        console.print(f"interrupted at step {last.step:,}; saved. Continue with: charlstm resume {last.run_dir}")
        raise typer.Exit(128 + (flag.signum or signal.SIGINT))
