"""The `charlstm` command line: parse, validate, call the library, render.

Thin by design: every command maps its options onto library calls and hands events to one
renderer (dashboard.py, plainlog.py or jsonlines.py). torch is imported only inside commands, so
`charlstm --help` stays instant.
Library errors (`CharLSTMError`) become one red line on stderr and exit code 1, for every command
at once (`common.Commands`, the group's class); `--debug` shows the traceback instead.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .common import DEBUG, Commands
from .export import export
from .insight import compare, gates, inspect
from .runs import corpora_app, eval_command, info, plot, runs
from .sample import sample
from .serve import serve
from .train import resume, train

app = typer.Typer(
    name="charlstm",
    cls=Commands,
    help="Train a character-level LSTM on any text, then generate new text from it.\n\n"
         "  charlstm train corpora/pydocs.txt --time 5m\n\n"
         "  charlstm sample --temp 0.8\n\n"
         "  charlstm resume --time 10m",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charlstm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
) -> None:
    DEBUG["on"] = debug


app.command(no_args_is_help=True)(train)
app.command()(resume)
app.command()(sample)
app.command(no_args_is_help=True)(compare)
app.command()(inspect)
app.command()(gates)
app.command("eval", no_args_is_help=True)(eval_command)
app.command()(info)
app.command()(runs)
app.command(no_args_is_help=True)(plot)
app.command()(serve)
app.command(no_args_is_help=True)(export)
app.add_typer(corpora_app, name="corpora")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
