"""`charlstm sample`: stream generated text to stdout, everything else to stderr."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import Root, Threads, user_errors
from .errors import ConfigError


def sample(
    checkpoint: Annotated[Path | None, typer.Argument(help="Checkpoint file or run directory [default: the "
                                                      "newest run under --root].", show_default=False)] = None,
    temp: Annotated[float, typer.Option("--temp", "-t", min=0.0, help="Temperature: lower is safer, higher is "
                                        "wilder; 0 always picks the most likely character.")] = 1.0,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Sample only from the K most likely "
                                              "characters.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Sample only from the smallest set of characters "
                                                "holding this much probability, in (0, 1].")] = None,
    prime: Annotated[str, typer.Option("--prime", "-p", help="Text to start from (printed, then continued).")] = "",
    length: Annotated[int, typer.Option("--length", "-n", min=0, help="Characters to generate.")] = 500,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed: the same seed gives the same text.")] = None,
    num_samples: Annotated[int, typer.Option("--num-samples", min=1, help="Independent samples, generated "
                                             "together.")] = 1,
    separator: Annotated[str, typer.Option("--separator", help="Printed between samples.")] = "\n\n",
    skip_unknown: Annotated[bool, typer.Option("--skip-unknown", help="Drop prime characters the model never "
                                               "saw instead of stopping.")] = False,
    echo_prime: Annotated[bool, typer.Option("--echo-prime/--no-echo-prime", help="Print the prime before "
                                             "the generated text.")] = True,
    last: Annotated[bool, typer.Option("--last", help="In a run directory, use last.pt rather than best.pt.")] = False,
    engine: Annotated[str, typer.Option("--engine", help="How each step is computed: auto (graph on CUDA, else "
                                        "fast), fast, graph (CUDA graph replay) or plain (the model's own "
                                        "forward; slow). All give the same text for a seed.")] = "auto",
    root: Root = Path("checkpoints"),
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N, mps or auto.")] = "cpu",
    threads: Threads = None,
) -> None:
    """Generate text from a trained model. Only the text goes to stdout, so it pipes:

    [bold]charlstm sample --temp 0.8 -n 2000 > out.txt[/]
    """
    with user_errors():
        if top_p is not None and not 0 < top_p <= 1:
            raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")
        import torch

        from . import checkpoint as ck
        from .devices import resolve_device
        from .sample import SampleConfig, generate
        from .tokenizer import normalize

        if threads:
            torch.set_num_threads(threads)
        order = (ck.LAST, ck.BEST) if last else (ck.BEST, ck.LAST)
        path = ck.resolve(checkpoint, root, order)
        model, tok = ck.build_model(ck.load(path, map_location="cpu"), resolve_device(device))
        cfg = SampleConfig(length=length, temperature=temp, top_k=top_k, top_p=top_p, seed=seed,
                           num_samples=num_samples)
        tok.encode(prime, skip_unknown=skip_unknown)  # refuse unknown characters before printing anything
        shown_prime = "".join(c for c in normalize(prime, tok.normalization) if c in tok.stoi) if echo_prime else ""
        from .console import stderr_console
        stderr_console().print(f"[dim]sampling from {path}[/]")
        out = sys.stdout
        stream = num_samples == 1
        notes: list[str] = []
        try:
            texts = [[shown_prime] for _ in range(num_samples)]
            if stream:
                out.write(shown_prime)
            for chars in generate(model, tok, cfg, prime, skip_unknown=skip_unknown, path=engine,
                                  notes=notes):
                if stream:
                    out.write(chars[0])
                    if out.isatty() or chars[0] == "\n":
                        out.flush()
                else:
                    for buf, ch in zip(texts, chars):
                        buf.append(ch)
            if not stream:
                out.write(separator.join("".join(t) for t in texts))
            out.write("\n")
            out.flush()
            for note in notes:
                stderr_console().print(f"[dim]{note}[/]")
        except KeyboardInterrupt:
            out.write("\n")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # `charlstm sample | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
