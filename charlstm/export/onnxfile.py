"""ONNX export: a checkpoint's network as one self-contained .onnx file that runs without torch.

Graph: tokens[B, T] int64, h0 (and c0 for an LSTM) [L, B, H] (and for a styled model `style`, a
weight per style [S]) -> logits[B, T, V], h1 (and c1), with B and T dynamic, so one file primes
with a whole string and then steps one character at a time.
The vocabulary (characters in id order), normalization form, model config and lineage ride along
as JSON strings in the model's metadata_props: a sampler needs only this file (see
assets/sample_onnx.py). onnx and onnxscript are the optional 'export' extra, imported only here,
inside the functions. Knows nothing of the terminal.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import warnings
from pathlib import Path

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from ..model import CharLSTM
from ..store import checkpoint
from ..store.files import write_bytes
from .webpage import lineage

EXTRA = "pip install 'charlstm[export]'"
SAMPLER = Path(__file__).parents[1] / "assets" / "sample_onnx.py"  # the torch-free sampler written beside the file
FILTERS = SAMPLER.with_name("sampling_filters.py")  # the numpy filters the sampler imports
# what a checkpoint says about where the model came from (absent keys are left out)
def require_extra(what: str = "charlstm export --format onnx") -> None:
    """Refuse early, in one line naming the extra, when onnx or onnxscript is missing."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError(f"{what} needs the optional 'export' extra: {EXTRA}") from None


def metadata(ckpt: dict) -> dict[str, str]:
    """The metadata_props of an exported model: every value a JSON string."""
    vocab = ckpt["vocab"]
    return {"vocab": json.dumps(list(vocab["chars"]), ensure_ascii=False),
            "normalization": json.dumps(vocab["normalization"]),
            "model_config": json.dumps(ckpt["model_config"]),
            "lineage": json.dumps(lineage(ckpt), ensure_ascii=False, default=str)}


# torch's gate blocks listed in ONNX's order: LSTM i f g o -> i o f c(=g); GRU r z n -> z r h(=n)
GATES = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
_FLAGS = (True, 0.0, False, False, True)  # has_biases, dropout, train, bidirectional, batch_first


@functools.cache
def _ops() -> dict:
    """The recurrent layers as opaque custom ops, one per cell, for the exporter. Traced as it is,
    nn.RNN is unrolled over the example's length (so the graph would take one fixed length), and
    nn.LSTM and nn.GRU are traced step by step before being put back together, which is slow; as
    custom ops they stay whole and `_translation` writes each as one ONNX LSTM/GRU/RNN node per
    layer. Registered once per process, on the first export. x[B, T, E], h0 and c0 [L, B, H];
    weights: w_ih, w_hh, b_ih, b_hh of each layer in turn."""
    @torch.library.custom_op("charlstm::lstm", mutates_args=())
    def lstm(x: Tensor, h0: Tensor, c0: Tensor, weights: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        out, h1, c1 = torch.lstm(x, (h0, c0), weights, *_FLAGS[:1], h0.shape[0], *_FLAGS[1:])
        return out, h1, c1

    @torch.library.custom_op("charlstm::gru", mutates_args=())
    def gru(x: Tensor, h0: Tensor, weights: list[Tensor]) -> tuple[Tensor, Tensor]:
        out, h1 = torch.gru(x, h0, weights, *_FLAGS[:1], h0.shape[0], *_FLAGS[1:])
        return out, h1

    @torch.library.custom_op("charlstm::rnn_tanh", mutates_args=())
    def rnn(x: Tensor, h0: Tensor, weights: list[Tensor]) -> tuple[Tensor, Tensor]:
        out, h1 = torch.rnn_tanh(x, h0, weights, *_FLAGS[:1], h0.shape[0], *_FLAGS[1:])
        return out, h1

    def out_like(x, h0):
        return x.new_empty(x.shape[0], x.shape[1], h0.shape[2])
    lstm.register_fake(lambda x, h0, c0, weights: (out_like(x, h0), torch.empty_like(h0), torch.empty_like(c0)))
    gru.register_fake(lambda x, h0, weights: (out_like(x, h0), torch.empty_like(h0)))
    rnn.register_fake(lambda x, h0, weights: (out_like(x, h0), torch.empty_like(h0)))
    return {"lstm": lstm, "gru": gru, "rnn": rnn}


def _translation(cell: str, hidden: int):
    """onnxscript for `_ops()[cell]`: per layer, the weights' gate blocks reordered for ONNX and one
    LSTM/GRU/RNN node (GRU with linear_before_reset=1: torch applies r after W_hn h + b_hn)."""
    from onnxscript import opset18 as op

    def blocks(w):  # w[G*H, ...] -> [1, G*H, ...] in ONNX's gate order, with a direction axis
        return op.Unsqueeze(op.Concat(*[op.Slice(w, [k * hidden], [(k + 1) * hidden], axes=[0])
                                        for k in GATES[cell]], axis=0), [0])

    def layers(x, states, weights):
        x = op.Transpose(x, perm=[1, 0, 2])  # T, B, E: the ONNX cells are time-major
        finals = [[] for _ in states]
        for l in range(len(weights) // 4):
            w_ih, w_hh, b_ih, b_hh = (blocks(w) for w in weights[4 * l:4 * l + 4])
            init = [op.Slice(s, [l], [l + 1], axes=[0]) for s in states]
            args = (x, w_ih, w_hh, op.Concat(b_ih, b_hh, axis=1), None, *init)
            if cell == "lstm":
                y, *last = op.LSTM(*args, hidden_size=hidden)
            elif cell == "gru":
                y, *last = op.GRU(*args, hidden_size=hidden, linear_before_reset=1)
            else:
                y, *last = op.RNN(*args, hidden_size=hidden)
            x = op.Squeeze(y, [1])  # y: T, directions (1), B, H
            for final, s in zip(finals, last):
                final.append(s)
        return (op.Transpose(x, perm=[1, 0, 2]), *(op.Concat(*f, axis=0) for f in finals))

    if cell == "lstm":
        return lambda x, h0, c0, weights: layers(x, [h0, c0], weights)
    return lambda x, h0, weights: layers(x, [h0], weights)


class _Graph(nn.Module):
    """The eval-mode forward of CharLSTM (embed, recurrent layers, head; dropout is off) with the
    recurrent layers as `_ops()` and the state as separate named tensors rather than a tuple."""

    def __init__(self, model: CharLSTM):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, h0: torch.Tensor, second: torch.Tensor | None = None,
                third: torch.Tensor | None = None):
        """After tokens and h0: c0 for an LSTM, then for a styled model `style` (weights[S])."""
        m = self.model
        rest = tuple(t for t in (h0, second, third) if t is not None)
        weights = [getattr(m.rnn, f"{name}_l{l}") for l in range(m.config.layers)
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        state = rest[:m.state_size]
        x = m.embed(tokens)
        if m.config.styles:
            x = torch.cat([x, m.style_vectors(rest[m.state_size], tokens.shape)], dim=-1)
        out, *new = _ops()[m.config.cell](x, *state, weights)
        return (m.head(out), *new)


def names(cell: str, styled: bool = False) -> tuple[list[str], list[str]]:
    """Input and output names for a cell: an LSTM carries c as well as h; a styled model also reads
    `style`, a weight per style (one style: 1 there, 0 elsewhere)."""
    state = ["h", "c"] if cell == "lstm" else ["h"]
    return ["tokens", *(s + "0" for s in state), *(["style"] if styled else [])], ["logits", *(s + "1" for s in state)]


@contextlib.contextmanager
def _quiet():
    """The exporter reports its phases on stdout and warns about optional packages and its own
    deprecations; none of it is for a user whose export succeeds (failures still raise)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def to_proto(model: CharLSTM, ckpt: dict):
    """The eval-mode model as an onnx ModelProto with named, dynamic batch and sequence axes."""
    import onnx

    c = model.config
    inputs, outputs = names(c.cell, bool(c.styles))
    # an example batch of 2 and length 3: a size of 1 would be taken for a constant and baked in
    style = (torch.full((len(c.styles),), 1.0 / len(c.styles)),) if c.styles else ()
    example = (torch.zeros(2, 3, dtype=torch.long), *model.init_state(2), *style)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    dynamic = {"tokens": {0: batch, 1: seq}} | {name: {1: batch} for name in inputs[1:1 + model.state_size]}
    dynamic |= {"style": None} if c.styles else {}
    table = {_ops()[c.cell]._opoverload: _translation(c.cell, c.hidden)}
    with _quiet():
        program = torch.onnx.export(_Graph(model.eval()), example, input_names=inputs, output_names=outputs,
                                    dynamo=True, dynamic_shapes=tuple(dynamic[name] for name in inputs),
                                    custom_translation_table=table,
                                    verbose=False)
    proto = program.model_proto
    state = (c.layers, "batch", c.hidden)
    dims = {"tokens": ("batch", "seq"), "logits": ("batch", "seq", c.vocab_size), "style": (len(c.styles),)}
    dims |= {name: state for name in inputs[1:1 + model.state_size] + outputs[1:]}
    for value in [*proto.graph.input, *proto.graph.output]:  # the traced logits keep the example's length
        for d, want in zip(value.type.tensor_type.shape.dim, dims[value.name]):
            if isinstance(want, str):
                d.dim_param = want
            else:
                d.dim_value = want
    # intermediate shapes recorded for the example disagree with other lengths: onnxruntime would
    # warn on every call, so they go (it infers its own)
    del proto.graph.value_info[:]
    onnx.helper.set_model_props(proto, metadata(ckpt))
    proto.doc_string = "charlstm character-level language model; metadata_props hold the vocabulary"
    onnx.checker.check_model(proto, full_check=True)
    return proto


def max_error(model: CharLSTM, data: bytes, batch: int = 2, length: int = 5, seed: int = 0) -> float:
    """Largest difference between onnxruntime and torch on random tokens and state (logits and the
    new state), or nan when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return float("nan")
    g = torch.Generator().manual_seed(seed)
    c = model.config
    tokens = torch.randint(c.vocab_size, (batch, length), generator=g)
    state = tuple(torch.randn(c.layers, batch, c.hidden, generator=g) * 0.5 for _ in range(model.state_size))
    style = torch.rand(len(c.styles), generator=g) if c.styles else None
    inputs, _ = names(c.cell, bool(c.styles))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a few small products: more threads would only spin
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip(inputs, [t.numpy() for t in (tokens, *state, *([style] if c.styles else []))])))
    with torch.no_grad():
        logits, new = model.eval()(tokens, state, style)
    return max(float((torch.from_numpy(a) - b).abs().max()) for a, b in zip(got, (logits, *new)))


def export_onnx(ckpt: dict, path: Path) -> tuple[int, float]:
    """Write `ckpt`'s model to `path` (atomically: a temp file renamed into place) and return the
    bytes written and the largest difference from torch measured on the written bytes."""
    require_extra()
    path = Path(path)
    model, _ = checkpoint.build_model(ckpt, "cpu")
    data = to_proto(model, ckpt).SerializeToString()
    err = max_error(model, data)
    if err > 1e-3:
        raise ConfigError(f"the exported model disagrees with the checkpoint (max difference {err:.2g}); "
                          "please report this with the output of `charlstm info`")
    write_bytes(path, data)
    return len(data), err


def write_sampler(folder: Path) -> Path:
    """Copy the torch-free sampler script and the filters it reads into `folder`; returns the script's path."""
    for source in (FILTERS, SAMPLER):
        write_bytes(Path(folder) / source.name, source.read_bytes())
    return Path(folder) / SAMPLER.name
