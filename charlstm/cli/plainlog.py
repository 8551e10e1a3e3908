"""A training run as a log: one line per report on stderr, for files, pipes and `--plain`.

With `quiet`, only what needs attention is shown: alerts, skipped steps and how the run ended
(when it did not simply finish).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..config import format_duration
from ..events import Alert, Eval, Event, Sample, Saved, Skipped, Started, Step, Stopped
from .tables import bpc, scored_text, start_rows, start_title, style_losses, summary_rows

LOUD = (Alert, Skipped, Stopped)  # what --quiet still shows


def step_line(ev: Step) -> str:
    eta = f", ETA {format_duration(ev.eta)}" if ev.eta is not None else ""
    return (f"step {ev.step:>7,} | epoch {ev.epoch:.2f} | {ev.progress:4.0%} | loss {ev.loss:.4f} "
            f"({bpc(ev.loss):.3f} bpc) | {ev.chars_per_s:,.0f} chars/s | lr {ev.lr:.2e} | grad {ev.grad_norm:.2f}"
            f"{' clipped' if ev.clipped else ''} | {format_duration(ev.elapsed)}{eta}")


class PlainLog:
    def __init__(self, console: Console, quiet: bool = False):
        self.console, self.quiet = console, quiet

    def __enter__(self) -> PlainLog:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def show(self, ev: Event) -> None:
        if self.quiet and not isinstance(ev, LOUD):
            return
        getattr(self, f"_{type(ev).__name__.lower()}")(ev)

    def notice(self, message: str) -> None:
        """A message from outside the event stream (the first Ctrl-C), as a line of its own."""
        self._line(message, "yellow")

    def _line(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style))

    def _started(self, ev: Started) -> None:
        self.console.print(Text("charlstm: ") + Text(start_title(ev), style="bold"))
        for label, text in start_rows(ev):
            self.console.print(Text(f"  {label:<8}", style="yellow" if label == "note" else "") + Text(text))

    def _step(self, ev: Step) -> None:
        self._line(step_line(ev))

    def _eval(self, ev: Eval) -> None:
        best = " (best)" if ev.is_best else f" (best {ev.best_val_loss:.4f})"
        scored = scored_text(ev.scored_chars, ev.val_chars)
        styles = f"{style_losses(ev.val_by_style)} | " if ev.val_by_style else ""
        self._line(f"eval   step {ev.step:>7,} | val {ev.val_loss:.4f} nats ({bpc(ev.val_loss):.3f} bpc){best} | "
                   + styles + (f"{scored} | " if scored else "") + f"{ev.seconds:.1f}s")

    def _sample(self, ev: Sample) -> None:
        self._line(f"sample step {ev.step:,}:")
        for line in ev.text.splitlines() or [""]:
            self._line("  | " + line)

    def _saved(self, ev: Saved) -> None:
        if ev.reason != "best":  # a new best is already marked on its eval line
            self._line(f"saved  step {ev.step:>7,} -> {ev.path} ({ev.reason})")

    def _alert(self, ev: Alert) -> None:
        self.console.print(Text(f"warning (step {ev.step:,}):", style="yellow") + Text(f" {ev.message}"))

    def _skipped(self, ev: Skipped) -> None:
        self._line(f"skipped step {ev.step:,}: non-finite loss {ev.loss} / grad norm {ev.grad_norm} "
                   f"({ev.in_a_row} in a row)", "yellow")

    def _stopped(self, ev: Stopped) -> None:
        if ev.reason == "nonfinite" or (self.quiet and ev.reason == "done"):
            return  # the CLI prints the error line; a finished quiet run says nothing
        for label, text in summary_rows(ev):
            self.console.print(Text(f"{label:<12}", style="dim") + Text(text))
