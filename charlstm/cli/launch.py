"""How the `charlstm` console script starts: only the command asked for is imported.

Typer builds a command from its function's signature, so a Typer app that holds all thirteen
commands imports every command module and converts every signature before it can print one line of
help (bench/RESULTS.md, "Sampling without torch, and start-up"). `build` registers only the command
named on the command line; with none named (`charlstm`, `charlstm --help`, `--version`), it
registers stand-ins that carry each command's first help paragraph, which is all the top-level help
shows. `tests/cli/test_launch.py` holds these paragraphs equal to the real commands' and the help
built either way identical. `build()` with no arguments is the whole app, `charlstm.cli.app`.

Each command maps its options onto library calls and hands events to one renderer (dashboard.py,
plainlog.py or jsonlines.py); torch is imported only inside commands. Library errors
(`CharLSTMError`) become one red line on stderr and exit code 1, for every command at once
(`common.Commands`, the group's class); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import typer

from .. import __version__
from .common import DEBUG, Commands

# name: (module in cli/, function or Typer app, its first help paragraph, no_args_is_help)
COMMANDS: dict[str, tuple[str, str, str, bool]] = {
    "train": ("train", "train", "Train a new model on CORPUS (files or directories of text).", True),
    "resume": ("train", "resume", "Continue a run exactly where it stopped: same weights, optimizer, schedule, data "
               "position,\nhidden state and random state.", False),
    "sample": ("sample", "sample", "Generate text from a trained model. Only the text goes to stdout, so it pipes:",
               False),
    "compare": ("insight", "compare", "Train LSTM, GRU and plain RNN on the same text and budget, at matched size, "
                "and compare.", True),
    "inspect": ("insight", "inspect", "Colour each character by one unit's activation (blue -1, white 0, red +1).",
                False),
    "gates": ("insight", "gates", "How often each gate is nearly shut (< 0.1), wide open (> 0.9) or in between, "
              "per layer.", False),
    "eval": ("runs", "eval_command", "Score any text with a trained model: loss in nats/char, bits/char and "
             "perplexity.", True),
    "info": ("runs", "info", "Everything about one run: model, training, corpus, vocabulary, versions.", False),
    "runs": ("runs", "runs", "All runs under --root, newest first, with size, steps, time trained and best "
             "validation loss.", False),
    "plot": ("runs", "plot", "Draw train and validation loss curves of one or more runs to a PNG or SVG file "
             "(needs matplotlib:\npip install \"charlstm\\[plot]\").", True),
    "serve": ("serve", "serve", "Play with your models in the browser: text streamed as it is sampled, coloured by "
              "confidence or a cell.", False),
    "export": ("export", "export", "Write a trained model in a form to share:", True),
    "corpora": ("runs", "corpora_app", "List the bundled corpora and those that can be fetched; `get` fetches one.",
                False),
}
HELP = ("Train a character-level LSTM on any text, then generate new text from it.\n\n"
        "  charlstm train corpora/pydocs.txt --time 5m\n\n"
        "  charlstm sample --temp 0.8\n\n"
        "  charlstm resume --time 10m")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charlstm {__version__}")
        raise typer.Exit()


def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
) -> None:
    DEBUG["on"] = debug


def build(names: list[str] | None = None, stand_ins: bool = False) -> typer.Typer:
    """The `charlstm` app with the commands `names` (all by default), imported; with `stand_ins`,
    every command as a stand-in that only shows its help paragraph."""
    app = typer.Typer(name="charlstm", cls=Commands, help=HELP, no_args_is_help=True, rich_markup_mode="rich",
                      pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(_main)
    for name, (module, attr, paragraph, no_args) in COMMANDS.items():
        if stand_ins:
            app.command(name, help=paragraph, no_args_is_help=no_args)(lambda: None)
        elif names is None or name in names:
            got = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
            if isinstance(got, typer.Typer):
                app.add_typer(got, name=name)
            else:
                app.command(name, no_args_is_help=no_args)(got)
    return app


def named(args: list[str]) -> str | None:
    """The command `args` name: the first word that is not an option (the group's options take no value)."""
    return next((a for a in args if not a.startswith("-")), None)


def utf8_streams() -> None:
    """Make stdout and stderr write UTF-8 whatever the console's code page or PYTHONIOENCODING:
    redirected on Windows they would be the ANSI code page (cp1252), which cannot write most of a
    model's vocabulary. Error handling stays as each stream had it."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(encoding="utf-8")
            except (ValueError, OSError):  # a stream already written through in a way that cannot switch
                pass


def main(args: list[str] | None = None) -> None:
    utf8_streams()  # text, JSON Lines and messages are UTF-8 whatever the console's code page
    args = sys.argv[1:] if args is None else args
    name = named(args)
    app = build([name]) if name in COMMANDS else build(stand_ins=name is None)
    app(args)
