"""A training run on a terminal: the run described once, then a panel that redraws as events arrive.

The panel is laid out for the terminal's size each time it is drawn, below the description: no row
wraps (only a warning or a Ctrl-C message long enough to need a second line), a narrow terminal
loses the optional parts (per-layer gradient norms, the sparkline, parts of the progress line) and
a short one lines of the preview sample, so the bottom is never cut off.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..config import format_duration
from ..events import Alert, Eval, Event, Sample, Saved, Skipped, Started, Step, Stopped
from .tables import bpc, rows_grid, scored_text, sparkline, start_rows, start_title, style_losses, summary_rows

PREVIEW_LINES = 8  # most lines of the preview sample shown
WIDE = 70  # text width of the panel from which per-layer norms and the sparkline are shown
LABEL = 10  # width of the label column ("train loss")
BAR = (10, 40)  # shortest and longest progress bar
PANEL = 11  # rows the panel (and the empty line below it) need without a preview


def first_fit(candidates: list[str], width: int) -> str:
    """The first (richest) candidate that fits in `width` cells, else the last (plainest)."""
    return next((c for c in candidates if cell_len(c) <= width), candidates[-1])


def printable(line: str) -> str:
    """A generated line made safe to draw: tabs expanded, control characters shown as '·'."""
    return "".join("·" if unicodedata.category(c)[0] == "C" else c for c in line.expandtabs(4))


@dataclass(frozen=True)
class Frame:
    """What the panel shows at one moment (a snapshot: the refresh thread draws it while the
    training loop goes on); laid out for the console's width and height each time it is drawn."""

    started: Started
    header_rows: int  # rows the description above the panel takes
    step: Step | None = None
    eval: Eval | None = None
    best_step: int | None = None
    sample: Sample | None = None
    saved: Saved | None = None
    losses: tuple[float, ...] = ()
    layer_norms: tuple[tuple[str, float], ...] = ()
    alert: Alert | None = None
    alerts: int = 0
    skipped: Skipped | None = None
    skips: int = 0
    message: str | None = None  # from outside the event stream: the first Ctrl-C

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        inner = max(options.max_width - 4, 20)  # inside the border and its padding
        rows_left = options.size.height - self.header_rows - 1  # the last row stays empty, for the cursor
        room = 3 if self.sample is not None else 0  # the sample's rule and two of its lines, at least
        body: list = []
        for per_layer, saved in ((inner >= WIDE, True), (False, True), (False, False)):  # the richest that fits
            body = self._body(inner, per_layer, saved)
            used = 2 + len(console.render_lines(Group(*body), options.update(width=inner, height=None), pad=False))
            if rows_left - used >= room or not (per_layer or saved):
                break
        preview = min(PREVIEW_LINES, rows_left - used - 1)
        if self.sample is not None and preview > 0:
            lines = [printable(line) for line in self.sample.text.splitlines()[:preview]] or [""]
            body += [Rule(Text(f"sample @ step {self.sample.step:,}"), align="left", style="dim"),
                     Text("\n".join(lines), no_wrap=True, overflow="ellipsis")]
        yield Panel(Group(*body), title=self._title(inner - 2), title_align="left", border_style="cyan",
                    padding=(0, 1))
        yield Text("")  # the cursor waits on an empty line: a "^C" the terminal echoes scrolls nothing

    def _title(self, width: int) -> Text:
        s, m = self.started, self.started.model_config
        parts = [s.run_name, f"{m['cell']} {m['layers']}×{m['hidden']}", f"{s.params:,} params", s.device]
        while len(parts) > 1 and cell_len(" · ".join(parts)) > width:
            parts.pop()
        return Text(" · ".join(parts), style="bold", no_wrap=True, overflow="ellipsis")

    def _body(self, inner: int, per_layer: bool, saved: bool) -> list:
        rows: list[tuple[str, Text]] = []
        ev = self.step
        if ev is not None:
            rows += self._metrics(ev, inner - LABEL - 2, per_layer, saved)
        if self.skipped is not None:
            rows.append(("skipped", Text(f"{self.skips:,} non-finite step(s), the last at step "
                                         f"{self.skipped.step:,}", style="yellow")))
        if self.alert is not None:
            more = f" ({self.alerts} warnings)" if self.alerts > 1 else ""
            rows.append(("warning", Text(f"step {self.alert.step:,}: {self.alert.message}{more}", style="yellow",
                                         overflow="fold")))
        if self.message:
            rows.append(("stopping", Text(self.message, style="bold yellow", overflow="fold")))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True, width=LABEL)
        grid.add_column(no_wrap=False)
        for label, text in rows:
            if text.overflow != "fold":
                text.no_wrap, text.overflow = True, "ellipsis"
            grid.add_row(label, text)
        first = self._progress(ev, inner) if ev is not None else Text("starting…", style="dim")
        return [first, grid] if rows else [first]

    def _metrics(self, ev: Step, width: int, per_layer: bool, saved: bool) -> list[tuple[str, Text]]:
        train = f"{ev.loss:.4f} nats  {bpc(ev.loss):.3f} bits/char"
        room = min(BAR[1], width - cell_len(train) - 2)
        if width + LABEL + 2 >= WIDE and room >= 8 and (spark := sparkline(list(self.losses), room)):
            train += "  " + spark
        rows = [("train loss", Text(train))]
        if self.eval is not None:
            nats = f"{self.eval.val_loss:.4f} nats"
            val = f"{nats}  {bpc(self.eval.val_loss):.3f} bits/char"
            best = f"best {self.eval.best_val_loss:.4f}"
            at = f" @ step {self.best_step:,}" if self.best_step is not None else ""
            fits = [f"{val}  {best}{at}", f"{val}  {best}", val]
            if scored_text(self.eval.scored_chars, self.eval.val_chars):  # --eval-chars cut the split: say so
                part = f"({self.eval.scored_chars / self.eval.val_chars:.0%} of val)"
                fits = [f"{val}  {best}{at}  {part}", f"{nats}  {best}{at}  {part}", f"{nats}  {best}  {part}",
                        f"{nats}  {part}", nats]
            rows.append(("val loss", Text(first_fit(fits, width))))
            if self.eval.val_by_style:  # a styled run: each style on its own held-out text
                rows.append(("by style", Text(first_fit([style_losses(self.eval.val_by_style)], width))))
        rows.append(("speed", Text(first_fit([f"{ev.chars_per_s:,.0f} chars/s   lr {ev.lr:.2e}",
                                              f"{ev.chars_per_s:,.0f} chars/s"], width))))
        rows.append(("gradients", Text(first_fit([
            f"norm {ev.grad_norm:.2f} (clipped on {ev.clipped_fraction:.0%} of recent steps)",
            f"norm {ev.grad_norm:.2f}, clipped {ev.clipped_fraction:.0%}"], width))))
        if per_layer and self.layer_norms:
            rows.append(("per layer", Text("  ".join(f"{k} {v:.2g}" for k, v in self.layer_norms))))
        if saved and self.saved is not None:
            rows.append(("saved", Text(f"{self.saved.reason} @ step {self.saved.step:,}")))
        return rows

    def _progress(self, ev: Step, inner: int) -> Table:
        budget = self.started.budget.get("steps")
        parts = {"step": f"{ev.progress:.0%}  step {ev.step:,}" + (f"/{budget:,}" if budget else ""),
                 "epoch": f"epoch {ev.epoch:.2f}", "elapsed": f"{format_duration(ev.elapsed)} elapsed",
                 "eta": f"ETA {format_duration(ev.eta)}" if ev.eta is not None else ""}
        parts = {k: v for k, v in parts.items() if v}
        for drop in ("elapsed", "eta", "epoch", None):  # the least useful first
            text = " · ".join(parts.values())
            if inner - cell_len(text) - 2 >= BAR[0] or drop is None:
                break
            parts.pop(drop, None)
        bar = min(BAR[1], inner - cell_len(text) - 2)
        grid = Table.grid(padding=(0, 2))
        cells = [Text(text, no_wrap=True, overflow="ellipsis")]
        if bar >= 4:
            grid.add_column(no_wrap=True, width=bar)
            cells.insert(0, ProgressBar(total=1.0, completed=ev.progress, width=bar))
        grid.add_column(no_wrap=True)
        grid.add_row(*cells)
        return grid


class Dashboard:
    """Prints the description of each run, keeps a live panel below it while the run trains, and
    the summary when it stops. `notice` shows a message inside the panel."""

    def __init__(self, console: Console, refresh_per_second: float = 4):
        self.console, self.refresh_per_second = console, refresh_per_second
        self.live: Live | None = None
        self.message: str | None = None
        self.header_rows = 0
        self._begin(None)

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc) -> None:
        self._stop_live()

    def show(self, ev: Event) -> None:
        getattr(self, f"_{type(ev).__name__.lower()}")(ev)
        if self.live is not None:
            self.live.update(self.frame())

    def notice(self, message: str) -> None:
        self.message = message
        if self.live is not None:
            self.live.update(self.frame())
        else:
            self.console.print(Text(message, style="yellow"))

    def frame(self) -> Frame:
        return Frame(self.started, self.header_rows, self.step, self.eval, self.best_step, self.sample, self.saved,
                     tuple(self.losses), tuple(self.layer_norms.items()), self.alert, self.alerts, self.skipped,
                     self.skips, self.message)

    def header(self, ev: Started, short: bool = False) -> Group:
        """The run's description; `short` keeps each row but the notes to one line."""
        one_line = ("corpus", "model", "train", "device") if short else ()
        return Group(Text("charlstm: ") + Text(start_title(ev), style="bold"),
                     rows_grid(start_rows(ev), indent=2, one_line=one_line))

    # -- events -------------------------------------------------------------------------------------
    def _begin(self, started: Started | None) -> None:
        self.started = started
        self.step: Step | None = None
        self.eval: Eval | None = None
        self.best_step: int | None = None
        self.sample: Sample | None = None
        self.saved: Saved | None = None
        self.losses: deque[float] = deque(maxlen=200)
        self.layer_norms: dict[str, float] = {}
        self.alert: Alert | None = None
        self.alerts = 0
        self.skipped: Skipped | None = None
        self.skips = 0

    def _started(self, ev: Started) -> None:
        self._stop_live()
        self._begin(ev)
        for short in (False, True):  # wrapped where the panel still fits below it, else cut short
            header = self.header(ev, short)
            self.header_rows = len(self.console.render_lines(header, self.console.options, pad=False))
            if self.header_rows + PANEL <= self.console.height:
                break
        self.console.print(header)
        self.live = Live(self.frame(), console=self.console, refresh_per_second=self.refresh_per_second,
                         transient=False)
        self.live.start()

    def _step(self, ev: Step) -> None:
        self.step = ev
        self.losses.append(ev.loss)
        if ev.layer_grad_norms:
            self.layer_norms = ev.layer_grad_norms

    def _eval(self, ev: Eval) -> None:
        self.eval = ev
        if ev.is_best:
            self.best_step = ev.step

    def _sample(self, ev: Sample) -> None:
        self.sample = ev

    def _saved(self, ev: Saved) -> None:
        self.saved = ev

    def _alert(self, ev: Alert) -> None:
        self.alert, self.alerts = ev, self.alerts + 1

    def _skipped(self, ev: Skipped) -> None:
        self.skipped, self.skips = ev, self.skips + 1

    def _stopped(self, ev: Stopped) -> None:
        if self.live is not None:
            self.live.update(self.frame())
        self._stop_live()
        if ev.reason != "nonfinite":  # then the CLI prints the error line
            self.console.print(rows_grid(summary_rows(ev)))

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
