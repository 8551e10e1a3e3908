"""`charlstm inspect`, `charlstm gates` and `charlstm compare`: seeing what the network does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ..errors import ConfigError
from ..store.files import atomic_write
from ..values import MAX_SEED
from .common import check_output, run_training
from .options import (
    DEFAULTS,
    Device,
    Feature,
    Json,
    Plain,
    Quiet,
    Root,
    RunArg,
    State,
    Threads,
    check_finite,
    check_name,
)

Text_ = Annotated[str | None, typer.Option("--text", help="Text to run through the model.",
                                           show_default="--file, else the run's validation text")]
File_ = Annotated[Path | None, typer.Option("--file", help="Read the text from this file.", show_default="none")]
Chars = Annotated[int, typer.Option("--chars", min=2, help="Characters of --file, or of the run's validation "
                                    "text when neither --text nor --file is given.")]


def _load_text(ckpt_path: Path, text: str | None, file: Path | None, chars: int) -> str:
    _check_text(text, file)
    if text is not None:
        return text
    if file is not None:
        from ..data.textfiles import ReadOptions, iter_text
        out = []
        for block in iter_text(file, ReadOptions()):
            out.append(block)
            if sum(map(len, out)) >= chars:
                break
        if not "".join(out).strip():
            raise ConfigError(f"nothing to inspect: --file {file} holds no text")
        return "".join(out)[:chars]
    # default: the start of the run's own validation text
    from ..data.corpus import split
    from ..data.tokenfile import Tokens
    from ..store import checkpoint
    from ..store.runs import TOKENS
    from ..tokenizer import CharTokenizer
    ck = checkpoint.load(ckpt_path)
    tok = CharTokenizer.from_dict(ck["vocab"])
    tokens_path = ckpt_path.parent / TOKENS
    if not tokens_path.exists():
        raise ConfigError("no --text or --file given, and the run's token file is gone")
    from ..data.textfiles import id_dtype
    val = split(Tokens(path=tokens_path, dtype=id_dtype(tok)), ck["train_config"]["val_fraction"])[1]
    return tok.decode(val.read(0, chars).tolist())


def _check_text(text: str | None, file: Path | None) -> None:
    """Refuse --text/--file mistakes before the model is loaded."""
    if text is not None and file is not None:
        raise ConfigError("give --text or --file, not both")
    if text is not None and not text:
        raise ConfigError("nothing to inspect: --text is empty")
    if file is not None and not file.is_file():
        raise ConfigError(f"--file {file}: {'is a folder' if file.is_dir() else 'no such file'}; give a text file")


def _known(tok, body: str) -> str:
    """The text to trace: unknown characters are skipped, but a text with fewer than two known
    ones is refused with the reason (the first unknown character) rather than traced empty."""
    if len(tok.encode(body, skip_unknown=True)) < 2:
        tok.encode(body)  # raises PrimeError naming an unknown character, if there is one
        raise ConfigError("nothing to inspect: the text needs at least 2 characters")
    return body


def _model(checkpoint_arg: Path | None, root: Path):
    from ..store import checkpoint, runs
    path = runs.checkpoint_path(checkpoint_arg, root)
    from ..model import in_style
    model, tok = checkpoint.build_model(checkpoint.load(path))
    return path, in_style(model), tok  # a styled model: its styles' even blend


def inspect(
    checkpoint: RunArg = None,
    text: Text_ = None,
    file: File_ = None,
    chars: Chars = 1000,
    layer: Annotated[int, typer.Option("--layer", min=0, help="Layer to look at (0 is nearest the input).")] = 0,
    unit: Annotated[int | None, typer.Option("--unit", min=0, help="Unit (cell) to show.",
                                             show_default="the best tracker of --find, else the most active "
                                             "unit")] = None,
    state: Annotated[State, typer.Option("--state", help="c: the cell state tanh(c_t) (LSTM only; other cells "
                                         "show h); h: the hidden state h_t.")] = State.c,
    find: Annotated[Feature | None, typer.Option("--find", help="Rank units by how well they track a feature: "
                                                 "quotes (inside double quotes), line (position in the line), "
                                                 "brackets (nesting depth).", show_default="none")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Units listed by --find.")] = 5,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the coloured text as a self-contained "
                                              "HTML page.", show_default="none")] = None,
    root: Root = Path("checkpoints"),
) -> None:
    """Colour each character by one unit's activation (blue -1, white 0, red +1).

    [bold]charlstm inspect --find quotes --text 'He said "no" and left.'[/]

    The trace runs on the CPU (it steps one character at a time through every gate), so there is
    no --device.
    """
    import numpy as np

    from ..insight.gates import FEATURES, rank_units, trace
    from ..insight.pictures import activation_html
    from .tables import activation_text, stderr_console, stdout_console, units_table

    find = find.value if find is not None else None
    state = state.value
    _check_text(text, file)
    check_output(html, "--html")
    path, model, tok = _model(checkpoint, root)
    if layer >= model.config.layers:
        raise ConfigError(f"--layer {layer}: the model has layers 0..{model.config.layers - 1}")
    if model.config.cell != "lstm":
        state = "h"  # only an LSTM has a cell state apart from h
    body = _known(tok, _load_text(path, text, file, chars))
    tr = trace(model, tok, body)
    acts = tr["layers"][layer][state]
    acts = np.tanh(acts) if state == "c" else acts
    con = stdout_console()
    if find:
        ranked = rank_units(acts, FEATURES[find](tr["chars"]), top)
        con.print(units_table(find, layer, state, ranked))
        unit = ranked[0][0] if unit is None else unit
    if unit is None:
        unit = int(np.argmax(acts.std(0)))
    if unit >= acts.shape[1]:
        raise ConfigError(f"--unit {unit}: layer {layer} has units 0..{acts.shape[1] - 1}")
    label = f"{'tanh(c)' if state == 'c' else 'h'} of layer {layer}, unit {unit} ({path})"
    con.print(Text(label, style="bold"))
    con.print(activation_text(tr["chars"], acts[:, unit]), soft_wrap=True)
    if html:
        with atomic_write(html, "utf-8") as f:
            f.write(activation_html(tr["chars"], acts[:, unit], label))
        stderr_console().print(f"wrote {html}", markup=False)


def gates(
    checkpoint: RunArg = None,
    text: Text_ = None,
    file: File_ = None,
    chars: Chars = 5000,
    svg: Annotated[Path | None, typer.Option("--svg", help="Also draw each unit's saturation as an SVG "
                                             "picture.", show_default="none")] = None,
    root: Root = Path("checkpoints"),
) -> None:
    """How often each gate is nearly shut (< 0.1), wide open (> 0.9) or in between, per layer.

    Runs on the CPU, as inspect does.
    """
    from ..insight.gates import GATES, saturation, trace, unit_saturation
    from ..insight.pictures import saturation_svg
    from .tables import saturation_table, stderr_console, stdout_console

    _check_text(text, file)
    check_output(svg, "--svg")
    path, model, tok = _model(checkpoint, root)
    if not GATES[model.config.cell]:
        raise ConfigError(f"a plain RNN ({model.config.cell}) has no gates; use an lstm or gru checkpoint")
    tr = trace(model, tok, _known(tok, _load_text(path, text, file, chars)))
    stdout_console().print(saturation_table([saturation(lay) for lay in tr["layers"]]))
    if svg:
        names = [g for g in GATES[model.config.cell] if g not in ("cell", "new")]
        panels = [{g: unit_saturation(lay, g) for g in names} for lay in tr["layers"]]
        with atomic_write(svg, "utf-8") as f:
            f.write(saturation_svg(panels, f"gate saturation per unit ({path})"))
        stderr_console().print(f"wrote {svg}", markup=False)


def compare(
    corpus: Annotated[list[Path], typer.Argument(help="Text files and/or directories.", show_default=False)],
    cells: Annotated[str, typer.Option("--cells", help="Comma list of cells to compare.")] = "lstm,gru,rnn",
    layers: Annotated[int, typer.Option("--layers", min=1, help="Stacked layers of every cell.")] = 2,
    hidden: Annotated[int, typer.Option("--hidden", min=1, help="Hidden size of the first cell; the others get "
                                        "the size that matches its parameter count.")] = 256,
    embed: Annotated[int, typer.Option("--embed", min=1, help="Character embedding size.")] = 128,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=0.99, callback=check_finite,
                                           help="Dropout between layers and before the output.")] = 0.2,
    weight_drop: Annotated[float, typer.Option("--weight-drop", min=0.0, max=0.99, help="DropConnect on the "
                                               "hidden-to-hidden weights of every cell.", callback=check_finite)] = 0.0,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Budget per cell in steps.",
                                              show_default="none")] = None,
    time: Annotated[str | None, typer.Option("--time", help="Budget per cell, e.g. 5m.",
                                             show_default="2m when --steps is not given")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1,
                                            help="Parallel lanes of text.")] = DEFAULTS.batch_size,
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Characters per window.")] = DEFAULTS.seq_len,
    lr: Annotated[float, typer.Option("--lr", min=0.0, callback=check_finite,
                                      help="Peak learning rate, the same for every cell.")] = DEFAULTS.lr,
    eval_every: Annotated[int, typer.Option("--eval-every", min=1,
                                            help="Steps between validation runs.")] = DEFAULTS.eval_every,
    name: Annotated[str | None, typer.Option("--name", callback=check_name, help="Folder under --root for the runs.",
                                             show_default="compare-DATE-TIME")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED,
                                      help="Random seed, the same for every cell.")] = DEFAULTS.seed,
    root: Root = Path("checkpoints"),
    device: Device = "auto",
    threads: Threads = None,
    quiet: Quiet = False,
    plain: Plain = False,
    json_lines: Json = False,
) -> None:
    """Train LSTM, GRU and plain RNN on the same text and budget, at matched size, and compare.

    [bold]charlstm compare corpora/pydocs.txt --cells lstm,gru,rnn --time 5m[/]
    """
    from ..config import TrainConfig
    from ..insight.compare import compare as run_compare
    from ..insight.compare import folder, samples
    from .common import StopFlag, budget_options
    from .tables import compare_table, stderr_console, stdout_console

    budget = budget_options(steps, None, time or (None if steps else "2m"))
    cfg = TrainConfig(batch_size=batch_size, seq_len=seq_len, lr=lr, eval_every=eval_every, seed=seed,
                      sample_every=0, **budget)
    model = dict(layers=layers, hidden=hidden, embed=embed, dropout=dropout, weight_drop=weight_drop)
    where = folder(root, name)
    flag = StopFlag()
    results, con = {}, stderr_console()
    with flag.installed():
        events = run_compare(corpus, [c.strip() for c in cells.split(",") if c.strip()], model, cfg, where,
                             device=device, threads=threads, should_stop=flag)
        run_training(_announced(events, results, con), quiet, plain, json_lines, flag)
    # the results on stdout; under --json stdout holds only the events, so they join the notes on stderr
    out = con if json_lines else stdout_console()
    out.print(compare_table(list(results.values())))
    for cell, text in samples(list(results.values()), seed).items():
        out.print(Text(cell, style="bold") + Text(" sample:"))
        out.print(text, markup=False, highlight=False)
    con.print(f"runs in {where}", markup=False)


def _announced(pairs, results: dict, con):
    """The events of a comparison, keeping each cell's latest result in `results` and naming each
    cell, its size and its parameters on stderr as it starts."""
    from ..events import Started
    for result, ev in pairs:
        results[result.cell] = result
        if isinstance(ev, Started):
            con.print(Text("\n") + Text(result.cell, style="bold")
                      + Text(f": hidden {result.hidden}, {result.params:,} parameters"))
        yield ev
