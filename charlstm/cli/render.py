"""Rendering training events for people: a rich live dashboard on a terminal, plain lines in a
log, or JSON lines for scripts. Only this module and cli.py know about rich; nothing here trains.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..config import budget_text, format_duration
from ..events import Alert, Eval, Event, Sample, Saved, Skipped, Started, Step, Stopped

LN2 = math.log(2)
SPARK = "▁▂▃▄▅▆▇█"
PREVIEW_LINES = 8  # lines of the preview sample shown in the dashboard


def stderr_console() -> Console:
    """Console on stderr; off a terminal it never wraps lines, so logs keep one report per line."""
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def error_line(console: Console, message: str) -> None:
    console.print(Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True)


def sparkline(values: list[float], width: int = 40) -> str:
    vals = [v for v in values if math.isfinite(v)][-width:]
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))] for v in vals)


def bpc(nats: float) -> float:
    return nats / LN2


def _model(m: dict) -> str:
    text = f"{m['cell']} {m['layers']}×{m['hidden']}, embed {m['embed']}, dropout {m['dropout']:g}"
    return text + (f", weight drop {m['weight_drop']:g}" if m.get("weight_drop") else "")


class TrainView:
    """Consumes events; `mode` is 'live' (rich dashboard), 'plain' (one line per report) or 'json'."""

    def __init__(self, console: Console, mode: str = "live", quiet: bool = False):
        self.console, self.mode, self.quiet = console, mode, quiet
        self.started: Started | None = None
        self.step: Step | None = None
        self.eval: Eval | None = None
        self.best_step: int | None = None
        self.sample: Sample | None = None
        self.losses: deque[float] = deque(maxlen=200)
        self.clipped = deque(maxlen=100)
        self.saved: Saved | None = None
        self.skipped = 0
        self.alerts: list[Alert] = []
        self.layer_norms: dict[str, float] = {}
        self.live: Live | None = None

    # -- entry points -------------------------------------------------------------------------
    def __enter__(self) -> TrainView:
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def show(self, ev: Event) -> None:
        if self.mode == "json":
            self.console.print_json(json.dumps({"event": type(ev).__name__.lower(), **asdict(ev)}, default=str))
            return
        if isinstance(ev, Started):
            self.started = ev
            if not self.quiet:
                self._print_start(ev)
            if self.mode == "live" and not self.quiet:
                self.live = Live(self._dashboard(), console=self.console, refresh_per_second=4, transient=False)
                self.live.start()
            return
        if isinstance(ev, Step):
            self.step = ev
            self.losses.append(ev.loss)
            self.clipped.append(ev.clipped)
            if ev.layer_grad_norms:
                self.layer_norms = ev.layer_grad_norms
            if self.mode == "plain" and not self.quiet:
                self.console.print(self._step_line(ev))
        elif isinstance(ev, Eval):
            self.eval = ev
            if ev.is_best:
                self.best_step = ev.step
            if self.mode == "plain" and not self.quiet:
                best = " (best)" if ev.is_best else f" (best {ev.best_val_loss:.4f})"
                self.console.print(f"eval   step {ev.step:>7,} | val {ev.val_loss:.4f} nats "
                                   f"({bpc(ev.val_loss):.3f} bpc){best} | {ev.seconds:.1f}s")
        elif isinstance(ev, Sample):
            self.sample = ev
            if self.mode == "plain" and not self.quiet:
                self.console.print(f"sample step {ev.step:,}:")
                for line in ev.text.splitlines() or [""]:
                    self.console.print("  | " + line, markup=False)
        elif isinstance(ev, Saved):
            self.saved = ev
            if self.mode == "plain" and not self.quiet and ev.reason != "best":
                self.console.print(f"saved  step {ev.step:>7,} -> {ev.path} ({ev.reason})")
        elif isinstance(ev, Alert):
            self.alerts.append(ev)
            self._out(f"[yellow]warning (step {ev.step:,}):[/] {ev.message}")
        elif isinstance(ev, Skipped):
            self.skipped += 1
            self._out(f"[yellow]skipped step {ev.step:,}: non-finite loss {ev.loss} / grad norm "
                      f"{ev.grad_norm} ({ev.in_a_row} in a row)[/]")
        elif isinstance(ev, Stopped):
            if self.live is not None:
                self.live.stop()
                self.live = None
            self._print_end(ev)
            return
        if self.live is not None:
            self.live.update(self._dashboard())

    # -- pieces -------------------------------------------------------------------------------
    def _out(self, markup: str) -> None:
        (self.live.console if self.live else self.console).print(markup)

    def _print_start(self, ev: Started) -> None:
        c = self.console
        verb = f"resuming [bold]{ev.run_name}[/] from step {ev.resumed_from:,}" if ev.resumed_from is not None \
            else f"training [bold]{ev.run_name}[/]"
        c.print(f"charlstm: {verb}")
        c.print(f"  corpus  {ev.corpus} ({ev.train_chars:,} train / {ev.val_chars:,} val)", markup=False)
        c.print(f"  model   {_model(ev.model_config)}, {ev.params:,} parameters")
        t = ev.train_config
        c.print(f"  train   batch {t['batch_size']} × seq {t['seq_len']}, {t['optimizer']} lr {t['lr']:g} "
                f"({t['schedule']}), clip {t['clip']:g}, budget {budget_text(ev.budget)}")
        procs = f" x {ev.processes} processes" if ev.processes > 1 else ""
        c.print(f"  device  {ev.device}{procs}, {ev.threads} thread(s); checkpoints in {ev.run_dir}", markup=False)
        for note in ev.notes:
            c.print(f"  [yellow]note[/]    {note}")

    def _step_line(self, ev: Step) -> str:
        eta = f", ETA {format_duration(ev.eta)}" if ev.eta is not None else ""
        return (f"step {ev.step:>7,} | {ev.progress:4.0%} | loss {ev.loss:.4f} ({bpc(ev.loss):.3f} bpc) | "
                f"{ev.chars_per_s:,.0f} chars/s | lr {ev.lr:.2e} | grad {ev.grad_norm:.2f}"
                f"{' clipped' if ev.clipped else ''} | {format_duration(ev.elapsed)}{eta}")

    def _dashboard(self):
        s, ev = self.started, self.step
        head = Text.assemble(("charlstm ", "bold cyan"), (s.run_name if s else "", "bold"),
                             (f"  ·  {_model(s.model_config)}  ·  {s.params:,} params  ·  {s.device}" if s else "",
                              "dim"))
        rows = [head]
        if ev is None:
            rows.append(Text("starting…", style="dim"))
            return Panel(Group(*rows), border_style="cyan")
        bar = Table.grid(padding=(0, 1))
        total = f"/{s.budget['steps']:,}" if s and s.budget.get("steps") else ""
        bar.add_row(ProgressBar(total=1.0, completed=ev.progress, width=40),
                    Text(f"{ev.progress:4.0%}  step {ev.step:,}{total}  ·  {format_duration(ev.elapsed)} elapsed"
                         + (f"  ·  ETA {format_duration(ev.eta)}" if ev.eta is not None else "")))
        rows.append(bar)
        grid = Table.grid(padding=(0, 3))
        grid.add_column(style="dim")
        grid.add_column()
        spark = sparkline(list(self.losses))
        grid.add_row("train loss", f"{ev.loss:.4f} nats  ({bpc(ev.loss):.3f} bits/char)  {spark}")
        if self.eval:
            best = f"best {self.eval.best_val_loss:.4f}" + (f" @ step {self.best_step:,}" if self.best_step else "")
            val = self.eval.val_loss
            grid.add_row("val loss", f"{val:.4f} nats  ({bpc(val):.3f} bits/char)  {best}")
        grid.add_row("speed", f"{ev.chars_per_s:,.0f} chars/s   lr {ev.lr:.2e}")
        grid.add_row("gradients", f"norm {ev.grad_norm:.2f} (clipped on {ev.clipped_fraction:.0%} of recent steps)"
                     + ("   per layer: " + "  ".join(f"{k} {v:.2g}" for k, v in self.layer_norms.items())
                        if self.layer_norms else ""))
        if self.saved:
            grid.add_row("saved", f"{self.saved.reason} @ step {self.saved.step:,}")
        rows.append(grid)
        if self.sample:
            lines = self.sample.text.splitlines()[:PREVIEW_LINES]
            rows.append(Panel(Text("\n".join(lines)), title=f"sample @ step {self.sample.step:,}",
                              title_align="left", border_style="dim"))
        return Panel(Group(*rows), border_style="cyan")

    def _print_end(self, ev: Stopped) -> None:
        c = self.console
        if ev.reason == "nonfinite":
            return  # the CLI prints the error line
        if self.quiet and ev.reason == "done":
            return
        rows = [("result", ev.message), ("trained", f"{format_duration(ev.elapsed)}, {ev.step:,} steps")]
        if ev.best_val_loss is not None:
            rows.append(("best val", f"{ev.best_val_loss:.4f} nats/char ({bpc(ev.best_val_loss):.3f} bits/char)"))
        rows += [("checkpoints", ev.run_dir), ("sample", f"charlstm sample {ev.run_dir} --temp 0.8"),
                 ("resume", f"charlstm resume {ev.run_dir}")]
        for k, v in rows:
            c.print(f"[dim]{k:<12}[/]{v}", highlight=False)


# ---- looking inside a model -----------------------------------------------------------------------
def activation_text(chars: list[str], values) -> Text:
    """Each character on a background from blue (-1) through white (0) to red (+1)."""
    text = Text()
    for ch, v in zip(chars, values):
        v = max(-1.0, min(1.0, float(v)))
        fade = int(255 * (1 - abs(v)))
        bg = f"rgb(255,{fade},{fade})" if v >= 0 else f"rgb({fade},{fade},255)"
        text.append("↵\n" if ch == "\n" else ch, style=f"black on {bg}")
    return text


def units_table(feature: str, layer: int, state: str, ranked: list[tuple[int, float]]) -> Table:
    table = Table(title=f"units of layer {layer} ({state}) that track '{feature}'", title_justify="left")
    table.add_column("unit", justify="right")
    table.add_column("correlation", justify="right")
    for unit, r in ranked:
        table.add_row(str(unit), f"{r:+.3f}")
    return table


def saturation_table(stats: list[dict[str, dict[str, float]]]) -> Table:
    table = Table(title="gate saturation (share of time × units)", title_justify="left")
    for col in ("layer", "gate", "left < 0.1", "between", "right > 0.9"):
        table.add_column(col, justify="right" if col not in ("gate",) else "left")
    for l, gates in enumerate(stats):
        for gate, s in gates.items():
            table.add_row(str(l), gate, f"{s['left']:.1%}", f"{s['between']:.1%}", f"{s['right']:.1%}")
    return table


def compare_table(results) -> Table:
    table = Table(title="cell comparison (same data, budget and settings)", title_justify="left")
    for col in ("cell", "hidden", "params", "steps", "chars/s", "best val (nats)", "bits/char", "val curve"):
        table.add_column(col, justify="left" if col in ("cell", "val curve") else "right",
                         no_wrap=col in ("params", "chars/s"), min_width=9 if col == "params" else None)
    for r in results:
        best = r.best_val_loss
        table.add_row(r.cell, str(r.hidden), f"{r.params:,}", f"{r.steps:,}", f"{r.chars_per_s:,.0f}",
                      f"{best:.4f}" if best is not None else "-", f"{bpc(best):.3f}" if best is not None else "-",
                      sparkline([v for _, v in r.curve], 12))
    return table


# ---- runs and models -----------------------------------------------------------------------------
def stdout_console() -> Console:
    """Tables on stdout; when it is a file or a pipe, 120 columns instead of rich's narrow 80."""
    import sys
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _vocab_preview(chars: list[str], n: int = 60) -> str:
    shown = "".join("↵" if c == "\n" else "⇥" if c == "\t" else "␣" if c == " " else c for c in chars[:n])
    return shown + (f" … (+{len(chars) - n})" if len(chars) > n else "")


def info_table(ckpt: dict, path) -> Table:
    m, t, c = ckpt["model_config"], ckpt["train_config"], ckpt.get("corpus", {})
    n_params = sum(v.numel() for v in ckpt["model"].values())
    best = ckpt.get("best_val_loss")
    table = Table(title=f"{ckpt.get('run_name', '?')}  ({path})", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("model", f"{_model(m)}, {n_params:,} parameters"),
        ("vocabulary", f"{m['vocab_size']} characters: {_vocab_preview(ckpt['vocab']['chars'])}"),
        ("training", f"batch {t['batch_size']} × seq {t['seq_len']}, {t['optimizer']} lr {t['lr']:g} "
                     f"({t['schedule']}), weight decay {t['weight_decay']:g}, clip {t['clip']:g}, "
                     f"precision {t['precision']}"),
        ("progress", f"step {ckpt['step']:,}, epoch {ckpt.get('epoch', 0):.2f}, "
                     f"{format_duration(ckpt.get('train_time', 0.0))} trained, budget {budget_text(_budget_of(t))}"),
        ("best val", f"{best:.4f} nats/char ({bpc(best):.3f} bits/char)" if best is not None else "not evaluated yet"),
        ("corpus", f"{', '.join(c.get('paths', []))} ({c.get('tokens', 0):,} characters)"),
        ("saved", f"{ckpt.get('saved_at', '?')} by charlstm {ckpt.get('charlstm_version', '?')}, "
                  f"torch {ckpt.get('torch_version', '?')}"),
    ]
    for k, v in rows:
        table.add_row(k, Text(v))
    return table


def _budget_of(t: dict) -> dict:
    given = {k: t[k] for k in ("steps", "epochs", "time") if t.get(k)}
    return given or {"time": 600.0}


def runs_table(rows) -> Table:
    table = Table(title="runs (newest first)", title_justify="left")
    for col in ("run", "model", "steps", "trained", "best val", "bits/char", "saved"):
        table.add_column(col, justify="right" if col in ("steps", "trained", "best val", "bits/char") else "left",
                         no_wrap=col in ("run", "model", "saved"))
    for d, ckpt, _ in rows:
        if ckpt is None:
            table.add_row(str(d), Text("unreadable", style="red"), "-", "-", "-", "-", "-")
            continue
        best = ckpt.get("best_val_loss")
        m = ckpt["model_config"]
        table.add_row(str(d), f"{m['cell']} {m['layers']}×{m['hidden']}", f"{ckpt['step']:,}",
                      format_duration(ckpt.get("train_time", 0.0)), f"{best:.4f}" if best is not None else "-",
                      f"{bpc(best):.3f}" if best is not None else "-",
                      str(ckpt.get("saved_at", "?"))[:16].replace("T", " "))
    return table


def corpora_table(local, sources, folder) -> Table:
    table = Table(title="corpora", title_justify="left")
    for col in ("name", "where", "size", "about"):
        table.add_column(col)
    sources = list(sources)
    for p in local:
        if p.stem not in {s.name for s in sources}:
            table.add_row(p.stem, str(p), f"{p.stat().st_size / 1e6:.1f} MB", "bundled")
    for s in sources:
        have = (folder / f"{s.name}.txt").exists()
        table.add_row(s.name, str(folder / f"{s.name}.txt") if have else f"charlstm corpora get {s.name}",
                      f"{s.size / 1e6:.1f} MB" if s.size else "?", s.description)
    return table
