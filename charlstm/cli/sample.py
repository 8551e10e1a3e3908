"""`charlstm sample`: stream generated text to stdout, everything else to stderr."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ..errors import CharLSTMError
from .common import atomic_output, check_output, user_errors
from .options import MAX_SEED, Device, Engine, Root, Threads, check_finite, check_probability, unescape

ESCAPES = r"\n, \t and \\ read as a line break, a tab and a backslash"


def sample(
    checkpoint: Annotated[Path | None, typer.Argument(help="Checkpoint file or run directory.",
                                                      show_default="the newest run under --root")] = None,
    temp: Annotated[float, typer.Option("--temp", "-t", min=0.0, help="Temperature: lower is safer, higher is "
                                        "wilder; 0 always picks the most likely character.",
                                        callback=check_finite, rich_help_panel="Sampling")] = 1.0,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Sample only from the K most likely "
                                              "characters.", show_default="all",
                                              rich_help_panel="Sampling")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Sample only from the smallest set of characters "
                                                "holding this much probability, in (0, 1].", show_default="1 (off)",
                                                callback=check_probability, rich_help_panel="Sampling")] = None,
    prime: Annotated[str, typer.Option("--prime", "-p", help=f"Text to start from (printed, then continued); "
                                       f"{ESCAPES}.", callback=unescape, show_default="none: start after a line break",
                                       rich_help_panel="Prime")] = "",
    length: Annotated[int, typer.Option("--length", "-n", min=0, help="Characters to generate.",
                                       rich_help_panel="Length")] = 500,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed: the same seed gives the same text. "
                                             "The seed used is printed on stderr, so a good sample can be repeated.",
                                             show_default="a fresh random one", rich_help_panel="Sampling", min=0,
                                             max=MAX_SEED)] = None,
    num_samples: Annotated[int, typer.Option("--num-samples", min=1, help="Independent samples, generated "
                                             "together.", rich_help_panel="Length")] = 1,
    separator: Annotated[str, typer.Option("--separator", help=f"Printed between samples; {ESCAPES}.",
                                           callback=unescape, rich_help_panel="Length",
                                           show_default="a blank line")] = "\n\n",
    skip_unknown: Annotated[bool, typer.Option("--skip-unknown", help="Drop prime characters the model never "
                                               "saw instead of stopping.", rich_help_panel="Prime")] = False,
    echo_prime: Annotated[bool, typer.Option("--echo-prime/--no-echo-prime", help="Print the prime before "
                                             "the generated text.", rich_help_panel="Prime")] = True,
    last: Annotated[bool, typer.Option("--last", help="In a run directory, use last.pt rather than best.pt.",
                                        rich_help_panel="Run and device")] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="How each step is computed: auto (graph on CUDA, else "
                                        "fast), fast, graph (CUDA graph replay), plain (the model's own "
                                        "forward; slow): all give the same text for a seed. fp16 (CPU): fast "
                                        "steps reading half-size weights, up to 2x faster where the weights "
                                        "outgrow the CPU's cache; its text for a seed differs.",
                                        rich_help_panel="Run and device")] = Engine.auto,
    stop_at: Annotated[str | None, typer.Option("--stop-at", help="Stop a sample once it has written this text "
                                                f"(kept), e.g. --stop-at '\\n\\n'; {ESCAPES}.", callback=unescape,
                                                show_default="none", rich_help_panel="Length")] = None,
    lines: Annotated[int | None, typer.Option("--lines", min=1, help="Stop a sample after this many lines.",
                                              show_default="no limit", rich_help_panel="Length")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the text to this file instead of "
                                                "stdout.", show_default="stdout", rich_help_panel="Output")] = None,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Type a prime, get a continuation, "
                                              "repeat (an empty line or Ctrl-D ends).",
                                              rich_help_panel="Output")] = False,
    novelty: Annotated[bool, typer.Option("--novelty", help="Report the share of the generated 5-, 10- and 20-grams "
                                          "that occur in the training text (near 100% means memorised).",
                                          rich_help_panel="Output")] = False,
    root: Root = Path("checkpoints"),
    device: Device = "auto",
    threads: Threads = None,
) -> None:
    """Generate text from a trained model. Only the text goes to stdout, so it pipes:

    [bold]charlstm sample --temp 0.8 -n 2000 > out.txt[/]

    [bold]charlstm sample --prime "ROMEO:" --stop-at '\\n\\n' --novelty[/]
    """
    with user_errors():
        check_output(output, "--output")
        from rich.markup import escape

        from ..sample import SampleConfig
        seed = secrets.randbelow(2**31) if seed is None else seed
        cfg = SampleConfig(length=length, temperature=temp, top_k=top_k, top_p=top_p, seed=seed,
                           num_samples=num_samples)
        import torch

        from .. import checkpoint as ck
        from ..devices import resolve_device
        from .tables import stderr_console

        if threads:
            torch.set_num_threads(threads)
        path, first_time = _which(checkpoint, root, last)
        saved = ck.load(path, map_location="cpu")
        dev = resolve_device(device)
        model, tok = ck.build_model(saved, dev)
        if not interactive:
            tok.encode(prime, skip_unknown=skip_unknown)  # refuse unknown characters before writing anything
        err = stderr_console()
        if first_time:
            err.print(f"[dim]no runs under {escape(str(root))}/ yet: sampling from the starter model that comes with "
                      "charlstm (train your own with `charlstm train CORPUS`, or build on this one with "
                      "`--init-from starter`)[/]")
        err.print(f"[dim]sampling from {escape(str(path))} on {dev}[/]")
        err.print(f"[dim]seed {seed} (repeat with --seed {seed})[/]")
        stopped = False
        with atomic_output(output) if output else contextlib.nullcontext(sys.stdout) as out:
            run = dict(model=model, tok=tok, cfg=cfg, skip_unknown=skip_unknown, echo_prime=echo_prime,
                       separator=separator, engine=engine.value, stop_at=stop_at, lines=lines, out=out, err=err)
            try:
                if interactive:
                    _interactive(run)
                else:
                    texts = _one(prime, **run)
                    if novelty:
                        _novelty(path, tok, texts, saved["train_config"]["val_fraction"], err)
            except KeyboardInterrupt:  # the text so far is kept (in --output too), ended with a line break
                out.write("\n")
                stopped = True
            except BrokenPipeError:  # `charlstm sample | head`
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0) from None
        if output:
            err.print(f"[dim]wrote {escape(str(output))}[/]")
        if stopped:
            raise typer.Exit(130)


def _which(target: Path | None, root: Path, last: bool) -> tuple[Path, bool]:
    """The checkpoint to sample from, and whether it is the starter model standing in for runs not
    trained yet (no run named, none under --root, and this install has a starter)."""
    from .. import runs, starter
    if target is None and not (root.exists() and not root.is_dir()) and not runs.find(root) and starter.path():
        return starter.path(), True
    return runs.checkpoint_path(target, root, last), False


def _one(prime: str, model, tok, cfg, skip_unknown: bool, echo_prime: bool, separator: str, engine: str,
         stop_at: str | None, lines: int | None, out, err) -> list[str]:
    """Generate one round (num_samples samples) after `prime`; stream when there is one sample."""
    from ..sample import generate, until
    from ..tokenizer import normalize

    tok.encode(prime, skip_unknown=skip_unknown)  # refuse unknown characters before printing anything
    shown = "".join(c for c in normalize(prime, tok.normalization) if c in tok.stoi) if echo_prime else ""
    stream = cfg.num_samples == 1
    texts: list[list[str]] = [[] for _ in range(cfg.num_samples)]
    notes: list[str] = []
    if stream:
        out.write(shown)
    steps = until(generate(model, tok, cfg, prime, skip_unknown=skip_unknown, path=engine, notes=notes),
                  stop_at, lines)
    for chars in steps:
        for buf, ch in zip(texts, chars):
            if ch is not None:
                buf.append(ch)
        if stream and chars[0] is not None:
            out.write(chars[0])
            if out.isatty() or chars[0] == "\n":
                out.flush()
    if not stream:
        out.write(separator.join(shown + "".join(t) for t in texts))
    if not _ended_line("".join(texts[-1]), stop_at, lines):  # the text ends with exactly one line break
        out.write("\n")
    out.flush()
    for note in notes:
        err.print(Text(note, style="dim"))
    return ["".join(t) for t in texts]


def _ended_line(text: str, stop_at: str | None, lines: int | None) -> bool:
    """Whether a stop condition ended the sample just after a line break (a stop string that ends
    in one, or the --lines-th line break), so no further line break is due."""
    stopped = bool(stop_at and text.endswith(stop_at)) or bool(lines and text.count("\n") >= lines)
    return stopped and text.endswith("\n")


def _read_prime(tty: bool) -> str | None:
    """One line typed by the user (None at Ctrl-D). On a terminal, `input` with readline loaded
    gives line editing and history within the session; the prompt is already on stderr, so stdout
    holds only generated text. Piped stdin is read as plain lines."""
    if not tty:
        line = sys.stdin.readline()
        return line.rstrip("\n") if line else None
    try:
        return input("")
    except EOFError:
        return None


def _interactive(run: dict) -> None:
    err, cfg = run["err"], run["cfg"]
    tty = sys.stdin.isatty()
    if tty:
        try:
            import readline  # noqa: F401  (importing it is what gives input() editing and history)
        except ImportError:  # Windows without pyreadline: plain input() still works
            pass
    err.print("[dim]type a prime and press Enter; an empty line or Ctrl-D ends[/]")
    for i in itertools.count():
        err.print("[bold]prime>[/] ", end="")
        err.file.flush()
        line = _read_prime(tty)
        if line is None or not line.strip():
            err.print()
            return
        seed = None if cfg.seed is None else cfg.seed + i
        try:
            _one(line, **{**run, "cfg": dataclasses.replace(cfg, seed=seed)})
        except CharLSTMError as e:  # an unknown character in one prime should not end the session
            err.print(Text("error: ", style="red") + Text(str(e)), highlight=False)


def _novelty(path: Path, tok, texts: list[str], val_fraction: float, err) -> None:
    from ..novelty import report
    got = report(path.parent, tok, texts, val_fraction)
    if got is None:
        err.print("[yellow]--novelty: the run's token cache (tokens.bin) is missing, so the training text is "
                  "not at hand[/]")
        return
    shares, n_train = got
    parts = ", ".join(f"{n}-grams {s:.0%}" if s is not None else f"{n}-grams -" for n, s in shares.items())
    err.print(f"novelty: generated n-grams found in the training text ({n_train:,} characters): {parts} "
              "(near 100% at 20 means copied passages)", highlight=False)
