"""Generate text from a charlstm model exported with `charlstm export --format onnx`.

Needs only numpy and onnxruntime (pip install numpy onnxruntime) and sampling_filters.py beside it (the
two are copied together): no torch, no charlstm. The vocabulary and normalization form are read from
the .onnx file's metadata.

    python sample_onnx.py model.onnx --prime "ROMEO:" --length 500 --temp 0.8

At --temp 0 it prints exactly what `charlstm sample --temp 0` prints for the same prime and length:
the prime, then the most likely character at every step, then one line break.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata

import numpy as np
import onnxruntime as ort

try:  # inside charlstm
    from .sampling_filters import probabilities
except ImportError:  # beside an exported .onnx, where `charlstm export` copies the filters too
    from sampling_filters import probabilities

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


class Model:
    """The .onnx session, its vocabulary and the recurrent state carried from step to step."""

    def __init__(self, path: str, threads: int | None = None):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.chars = json.loads(meta["vocab"])
        self.normalization = json.loads(meta["normalization"])
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.inputs = [i.name for i in self.session.get_inputs()]
        config = json.loads(meta["model_config"])
        self.state_shape = (config["layers"], 1, config["hidden"])
        self.styles = list(config.get("styles") or [])  # a styled model reads a weight per style
        self.style = np.full(len(self.styles), 1 / max(1, len(self.styles)), np.float32)

    def use_style(self, spec: str) -> None:
        """'verse', or a blend 'verse:0.7,code:0.3' (weights scaled to sum to 1)."""
        weights = np.zeros(len(self.styles), np.float32)
        for part in spec.split(","):
            name, _, value = part.partition(":")
            if name.strip() not in self.styles:
                raise ValueError(f"unknown style {name.strip()!r}; this model knows: "
                                 + (", ".join(self.styles) or "none (it was trained without --styles)"))
            weights[self.styles.index(name.strip())] = float(value) if value.strip() else 1.0
        if not (weights >= 0).all() or weights.sum() <= 0:
            raise ValueError("style weights must not be negative, and not all 0")
        self.style = weights / weights.sum()

    def encode(self, text: str) -> list[int]:
        if self.normalization != "none":
            text = unicodedata.normalize(self.normalization, text)
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError("the prime holds characters the model never saw: " + ", ".join(map(repr, unknown)))
        return [self.stoi[c] for c in text]

    def start(self, ids: list[int]) -> np.ndarray:
        """Feed ids[P] from a zero state; returns the logits[V] after the last one."""
        self.state = [np.zeros(self.state_shape, np.float32) for name in self.inputs[1:] if name != "style"]
        return self.step(ids)

    def step(self, ids: list[int]) -> np.ndarray:
        tokens = np.asarray([ids], dtype=np.int64)
        feed = dict(zip(self.inputs, [tokens, *self.state])) | ({"style": self.style} if self.styles else {})
        logits, *self.state = self.session.run(None, feed)
        return logits[0, -1]


def generate(model: Model, prime: str, length: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None, min_p: float | None = None):
    """Yield `length` characters after `prime` one at a time. Temperature 0 takes the most likely
    character (the first, on a tie). With no prime, generation starts after a line break (or, if
    the vocabulary has none, after a random character)."""
    rng = np.random.default_rng(seed)
    ids = model.encode(prime)
    if not ids:
        ids = [model.stoi["\n"]] if "\n" in model.stoi else [int(rng.integers(len(model.chars)))]
    logits = model.start(ids)
    for _ in range(length):
        if temperature == 0:
            nxt = int(np.argmax(logits))
        else:
            cdf = np.cumsum(probabilities(logits[None], temperature, top_k, top_p, min_p, np.float64)[0])
            nxt = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), cdf.size - 1)
        yield model.chars[nxt]
        logits = model.step([nxt])


def unescape(text: str) -> str:
    r"""\n, \t and \\ in the prime read as a line break, a tab and a backslash (as charlstm does)."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), text, flags=re.DOTALL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="the exported .onnx file")
    ap.add_argument("--prime", "-p", default="", help=r"text to start from, printed first (\n: a line break)")
    ap.add_argument("--length", "-n", type=int, default=500, help="characters to generate (default 500)")
    ap.add_argument("--temp", "-t", type=float, default=1.0, help="temperature; 0 picks the most likely (default 1)")
    ap.add_argument("--top-k", type=int, default=None, help="sample only from the K most likely characters")
    ap.add_argument("--top-p", type=float, default=None, help="sample only from the smallest set holding this "
                    "much probability, in (0, 1]")
    ap.add_argument("--min-p", type=float, default=None, help="sample only from the characters at least this "
                    "times as likely as the likeliest, in [0, 1]")
    ap.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same text")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for onnxruntime")
    ap.add_argument("--style", "-s", default=None, help="for a model trained with --styles: a style, or a blend "
                    "such as 'verse:0.7,code:0.3' (default: every style alike)")
    args = ap.parse_args(argv)
    if args.length < 0 or args.temp < 0 or (args.top_k is not None and args.top_k < 1) or (
            args.top_p is not None and not 0 < args.top_p <= 1) or (
            args.min_p is not None and not 0 <= args.min_p <= 1):
        ap.error("need --length >= 0, --temp >= 0, --top-k >= 1, --top-p in (0, 1] and --min-p in [0, 1]")
    model = Model(args.model, args.threads)
    prime = unescape(args.prime)
    try:
        if args.style is not None:
            model.use_style(args.style)
        model.encode(prime)  # refuse unknown characters before printing anything
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = sys.stdout
    out.write(unicodedata.normalize(model.normalization, prime) if model.normalization != "none" else prime)
    for ch in generate(model, prime, args.length, args.temp, args.top_k, args.top_p, args.seed, args.min_p):
        out.write(ch)
        if ch == "\n":
            out.flush()
    out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
