"""What the user asked for: a new run's `Request`, checked before anything is read or made."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ModelConfig, TrainConfig
from ..data.textfiles import ReadOptions
from ..errors import ConfigError
from . import finetune, sizing


@dataclass(frozen=True)
class Request:
    """A new run as asked: the text, the model fields given (`model`, without vocab_size), the training
    config with the names of the fields the user gave (`keep`: sizing and fine-tuning leave those
    alone), how to read the text, and where the model starts (`preset` sizes a new one, `init_from`
    names a trained one, with `vocab` and `map_to` saying how its vocabulary meets the new text)."""

    corpus: tuple[str | Path, ...]
    model: dict = field(default_factory=dict)
    config: TrainConfig = field(default_factory=TrainConfig)
    keep: Collection[str] = frozenset()
    read_options: ReadOptions = field(default_factory=ReadOptions)
    preset: str | None = None
    init_from: str | Path | None = None
    vocab: str = "extend"
    map_to: str | None = None
    styles: str | None = None  # label the text by style: folder, file or a mapping file (data/labels.py)

    def check(self) -> None:
        """Refuse what can be refused before reading anything: bad model fields, an unknown preset,
        a preset beside --init-from, an unknown vocabulary mode, --map-to without --vocab map."""
        ModelConfig(vocab_size=2, **self.model)
        if self.preset is not None:
            sizing.check(self.preset)
        if self.init_from is None:
            return
        if self.preset not in (None, "auto"):
            raise ConfigError(f"--preset {self.preset} sizes a new model; with --init-from the size comes from the "
                              "checkpoint")
        if self.vocab not in finetune.MODES:
            raise ConfigError(f"--vocab must be one of {', '.join(finetune.MODES)}, got {self.vocab!r}")
        if self.map_to is not None and self.vocab != "map":
            raise ConfigError("--map-to is only used with --vocab map")
