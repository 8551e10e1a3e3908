"""The `charlstm` command line: everything that knows the terminal (typer, rich, tqdm bars).

`app.py` wires the commands to the Typer app; `options.py` defines the options every command
shares; one module per group of commands parses, calls the library once, and hands the result to
a renderer. May import the whole library; the library never imports it.
"""

from .app import app, main

__all__ = ["app", "main"]
