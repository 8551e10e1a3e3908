"""`charlstm eval`, `info`, `runs`, `plot` and `corpora`: looking at models, runs and text."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import AdaptConfig
from ..errors import CharLSTMError
from .common import check_output
from .options import Axis, Device, Last, Root, RunArg, check_finite, json_flag, output_file, variant

corpora_app = typer.Typer(help="List the bundled corpora and those that can be fetched; `get` fetches one.",
                          invoke_without_command=True, no_args_is_help=False)
NamedRun = variant(RunArg, show_default=False, metavar="RUN")  # eval's run comes first and is required: FILES follow it
EvalJson = json_flag("Print the result as one JSON object.")
InfoJson = json_flag("Print the checkpoint's metadata (no tensors) as one JSON object on stdout.")
RunsJson = json_flag("One JSON object per run on stdout (JSON Lines), newest first; an unreadable run has an "
                     "\"error\" field.")
DYNAMIC = AdaptConfig()
PlotOutput = output_file("Picture to write: .png or .svg.")


def _ckpt(target: Path | None, root: Path, last: bool = False, mmap: bool = False,
          torch_free: bool = False) -> tuple[dict, Path]:
    """The checkpoint `target` names, validated, and its path; with `torch_free`, read without torch
    where the torch-free reader follows the file (its weights as numpy arrays)."""
    from ..store import runs as rs
    path = rs.checkpoint_path(target, root, last)
    if torch_free:
        from ..store.arrays import load_any
        return load_any(path, mmap=mmap), path
    from ..store import checkpoint as ck
    return ck.load(path, map_location="cpu", mmap=mmap), path


def eval_command(
    checkpoint: NamedRun,
    files: Annotated[list[Path], typer.Argument(help="Text files or directories to score.", show_default=False)],
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Lanes scored at once.")] = 64,
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Characters per window (state carried).")] = 256,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="Also score with dynamic evaluation: the model takes "
                                          "a small gradient step after each segment it has scored, so what recurs "
                                          "in the text gets likelier. Both losses are then read in the same "
                                          "lanes (--lanes); the checkpoint is not changed.",
                                          rich_help_panel="Dynamic evaluation")] = False,
    dyn_lr: Annotated[float, typer.Option("--lr", min=0.0, help="Step size of each update, in units of each "
                                          "weight's gradient RMS (0: no learning).", callback=check_finite,
                                          rich_help_panel="Dynamic evaluation")] = DYNAMIC.lr,
    dyn_decay: Annotated[float, typer.Option("--decay", min=0.0, max=1.0, help="Pull back towards the trained "
                                             "weights at each update.", callback=check_finite,
                                             rich_help_panel="Dynamic evaluation")] = DYNAMIC.decay,
    dyn_segment: Annotated[int, typer.Option("--segment", min=1, help="Characters each lane scores between "
                                             "updates.", rich_help_panel="Dynamic evaluation")] = DYNAMIC.segment,
    dyn_lanes: Annotated[int, typer.Option("--lanes", min=1, help="Contiguous pieces of the text read side by "
                                           "side, one update for all: faster, but no longer in order (a lane "
                                           "learns from what the lanes have read so far, not from all the text "
                                           "before it). 1 reads the text in order.",
                                           rich_help_panel="Dynamic evaluation")] = DYNAMIC.lanes,
    style: Annotated[str | None, typer.Option("--style", "-s", help="For a model trained with --styles: score the "
                                              "text as this style (or a blend, 'a:0.7,b:0.3').",
                                              show_default="every style alike")] = None,
    last: Last = False,
    device: Device = "auto",
    as_json: EvalJson = False,
    root: Root = Path("checkpoints"),
) -> None:
    """Score any text with a trained model: loss in nats/char, bits/char and perplexity.

    [bold]charlstm eval checkpoints/pydocs-20261126 notes.txt[/]

    [bold]charlstm eval starter poem.txt --dynamic[/]

    A run trained with --styles, scoring a text as one: [bold]charlstm eval mixed poem.txt --style verse[/]
    """
    from tqdm import tqdm

    from ..data.textfiles import ReadOptions
    from ..devices import resolve_device
    from ..model import in_style
    from ..store import checkpoint as ck
    from ..styles.blend import choose, describe
    from ..tokenizer import describe_char
    from ..training.evaluate import Score, bits, read_scored, score_files, static_and_dynamic
    from .tables import stderr_console

    settings = AdaptConfig(lr=dyn_lr, decay=dyn_decay, segment=dyn_segment, lanes=dyn_lanes) if dynamic else None
    ckpt, path = _ckpt(checkpoint, root, last)
    model, tok = ck.build_model(ckpt, resolve_device(device))
    model = in_style(model, style)
    opts = ReadOptions(**{**ckpt["corpus"]["options"], "pattern": "*"})
    bar = tqdm(desc="scoring, then adapting" if dynamic else "scoring", unit="char", unit_scale=True,
               file=sys.stderr, leave=False, disable=as_json or not sys.stderr.isatty())
    if settings is None:
        s = score_files(model, tok, files, opts, batch_size, seq_len, progress=bar.update,
                        on_total=lambda n: setattr(bar, "total", n))
        dyn = None
    else:
        ids, found, unknown = read_scored(tok, files, opts)
        bar.total = 2 * (len(ids) - 1)
        static, dyn = static_and_dynamic(model, ids, settings, bar.update)
        s = Score(static, len(ids) - 1, found, unknown)
    bar.close()
    err = stderr_console()
    if s.unknown:
        shown = ", ".join(f"{describe_char(c)} x{n:,}" for c, n in s.unknown.most_common(8))
        err.print(f"note: {sum(s.unknown.values()):,} character(s) of {len(s.unknown)} kind(s) are not in "
                  f"the model's vocabulary and were left out (they would cost infinite loss): {shown}"
                  f"{' ...' if len(s.unknown) > 8 else ''}", markup=False, highlight=False)
    result = {"checkpoint": str(path), "files": s.files, "chars": s.scored, "nats_per_char": round(s.nats, 5),
              "bits_per_char": round(s.bits, 5), "perplexity": round(s.perplexity, 4),
              "unknown_chars": sum(s.unknown.values())}
    names = tuple(ckpt["model_config"].get("styles", ()))
    if names:
        result["style"] = describe(names, choose(style, names))
    if dyn is not None:
        result.update(dynamic_nats_per_char=round(dyn, 5), dynamic_bits_per_char=round(bits(dyn), 5),
                      dynamic=settings.as_dict())
    if as_json:
        typer.echo(json.dumps(result))
    elif dyn is None:
        styled = f", style {result['style']}" if "style" in result else ""
        typer.echo(f"{s.nats:.4f} nats/char  {s.bits:.4f} bits/char  perplexity {s.perplexity:.3f}  "
                   f"({s.scored:,} characters in {len(s.files)} file(s), {path}{styled})")
    else:
        gain = s.nats - dyn
        typer.echo(f"static   {s.nats:.4f} nats/char  {s.bits:.4f} bits/char\n"
                   f"dynamic  {dyn:.4f} nats/char  {bits(dyn):.4f} bits/char  "
                   f"({-gain:+.4f} nats/char, {-gain / s.nats:+.1%})\n"
                   f"({s.scored:,} characters in {len(s.files)} file(s), {path}; lr {dyn_lr:g}, decay "
                   f"{dyn_decay:g}, segment {dyn_segment}, {_lanes(dyn_lanes)})")


def _lanes(n: int) -> str:
    return "one lane, in order" if n == 1 else f"{n} lanes side by side"


def info(
    target: RunArg = None,
    last: Last = False,
    as_json: InfoJson = False,
    root: Root = Path("checkpoints"),
) -> None:
    """Everything about one run: model, training, corpus, vocabulary, versions."""
    ckpt, path = _ckpt(target, root, last, mmap=True, torch_free=True)  # runs where torch is not installed
    if as_json:
        from .jsonlines import dumps, info_record
        typer.echo(dumps(info_record(ckpt, path)))
        return
    from .tables import info_table, stdout_console
    stdout_console().print(info_table(ckpt, path))


def runs(
    as_json: RunsJson = False,
    root: Root = Path("checkpoints"),
) -> None:
    """All runs under --root, newest first, with size, steps, time trained and best validation loss."""
    from ..store.listing import list_runs
    from .tables import runs_table, stderr_console, stdout_console
    entries = list_runs(root)
    if as_json:
        from .jsonlines import dumps, run_record
        for entry in entries:
            typer.echo(dumps(run_record(entry)))
    else:
        stdout_console().print(runs_table(entries))
    for entry in entries:
        if entry.error is not None:
            stderr_console().print(f"{entry.name}: {entry.error}", markup=False, highlight=False)


def plot(
    runs_: Annotated[list[Path], typer.Argument(metavar="RUN...", show_default=False,
                                                help="Run names or folders (several share one chart).")],
    output: PlotOutput = Path("curves.png"),
    x: Annotated[Axis, typer.Option("--x", help="Horizontal axis: step or time (minutes of training).")] = Axis.step,
    root: Root = Path("checkpoints"),
) -> None:
    """Draw train and validation loss curves of one or more runs to a PNG or SVG file (needs matplotlib:
    pip install "charlstm\\[plot]")."""
    check_output(output, "--output")
    from ..insight.curves import plot_runs
    from ..store.runs import run_dir_of
    dirs = [run_dir_of(r, root) for r in runs_]
    plot_runs(dirs, output, x.value)
    typer.echo(f"wrote {output}")


@corpora_app.callback()
def corpora(ctx: typer.Context,
            folder: Annotated[Path, typer.Option("--dir", help="Folder of bundled corpora.")] = Path("corpora"),
            ) -> None:
    """What ships in corpora/ and what `charlstm corpora get NAME` can fetch."""
    if ctx.invoked_subcommand is not None:
        return
    from ..data.corpora import SOURCES
    from .tables import corpora_table, stdout_console
    if folder.exists() and not folder.is_dir():
        raise CharLSTMError(f"--dir {folder} is a file, not a folder of corpora")
    local = sorted(p for p in folder.glob("*.txt")) if folder.is_dir() else []
    stdout_console().print(corpora_table(local, SOURCES.values(), folder))


@corpora_app.command("get")
def corpora_get(
    name: Annotated[str, typer.Argument(help="Name from `charlstm corpora`.", show_default=False)],
    folder: Annotated[Path, typer.Option("--dir", help="Folder to save into.")] = Path("corpora"),
    force: Annotated[bool, typer.Option("--force", help="Download even if the file exists.")] = False,
) -> None:
    """Download a public-domain corpus into --dir (checked and written atomically)."""
    from tqdm import tqdm

    from ..data.corpora import SOURCES, fetch
    if name not in SOURCES:
        raise CharLSTMError(f"unknown corpus {name!r}: choose one of {', '.join(sorted(SOURCES))}")
    src = SOURCES[name]
    dest = folder / f"{name}.txt"
    if folder.exists() and not folder.is_dir():
        raise CharLSTMError(f"--dir {folder} is a file; give a folder to save into")
    if not folder.exists() and not (folder.parent if str(folder.parent) else Path(".")).is_dir():
        raise CharLSTMError(f"--dir {folder}: its parent folder {folder.parent} does not exist; create it first")
    if dest.is_dir():
        raise CharLSTMError(f"{dest} is a folder; move it away or choose another --dir")
    if dest.exists() and not force:
        typer.echo(f"{dest} already exists (--force downloads it again)")
        return
    created = not folder.exists()
    if created:
        folder.mkdir()
    bar = tqdm(desc=name, total=src.size, unit="B", unit_scale=True, file=sys.stderr, leave=False,
               disable=not sys.stderr.isatty())

    def step(n: int, total: int | None) -> None:
        bar.total = total
        bar.update(n)
    try:
        _, checks = fetch(src, dest, step)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # nothing left behind, not even the folder made for it
        raise
    finally:
        bar.close()
    size = f"{dest.stat().st_size:,} bytes"
    if len(checks) == 1:
        typer.echo(f"saved {dest} ({size}, {checks[0]})")
    else:
        typer.echo("\n".join(f"  {line}" for line in checks))
        typer.echo(f"saved {dest} ({size}, {len(checks)} books)")
    typer.echo(f"train on it: charlstm train {dest}")
