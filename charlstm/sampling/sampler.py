"""A trained model opened for sampling, and rounds of samples as the text to write: what
`charlstm sample` prints, for the Python API too.

`open_sampler` finds the checkpoint a user means (or the starter model, when no run has been
trained yet) and loads it on a device. A `Round` is one round of samples after one prime, iterated
as the pieces of text to write, in order: the prime (when echoed), then the generated characters as
they come when there is one sample, or the samples joined by a separator when there are several,
then a closing line break unless a stop condition already ended the text with one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..devices import resolve_device
from ..model import CharLSTM
from ..store import checkpoint, runs, starter
from ..tokenizer import CharTokenizer, normalize
from .generate import SampleConfig, generate, until
from .novelty import report


@dataclass(frozen=True)
class RoundOptions:
    """How a round is generated and laid out, beyond `SampleConfig`: prime characters the model never
    saw dropped (`skip_unknown`) or refused; the prime written before the text (`echo_prime`); what
    goes between samples; the stepping code (`engine`, see generate.block_runner); and when a sample
    stops early (`stop_at`, a text it ends with, kept; `lines`, its line breaks)."""
    skip_unknown: bool = False
    echo_prime: bool = True
    separator: str = "\n\n"
    engine: str = "auto"
    stop_at: str | None = None
    lines: int | None = None


@dataclass(frozen=True)
class Sampler:
    """A checkpoint loaded for sampling: its path, what it holds, its model on `device` and its
    tokenizer; `is_starter` when it is the starter model standing in for runs not trained yet."""
    path: Path
    saved: dict
    model: CharLSTM
    tokenizer: CharTokenizer
    device: torch.device
    is_starter: bool = False

    def check_prime(self, prime: str, skip_unknown: bool = False) -> None:
        """Refuse a prime holding a character the model never saw (PrimeError names it), unless
        `skip_unknown`; call it before writing anything."""
        self.tokenizer.encode(prime, skip_unknown=skip_unknown)

    def round(self, prime: str, config: SampleConfig, options: RoundOptions = RoundOptions()) -> Round:
        """One round of `config.num_samples` samples after `prime` (refused here if the model cannot read it)."""
        return Round(self, prime, config, options)

    def novelty(self, texts: list[str]) -> tuple[dict[int, float | None], int] | None:
        """novelty.report for generated `texts` against this run's training text (None when the
        run's token cache is gone, as for the starter model)."""
        return report(self.path.parent, self.tokenizer, texts, self.saved["train_config"]["val_fraction"])


def open_sampler(target: str | Path | None = None, root: str | Path = runs.DEFAULT_ROOT, last: bool = False,
                 device: str = "auto", threads: int | None = None) -> Sampler:
    """The model `target` names (see runs.locate; in a run folder best.pt, or last.pt with `last`),
    loaded on `device` ("auto": see devices.resolve_device). With no `target` and no run under `root`
    yet, the starter model shipped with charlstm stands in, when this install has one. `threads`
    sets torch's CPU threads for the process."""
    if threads:
        torch.set_num_threads(threads)
    path, is_starter = _which(target, Path(root), last)
    saved = checkpoint.load(path, map_location="cpu")
    dev = resolve_device(device)
    model, tok = checkpoint.build_model(saved, dev)
    return Sampler(path, saved, model, tok, dev, is_starter)


def _which(target: str | Path | None, root: Path, last: bool) -> tuple[Path, bool]:
    """The checkpoint to sample from, and whether it is the starter model standing in for runs not
    trained yet (no run named, none under `root`, and this install has a starter)."""
    if target is None and not (root.exists() and not root.is_dir()) and not runs.find(root) and starter.path():
        return starter.path(), True
    return runs.checkpoint_path(target, root, last), False


class Round:
    """One round of samples after one prime. Iterate it once for the text to write; afterwards
    `texts` holds each sample's generated text (the prime left out) and `notes` what the engine
    said (a CUDA graph that could not be captured, fp16 weights' own text)."""

    def __init__(self, sampler: Sampler, prime: str, config: SampleConfig, options: RoundOptions):
        sampler.check_prime(prime, options.skip_unknown)
        self.sampler, self.prime, self.config, self.options = sampler, prime, config, options
        self.texts: list[str] = []
        self.notes: list[str] = []

    def __iter__(self) -> Iterator[str]:
        tok, cfg, o = self.sampler.tokenizer, self.config, self.options
        shown = "".join(c for c in normalize(self.prime, tok.normalization) if c in tok.stoi) if o.echo_prime else ""
        stream = cfg.num_samples == 1
        if stream and shown:
            yield shown
        texts: list[list[str]] = [[] for _ in range(cfg.num_samples)]
        steps = generate(self.sampler.model, tok, cfg, self.prime, skip_unknown=o.skip_unknown, engine=o.engine,
                         notes=self.notes)
        for chars in until(steps, o.stop_at, o.lines):
            for buf, ch in zip(texts, chars):
                if ch is not None:
                    buf.append(ch)
            if stream and chars[0] is not None:
                yield chars[0]
        self.texts = ["".join(t) for t in texts]
        if not stream:
            yield o.separator.join(shown + t for t in self.texts)
        if not ends_line(self.texts[-1], o.stop_at, o.lines):
            yield "\n"


def ends_line(text: str, stop_at: str | None, lines: int | None) -> bool:
    """Whether a stop condition ended a sample just after a line break (a stop text that ends in
    one, or the `lines`-th line break), so no further line break is due."""
    stopped = bool(stop_at and text.endswith(stop_at)) or bool(lines and text.count("\n") >= lines)
    return stopped and text.endswith("\n")
