"""What every command shares at run time: the error policy (`user_errors`, applied once to every
command by `Commands`), signal handling, corpus progress bars and the rendering of a training run.
The options themselves are in options.py.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from typer.core import TyperGroup

from ..config import parse_duration
from ..errors import CharLSTMError, ConfigError, Interrupted

DEBUG = {"on": False}


SIGNAL = {"num": None}  # the signal the last StopFlag saw: an Interrupted exits 128 + it


def os_error_text(e: OSError) -> str:
    """One line for an OSError: the path, what the system said, and what to do."""
    what = e.strerror or str(e)
    where = e.filename if e.filename is not None else None
    if e.filename2 is not None:
        where = f"{e.filename} -> {e.filename2}"
    hint = {errno.ENOENT: "check the path", errno.EACCES: "check its permissions",
            errno.EPERM: "check its permissions", errno.ENOSPC: "free some space and try again",
            errno.EDQUOT: "free some space and try again", errno.EROFS: "choose a writable place",
            errno.ENOTDIR: "a part of the path is a file, not a folder",
            errno.EISDIR: "it is a folder; give a file", errno.ENAMETOOLONG: "choose a shorter name"}.get(e.errno)
    text = f"{where}: {what}" if where is not None else what
    return f"{text} ({hint})" if hint else text


def _unicode_error_text(e: UnicodeError) -> str:
    reason = getattr(e, "reason", None) or str(e)
    codec = getattr(e, "encoding", None)
    if isinstance(e, UnicodeEncodeError):
        return (f"cannot write text as {codec}: {reason} (a character it cannot hold, such as a lone surrogate "
                "from an undecodable command-line argument)")
    return (f"cannot decode text{f' as {codec}' if codec else ''}: {reason} (re-run with --encoding NAME if "
            "the file uses another encoding, or --errors replace)")


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "failed"


@contextmanager
def user_errors():
    """The one error policy, around every command (see `Commands`): a failure the user can cause
    (CharLSTMError, an OSError such as a missing folder, no permission or a full disk, undecodable
    text) is one red line on stderr and exit 1; a stop asked before training started (Interrupted)
    is one line and exit 128 + the signal; --debug shows the traceback instead. Anything else is a
    bug and keeps its traceback."""
    from .tables import error_line, stderr_console
    try:
        yield
    except Interrupted as e:
        if DEBUG["on"]:
            raise
        signum = getattr(e, "signum", None) or SIGNAL["num"] or signal.SIGINT
        stderr_console().print(_one_line(f"interrupted: {e}" if str(e) else "interrupted; nothing was saved"),
                               markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(128 + int(signum)) from None
    except KeyboardInterrupt:  # Ctrl-C where no StopFlag listens (reading, scoring, tracing)
        if DEBUG["on"]:
            raise
        stderr_console().print("interrupted", markup=False, highlight=False)
        raise typer.Exit(130) from None
    except (CharLSTMError, OSError, UnicodeError) as e:
        if DEBUG["on"]:
            raise
        if isinstance(e, CharLSTMError):
            text = str(e)
        elif isinstance(e, UnicodeError):
            text = _unicode_error_text(e)
        else:
            text = os_error_text(e)
        error_line(stderr_console(), _one_line(text))
        raise typer.Exit(1) from None


class Commands(TyperGroup):
    """The `charlstm` group: every command (and `corpora get`, a command of a subgroup) runs inside
    `user_errors`, so no command body handles a user's error itself."""

    def invoke(self, ctx):
        with user_errors():
            return super().invoke(ctx)


def check_output(path: Path | None, option: str) -> None:
    """An output file's folder must exist and the path must not be a folder: say so before any work."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name, e.g. {path / 'out'}")
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise ConfigError(f"{option} {path}: the folder {parent} {what}; create it first or choose another path")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{option} {path}: the folder {parent} is not writable")


class StopFlag:
    """First Ctrl-C / SIGTERM: ask the loop to save and stop at the next step boundary, and say so
    through `tell` (run_training points it at the renderer, so the message lands inside the live
    display; by default it is a line on stderr). Second one: leave at once (committed checkpoints
    are never half-written, see checkpoint.save), showing the cursor a live display had hidden."""

    def __init__(self) -> None:
        self.signum: int | None = None
        SIGNAL["num"] = None
        self.message: str | None = None
        self.tell = lambda message: print(f"\n{message}", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if os.isatty(2):
                os.write(2, b"\x1b[?25h\n")  # show the cursor again; the shell prompt on a line of its own
            os._exit(128 + signum)
        self.signum = SIGNAL["num"] = signum
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
