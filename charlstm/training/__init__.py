"""Training: starting a run and continuing one (`start`), the loop and what it decides lives beside it.

Holds library code only: no printing, no typer or rich. May import the storage, data and concept
modules of the package (checkpoint, runs, corpus, tokenizer, model, config ...), never `cli`.
"""
