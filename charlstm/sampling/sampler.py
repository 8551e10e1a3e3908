"""A trained model opened for sampling, and rounds of samples as the text to write: what `charlstm
sample` prints, for the Python API too.

`open_sampler` finds the checkpoint a user means (or the starter model, when no run has been trained
yet) and loads it on a device. Where the numpy engine will step (the CPU's default,
numpy_engine.py), the file is read without torch (store/arrays.py) and torch is never imported:
`charlstm sample` then starts in a fraction of the time (bench/RESULTS.md, "Sampling without torch,
and start-up"). Any other engine, or a file that reader does not follow, loads through torch.

A `Round` is one round of samples after one prime, iterated as the pieces of text to write, in
order: the prime (when echoed), then the generated characters as they come when there is one sample,
or the samples joined by a separator when there are several, then a closing line break unless a stop
condition already ended the text with one. `until` applies the stop conditions.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..config import AdaptConfig, ModelConfig, SampleConfig
from ..errors import ConfigError
from ..store import arrays, runs, starter
from ..tokenizer import CharTokenizer, normalize
from . import numpy_engine
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


class Sampler:
    """A checkpoint opened for sampling: its path, what it holds (`saved`), its tokenizer, the device
    its steps run on, and `is_starter` when it is the starter model standing in for runs not trained
    yet. The torch model (`model`) and the numpy weights (`weights`) are each made from the other
    on first use, so a sampler opened without torch imports it only if a torch engine is asked for."""

    def __init__(self, path: Path, saved: dict, tokenizer: CharTokenizer, device: object, is_starter: bool = False,
                 model: object = None):
        self.path, self.saved, self.tokenizer, self.device, self.is_starter = path, saved, tokenizer, device, is_starter
        self._model = model
        self.context = ""  # text read before every prime, not shown: the end of what the model was adapted to
        self.styled = saved  # the checkpoint as read: a styled model's own weights, before a style is folded in
        self.style: str | None = None  # the style sampled, as styles.describe says it (None: an unstyled model)
        self.use_style(None)

    @property
    def styles(self) -> tuple[str, ...]:
        """The model's style names (() for a model trained without --styles)."""
        return tuple(self.styled["model_config"].get("styles", ()))

    def use_style(self, spec: str | None) -> str | None:
        """Sample in `spec`: a style's name, or a blend 'a:0.7,b:0.3' (None: every style alike). The
        blend is folded into the weights (styles.fold), so every engine runs it as an ordinary model;
        call it before `adapt`. Returns the style as described (None for a model without styles, which
        refuses any `spec` naming the styles it lacks)."""
        from ..styles.blend import choose, describe, fold
        config = ModelConfig.from_dict(self.styled["model_config"])
        if not config.styles and spec is None:
            return None
        blend = choose(spec, config.styles)
        weights, plain = fold(self.styled["model"], config, blend)
        self.saved = dict(self.styled, model=weights, model_config=plain.to_dict())
        if self._model is not None:  # opened through torch: the model is rebuilt from the folded weights
            from ..store.checkpoint import build_model
            self._model = build_model(self.saved, self.device)[0]
        self.style = describe(config.styles, blend)
        return self.style

    @property
    def model(self):
        """The torch model (CharLSTM, eval mode) on `device`; built from the numpy weights if opened without torch."""
        if self._model is None:
            import torch

            from ..store.checkpoint import build_model
            saved = dict(self.saved, model={k: torch.from_numpy(v) for k, v in self.saved["model"].items()})
            self._model = build_model(saved, "cpu")[0]
        return self._model

    @property
    def weights(self) -> dict:
        """The weights as float32 numpy arrays, for the numpy engine."""
        got = self.saved["model"]
        if self._model is not None and not all(type(v).__module__ == "numpy" for v in got.values()):
            got = {k: v.detach().float().cpu().numpy() for k, v in self._model.state_dict().items()}
        return got

    def check_prime(self, prime: str, skip_unknown: bool = False) -> None:
        """Refuse a prime holding a character the model never saw (PrimeError names it), unless
        `skip_unknown`; call it before writing anything."""
        self.tokenizer.encode(prime, skip_unknown=skip_unknown)

    def adapt(self, ids, files: list[str], config: AdaptConfig, progress=None) -> dict:
        """Read ids (a text's known characters) with dynamic evaluation's updates, keeping the adapted
        weights in this sampler only (the file is not touched), so every round after it continues in
        that text's style: each prime is read after the text's last CONTEXT characters. Returns the
        record a saved adapted model keeps: the files, the characters read, the loss while reading
        and the settings."""
        from ..adapt.dynamic import CONTEXT, Adapter
        model = self.model
        model.eval()
        loss = Adapter(model, config).read(ids, progress)
        self.saved = dict(self.saved, model={k: v.detach().clone() for k, v in model.state_dict().items()})
        self.context = self.tokenizer.decode(ids[-CONTEXT:])
        source = "starter" if self.is_starter else f"{self.path.parent.name}/{self.path.name}"
        return {"files": [Path(f).name for f in files], "chars": int(len(ids)), "loss": round(loss, 5),
                **config.as_dict(), "from": source, **({"style": self.style} if self.style else {})}

    def round(self, prime: str, config: SampleConfig, options: RoundOptions = RoundOptions()) -> Round:
        """One round of `config.num_samples` samples after `prime` (refused here if the model cannot read it)."""
        return Round(self, prime, config, options)

    def engine(self, asked: str) -> str:
        """The engine a round asking for `asked` runs: auto is numpy on the CPU (generate.block_runner)."""
        return "numpy" if asked == "auto" and str(self.device) == "cpu" else asked

    def steps(self, prime: str, cfg: SampleConfig, o: RoundOptions, notes: list[str]) -> Iterator[list[str]]:
        """generate's characters, from the numpy engine where it runs, else from torch's engines."""
        if self.engine(o.engine) == "numpy":
            if str(self.device) != "cpu":
                raise ConfigError(f"the numpy engine runs on the CPU, not {self.device}; use --engine auto there")
            return numpy_engine.generate(self.weights, ModelConfig.from_dict(self.saved["model_config"]),
                                         self.tokenizer, cfg, self.context + prime, skip_unknown=o.skip_unknown)
        from .generate import generate
        return generate(self.model, self.tokenizer, cfg, self.context + prime, skip_unknown=o.skip_unknown,
                        engine=o.engine, notes=notes)

    def novelty(self, texts: list[str]) -> tuple[dict[int, float | None], int] | None:
        """novelty.report for generated `texts` against this run's training text (None when the
        run's token cache is gone, as for the starter model). A styled run held out each style's own
        tail, not the cache's: it is compared with all of its text, which can only count more copies."""
        held = 0.0 if self.styles else self.saved["train_config"]["val_fraction"]
        return report(self.path.parent, self.tokenizer, texts, held)


def open_sampler(target: str | Path | None = None, root: str | Path = runs.DEFAULT_ROOT, last: bool = False,
                 device: str = "auto", threads: int | None = None, engine: str = "auto") -> Sampler:
    """The model `target` names (see runs.locate; in a run folder best.pt, or last.pt with `last`),
    opened on `device` ("auto": see devices.resolve_device). With no `target` and no run under `root`
    yet, the starter model shipped with charlstm stands in, when this install has one. `threads`
    sets torch's CPU threads for the process. Where `engine` will be the numpy engine, the file is
    read without torch (arrays.load), unless that reader cannot follow it."""
    path, is_starter = _which(target, Path(root), last)
    if _numpy_without_torch(device, engine):
        try:
            saved = arrays.load(path)
            return Sampler(path, saved, CharTokenizer.from_dict(saved["vocab"]), "cpu", is_starter)
        except arrays.Unreadable:
            pass  # torch reads it below, and names the problem if there is one
    import torch

    from ..devices import resolve_device
    from ..store import checkpoint
    if threads:
        torch.set_num_threads(threads)
    saved = checkpoint.load(path, map_location="cpu")
    dev = resolve_device("cpu" if engine == "numpy" and device == "auto" else device)
    model, tok = checkpoint.build_model(saved, dev)
    return Sampler(path, saved, tok, dev, is_starter, model)


def _numpy_without_torch(device: str, engine: str) -> bool:
    """Whether sampling will run on the numpy engine, judged without importing torch: asked for by
    name (on the CPU), or auto on the CPU, which `--device auto` is when this torch can find no
    accelerator (a CPU-only build, off macOS, and not already imported seeing one)."""
    if engine == "numpy":
        if device not in ("auto", "cpu"):
            raise ConfigError(f"the numpy engine runs on the CPU, not {device}; use --engine auto there")
        return True
    if engine != "auto" or device not in ("auto", "cpu"):
        return False
    return device == "cpu" or not _accelerator_possible()


def _accelerator_possible() -> bool:
    """Whether `--device auto` could pick a GPU: torch's own answer if it is imported already, else
    whether this torch build has CUDA, ROCm or XPU support (its version.py, read as text). The Apple
    GPU is never auto for sampling (devices.resolve_device): a Mac samples on the numpy engine."""
    if "torch" in sys.modules:
        from ..devices import resolve_device
        return resolve_device("auto").type != "cpu"
    spec = importlib.util.find_spec("torch")
    if spec is None:  # no torch installed: nothing but the CPU
        return False
    version = Path(spec.origin).parent / "version.py" if spec.origin else None
    if version is None or not version.is_file():
        return True
    text = version.read_text(encoding="utf-8", errors="replace")
    return not all(f"{name}: Optional[str] = None" in text for name in ("cuda", "hip", "xpu"))


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
        for chars in until(self.sampler.steps(self.prime, cfg, o, self.notes), o.stop_at, o.lines):
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


def until(steps: Iterator[list[str]], stop_at: str | None = None,
          lines: int | None = None) -> Iterator[list[str | None]]:
    """Apply stop conditions to `generate`'s output: per step, each sample's character, or None once
    that sample has written `stop_at` (which is kept) or its `lines`-th line break. Ends when every
    sample has stopped (closing the generator) or the length is reached."""
    done: list[bool] | None = None
    tails: list[str] = []
    breaks: list[int] = []
    for chars in steps:
        if done is None:
            done, tails, breaks = [False] * len(chars), [""] * len(chars), [0] * len(chars)
        out: list[str | None] = []
        for i, ch in enumerate(chars):
            if done[i]:
                out.append(None)
                continue
            out.append(ch)
            if stop_at:
                tails[i] = (tails[i] + ch)[-len(stop_at):]
                done[i] = tails[i] == stop_at
            if lines and ch == "\n":
                breaks[i] += 1
                done[i] = done[i] or breaks[i] >= lines
        yield out
        if all(done):
            close = getattr(steps, "close", None)
            if close:
                close()
            return
