"""The `charlstm` command line: everything that knows the terminal (typer, rich, tqdm bars).

`app.py` wires the commands to the Typer app; `options.py` defines the options every command
shares; one module per group of commands parses, calls the library once, and hands the result to
a renderer. The library beside this package knows nothing of it.
"""

from .app import app, main

__all__ = ["app", "main"]
