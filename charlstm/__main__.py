"""`python -m charlstm` runs the command line."""

from .cli import main

main()
