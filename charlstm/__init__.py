"""charlstm: train a character-level LSTM on any text and generate new text from it.

The Python API (imported lazily, so `import charlstm` stays instant):
    fit(corpus, time="5m", ...)                         -> summary dict, with a tqdm progress bar
    train(corpus, model=..., config=TrainConfig(...), options=TrainOptions(...))  -> iterator of events
    resume(run_dir)                                     -> iterator of events
    load(checkpoint_or_run)                             -> (model, tokenizer)
    generate_text(model, tokenizer, SampleConfig(...), prime="...", adapt=None, style=None)
    evaluate(model, tokenizer, text, dynamic=False, style=None) -> {"nats_per_char": ..., ...}
"""

__version__ = "0.1.0"

_LAZY = {
    "fit": ("charlstm.api", "fit"),
    "train": ("charlstm.training.start", "train"),
    "resume": ("charlstm.training.start", "resume"),
    "load": ("charlstm.api", "load"),
    "evaluate": ("charlstm.api", "evaluate"),
    "generate": ("charlstm.sampling.generate", "generate"),
    "generate_text": ("charlstm.sampling.generate", "generate_text"),
    "SampleConfig": ("charlstm.config", "SampleConfig"),
    "AdaptConfig": ("charlstm.config", "AdaptConfig"),
    "TrainConfig": ("charlstm.config", "TrainConfig"),
    "TrainOptions": ("charlstm.training.start", "TrainOptions"),
    "ModelConfig": ("charlstm.config", "ModelConfig"),
    "CharLSTM": ("charlstm.model", "CharLSTM"),
    "in_style": ("charlstm.model", "in_style"),
    "CharTokenizer": ("charlstm.tokenizer", "CharTokenizer"),
    "CharLSTMError": ("charlstm.errors", "CharLSTMError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'charlstm' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (resolved lazily above) and the module's own dunder names, for dir() and completion."""
    return sorted({*__all__, *(k for k in globals() if k.startswith("__") and k.endswith("__"))})
