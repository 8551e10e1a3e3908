"""The `charlstm` command line: everything that knows the terminal (typer, rich, tqdm bars).

`launch.py` lists the commands, starts the console script with only the one it runs, and builds
`app`, the whole Typer app (tests, docs/cli.md), on first use; `options.py` defines the options
every command shares; one module per group of commands parses, calls the library once, and hands
the result to a renderer. May import the whole library; the library never imports it.
"""

from . import launch
from .launch import main

__all__ = ["app", "main"]


def __getattr__(name: str):
    if name == "app":  # the whole app imports every command module: only when asked for
        global app
        app = launch.build()
        return app
    raise AttributeError(name)
