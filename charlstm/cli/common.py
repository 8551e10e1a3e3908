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
    from .tables import error_line, stderr_console
    try:
        yield
    except CharLSTMError as e:
        if DEBUG["on"]:
            raise
        error_line(stderr_console(), str(e))
        raise typer.Exit(1) from None


class StopFlag:
    """First Ctrl-C / SIGTERM: ask the loop to save and stop at the next step boundary, and say so
    through `tell` (run_training points it at the renderer, so the message lands inside the live
    display; by default it is a line on stderr). Second one: leave at once (committed checkpoints
    are never half-written, see checkpoint.save), showing the cursor a live display had hidden."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.message: str | None = None
        self.tell = lambda message: print(f"\n{message}", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if os.isatty(2):
                os.write(2, b"\x1b[?25h\n")  # show the cursor again; the shell prompt on a line of its own
            os._exit(128 + signum)
        self.signum = signum
        self.message = (f"{signal.Signals(signum).name}: saving at the next step boundary "
                        "(press Ctrl-C again to quit at once)")
        self.tell(self.message)

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
    """Show a run's events with the one renderer that fits: JSON Lines on stdout (--json), a log
    of one line per report (--plain, --quiet, or stderr not a terminal), else the live dashboard."""
    from ..events import Stopped
    from .tables import stderr_console

    console = stderr_console()
    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun only rank 0 reports
        for _ in events:
            pass
        return
    if as_json:
        from .jsonlines import JsonLines
        view = JsonLines(console)
    elif quiet or plain or not console.is_terminal:
        from .plainlog import PlainLog
        view = PlainLog(console, quiet)
    else:
        from .dashboard import Dashboard
        view = Dashboard(console)
    last, tell = None, flag.tell
    flag.tell = view.notice
    try:
        with view:
            for ev in events:
                view.show(ev)
                last = ev
    finally:
        flag.tell = tell
    if isinstance(last, Stopped) and last.reason == "interrupted":
        console.print(f"interrupted at step {last.step:,}; saved. Continue with: charlstm resume {last.run_dir}",
                      markup=False)
        raise typer.Exit(128 + (flag.signum or signal.SIGINT))
