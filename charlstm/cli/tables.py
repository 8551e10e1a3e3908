"""Rich text and tables for people: the consoles, the rows that describe a run when it starts and
when it stops, and the tables of `info`, `runs`, `corpora`, `compare`, `inspect` and `gates`.

The renderers of a training run (dashboard.py, plainlog.py) share what is here; nothing here trains.
"""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..config import budget_text, format_duration
from ..events import Started, Stopped
from ..styles.blend import records, records_text

LN2 = math.log(2)
SPARK = "▁▂▃▄▅▆▇█"


# ---- consoles ------------------------------------------------------------------------------------
def stderr_console() -> Console:
    """Console on stderr; off a terminal it never wraps lines, so logs keep one report per line."""
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def stdout_console() -> Console:
    """Tables on stdout; when it is a file or a pipe, 120 columns instead of rich's narrow 80."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def error_line(console: Console, message: str) -> None:
    console.print(Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True)


# ---- numbers -------------------------------------------------------------------------------------
def bpc(nats: float) -> float:
    """Bits per character from nats per character."""
    return nats / LN2


def sparkline(values: list[float], width: int = 40) -> str:
    vals = [v for v in values if math.isfinite(v)][-width:]
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))] for v in vals)


def model_text(m: dict) -> str:
    text = f"{m['cell']} {m['layers']}×{m['hidden']}, embed {m['embed']}, dropout {m['dropout']:g}"
    return text + (f", weight drop {m['weight_drop']:g}" if m.get("weight_drop") else "")


# ---- a training run: what it is, how it ended ---------------------------------------------------
def start_title(ev: Started) -> str:
    """"training NAME" or "resuming NAME from step N"."""
    if ev.resumed_from is not None:
        return f"resuming {ev.run_name} from step {ev.resumed_from:,}"
    return f"training {ev.run_name}"


def start_rows(ev: Started) -> list[tuple[str, str]]:
    """(label, text) rows that describe a run as it starts: corpus, model, optimisation, device, notes."""
    t = ev.train_config
    procs = f" x {ev.processes} processes" if ev.processes > 1 else ""
    return [
        ("corpus", f"{ev.corpus} ({ev.train_chars:,} train / {ev.val_chars:,} val)"),
        ("model", f"{model_text(ev.model_config)}, {ev.params:,} parameters"),
        ("train", f"batch {t['batch_size']} × seq {t['seq_len']}, {t['optimizer']} lr {t['lr']:g} "
                  f"({t['schedule']}), clip {t['clip']:g}, budget {budget_text(ev.budget)}"),
        ("device", f"{ev.device}{procs}, {ev.threads} thread(s); checkpoints in {ev.run_dir}"),
        *(("note", note) for note in ev.notes),
    ]


def summary_rows(ev: Stopped) -> list[tuple[str, str]]:
    """(label, text) rows printed when a run stops: the result and how to go on."""
    rows = [("result", ev.message), ("trained", f"{format_duration(ev.elapsed)}, {ev.step:,} steps")]
    if ev.best_val_loss is not None:
        rows.append(("best val", f"{ev.best_val_loss:.4f} nats/char ({bpc(ev.best_val_loss):.3f} bits/char)"))
    return rows + [("checkpoints", ev.run_dir), ("sample", f"charlstm sample {ev.run_dir} --temp 0.8"),
                   ("resume", f"charlstm resume {ev.run_dir}")]


def rows_grid(rows: list[tuple[str, str]], indent: int = 0, loud: tuple[str, ...] = ("note",),
              one_line: tuple[str, ...] = ()) -> Table:
    """Labels and texts in two columns; a long text wraps under itself (a hanging indent), except
    the texts of labels in `one_line`, which are cut short with an ellipsis. Labels in `loud` are
    yellow, the others dim."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in rows:
        value = Text(text, no_wrap=True, overflow="ellipsis") if label in one_line else Text(text)
        grid.add_row(Text(" " * indent + label, style="yellow" if label in loud else "dim"), value)
    return grid


# ---- looking inside a model ---------------------------------------------------------------------
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
def _vocab_preview(chars: list[str], n: int = 60) -> str:
    shown = "".join("↵" if c == "\n" else "⇥" if c == "\t" else "␣" if c == " " else c for c in chars[:n])
    return shown + (f" … (+{len(chars) - n})" if len(chars) > n else "")


def budget_of(t: dict) -> dict:
    """The budget a training config gives (a 10-minute time budget when it gives none)."""
    given = {k: t[k] for k in ("steps", "epochs", "time") if t.get(k)}
    return given or {"time": 600.0}


def style_losses(by_style: dict[str, float]) -> str:
    """A styled run's validation loss per style: 'verse 1.2345  code 1.1012'."""
    return "  ".join(f"{name} {loss:.4f}" for name, loss in by_style.items())


def scored_text(chars: int, of: int) -> str:
    """What a validation loss was measured on, when it was not the whole split."""
    return f"on the first {chars:,} of {of:,} val chars" if 0 < chars < of else ""


def info_table(ckpt: dict, path) -> Table:
    m, t, c = ckpt["model_config"], ckpt["train_config"], ckpt.get("corpus", {})
    n_params = sum(math.prod(v.shape) for v in ckpt["model"].values())
    best = ckpt.get("best_val_loss")
    scored = scored_text(ckpt.get("val_scored", {}).get("chars", 0), ckpt.get("val_scored", {}).get("of", 0))
    table = Table(title=Text(f"{ckpt.get('run_name', '?')}  ({path})"), title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("model", f"{model_text(m)}, {n_params:,} parameters"),
        ("vocabulary", f"{m['vocab_size']} characters: {_vocab_preview(ckpt['vocab']['chars'])}"),
        ("training", f"batch {t['batch_size']} × seq {t['seq_len']}, {t['optimizer']} lr {t['lr']:g} "
                     f"({t['schedule']}), weight decay {t['weight_decay']:g}, clip {t['clip']:g}, "
                     f"precision {t['precision']}"),
        ("progress", f"step {ckpt['step']:,}, epoch {ckpt.get('epoch', 0):.2f}, "
                     f"{format_duration(ckpt.get('train_time', 0.0))} trained, budget {budget_text(budget_of(t))}"),
        ("best val", f"{best:.4f} nats/char ({bpc(best):.3f} bits/char){' ' + scored if scored else ''}"
                     if best is not None else "not evaluated yet"),
        ("corpus", f"{', '.join(c.get('paths', []))} ({c.get('tokens', 0):,} characters)"),
        ("saved", f"{ckpt.get('saved_at', '?')} by charlstm {ckpt.get('charlstm_version', '?')}, "
                  f"torch {ckpt.get('torch_version', '?')}"),
    ]
    if ckpt["model_config"].get("styles"):
        rows.append(("styles", f"{records_text(records(ckpt))}; sample one with --style NAME or a blend "
                               "--style a:0.7,b:0.3"))
    if "slim" in ckpt:
        rows.append(("format", f"slim (weights{' in fp16' if ckpt['slim'].get('half') else ''}, no optimizer): "
                               "sample, eval, inspect and --init-from read it; resume does not"))
    rows += [("read" if i == 0 else "", source_text(r)) for i, r in enumerate(ckpt.get("sources", []))]
    rows += [("adapted to" if i == 0 else "", adapted_text(r)) for i, r in enumerate(ckpt.get("adapted", []))]
    rows += [("fine-tuned from" if i == 0 else "", lineage_text(r)) for i, r in enumerate(ckpt.get("lineage", []))]
    for k, v in rows:
        table.add_row(k, Text(str(v)))
    return table


def source_text(record: dict) -> str:
    """One text a packaged model read (tools/make_starter.py records them): what, how much, licence."""
    held = record.get("held_out")
    return (f"{record.get('what', '?')}: {record.get('name', '?')}, {record.get('chars', 0):,} characters"
            f"{f' ({held:,} held out)' if isinstance(held, int) else ''}; {record.get('licence', 'licence unknown')}")


def adapted_text(record: dict) -> str:
    """One text a model was adapted to with `charlstm sample --adapt ... --save-adapted`."""
    files = ", ".join(map(str, record.get("files") or [])) or "?"
    loss = record.get("loss")
    read = f", {loss:.4f} nats/char while reading" if isinstance(loss, (int, float)) else ""
    read += f", in style {record['style']}" if isinstance(record.get("style"), str) else ""
    return (f"{files} ({record.get('chars', 0):,} characters{read}; lr {record.get('lr', '?')}, decay "
            f"{record.get('decay', '?')}, segment {record.get('segment', '?')}; from {record.get('from') or '?'}, "
            f"{record.get('saved_at') or '?'})")


def lineage_text(record: dict) -> str:
    """One ancestor of a fine-tuned run: where it came from, how far it was trained, on what."""
    best = record.get("best_val_loss")
    val = f", best val {best:.4f}" if isinstance(best, (int, float)) else ""
    corpus = ", ".join(map(str, record.get("corpus") or [])) or "?"
    return (f"{record.get('source') or record.get('run_name') or '?'} (run {record.get('run_name') or '?'}, "
            f"step {record.get('step', 0):,}{val}, {record.get('vocab_size', '?')} characters, trained on {corpus})")


def runs_table(entries) -> Table:
    """`entries`: store.listing.RunEntry per run, newest first."""
    table = Table(title="runs (newest first)", title_justify="left")
    for col in ("run", "model", "steps", "trained", "best val", "bits/char", "saved"):
        table.add_column(col, justify="right" if col in ("steps", "trained", "best val", "bits/char") else "left",
                         no_wrap=col in ("run", "model", "saved"))
    for entry in entries:
        d, ckpt = entry.name, entry.checkpoint
        if ckpt is None:
            table.add_row(Text(str(d)), Text("unreadable", style="red"), "-", "-", "-", "-", "-")
            continue
        best = ckpt.get("best_val_loss")
        m = ckpt["model_config"]
        cells = (str(d), f"{m['cell']} {m['layers']}×{m['hidden']}", f"{ckpt['step']:,}",
                 format_duration(ckpt.get("train_time", 0.0)), f"{best:.4f}" if best is not None else "-",
                 f"{bpc(best):.3f}" if best is not None else "-", str(ckpt.get("saved_at", "?"))[:16].replace("T", " "))
        table.add_row(*map(Text, cells))  # names and stored fields are never read as markup
    return table


def corpora_table(local, sources, folder) -> Table:
    table = Table(title="corpora", title_justify="left")
    for col in ("name", "where", "size", "about"):
        table.add_column(col)
    sources = list(sources)
    for p in local:
        if p.stem not in {s.name for s in sources}:
            table.add_row(Text(p.stem), Text(str(p)), f"{p.stat().st_size / 1e6:.1f} MB", "bundled")
    for s in sources:
        have = (folder / f"{s.name}.txt").exists()
        table.add_row(Text(s.name), Text(str(folder / f"{s.name}.txt") if have else f"charlstm corpora get {s.name}"),
                      f"{s.size / 1e6:.1f} MB" if s.size else "?", Text(s.description))
    return table
