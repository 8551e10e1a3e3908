"""`charlstm sample`: the library's rounds of text (sampling/sampler.py) streamed to stdout or
--output, everything else to stderr; Ctrl-C keeps the text so far, and a closed pipe ends quietly."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from ..errors import CharLSTMError
from ..sampling.novelty import SIZES as novelty_sizes
from ..store.files import atomic_write
from ..store.portable import open_fd
from ..values import MAX_SEED
from .common import check_output
from .options import Device, Engine, Last, Root, RunArg, Threads, check_finite, check_probability, output_file, unescape

ESCAPES = r"\n, \t and \\ read as a line break, a tab and a backslash"
Output = output_file("Write the text to this file instead of stdout.", "stdout", "Output")

NGRAMS = ", ".join(map(str, novelty_sizes[:-1])) + f" and {novelty_sizes[-1]}"  # as `--novelty` counts them
# the variables numpy's BLAS reads its thread count from, once, as it loads: OpenBLAS, OpenMP, MKL, and
# Apple's Accelerate (numpy's BLAS on macOS wheels)
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def sample(
    checkpoint: RunArg = None,
    temp: Annotated[float, typer.Option("--temp", "-t", min=0.0, help="Temperature: lower is safer, higher is "
                                        "wilder; 0 always picks the most likely character.",
                                        callback=check_finite, rich_help_panel="Sampling")] = 1.0,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Sample only from the K most likely "
                                              "characters.", show_default="all",
                                              rich_help_panel="Sampling")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Sample only from the smallest set of characters "
                                                "holding this much probability, in (0, 1].", show_default="1 (off)",
                                                callback=check_probability, rich_help_panel="Sampling")] = None,
    min_p: Annotated[float | None, typer.Option("--min-p", help="Sample only from the characters at least this "
                                                "many times as likely as the likeliest, in [0, 1] (0.05: drop what "
                                                "is under 1/20 of the top choice).", show_default="0 (off)",
                                                callback=check_finite, rich_help_panel="Sampling")] = None,
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
    last: Last = False,
    engine: Annotated[Engine, typer.Option("--engine", help="How each step is computed. auto: numpy on the CPU, "
                                        "graph on CUDA, else fast. numpy (CPU): fp32 steps over numpy's "
                                        "BLAS, without importing torch, so the first character comes soonest. "
                                        "fast: lean torch steps. graph: fast steps replayed as a CUDA graph. "
                                        "plain: the model's own forward (slow). These all give the same text "
                                        "for a seed and the same loss. fp16 (x86 CPU): fast steps reading "
                                        "half-size weights; its text for a seed differs, its loss stays within "
                                        "0.002 nats/char.", rich_help_panel="Run and device")] = Engine.auto,
    stop_at: Annotated[str | None, typer.Option("--stop-at", help="Stop a sample once it has written this text "
                                                f"(kept), e.g. --stop-at '\\n\\n'; {ESCAPES}.", callback=unescape,
                                                show_default="none", rich_help_panel="Length")] = None,
    lines: Annotated[int | None, typer.Option("--lines", min=1, help="Stop a sample after this many lines.",
                                              show_default="no limit", rich_help_panel="Length")] = None,
    output: Output = None,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Type a prime, get a continuation, "
                                              "repeat (an empty line or Ctrl-D ends).",
                                              rich_help_panel="Output")] = False,
    novelty: Annotated[bool, typer.Option("--novelty", help=f"Report the share of the generated {NGRAMS}-grams "
                                          "that occur in the training text (near 100% means memorised).",
                                          rich_help_panel="Output")] = False,
    adapt: Annotated[list[Path] | None, typer.Option("--adapt", help="Read this text (a file or folder; repeat "
                                                    "for more) with dynamic evaluation's small updates before "
                                                    "sampling, so the sample continues in its style; the prime "
                                                    "continues from its end. The checkpoint file is not changed.",
                                                    show_default="none", rich_help_panel="Adapt",
                                                    metavar="FILE")] = None,
    save_adapted: Annotated[Path | None, typer.Option("--save-adapted", help="Also write the adapted model to "
                                                      "this file (a slim checkpoint; `charlstm info` names "
                                                      "what it was adapted to).", show_default="not saved",
                                                      rich_help_panel="Adapt", metavar="PATH")] = None,
    style: Annotated[str | None, typer.Option("--style", "-s", help="For a model trained with --styles: write "
                                              "in this style, or a blend of styles such as 'verse:0.7,code:0.3' "
                                              "(their learned vectors mixed; weights are scaled to sum to 1).",
                                              show_default="every style alike", rich_help_panel="Sampling")] = None,
    root: Root = Path("checkpoints"),
    device: Device = "auto",
    threads: Threads = None,
) -> None:
    """Generate text from a trained model. Only the text goes to stdout, so it pipes:

    [bold]charlstm sample --temp 0.8 -n 2000 > out.txt[/]

    [bold]charlstm sample --prime "ROMEO:" --stop-at '\\n\\n' --novelty[/]

    [bold]charlstm sample starter --adapt my_letters.txt --save-adapted letters.pt[/]

    A run trained with --styles, in a blend of two: [bold]charlstm sample mixed --style verse:0.7,code:0.3[/]
    """
    check_output(output, "--output")
    if save_adapted is not None:
        if not adapt:
            raise typer.BadParameter("needs --adapt FILE: it saves the model adapted to that text",
                                     param_hint="--save-adapted")
        check_output(save_adapted, "--save-adapted")
    if threads:  # numpy's BLAS reads its thread count once, as it loads: before anything imports numpy
        for name in BLAS_THREADS:
            os.environ[name] = str(threads)
    from ..config import SampleConfig
    from ..sampling.sampler import RoundOptions, open_sampler
    from .tables import stderr_console

    seed = secrets.randbelow(2**31) if seed is None else seed
    cfg = SampleConfig(length=length, temperature=temp, top_k=top_k, top_p=top_p, min_p=min_p, seed=seed,
                       num_samples=num_samples)
    opts = RoundOptions(skip_unknown=skip_unknown, echo_prime=echo_prime, separator=separator,
                        engine=engine.value, stop_at=stop_at, lines=lines)
    sampler = open_sampler(checkpoint, root, last, device, threads, engine.value)
    sampler.use_style(style)
    if not interactive:
        sampler.check_prime(prime, skip_unknown)  # refused before anything is written
    err = stderr_console()
    _tell_source(err, sampler, root, seed, engine.value)
    if adapt:
        _adapt(sampler, adapt, save_adapted, err)
    stopped = False
    with atomic_write(output, "utf-8") if output else contextlib.nullcontext(sys.stdout) as out:
        try:
            if interactive:
                _interactive(sampler, cfg, opts, out, err)
            else:
                texts = _write(sampler.round(prime, cfg, opts), out, err)
                if novelty:
                    _novelty(sampler, texts, err)
        except KeyboardInterrupt:  # the text so far is kept (in --output too), ended with a line break
            out.write("\n")
            stopped = True
        except OSError as e:  # `charlstm sample | head`: BrokenPipeError, or EINVAL on Windows
            if not (isinstance(e, BrokenPipeError) or (e.errno == errno.EINVAL and not output)):
                raise
            os.dup2(open_fd(os.devnull, os.O_WRONLY, follow=True), sys.stdout.fileno())
            raise typer.Exit(0) from None
    if output:
        err.print(f"[dim]wrote {escape(str(output))}[/]")
    if stopped:
        raise typer.Exit(130)


def _tell_source(err, sampler, root: Path, seed: int, engine: str) -> None:
    """On stderr: the starter model standing in (when it does), the checkpoint, the device and
    engine, the seed."""
    if sampler.is_starter:
        err.print(f"[dim]no runs under {escape(str(root))}/ yet: sampling from the starter model that comes with "
                  "charlstm (train your own with `charlstm train CORPUS`, or build on this one with "
                  "`--init-from starter`)[/]")
    err.print(f"[dim]sampling from {escape(str(sampler.path))} on {sampler.device}, {sampler.engine(engine)} engine[/]")
    if sampler.style:
        err.print(f"[dim]style: {escape(sampler.style)} (styles: {escape(', '.join(sampler.styles))}; "
                  "choose with --style)[/]")
    err.print(f"[dim]seed {seed} (repeat with --seed {seed})[/]")


def _adapt(sampler, paths: list[Path], save_to: Path | None, err) -> None:
    """Adapt the sampler's model to the text in `paths` (a bar on a terminal), say how it went, and
    write the adapted model to `save_to` when asked."""
    import time
    from datetime import datetime, timezone

    from tqdm import tqdm

    from ..config import AdaptConfig
    from ..data.textfiles import ReadOptions, read_known
    from ..tokenizer import describe_char

    opts = ReadOptions(**{**sampler.saved["corpus"]["options"], "pattern": "*"})
    try:
        ids, files, unknown = read_known(paths, sampler.tokenizer, opts)
    except CharLSTMError as e:  # name the option: "corpus not found" alone would point at training
        raise type(e)(f"--adapt: {e}") from e
    if len(ids) < 2:
        raise CharLSTMError("--adapt: the text holds fewer than 2 characters the model knows")
    if unknown:
        shown = ", ".join(f"{describe_char(c)} x{n:,}" for c, n in unknown.most_common(5))
        err.print(Text(f"--adapt: {sum(unknown.values()):,} character(s) the model never saw were left out: {shown}",
                       style="yellow"))
    t0 = time.perf_counter()
    with tqdm(total=len(ids) - 1, desc="adapting", unit="char", unit_scale=True, file=sys.stderr, leave=False,
              disable=not sys.stderr.isatty()) as bar:
        record = sampler.adapt(ids, files, AdaptConfig(), bar.update)
    record["saved_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    err.print(f"[dim]adapted to {len(ids):,} characters of {escape(', '.join(record['files']))} in "
              f"{time.perf_counter() - t0:.1f}s ({record['loss']:.4f} nats/char while reading)[/]")
    if save_to is not None:
        from ..export.slim import export_adapted
        size = export_adapted(sampler.saved, record, save_to)
        err.print(f"[dim]wrote the adapted model to {escape(str(save_to))} ({size / 1e6:.1f} MB)[/]")


def _write(round_, out, err) -> list[str]:
    """Write a round's text to `out` as it comes (flushed at each line break, or at once on a
    terminal), then its notes to stderr; returns the samples' texts."""
    for piece in round_:
        out.write(piece)
        if out.isatty() or piece.endswith("\n"):
            out.flush()
    out.flush()
    for note in round_.notes:
        err.print(Text(note, style="dim"))
    return round_.texts


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


def _interactive(sampler, cfg, opts, out, err) -> None:
    """Prime after prime from stdin, one round each (the seed counting up from --seed), until an
    empty line or Ctrl-D; a prime the model cannot read is one error line, and the session goes on."""
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
            _write(sampler.round(line, dataclasses.replace(cfg, seed=seed), opts), out, err)
        except CharLSTMError as e:  # an unknown character in one prime should not end the session
            err.print(Text("error: ", style="red") + Text(str(e)), highlight=False)


def _novelty(sampler, texts: list[str], err) -> None:
    got = sampler.novelty(texts)
    if got is None:
        err.print("[yellow]--novelty: the run's token cache (tokens.bin) is missing, so the training text is "
                  "not at hand[/]")
        return
    shares, n_train = got
    parts = ", ".join(f"{n}-grams {s:.0%}" if s is not None else f"{n}-grams -" for n, s in shares.items())
    err.print(f"novelty: generated n-grams found in the training text ({n_train:,} characters): {parts} "
              "(near 100% at 20 means copied passages)", highlight=False)
